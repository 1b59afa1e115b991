"""The sources as a Dagster resource: clients pointed at the real venues or the emulator, each behind its guard
(shared budget, retry, breaker), assembled into a symbol's failover chain."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cache
from pathlib import Path

import dagster as dg

from datafactory_assets.datasets import SPOT_CANDLES, Dataset
from datafactory_assets.resilience.breaker import SourceBreaker
from datafactory_assets.resilience.chain import ChainMember, FailoverChain
from datafactory_assets.resilience.guard import SourceGuard
from datafactory_assets.resilience.ratelimit import SourceLimiter
from datafactory_assets.resilience.retry import RetrySettings
from datafactory_assets.settings import ResilienceSettings
from datafactory_assets.sources.base import Source
from datafactory_assets.sources.binance_archive import BinanceArchiveSource
from datafactory_assets.sources.ccxt_source import CcxtCandleSource
from datafactory_assets.sources.coingecko_source import CoinGeckoReference
from datafactory_assets.sources.file_cache import FileCache
from datafactory_assets.sources.venues import budget_key, market_budget, quirks, reaches
from datafactory_assets.sources.yahoo_source import YahooCandleSource


_DEFAULTS = ResilienceSettings()


@cache
def _client(name: str, market: str, emulator_url: str | None, budget: int) -> Source:
    """One client per venue, market type (`instruments`: "spot", "swap") and process: its market list is loaded
    once per run, not once per symbol."""
    if name == "yahoo":
        return YahooCandleSource(emulator_url=emulator_url)
    return CcxtCandleSource(name, market=market, emulator_url=emulator_url, budget_limit=budget)


@cache
def _archive(emulator_url: str | None, *, state_path: str | None, min_age_days: float,
             cache_mb: int) -> BinanceArchiveSource:
    """Binance's bulk archive, its verified files kept beside the state file (not kept without one)."""
    cache = None
    if state_path:
        state = Path(state_path)
        cache = FileCache(state.with_name(state.stem + ".binance-archive"), max_bytes=cache_mb * 2**20)
    return BinanceArchiveSource(emulator_url=emulator_url, cache=cache, min_age=timedelta(days=min_age_days))


def _guard(name: str, *, state_path: str | None, budget: int | None, window_s: float, fail_max: int, reset_s: float,
           ban_s: float, retry: RetrySettings) -> SourceGuard:
    """Budget (only with a state file to share it in), breaker and retry for one source (`budget_key`)."""
    limiter = (SourceLimiter(path=state_path, source=name, budget=budget, window_s=window_s)
               if budget and state_path else None)
    breaker = SourceBreaker(path=state_path or ":memory:", source=name, fail_max=fail_max, reset_timeout_s=reset_s)
    return SourceGuard(source=name, limiter=limiter, breaker=breaker, retry=retry, ban_s=ban_s)


# Guards over a state file hold nothing the file does not: one per process spares two SQLite opens per source per step.
_shared_guard = cache(_guard)


class SourcesResource(dg.ConfigurableResource):
    """Builds source clients and chains; `emulator_url` (DATAFACTORY_EMULATOR_URL) is the only test switch.

    `state_path` is the SQLite file holding breakers and budgets for every process; without it (unit tests,
    benchmarks) breakers live in the process and no budget is kept.
    """

    emulator_url: str | None = None
    state_path: str | None = None
    rate_limit: bool = True
    coingecko_api_key: str | None = None
    coingecko_ids: dict[str, str] = {}  # base -> CoinGecko id, from the universe file (datafactory universe --refresh)
    # the `[resilience]` settings, flat as Dagster resource config wants them; their defaults live in one place
    budget_margin: float = _DEFAULTS.budget_margin
    budgets: dict[str, int] = {}
    breaker_fail_max: int = _DEFAULTS.breaker_fail_max
    breaker_reset_s: float = _DEFAULTS.breaker_reset_s
    ban_s: float = _DEFAULTS.ban_s
    retry_attempts: int = _DEFAULTS.retry_attempts
    retry_backoff_s: float = _DEFAULTS.retry_backoff_s
    retry_max_backoff_s: float = _DEFAULTS.retry_max_backoff_s
    # Binance's bulk archive: how old a window's start must be for it, and how much of it to keep on disk
    archive_min_age_days: float = 2.0
    archive_cache_mb: int = 2048

    def client(self, name: str, market: str = "spot") -> Source:
        if name == "binance_archive":
            return _archive(self.emulator_url, state_path=self.state_path, min_age_days=self.archive_min_age_days,
                            cache_mb=self.archive_cache_mb)
        return _client(name, market, self.emulator_url, self._budget(name, market))

    def _budget(self, name: str, market: str = "spot") -> int:
        """The share of the venue's budget for `market` (configured or known) that we allow ourselves; a market
        with a budget of its own (`venues.budget_key`) is configured under that key."""
        key = budget_key(name, market)
        return max(int(self.budgets.get(key, market_budget(name, market)) * self.budget_margin), 1)

    def reference(self) -> CoinGeckoReference:
        """CoinGecko's prices, the reference for accuracy checks (the demo key, when set, is sent, never logged);
        ask through `guard("coingecko")`."""
        return CoinGeckoReference(emulator_url=self.emulator_url, api_key=self.coingecko_api_key,
                                  coin_ids=self.coingecko_ids)

    def guard(self, name: str, market: str = "spot") -> SourceGuard:
        """The guard of the source's `market` (its budget and breaker are the venue's, or the market's own where it
        keeps one: `venues.budget_key`); with a state file, one per process and configuration (its state is in
        the file)."""
        retry = RetrySettings(attempts=self.retry_attempts, backoff_s=self.retry_backoff_s,
                              max_backoff_s=self.retry_max_backoff_s)
        build = _shared_guard if self.state_path else _guard
        return build(budget_key(name, market), state_path=self.state_path,
                     budget=self._budget(name, market) if self.rate_limit else None,
                     window_s=quirks(name).budget_window_s, fail_max=self.breaker_fail_max,
                     reset_s=self.breaker_reset_s, ban_s=self.ban_s, retry=retry)

    def chain(self, names: Sequence[str], *, validate: Callable, dataset: Dataset = SPOT_CANDLES) -> FailoverChain:
        """The named sources, each behind its guard and reaching the dataset's market, asked in order for rows of
        `dataset`. A ccxt venue with no market of that type here (`venues.reaches`: Kraken and Coinbase have no
        perpetuals) is left out, so that a perpetual can share the default chain with spot pairs; settings refuse
        a chain left with no source of some dataset it collects (`settings_models.ServingChain`)."""
        reaching = [n for n in names if reaches(n, dataset.market)]
        return FailoverChain([ChainMember(self.client(n, dataset.market), self.guard(n, dataset.market))
                              for n in reaching],
                             validate=validate, dataset=dataset)
