"""The checks a dataset's assets carry (named with what they check in `Dataset.checks`), and how their results are
reported.

Severities: `validation` is blocking with ERROR severity: bad candles are never written and the run fails, so
nothing downstream reads them. `gaps` is WARN: a missing minute is a fact the venue may have (no trades,
maintenance); it is recorded with its ranges, and healing decides what to do about it. `accuracy` is ERROR but not
blocking: closes that disagree with a second source fail it, yet two sources disagreeing do not say which is wrong,
so the stored candles stay and downstream assets still run (an unverifiable window only warns). `anomaly` is WARN:
an extreme return or a zero-volume streak is worth a look, not a refusal. Their logic is in `accuracy.py` and
`anomaly.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg
import polars as pl

from datafactory_assets.checks.names import ACCURACY, ANOMALY, GAPS, VALIDATION
from datafactory_assets.checks.validation import Violation

__all__ = ["ACCURACY", "ANOMALY", "GAPS", "VALIDATION", "check_specs", "gaps_missing", "gaps_result",
           "validation_result"]
_MAX_LISTED_RANGES = 50
_MISSING = "missing_"  # the gaps result's count: missing_<its dataset's unit, plural>


def check_specs(key: dg.AssetKey, *, checks: Mapping[str, str]) -> list[dg.AssetCheckSpec]:
    """The asset's checks from a dataset's `checks` (name -> description); validation blocks, the others do not."""
    return [dg.AssetCheckSpec(name, asset=key, blocking=name == VALIDATION, description=description)
            for name, description in checks.items()]


def validation_result(violations: Sequence[Violation]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=VALIDATION,
        passed=not violations,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"violations": len(violations), **{v.rule: dg.MetadataValue.text(str(v)) for v in violations}},
    )


def gaps_result(ranges: pl.DataFrame, *, confirmed_empty: int = 0, unit: str = "candle") -> dg.AssetCheckResult:
    """Passes when nothing is missing but what every source confirmed empty (recorded in `known_gaps`). The count is
    named for `unit`, what one of the dataset's rows is (`Dataset.unit`): `missing_candles`,
    `missing_funding_events`, so that the UI never calls funding events candles."""
    missing = int(ranges["missing"].sum()) if ranges.height else 0
    listed = ranges.head(_MAX_LISTED_RANGES)
    table = "\n".join(
        f"| {r['first_missing']} | {r['last_missing']} | {r['missing']} |" for r in listed.iter_rows(named=True)
    )
    return dg.AssetCheckResult(
        check_name=GAPS,
        passed=missing == confirmed_empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            f"{_MISSING}{_plural(unit).replace(' ', '_').replace('-', '_')}": missing,
            "confirmed_empty": confirmed_empty,
            "unconfirmed": missing - confirmed_empty,
            "gap_ranges": ranges.height,
            "ranges": dg.MetadataValue.md(
                f"| first missing | last missing | {_plural(unit)} |\n|---|---|---|\n" + table if table else "none"
            ),
        },
    )


def gaps_missing(metadata: Mapping[str, object]) -> tuple[int, str] | None:
    """What a gaps result's metadata counts as missing, and in what (`missing_funding_events`: 5 -> (5, "funding
    events")); None when it holds no count."""
    for key, value in metadata.items():
        if key.startswith(_MISSING) and isinstance(value, int):
            return value, key.removeprefix(_MISSING).replace("_", " ")
    return None


def _plural(unit: str) -> str:
    return f"{unit}s"
