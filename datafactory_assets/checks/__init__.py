"""Asset checks over candles: validation (blocking) and gap detection, with their pure functions.

The names are loaded when first used (PEP 562): the pure functions need only Polars, while the check specs need
Dagster, and a reader of `datasets` (which names its validation function) such as the CLI's warehouse commands must
not pay for Dagster.
"""

from importlib import import_module

_HOMES = {
    "GAPS": "specs",
    "VALIDATION": "specs",
    "Violation": "validation",
    "candle_check_specs": "specs",
    "gaps_result": "specs",
    "missing_ranges": "gaps",
    "validate_candles": "validation",
    "validation_result": "specs",
}

__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
