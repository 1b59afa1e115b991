"""Perpetual candle datasets materialized through Dagster with the real ccxt client against the emulator, and held
value for value to what plain ccxt fetches from the emulator for the same window."""

from datetime import UTC, datetime, timedelta

import ccxt
import dagster as dg
import polars as pl
import pytest

from datafactory_assets.assets import build_candle_asset
from datafactory_assets.checks import validate_candles
from datafactory_assets.checks.names import MARK_VS_INDEX, PERP_VS_SPOT
from datafactory_assets.datasets import (
    DATASETS,
    INDEX_CANDLES,
    MARK_CANDLES,
    PERP_CANDLES,
    PREMIUM_CANDLES,
    SPOT_CANDLES,
)
from datafactory_assets.emulator import perp_series
from datafactory_assets.settings import SymbolSettings
from datafactory_assets.sources.ccxt_source import point_at_emulator
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.warehouse import host, queries
from datafactory_tests.helpers import ms

HOUR = datetime(2025, 6, 2, 10, tzinfo=UTC)
PARTITION = "2025-06-02-10:00"
VALUES = ["open", "high", "low", "close", "volume"]


def perpetual(*sources: str, symbol: str = "BTC/USDT:USDT") -> SymbolSettings:
    return SymbolSettings(symbol=symbol, timeframe="1m", start=datetime(2025, 6, 1, tzinfo=UTC),
                          sources=sources or ("binance",))


def materialize(asset, *, warehouse, sources):
    return dg.materialize([asset], partition_key=PARTITION, resources={"warehouse": warehouse, "sources": sources},
                          instance=dg.DagsterInstance.ephemeral())


def stored(warehouse, dataset, symbol="BTC/USDT:USDT") -> pl.DataFrame:
    with warehouse.connect(read_only=True) as conn:
        return queries.window_candles(conn, symbol, HOUR, HOUR + timedelta(hours=1), dataset=dataset)


def plain_ccxt(emulator, price: str | None) -> list[list]:
    """What ccxt.binanceusdm, pointed at the emulator and asked once, returns for the hour."""
    exchange = ccxt.binanceusdm({"options": {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False}})
    exchange.urls["api"] = point_at_emulator(exchange.urls["api"], base_url=emulator.url, venue="binanceusdm")
    params = {"until": ms(HOUR + timedelta(hours=1)) - 1, **({"price": price} if price else {})}
    return exchange.fetch_ohlcv("BTC/USDT:USDT", "1m", since=ms(HOUR), limit=1000, params=params)


