"""What counts as failing and what as cleared, for each alerting condition, as observations for the ledger.

Checks are matched by name (`[alerts] checks`), so a check another part of the platform adds later (accuracy,
anomaly) alerts as soon as it exists. `gaps` is WARN and a missing minute can be the venue's own, so it alerts only
above `[alerts] gaps_threshold` missing candles in one evaluation.

A venue rewriting its own candles older than a day (`precedence.history_rewrites`) is told once per run and symbol:
the run's figures sit on one materialization per asset, whatever number of candles it changed. Such a rewrite is an
event, not a state, so nothing clears it.

A configured instrument that a venue delisted (`symbols.delisted_ts`) is a state looked at on every tick (polled),
so the ledger tells it once, however many ticks see it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import dagster as dg
import polars as pl
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from datafactory_assets.alerts.ledger import Observation
from datafactory_assets.assets.candles import RUN_HISTORY_REWRITES
from datafactory_assets.checks import GAPS
from datafactory_assets.checks.specs import ACCURACY, gaps_missing
from datafactory_assets.datasets import DATASETS, SPOT_CANDLES
from datafactory_assets.settings import AlertSettings

RUN_FAILURE, BREAKER, FRESHNESS, HISTORY_REWRITE = "run_failure", "breaker", "freshness", "history_rewrite"
DELISTED = "delisted"
_IMPLICIT_JOB_PREFIX = "__ASSET_JOB"  # the UI's and backfills' runs of selected assets
_MAX_REASON = 400


def run_partition(tags: Mapping[str, str]) -> str:
    """The partition a run covered: its key, `first...last` for a range run, or "" when unpartitioned."""
    if tags.get(PARTITION_NAME_TAG):
        return tags[PARTITION_NAME_TAG]
    first, last = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if first and last:
        return first if first == last else f"{first}...{last}"
    return ""


def run_subject(run: dg.DagsterRun) -> str:
    """A named job by its name; an ad-hoc asset run (the UI's Materialize, backfills) by the assets it selected."""
    if run.job_name.startswith(_IMPLICIT_JOB_PREFIX) and run.asset_selection:
        keys = sorted(key.to_user_string() for key in run.asset_selection)
        return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
    return run.job_name


def run_observation(run: dg.DagsterRun, *, failing: bool, reason: str) -> Observation:
    return Observation(RUN_FAILURE, run_subject(run), run_partition(run.tags), failing=failing,
                       reason=_short(reason))


def check_observations(evaluations: Iterable[dg.AssetCheckEvaluation], *, partition: str,
                       alerts: AlertSettings) -> list[Observation]:
    """One observation per evaluated check that is configured to alert; `partition` is the run's when the
    evaluation names none."""
    observations = []
    for evaluation in evaluations:
        if evaluation.check_name not in alerts.checks:
            continue
        failing, reason = _judge(evaluation, alerts)
        observations.append(Observation(f"check:{evaluation.check_name}", evaluation.asset_key.to_user_string(),
                                        evaluation.partition or partition, failing=failing, reason=_short(reason)))
    return observations


def rewrite_observations(materializations: Iterable[dg.AssetMaterialization], *,
                         partition: str) -> list[Observation]:
    """One failing observation per asset whose run changed stored rows older than a day from the venue that served
    them, keyed by the run's `partition`, counted in the unit of the asset's dataset (its key's first part); runs
    that changed none say nothing."""
    observations = []
    for materialization in materializations:
        entry = materialization.metadata.get(RUN_HISTORY_REWRITES)
        rewritten = getattr(entry, "value", entry)
        if isinstance(rewritten, int) and rewritten > 0:
            unit = DATASETS.get(materialization.asset_key.path[0], SPOT_CANDLES).unit
            observations.append(Observation(
                HISTORY_REWRITE, materialization.asset_key.to_user_string(), partition, failing=True,
                reason=f"the venue changed {rewritten} stored {unit}(s) older than a day; the old values are kept: "
                       "`datafactory revisions` lists them"))
    return observations


def freshness_observation(change: FreshnessStateChange) -> Observation | None:
    """FAIL opens, PASS clears; WARN and unknown states change nothing (the policy's warn window is not an alert)."""
    if change.new_state not in (FreshnessState.FAIL, FreshnessState.PASS):
        return None
    failing = change.new_state == FreshnessState.FAIL
    reason = (f"no materialization within the freshness policy's fail window (was {change.previous_state.value})"
              if failing else f"materialized again (was {change.previous_state.value})")
    return Observation(FRESHNESS, change.key.to_user_string(), "", failing=failing, reason=reason)


def breaker_observations(states: pl.DataFrame) -> list[Observation]:
    """Open (or banned) opens a source's key, closed clears it; half-open is a probe in flight and changes nothing."""
    observations = []
    for row in states.iter_rows(named=True):
        if row["breaker"] == "open" or row["blocked_for_s"] > 0:
            reason = (f"open after {row['failures']} consecutive failures, blocked for {row['blocked_for_s']} s more;"
                      f" last error: {row['last_failure'] or 'none recorded'}")
            observations.append(Observation(BREAKER, row["source"], "", failing=True, reason=_short(reason)))
        elif row["breaker"] == "closed":
            observations.append(Observation(BREAKER, row["source"], "", failing=False,
                                            reason="closed: requests succeed again"))
    return observations


def delisting_observations(delisted: Mapping[str, datetime]) -> list[Observation]:
    """One failing observation per configured instrument a venue delisted (instrument -> when its last candle
    closed)."""
    return [Observation(DELISTED, symbol, "", failing=True,
                        reason=f"delisted {moment:%Y-%m-%d}: its last candle closed at {moment:%Y-%m-%d %H:%M} UTC; "
                               "coverage counts to it and nothing after it is asked for")
            for symbol, moment in sorted(delisted.items())]


def _judge(evaluation: dg.AssetCheckEvaluation, alerts: AlertSettings) -> tuple[bool, str]:
    metadata = {key: getattr(value, "value", value) for key, value in evaluation.metadata.items()}
    if evaluation.check_name == GAPS and (counted := gaps_missing(metadata)):
        missing, unit = metadata.get("unconfirmed", counted[0]), counted[1]  # confirmed holes are the venue's
        return missing > alerts.gaps_threshold, (f"{missing} missing {unit} in {metadata.get('gap_ranges', '?')} "
                                                 f"range(s) (alerts above {alerts.gaps_threshold})")
    if evaluation.passed:
        return False, "passes"
    if evaluation.check_name == ACCURACY and evaluation.severity == dg.AssetCheckSeverity.WARN:
        return False, "unverified: the reference could not answer"  # no deviation was found, so nothing to tell
    return True, evaluation.description or _summary(metadata) or "failed"


def _summary(metadata: Mapping[str, object]) -> str:
    """Short scalar metadata as `key: value`, texts that already name their key as they are."""
    parts = []
    for key, value in metadata.items():
        if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 200):
            parts.append(value if isinstance(value, str) and value.startswith(key) else f"{key}: {value}")
    return "; ".join(parts)


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."
