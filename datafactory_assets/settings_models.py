"""What `datafactory.toml` may hold, as typed pydantic models: every table forbids unknown keys and every value is
read strictly (no `1` for `"1m"`, no `2.5` for a whole number, no `true` for a number), within bounds that say what
the setting can sensibly mean. `settings.load_settings` turns a validated file into the platform's `Settings`.

The section models that the platform runs with (`AccuracySettings`, `HealingSettings`, ...) are these same models,
so a setting, its default and its bounds are written once.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from datafactory_assets.datasets import DATASETS
from datafactory_assets.instruments import MARKETS, Instrument, InstrumentError
from datafactory_assets.settings_errors import ConfigError
from datafactory_assets.sources.venues import REFERENCES, VENUES, reaches
from datafactory_assets.universe import RANKABLE_VENUES

SUPPORTED_SOURCES = tuple(VENUES)
BUDGETED_SOURCES = SUPPORTED_SOURCES + tuple(REFERENCES)  # what `[sources.<id>] budget` may name
EARLIEST_START = datetime(2009, 1, 3, tzinfo=UTC)  # Bitcoin's first block: no candle of any pair is older

_TIMEFRAME_UNITS = {"m": 60_000, "h": 3_600_000}
_HOUR_MS = 3_600_000
_DAY_S = 86_400


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
    """Whether `name` is a spot BASE/QUOTE the configuration can hold (a `[universe]` ranks spot pairs only)."""
    try:
        return Instrument.parse(name).market == "spot"
    except InstrumentError:
        return False


def market_datasets(market: str) -> tuple[str, ...]:
    """Every dataset of a market type: what an instrument collects when neither it nor `[defaults]` names any
    (spot: "candles")."""
    return tuple(name for name, dataset in DATASETS.items() if dataset.market == market)


class _Table(BaseModel):
    """A TOML table: unknown keys are refused, values are never coerced, and a loaded section cannot change."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# ---- the sections the platform runs with -------------------------------------------------------------------------

class ResilienceSection(_Table):
    """`[resilience]`: retry, breaker and budget settings shared by every source."""

    retry_attempts: int = Field(4, ge=1, le=20)  # in all, the first included; 20 at the 30 s cap is ten minutes
    retry_backoff_s: float = Field(0.5, gt=0, le=60)
    retry_max_backoff_s: float = Field(30.0, gt=0, le=3600)
    breaker_fail_max: int = Field(5, ge=1, le=1000)
    breaker_reset_s: float = Field(60.0, gt=0, le=_DAY_S)
    ban_s: float = Field(600.0, gt=0, le=_DAY_S)
    budget_margin: float = Field(0.9, gt=0, le=1, description=(
        "a share of each venue's request budget above 0 and at most 1 (0.9 = 90%, more would exceed the venue's "
        "limit)"))

    @model_validator(mode="after")
    def _cap_above_base(self):
        if self.retry_max_backoff_s < self.retry_backoff_s:
            raise ValueError(f"retry_max_backoff_s ({self.retry_max_backoff_s:g}) must be at least retry_backoff_s "
                             f"({self.retry_backoff_s:g})")
        return self


class ResilienceSettings(ResilienceSection):
    """`[resilience]` plus the `[sources.<id>] budget` overrides, in each venue's own budget unit and window."""

    budgets: dict[str, int] = {}


class AlertSettings(_Table):
    """When a failure is worth a message, and how often one key may send (`[alerts]`)."""

    checks: tuple[Annotated[str, Field(min_length=1)], ...] = Field(  # by name, so a check added later can alert
        ("validation", "gaps", "accuracy", "anomaly", "freshness"), strict=False, min_length=1,
        description="a non-empty list of check names such as [\"gaps\", \"accuracy\"]")
    gaps_threshold: int = Field(5, ge=0, le=525_600)  # missing candles one evaluation may report; a year of minutes
    repeat_interval_s: int = Field(3600, ge=1, le=7 * _DAY_S)  # at most one alert per key in this long
    sensor_interval_s: int = Field(60, ge=1, le=3600)  # how often the alert sensors look