def check_results(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.event_specific_data.check_name: e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


@pytest.mark.parametrize(("dataset", "price", "key"), [(PERP_CANDLES, None, "perp_candles"),
                                                       (MARK_CANDLES, "mark", "mark_candles")])
def test_a_materialization_stores_exactly_what_plain_ccxt_fetches(warehouse, sources, emulator, dataset, price, key):
    asset = build_candle_asset(perpetual(), partitions_per_run=24, dataset=dataset)
    assert asset.key == dg.AssetKey([key, "btc_usdt"])
    result = materialize(asset, warehouse=warehouse, sources=sources)
    assert result.success
    rows = stored(warehouse, dataset)
    want = plain_ccxt(emulator, price)
    assert len(want) == rows.height == 60
    assert rows["ts"].dt.epoch("ms").to_list() == [row[0] for row in want]
    for n, column in enumerate(VALUES, start=1):
        assert rows[column].to_list() == [row[n] for row in want], column
    assert set(rows["source"]) == {"binance"}
    data = {r["path"] for r in emulator.request_log() if r["venue"] == "binanceusdm"}
    assert data >= {"/fapi/v1/markPriceKlines" if price else "/fapi/v1/klines"}
    checks = check_results(result)
    assert checks["validation"].passed and checks["gaps"].passed


def test_perpetual_candles_fail_over_from_binance_to_okx(warehouse, emulator):
    emulator.add_fault("binanceusdm:status:503")
    asset = build_candle_asset(perpetual("binance", "okx"), partitions_per_run=24, dataset=PERP_CANDLES)
    result = materialize(asset, warehouse=warehouse, sources=SourcesResource(emulator_url=emulator.url,
                                                                             retry_attempts=1))
    (mat,) = result.asset_materializations_for_node("perp_candles__btc_usdt")
    assert mat.metadata["source"].value == "okx" and "binance" in mat.metadata["failed_sources"].value
    rows = stored(warehouse, PERP_CANDLES)
    assert rows.height == 60 and set(rows["source"]) == {"okx"}
    okx = {r["path"] for r in emulator.request_log() if r["venue"] == "okx"}
    assert okx & {"/api/v5/market/candles", "/api/v5/market/history-candles"}


def test_the_premium_index_may_be_negative_but_spot_rules_refuse_it():
    frame = pl.DataFrame({"ts": [datetime(2025, 6, 2, 10, m) for m in range(3)],
                          "open": [-0.0002, 0.00001, 0.0001], "high": [0.00002, 0.0001, 0.0001],
                          "low": [-0.0003, 0.00001, 0.00001], "close": [0.00001, 0.0001, 0.00001],
                          "volume": [0.0] * 3})
    window = {"start": HOUR, "end": HOUR + timedelta(hours=1), "timeframe_ms": 60_000}
    assert PREMIUM_CANDLES.validate(frame, **window) == []
    assert {v.rule for v in validate_candles(frame, **window)} == {"non_positive_price", "implausible_jump"}
    assert {v.rule for v in MARK_CANDLES.validate(frame, **window)} == {"non_positive_price", "implausible_jump"}


def test_okx_serves_no_premium_candles_and_mark_and_index_at_most_100_a_request():
    assert "okx" not in PREMIUM_CANDLES.venues
    assert (MARK_CANDLES.endpoint("okx").limit, INDEX_CANDLES.endpoint("okx").limit,
            PERP_CANDLES.endpoint("okx").limit) == (100, 100, 300)
    assert {d.name for d in DATASETS.values() if d.market == "swap"} >= {
        "perp_candles", "mark_candles", "index_candles", "premium_candles"}


def test_index_and_premium_candles_from_okx_and_bybit_store_volume_zero(sources, emulator):
    start, end = HOUR, HOUR + timedelta(minutes=30)

    def fetched(name, dataset):
        chain = sources.chain([name], dataset=dataset, validate=lambda f: dataset.validate(
            f, start=start, end=end, timeframe_ms=60_000))
        return chain.fetch("BTC/USDT:USDT", start=start, end=end, timeframe="1m", expected_rows=30).frame

    for name, dataset, kind in [("okx", INDEX_CANDLES, "index"), ("bybit", PREMIUM_CANDLES, "premium")]:
        frame = fetched(name, dataset)
        want = perp_series.perp_candles("BTC/USDT:USDT", kind, ms(start), ms(end))
        assert frame["close"].to_list() == want["close"].to_list(), name
        assert frame["volume"].to_list() == [0.0] * 30, name


def test_mark_candles_come_from_the_futures_archive_whose_csvs_have_a_header(sources, emulator):
    start, end = HOUR, HOUR + timedelta(hours=2)
    chain = sources.chain(["binance_archive"], dataset=MARK_CANDLES, validate=lambda f: MARK_CANDLES.validate(
        f, start=start, end=end, timeframe_ms=60_000))
    result = chain.fetch("BTC/USDT:USDT", start=start, end=end, timeframe="1m", expected_rows=120)
    want = perp_series.perp_candles("BTC/USDT:USDT", "mark", ms(start), ms(end))
    assert result.source == "binance_archive" and result.frame.height == 120
    assert result.frame["close"].to_list() == want["close"].to_list()
    paths = {r["path"] for r in emulator.request_log() if r["venue"] == "binance_archive"}
    assert any(p.startswith("/data/futures/um/monthly/markPriceKlines/BTCUSDT/1m/") for p in paths)


def test_mark_against_index_is_unknown_until_the_index_is_stored_then_agrees(warehouse, sources):
    mark = build_candle_asset(perpetual(), partitions_per_run=24, dataset=MARK_CANDLES)
    first = check_results(materialize(mark, warehouse=warehouse, sources=sources))[MARK_VS_INDEX]
    assert not first.passed and first.metadata["verdict"].value == "unknown"
    assert first.severity == dg.AssetCheckSeverity.WARN
    materialize(build_candle_asset(perpetual(), partitions_per_run=24, dataset=INDEX_CANDLES), warehouse=warehouse,
                sources=sources)
    second = check_results(materialize(mark, warehouse=warehouse, sources=sources))[MARK_VS_INDEX]
    assert second.passed and second.metadata["compared"].value == 60


def test_a_step_with_a_cross_dataset_check_opens_the_warehouse_once(warehouse, sources, monkeypatch):
    """The index side of mark-vs-index is read in the mark write's own connection: a connection of its own would
    open the file once more, under the lock every writer waits for."""
    materialize(build_candle_asset(perpetual(), partitions_per_run=24, dataset=INDEX_CANDLES), warehouse=warehouse,
                sources=sources)
    opened, attach = [], host._Host.attach  # a session opens the file by attaching it (warehouse/host.py)
    monkeypatch.setattr(host._Host, "attach", lambda self, *, read_only: opened.append(read_only) or attach(
        self, read_only=read_only))
    mark = build_candle_asset(perpetual(), partitions_per_run=24, dataset=MARK_CANDLES)
    verdict = check_results(materialize(mark, warehouse=warehouse, sources=sources))[MARK_VS_INDEX]
    assert verdict.passed and verdict.metadata["compared"].value == 60
    assert opened == [False]


def test_perpetual_against_spot_fails_when_the_stored_spot_closes_disagree(warehouse, emulator):
    sources = SourcesResource(emulator_url=emulator.url)
    spot = SymbolSettings(symbol="BTC/USDT", timeframe="1m", start=datetime(2025, 6, 1, tzinfo=UTC),
                          sources=("okx",))
    perp = build_candle_asset(perpetual(), partitions_per_run=24, dataset=PERP_CANDLES)
    unknown = check_results(materialize(perp, warehouse=warehouse, sources=sources))[PERP_VS_SPOT]
    assert not unknown.passed and unknown.metadata["verdict"].value == "unknown"
    emulator.set_price_offset("okx", 300)  # spot closes from OKX 3 % off: beyond the 100 bps tolerance
    materialize(build_candle_asset(spot, partitions_per_run=24, dataset=SPOT_CANDLES), warehouse=warehouse,
                sources=sources)
    verdict = check_results(materialize(perp, warehouse=warehouse, sources=sources))[PERP_VS_SPOT]
    assert not verdict.passed and verdict.severity == dg.AssetCheckSeverity.ERROR
    assert verdict.metadata["disagreeing"].value == 60
