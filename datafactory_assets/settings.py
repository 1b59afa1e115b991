"""The configured universe: which symbols, at which timeframe, since when, from which sources, stored where.

Read from `datafactory.toml` (or the file `DATAFACTORY_CONFIG` names); `DATAFACTORY_*` environment variables override.
Every entry is checked at load so that a typo fails the code location with a message naming the entry, instead of
surfacing later as an empty partition.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from datafactory_assets.sources.venues import REFERENCES, VENUES
from datafactory_assets.universe import RANKABLE_VENUES, UniverseError, UniverseSpec, cached_symbols

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "datafactory.toml"
SUPPORTED_SOURCES = tuple(VENUES)
BUDGETED_SOURCES = SUPPORTED_SOURCES + tuple(REFERENCES)  # what `[sources.<id>] budget` may name

_TIMEFRAME_UNITS = {"m": 60_000, "h": 3_600_000}
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{2,15}$")  # real bases include W, S and 1000SATS
_HOUR_MS = 3_600_000


class ConfigError(ValueError):
    """The configuration file or an override names something the platform cannot use."""


@dataclass(frozen=True)
class SymbolSettings:
    """One entry of the universe: a canonical symbol and how to collect it."""

    symbol: str
    timeframe: str
    start: datetime
    sources: tuple[str, ...]

    @property
    def asset_name(self) -> str:
        """`BTC/USDT` -> `btc_usdt`, the last part of the asset key `candles/btc_usdt`."""
        return self.symbol.replace("/", "_").lower()

    @property
    def timeframe_ms(self) -> int:
        return timeframe_to_ms(self.timeframe)

    @property
    def candles_per_hour(self) -> int:
        """How many candles one hourly partition holds when complete."""
        return _HOUR_MS // self.timeframe_ms


@dataclass(frozen=True)
class ResilienceSettings:
    """Retry, breaker and budget settings shared by every source (`[resilience]`, `[sources.<id>]`)."""

    retry_attempts: int = 4
    retry_backoff_s: float = 0.5
    retry_max_backoff_s: float = 30.0
    breaker_fail_max: int = 5
    breaker_reset_s: float = 60.0
    ban_s: float = 600.0
    budget_margin: float = 0.9
    budgets: dict[str, int] = field(default_factory=dict)  # per source, in the venue's own budget window


@dataclass(frozen=True)
class AlertSettings:
    """When a failure is worth a message, and how often one key may send (`[alerts]`)."""

    checks: tuple[str, ...] = ("validation", "gaps", "accuracy", "anomaly", "freshness")  # by name
    gaps_threshold: int = 5  # missing candles one gaps evaluation may report before it alerts
    repeat_interval_s: int = 3600  # at most one alert per key in this long; repeats are counted into the next
    sensor_interval_s: int = 60  # how often the alert sensors look


@dataclass(frozen=True)
class AccuracySettings:
    """How stored closes are held against a second source (`[accuracy]`)."""

    reference: str = "coingecko"  # "coingecko" or a source id; candles are never compared with their own source
    tolerance_bps: float = 100.0  # a sampled close further than this from the reference fails the check
    sample_size: int = 12  # reference points compared per hourly partition, at most


@dataclass(frozen=True)
class AnomalySettings:
    """What counts as an unusual candle (`[anomaly]`); anomalies warn, they are not errors."""

    k: float = 8.0  # robust standard deviations a 1-candle log return may stray from the recent median
    window_candles: int = 1440  # the recent distribution: this many stored candles before the window, plus the window
    zero_volume_streak: int = 10  # this many consecutive zero-volume candles are worth a warning


@dataclass(frozen=True)
class HealingSettings:
    """How the gap-healing sensor asks for runs (`[healing]`)."""

    enabled: bool = True  # false: the sensor is defined but stopped until someone starts it in the UI
    interval_s: int = 60  # how often the sensor looks
    max_runs_per_tick: int = 8  # at most this many runs requested per tick, each of up to partitions_per_run hours
    order: str = "newest"  # "newest" or "oldest": which incomplete hours are asked for first
    max_attempts: int = 6  # runs asked for one hour before it is reported and left alone
    backoff_s: int = 60  # wait before asking again for an hour still incomplete; doubles per attempt ...
    max_backoff_s: int = 240  # ... up to this, so a healed outage is retried within about five minutes
    settle_minutes: int = 15  # an hour is the schedule's until this long after it closes


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
    freshness_warn_minutes: int = 75  # the hourly run is late
    freshness_fail_minutes: int = 120  # an hour was missed
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


def timeframe_to_ms(timeframe: str) -> int:
    """Parse `1m`, `5m`, `1h` into milliseconds; only timeframes that tile an hour exactly are allowed."""
    match = re.fullmatch(r"(\d+)([mh])", timeframe or "")
    if not match:
        raise ConfigError(f"unknown timeframe {timeframe!r}: use minutes or hours such as '1m', '5m', '1h'")
    ms = int(match.group(1)) * _TIMEFRAME_UNITS[match.group(2)]
    if ms == 0 or ms > _HOUR_MS or _HOUR_MS % ms:
        raise ConfigError(f"timeframe {timeframe!r} must divide one hour (1m, 2m, 3m, 5m, 15m, 30m, 1h ...)")
    return ms


def is_symbol(name: str) -> bool:
    """Whether `name` is a canonical BASE/QUOTE the configuration can hold."""
    return bool(_SYMBOL_RE.match(name))


def load_settings(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load and check the configuration; `path` and `env` default to `DATAFACTORY_CONFIG` and `os.environ`."""
    config_path, raw = _read(path, env)
    env = dict(os.environ if env is None else env)
    defaults = raw.get("defaults", {})
    universe = _universe(raw.get("universe"), config_path)
    entries = {**{name: {} for name in _universe_symbols(universe, config_path)}, **(raw.get("symbols") or {})}
    if not entries:
        raise ConfigError(f"{config_path}: [symbols] lists no symbols and there is no [universe]")
    symbols = tuple(
        _symbol_settings(name, {**defaults, **(entry or {})}, config_path) for name, entry in entries.items()
    )
    warehouse = raw.get("warehouse", {})
    run = raw.get("backfill", {})
    schedule = raw.get("schedule", {})
    warehouse_path = Path(env.get("DATAFACTORY_WAREHOUSE") or warehouse.get("path", "data/warehouse.duckdb"))
    if not warehouse_path.is_absolute():
        warehouse_path = config_path.parent / warehouse_path
    return Settings(
        symbols=symbols,
        warehouse_path=warehouse_path,
        emulator_url=(env.get("DATAFACTORY_EMULATOR_URL") or "").rstrip("/") or None,
        partitions_per_run=_positive_int(run, "partitions_per_run", 720, config_path),
        schedule_minute=_minute(schedule.get("minute_of_hour", 5), config_path),
        config_path=config_path,
        resilience=_resilience(raw.get("resilience", {}), raw.get("sources", {}), config_path),
        **_freshness(raw.get("freshness", {}), config_path),
        accuracy=_accuracy(raw.get("accuracy", {}), config_path),
        anomaly=_anomaly(raw.get("anomaly", {}), config_path),
        alerts=_alerts(raw.get("alerts", {}), config_path),
        healing=_healing(raw.get("healing", {}), config_path),
        universe=universe,
    )