class AccuracySettings(_Table):
    """How stored closes are held against a second source (`[accuracy]`)."""

    # "coingecko" or a source id; candles are never compared with their own source
    reference: Literal[("coingecko", *SUPPORTED_SOURCES)] = "coingecko"
    tolerance_bps: float = Field(100.0, gt=0, le=10_000)  # a sampled close further than this fails; 10,000 is 100%
    sample_size: int = Field(12, ge=1, le=60)  # reference points per hourly partition: at most its 60 candles
    # Symbols whose one-hour windows ask the reference in the same hour; the others take turns (checks/accuracy.py).
    # CoinGecko's default budget is 30 requests a minute, so an hourly run of 200 symbols would otherwise wait 7.
    checks_per_hour: int = Field(30, ge=1, le=10_000)


class AnomalySettings(_Table):
    """What counts as an unusual candle (`[anomaly]`); anomalies warn, they are not errors."""

    k: float = Field(8.0, gt=0, le=100)  # robust standard deviations a 1-candle log return may stray from the median
    # The recent distribution: this many stored candles before the window, plus the window. Every run reads them, and
    # a month of minutes is as far as "recent" goes (an unbounded value overflowed the window's start date).
    window_candles: int = Field(1440, ge=10, le=43_200)
    zero_volume_streak: int = Field(10, ge=2, le=1440)  # consecutive zero-volume candles; one is no streak


class HealingSettings(_Table):
    """How the gap-healing sensor asks for runs (`[healing]`)."""

    enabled: bool = True  # false: the sensor is defined but stopped until someone starts it in the UI
    interval_s: int = Field(60, ge=1, le=3600)  # how often the sensor looks
    max_runs_per_tick: int = Field(8, ge=1, le=100)  # each of up to partitions_per_run hours
    order: Literal["newest", "oldest"] = "newest"  # which incomplete hours are asked for first
    max_attempts: int = Field(6, ge=1, le=100)  # runs asked for one hour before it is reported and left alone
    backoff_s: int = Field(60, ge=1, le=_DAY_S)  # wait before asking again for an hour still incomplete; doubles ...
    max_backoff_s: int = Field(240, ge=1, le=_DAY_S)  # ... up to this, so a healed outage is retried within minutes
    settle_minutes: int = Field(15, ge=0, le=59)  # an hour is the schedule's until this long after it closes

    @model_validator(mode="after")
    def _cap_above_base(self):
        if self.max_backoff_s < self.backoff_s:
            raise ValueError(f"max_backoff_s ({self.max_backoff_s}) must be at least backoff_s ({self.backoff_s})")
        return self


# ---- the universe: [defaults], [symbols."BASE/QUOTE"], [universe] ---------------------------------------------------

def _timeframe(value: str) -> str:
    timeframe_to_ms(value)  # a ConfigError is a ValueError: pydantic reports its message at the entry
    return value


def _start(value) -> datetime:
    """A TOML date, a TOML date-time or an ISO string, as an aware UTC datetime on a whole hour: one with an offset
    is converted to UTC (never read as UTC), one without is UTC."""
    written = value.isoformat() if isinstance(value, date | time) else value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a date like 2024-01-01 or 2024-01-01T05:00:00Z") from None
    if not isinstance(value, date):  # a TOML time of day, a number, a list ...
        raise ValueError(f"must be a date like 2024-01-01 or 2024-01-01T05:00:00Z, got {written}")
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(), tzinfo=UTC)
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value.minute or value.second or value.microsecond:
        raise ValueError(f"{written} is {value:%Y-%m-%dT%H:%M:%S}Z in UTC, which is not a whole hour")
    if value < EARLIEST_START:
        raise ValueError(f"{written} is before {EARLIEST_START:%Y-%m-%d}, Bitcoin's first block")
    if value >= datetime.now(UTC):
        raise ValueError(f"{written} is in the future")
    return value


