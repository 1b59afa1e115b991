"""The configured universe: which symbols, at which timeframe, since when, from which sources, stored where.

Read from `datafactory.toml` (or the file `DATAFACTORY_CONFIG` names); `DATAFACTORY_*` environment variables override.
The file is checked at load against typed models (`settings_models`): an unknown table or key, a value of the wrong
type or out of bounds fails the code location and every command with one line naming the file, the entry and what
it allows (`settings_errors`), instead of surfacing later as an empty partition or a failed run.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from datafactory_assets.instruments import Instrument
from datafactory_assets.settings_errors import ConfigError, one_line
from datafactory_assets.settings_models import (
    BUDGETED_SOURCES,
    SUPPORTED_SOURCES,
    AccuracySettings,
    AlertSettings,
    AnomalySettings,
    CollectedDatasets,
    ConfigFile,
    FreshnessSection,
    HealingSettings,
    ResilienceSettings,
    ServingChain,
    SymbolEntry,
    UniverseSection,
    is_symbol,
    market_datasets,
    timeframe_to_ms,
)
from datafactory_assets.universe import UniverseError, UniverseSpec, cached_symbols

__all__ = [
    "BUDGETED_SOURCES", "DEFAULT_CONFIG", "REPO_ROOT", "SUPPORTED_SOURCES", "AccuracySettings", "AlertSettings",
    "AnomalySettings", "ConfigError", "HealingSettings", "ResilienceSettings", "Settings", "SymbolSettings",
    "is_symbol", "load_settings", "load_universe_spec", "timeframe_to_ms",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "datafactory.toml"
_HOUR_MS = 3_600_000
_FRESHNESS = FreshnessSection()
_SYMBOL_DEFAULTS = SymbolEntry(timeframe="1m", sources=["binance"])  # what neither a symbol nor [defaults] sets


@dataclass(frozen=True)
class SymbolSettings:
    """One entry of the universe: an instrument (its ccxt unified `symbol`, parsed into `instrument`), how to
    collect it and which datasets; `datasets` left out is every dataset of the instrument's market (spot:
    "candles")."""

    symbol: str
    timeframe: str
    start: datetime
    sources: tuple[str, ...]
    datasets: tuple[str, ...] | None = None
    # an instrument the venues renamed: its earlier venue symbols, oldest first, each asked for before its `until`
    renamed_from: tuple[tuple[str, datetime], ...] = ()
    instrument: Instrument = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "instrument", Instrument.parse(self.symbol))
        if self.datasets is None:
            object.__setattr__(self, "datasets", market_datasets(self.instrument.market))

    @property
    def asset_name(self) -> str:
        """`BTC/USDT` -> `btc_usdt`, the last part of the asset key `candles/btc_usdt` (a perpetual's too: see
        `Instrument.asset_name`)."""
        return self.instrument.asset_name

    def venue_symbols(self, start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
        """The venue symbol in force over each part of [start, end), oldest first: the window split at each
        rename's `until` (one part, the instrument's own symbol, for an instrument never renamed)."""
        parts, first = [], start
        for venue_symbol, until in self.renamed_from:
            if first < min(until, end):
                parts.append((venue_symbol, first, min(until, end)))
            first = max(first, until)
        if first < end:
            parts.append((self.symbol, first, end))
        return parts

    @property
    def timeframe_ms(self) -> int:
        return timeframe_to_ms(self.timeframe)

    @property
    def candles_per_hour(self) -> int:
        """How many candles one hourly partition holds when complete."""
        return _HOUR_MS // self.timeframe_ms


@dataclass(frozen=True)
class Settings:
    """The whole configuration the platform runs with."""

    symbols: tuple[SymbolSettings, ...]
    warehouse_path: Path
    emulator_url: str | None
    partitions_per_run: int
    schedule_minute: int
    config_path: Path
    resilience: ResilienceSettings = field(default_factory=ResilienceSettings)
    freshness_warn_minutes: int = _FRESHNESS.warn_after_minutes  # the hourly run is late
    freshness_fail_minutes: int = _FRESHNESS.fail_after_minutes  # an hour was missed
    accuracy: AccuracySettings = field(default_factory=AccuracySettings)
    anomaly: AnomalySettings = field(default_factory=AnomalySettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    healing: HealingSettings = field(default_factory=HealingSettings)
    universe: UniverseSpec | None = None  # `[universe]`: symbols ranked from a venue, read from its cache file

    @property
    def state_path(self) -> Path:
        """Breakers and budgets live beside the warehouse, one state file per warehouse."""
        return self.warehouse_path.with_name(self.warehouse_path.stem + ".resilience.sqlite")

    @property
    def alert_ledger_path(self) -> Path:
        """What the alert sensors told, likewise one ledger per warehouse."""
        return self.warehouse_path.with_name(self.warehouse_path.stem + ".alerts.sqlite")


def load_settings(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load and check the configuration; `path` and `env` default to `DATAFACTORY_CONFIG` and `os.environ`."""
    config_path, config = _read(path, env)
    env = dict(os.environ if env is None else env)
    universe = _universe_spec(config.universe, config_path)
    entries = {**{name: SymbolEntry() for name in _universe_symbols(universe, config_path)}, **config.symbols}
    if not entries:
        raise ConfigError(f"{config_path}: [symbols] lists no symbols and there is no [universe]")
    warehouse_path = Path(env.get("DATAFACTORY_WAREHOUSE") or config.warehouse.path)
    budgets = {name: source.budget for name, source in config.sources.items() if source.budget is not None}
    return Settings(
        symbols=tuple(_symbol_settings(name, entry, defaults=config.defaults, config_path=config_path)
                      for name, entry in entries.items()),
        warehouse_path=warehouse_path if warehouse_path.is_absolute() else config_path.parent / warehouse_path,
        emulator_url=(env.get("DATAFACTORY_EMULATOR_URL") or "").rstrip("/") or None,
        partitions_per_run=config.backfill.partitions_per_run,
        schedule_minute=config.schedule.minute_of_hour,
        config_path=config_path,
        resilience=ResilienceSettings(**config.resilience.model_dump(), budgets=budgets),
        freshness_warn_minutes=config.freshness.warn_after_minutes,
        freshness_fail_minutes=config.freshness.fail_after_minutes,
        accuracy=config.accuracy,
        anomaly=config.anomaly,
        alerts=config.alerts,
        healing=config.healing,
        universe=universe,
    )