def load_universe_spec(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> UniverseSpec:
    """Only the `[universe]` declaration, checked, without reading its cache (which may not exist yet)."""
    config_path, raw = _read(path, env)
    spec = _universe(raw.get("universe"), config_path)
    if spec is None:
        raise ConfigError(f"{config_path} declares no [universe] (venue, quote, top)")
    return spec


def _read(path: str | os.PathLike | None, env: dict[str, str] | None) -> tuple[Path, dict]:
    env = os.environ if env is None else env
    config_path = Path(path or env.get("DATAFACTORY_CONFIG") or DEFAULT_CONFIG).resolve()
    try:
        return config_path, tomllib.loads(config_path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file {config_path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {config_path} is not valid TOML: {exc}") from exc


def _universe(table: dict | None, config_path: Path) -> UniverseSpec | None:
    """`[universe] venue, quote, top` and where its ranking is cached (`cache`, default beside this file)."""
    if table is None:
        return None
    unknown = set(table) - {"venue", "quote", "top", "cache"}
    if unknown:
        raise ConfigError(f"{config_path}: [universe] has unknown keys {sorted(unknown)}; "
                          "known: ['cache', 'quote', 'top', 'venue']")
    venue, quote = table.get("venue"), table.get("quote")
    if venue not in RANKABLE_VENUES:
        raise ConfigError(f"{config_path}: [universe] venue must be one of {list(RANKABLE_VENUES)}, got {venue!r}")
    if not isinstance(quote, str) or not re.fullmatch(r"[A-Z0-9]{2,15}", quote):
        raise ConfigError(f"{config_path}: [universe] quote must be a currency in capitals such as \"USDT\", "
                          f"got {quote!r}")
    cache = Path(table.get("cache") or f"{config_path.stem}.universe.json")
    return UniverseSpec(venue=venue, quote=quote, top=_positive_int(table, "top", None, config_path),
                        cache_path=cache if cache.is_absolute() else config_path.parent / cache)


def _universe_symbols(spec: UniverseSpec | None, config_path: Path) -> tuple[str, ...]:
    if spec is None:
        return ()
    try:
        return cached_symbols(spec)
    except UniverseError as exc:
        raise ConfigError(f"{config_path}: {exc}") from None


def _healing(table: dict, config_path: Path) -> HealingSettings:
    _known_keys(table, HealingSettings, "healing", config_path)
    order = table.get("order", HealingSettings.order)
    if order not in ("newest", "oldest"):
        raise ConfigError(f"{config_path}: [healing] order must be \"newest\" or \"oldest\", got {order!r}")
    numbers = {f.name: _positive_int(table, f.name, f.default, config_path)
               for f in fields(HealingSettings) if f.name not in ("enabled", "order", "settle_minutes")}
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{config_path}: [healing] enabled must be true or false, got {enabled!r}")
    settle = table.get("settle_minutes", HealingSettings.settle_minutes)
    if not _whole(settle) or not 0 <= settle <= 59:
        raise ConfigError(f"{config_path}: [healing] settle_minutes must be a whole number from 0 to 59, "
                          f"got {settle!r}")
    return HealingSettings(enabled=enabled, order=order, settle_minutes=settle, **numbers)


def _alerts(table: dict, config_path: Path) -> AlertSettings:
    _known_keys(table, AlertSettings, "alerts", config_path)
    checks = table.get("checks", AlertSettings.checks)
    if not isinstance(checks, list | tuple) or not checks or not all(isinstance(c, str) and c for c in checks):
        raise ConfigError(f"{config_path}: [alerts] checks must be a non-empty list of check names, got {checks!r}")
    numbers = {key: _positive_int(table, key, getattr(AlertSettings, key), config_path)
               for key in ("repeat_interval_s", "sensor_interval_s")}
    threshold = table.get("gaps_threshold", AlertSettings.gaps_threshold)
    if not _whole(threshold) or threshold < 0:
        raise ConfigError(f"{config_path}: [alerts] gaps_threshold must be a whole number >= 0, got {threshold!r}")
    return AlertSettings(checks=tuple(checks), gaps_threshold=threshold, **numbers)


def _accuracy(table: dict, config_path: Path) -> AccuracySettings:
    _known_keys(table, AccuracySettings, "accuracy", config_path)
    reference = table.get("reference", AccuracySettings.reference)
    if reference != "coingecko" and reference not in SUPPORTED_SOURCES:
        raise ConfigError(f"{config_path}: [accuracy] reference {reference!r} is neither \"coingecko\" nor a known "
                          f"source; known: {list(SUPPORTED_SOURCES)}")
    return AccuracySettings(
        reference=reference,
        tolerance_bps=_positive_number(table, "tolerance_bps", AccuracySettings.tolerance_bps, "accuracy", config_path),
        sample_size=_positive_int(table, "sample_size", AccuracySettings.sample_size, config_path),
    )


def _anomaly(table: dict, config_path: Path) -> AnomalySettings:
    _known_keys(table, AnomalySettings, "anomaly", config_path)
    settings = AnomalySettings(
        k=_positive_number(table, "k", AnomalySettings.k, "anomaly", config_path),
        window_candles=_positive_int(table, "window_candles", AnomalySettings.window_candles, config_path),
        zero_volume_streak=_positive_int(table, "zero_volume_streak", AnomalySettings.zero_volume_streak,
                                         config_path),
    )
    if settings.zero_volume_streak < 2:
        raise ConfigError(f"{config_path}: [anomaly] zero_volume_streak must be at least 2 (one quiet candle is no "
                          f"streak), got {settings.zero_volume_streak}")
    return settings


def _known_keys(table: dict, settings_class: type, section: str, config_path: Path) -> None:
    unknown = set(table) - {f.name for f in fields(settings_class)}
    if unknown:
        raise ConfigError(f"{config_path}: [{section}] has unknown keys {sorted(unknown)}; "
                          f"known: {sorted(f.name for f in fields(settings_class))}")


def _positive_number(table: dict, key: str, default: float, section: str, config_path: Path) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise ConfigError(f"{config_path}: [{section}] {key} must be a positive number, got {value!r}")
    return float(value)


def _freshness(table: dict, config_path: Path) -> dict[str, int]:
    warn = _positive_int(table, "warn_after_minutes", Settings.freshness_warn_minutes, config_path)
    fail = _positive_int(table, "fail_after_minutes", Settings.freshness_fail_minutes, config_path)
    if warn >= fail:
        raise ConfigError(f"{config_path}: [freshness] warn_after_minutes ({warn}) must be below "
                          f"fail_after_minutes ({fail})")
    return {"freshness_warn_minutes": warn, "freshness_fail_minutes": fail}


def _resilience(table: dict, sources: dict, config_path: Path) -> ResilienceSettings:
    known = {f.name: f.type for f in fields(ResilienceSettings) if f.name != "budgets"}
    unknown = set(table) - set(known)
    if unknown:
        raise ConfigError(f"{config_path}: [resilience] has unknown keys {sorted(unknown)}; known: {sorted(known)}")
    for key, value in table.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{config_path}: [resilience] {key} must be a positive number, got {value!r}")
    budgets = {}
    for name, entry in sources.items():
        if name not in BUDGETED_SOURCES:
            raise ConfigError(
                f"{config_path}: [sources.{name}] is not a known source; known: {list(BUDGETED_SOURCES)}")
        if set(entry) - {"budget"}:
            raise ConfigError(f"{config_path}: [sources.{name}] has unknown keys {sorted(set(entry) - {'budget'})}")
        if "budget" in entry:
            budgets[name] = _positive_int(entry, "budget", 1, config_path)
    return ResilienceSettings(**table, budgets=budgets)


def _symbol_settings(name: str, entry: dict, config_path: Path) -> SymbolSettings:
    where = f"{config_path}: symbol {name!r}"
    if not _SYMBOL_RE.match(name):
        raise ConfigError(f"{where} is malformed: write BASE/QUOTE in capitals, such as 'BTC/USDT'")
    unknown = set(entry) - {"timeframe", "start", "sources"}
    if unknown:
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)}")
    timeframe = entry.get("timeframe", "1m")
    try:
        timeframe_to_ms(timeframe)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    sources = tuple(entry.get("sources", ["binance"]))
    bad = [s for s in sources if s not in SUPPORTED_SOURCES]
    if not sources or bad:
        raise ConfigError(f"{where}: unknown sources {bad or '[]'}; supported: {list(SUPPORTED_SOURCES)}")
    return SymbolSettings(symbol=name, timeframe=timeframe, start=_start(entry.get("start"), where), sources=sources)


def _start(value, where: str) -> datetime:
    if value is None:
        raise ConfigError(f"{where}: no start date (set [defaults] start or the symbol's own)")
    if isinstance(value, datetime):
        start = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        try:
            start = datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
        except ValueError as exc:
            raise ConfigError(f"{where}: start {value!r} is not a date like 2024-01-01") from exc
    start = start.astimezone(UTC)
    if start.minute or start.second or start.microsecond:
        raise ConfigError(f"{where}: start {value!r} must fall on a whole hour")
    if start >= datetime.now(UTC):
        raise ConfigError(f"{where}: start {value!r} is in the future")
    return start


def _positive_int(table: dict, key: str, default: int, config_path: Path) -> int:
    value = table.get(key, default)
    if not _whole(value) or value < 1:
        raise ConfigError(f"{config_path}: {key} must be a positive whole number, got {value!r}")
    return value


def _whole(value) -> bool:
    """An integer from TOML, not a boolean (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _minute(value, config_path: Path) -> int:
    if not _whole(value) or not 0 <= value <= 59:
        raise ConfigError(f"{config_path}: schedule minute_of_hour must be 0..59, got {value!r}")
    return value