def _distinct(why: str):
    """A check that a list names each item once; `why` says why it must."""
    def check(items: list[str]) -> tuple[str, ...]:
        repeated = sorted({item for item in items if items.count(item) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(repeated)} more than once: {why}")
        return tuple(items)
    return check


def _symbol(name: str) -> str:
    try:
        Instrument.parse(name)
    except InstrumentError as exc:
        raise ValueError(exc.problem) from None
    return name


Source = Literal[SUPPORTED_SOURCES]
DatasetName = Literal[tuple(DATASETS)]
Symbol = Annotated[str, AfterValidator(_symbol)]


class SymbolEntry(_Table):
    """`[defaults]` or one `[symbols."BASE/QUOTE"]` entry; what a symbol leaves out comes from `[defaults]`."""

    timeframe: Annotated[str, AfterValidator(_timeframe)] | None = Field(
        None, description="a timeframe that divides one hour, such as \"1m\", \"5m\" or \"1h\"")
    start: Annotated[datetime, BeforeValidator(_start)] | None = None
    sources: Annotated[list[Source], Field(min_length=1),
                       AfterValidator(_distinct("a chain names each source once"))] | None = Field(
        None, description=f"a non-empty list of distinct sources out of {', '.join(SUPPORTED_SOURCES)}")
    datasets: Annotated[list[DatasetName], Field(min_length=1),
                        AfterValidator(_distinct("each dataset is collected once"))] | None = Field(
        None, description=f"a non-empty list of distinct datasets out of {', '.join(DATASETS)}")


class RenamedFrom(_Table):
    """One earlier venue symbol of a renamed instrument: `[symbols."POL/USDT"] renamed_from = [{symbol =
    "MATIC/USDT", until = "2024-09-10T03:00:00Z"}]` asks the venues for MATIC/USDT before `until` (a whole UTC hour)
    and for the next symbol from then on."""

    symbol: Symbol
    until: Annotated[datetime, BeforeValidator(_start)]


def _in_order(renames: list[RenamedFrom]) -> tuple[RenamedFrom, ...]:
    """Oldest first, each earlier symbol once."""
    names = [rename.symbol for rename in renames]
    _distinct("each earlier symbol is named once")(names)
    for earlier, later in zip(renames, renames[1:]):
        if later.until <= earlier.until:
            raise ValueError(f"the renames must be listed oldest first, each `until` later than the one before: "
                             f"{later.symbol} until {later.until:%Y-%m-%d %H:%M} comes after {earlier.symbol} until "
                             f"{earlier.until:%Y-%m-%d %H:%M}")
    return tuple(renames)


class InstrumentEntry(SymbolEntry):
    """One `[symbols."BASE/QUOTE"]` entry: a `SymbolEntry` and, for an instrument the venues renamed, its earlier
    venue symbols (`renamed_from`, oldest first)."""

    renamed_from: Annotated[list[RenamedFrom], Field(min_length=1), AfterValidator(_in_order)] | None = None


class CollectedDatasets(BaseModel):
    """What one instrument collects, once chosen (its own `datasets`, else `[defaults]`', else every dataset of its
    market): at least one, each of the instrument's market, since spot candles say nothing of a perpetual's trades
    and a perpetual's funding means nothing for a spot pair."""

    model_config = ConfigDict(frozen=True, strict=True, arbitrary_types_allowed=True)

    instrument: Instrument
    datasets: tuple[str, ...]

    @field_validator("datasets")
    @classmethod
    def _of_its_market(cls, datasets: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        instrument: Instrument = info.data["instrument"]
        for name in datasets:
            if DATASETS[name].market != instrument.market:
                allowed = ", ".join(f'"{d}"' for d in market_datasets(instrument.market)) or "none yet"
                raise ValueError(f'"{name}" collects {MARKETS[DATASETS[name].market]}s, and {instrument.symbol} is a '
                                 f"{instrument.kind}; a {instrument.kind} may collect: {allowed}")
        return datasets

    @model_validator(mode="after")
    def _some(self):
        if not self.datasets:
            raise ValueError(f"no dataset collects {self.instrument.kind}s yet, so {self.instrument.symbol} "
                             "cannot be collected")
        return self


class ServingChain(BaseModel):
    """An instrument's chain once chosen (its own `sources`, else `[defaults]`', else binance): for each dataset it
    collects, at least one source that serves it for the instrument's market. A perpetual taking a spot-only chain
    from `[defaults]` (Kraken, Coinbase: no perpetual market) would otherwise fail only when a run asks."""

    model_config = ConfigDict(frozen=True, strict=True, arbitrary_types_allowed=True)

    instrument: Instrument
    datasets: tuple[str, ...]
    sources: tuple[str, ...]

    @field_validator("sources")
    @classmethod
    def _serve_every_dataset(cls, sources: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        instrument: Instrument = info.data["instrument"]
        unserved = [name for name in info.data["datasets"] if not any(_serves(s, name, instrument) for s in sources)]
        if not unserved:
            return sources
        kind = MARKETS[instrument.market]
        without = [s for s in sources if not reaches(s, instrument.market)]
        why = (f"{', '.join(without)} {'has' if len(without) == 1 else 'have'} no {kind} market" if without else
               f"{', '.join(sources)} {'does' if len(sources) == 1 else 'do'} not serve "
               f"{'it' if len(unserved) == 1 else 'them'}")
        servers = [s for s in SUPPORTED_SOURCES if all(_serves(s, name, instrument) for name in unserved)]
        raise ValueError(f"{instrument.symbol} collects {', '.join(unserved)}, which no source of its chain serves "
                         f"({why}); add one of {', '.join(servers)}")


def _serves(source: str, dataset: str, instrument: Instrument) -> bool:
    return source in DATASETS[dataset].venues and reaches(source, instrument.market)


class UniverseSection(_Table):
    """`[universe]`: the busiest `top` spot pairs of `quote` on `venue`, ranked into `cache`."""

    venue: Literal[RANKABLE_VENUES]
    quote: str = Field(pattern=r"^[A-Z0-9]{2,15}$", description="a currency in capitals such as \"USDT\"")
    top: int = Field(ge=1, le=1000)  # Binance, the largest, lists a few hundred pairs of one quote
    cache: str | None = Field(None, min_length=1)  # default: <config name>.universe.json beside the config


# ---- the rest of the file ------------------------------------------------------------------------------------------

class WarehouseSection(_Table):
    path: str = Field("data/warehouse.duckdb", min_length=1)  # relative to the configuration file


class BackfillSection(_Table):
    # hourly partitions one run fetches and writes in one transaction; a year at most
    partitions_per_run: int = Field(720, ge=1, le=8784)


class ScheduleSection(_Table):
    minute_of_hour: int = Field(5, ge=0, le=59)


class FreshnessSection(_Table):
    """`[freshness]`: Dagster's freshness policy on every candle asset."""

    warn_after_minutes: int = Field(75, ge=1, le=10_080)  # the hourly run is late; a week at most
    fail_after_minutes: int = Field(120, ge=1, le=10_080)  # an hour was missed

    @model_validator(mode="after")
    def _warn_before_fail(self):
        if self.warn_after_minutes >= self.fail_after_minutes:
            raise ValueError(f"warn_after_minutes ({self.warn_after_minutes}) must be below fail_after_minutes "
                             f"({self.fail_after_minutes})")
        return self


class SourceSection(_Table):
    """`[sources.<id>]`: the venue's request budget, in its own unit and window (Binance: weight per minute)."""

    budget: int | None = Field(None, ge=1, le=1_000_000)


class ConfigFile(_Table):
    """The whole file; a table or key not named here (`[warehous]`, `pth`) is refused."""

    defaults: SymbolEntry = SymbolEntry()
    symbols: dict[Symbol, InstrumentEntry] = {}
    universe: UniverseSection | None = None
    warehouse: WarehouseSection = WarehouseSection()
    backfill: BackfillSection = BackfillSection()
    schedule: ScheduleSection = ScheduleSection()
    resilience: ResilienceSection = ResilienceSection()
    sources: dict[Literal[BUDGETED_SOURCES], SourceSection] = {}
    freshness: FreshnessSection = FreshnessSection()
    accuracy: AccuracySettings = AccuracySettings()
    anomaly: AnomalySettings = AnomalySettings()
    alerts: AlertSettings = AlertSettings()
    healing: HealingSettings = HealingSettings()
