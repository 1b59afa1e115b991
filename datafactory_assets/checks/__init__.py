"""Asset checks over a dataset's rows: validation (blocking) and gap detection, with their pure functions.

The Dagster check specs and results (`specs`) are imported only when asked for (PEP 562): dataset declarations
name their validation function and their checks from here, and the warehouse reads the declarations in processes
(the CLI) that never import Dagster.
"""

from datafactory_assets.checks.gaps import missing_ranges
from datafactory_assets.checks.names import GAPS, VALIDATION
from datafactory_assets.checks.validation import Violation, validate_candles

_SPECS = ("check_specs", "gaps_result", "validation_result")

__all__ = ["GAPS", "VALIDATION", "Violation", "missing_ranges", "validate_candles", *_SPECS]


def __getattr__(name: str):
    if name in _SPECS:
        from datafactory_assets.checks import specs

        return getattr(specs, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