def load_universe_spec(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> UniverseSpec:
    """Only the `[universe]` declaration (the whole file checked), without reading its cache, which may not exist
    yet."""
    config_path, config = _read(path, env)
    spec = _universe_spec(config.universe, config_path)
    if spec is None:
        raise ConfigError(f"{config_path} declares no [universe] (venue, quote, top)")
    return spec


def _read(path: str | os.PathLike | None, env: dict[str, str] | None) -> tuple[Path, ConfigFile]:
    env = os.environ if env is None else env
    config_path = Path(path or env.get("DATAFACTORY_CONFIG") or DEFAULT_CONFIG).resolve()
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {config_path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"configuration file {config_path} cannot be read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {config_path} is not valid TOML: {exc}") from None
    try:
        return config_path, ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(one_line(exc, config_path=config_path, model=ConfigFile)) from None


def _universe_spec(section: UniverseSection | None, config_path: Path) -> UniverseSpec | None:
    """`[universe]` and where its ranking is cached (`cache`, default `<config name>.universe.json` beside it)."""
    if section is None:
        return None
    cache = Path(section.cache or f"{config_path.stem}.universe.json")
    return UniverseSpec(venue=section.venue, quote=section.quote, top=section.top,
                        cache_path=cache if cache.is_absolute() else config_path.parent / cache)


def _universe_symbols(spec: UniverseSpec | None, config_path: Path) -> tuple[str, ...]:
    if spec is None:
        return ()
    try:
        symbols = cached_symbols(spec)
    except UniverseError as exc:
        raise ConfigError(f"{config_path}: {exc}") from None
    malformed = [name for name in symbols if not is_symbol(name)]
    if malformed:
        raise ConfigError(f"{spec.cache_path} ranks {malformed[0]!r}, which is not a BASE/QUOTE symbol: run "
                          "`datafactory universe --refresh`")
    return symbols


def _symbol_settings(name: str, entry: SymbolEntry, *, defaults: SymbolEntry, config_path: Path) -> SymbolSettings:
    """The symbol's own entries, then `[defaults]`, then the platform's; each was checked where it is written, and
    the datasets chosen are checked against the instrument's market, and the chain against those datasets, here,
    each named where it was written."""
    def pick(key: str):
        return next((v for v in (getattr(e, key) for e in (entry, defaults, _SYMBOL_DEFAULTS)) if v is not None), None)

    start = pick("start")
    if start is None:
        raise ConfigError(f'{config_path}: [symbols."{name}"].start: missing; set it or [defaults] start')
    renames = tuple((r.symbol, r.until) for r in getattr(entry, "renamed_from", None) or ())
    for old, _ in renames:
        if old == name or Instrument.parse(old).market != Instrument.parse(name).market:
            raise ConfigError(f'{config_path}: [symbols."{name}"].renamed_from: {old} cannot be an earlier symbol of '
                              f"{name}: it must be another symbol of the same market type")
    symbol = SymbolSettings(symbol=name, timeframe=pick("timeframe"), start=start, sources=tuple(pick("sources")),
                            datasets=pick("datasets"), renamed_from=renames)
    checks = ((CollectedDatasets, "datasets", {}), (ServingChain, "sources", {"sources": symbol.sources}))
    for model, key, more in checks:
        try:
            model(instrument=symbol.instrument, datasets=symbol.datasets, **more)
        except ValidationError as exc:
            written = ("symbols", name) if getattr(entry, key) is not None or getattr(defaults, key) is None else (
                "defaults",)
            raise ConfigError(one_line(exc, config_path=config_path, model=ConfigFile, within=written)) from None
    return symbol
