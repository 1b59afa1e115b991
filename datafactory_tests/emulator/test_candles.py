"""Synthetic candles: deterministic, random-access, well-formed, and bounded by listing and now."""

import time

import polars as pl
import pytest

from datafactory_assets.emulator.candles import (
    BASE_PRICES,
    DEFAULT_SYMBOLS,
    LISTED_SINCE_MS,
    SCHEMA,
    base_price,
    synthetic_candles,
)

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
T0 = 1_709_287_200_000  # 2024-03-01T10:00Z


def test_the_default_symbols_are_the_price_table_and_listing_is_2017_07_14():
    assert DEFAULT_SYMBOLS == tuple(BASE_PRICES)
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT", "ETH/BTC"} <= set(DEFAULT_SYMBOLS)
    assert LISTED_SINCE_MS == 1_499_990_400_000


def test_columns_and_types_and_window_are_as_documented():
    frame = synthetic_candles("BTC/USDT", T0, T0 + 60 * MINUTE)
    assert frame.schema == pl.Schema(SCHEMA)
    assert frame["open_ms"].to_list() == list(range(T0, T0 + 60 * MINUTE, MINUTE))


def test_same_inputs_give_the_same_frame():
    assert synthetic_candles("ETH/USDT", T0, T0 + DAY).equals(synthetic_candles("ETH/USDT", T0, T0 + DAY))


@pytest.mark.parametrize("timeframe_ms", [MINUTE, 5 * MINUTE, HOUR, DAY])
def test_a_candle_does_not_depend_on_the_window_it_was_asked_in(timeframe_ms):
    wide = synthetic_candles("SOL/USDT", T0 - 500 * timeframe_ms, T0 + 500 * timeframe_ms, timeframe_ms)
    for offset in (-317, 0, 1, 499):
        start = T0 + offset * timeframe_ms
        single = synthetic_candles("SOL/USDT", start, start + 1, timeframe_ms)
        assert single.rows() == wide.filter(pl.col("open_ms") == start).rows()


def test_symbols_differ_and_timeframes_share_their_open_prices():
    btc, eth = synthetic_candles("BTC/USDT", T0, T0 + HOUR), synthetic_candles("ETH/USDT", T0, T0 + HOUR)
    assert btc["close"].to_list() != eth["close"].to_list()
    hourly = synthetic_candles("BTC/USDT", T0, T0 + HOUR, HOUR)
    assert hourly["open"][0] == btc["open"][0]
    assert hourly["close"][0] == btc["close"][-1]


@pytest.mark.parametrize("symbol", [*DEFAULT_SYMBOLS, "ALT/BTC", "PEPE/USDT"])
@pytest.mark.parametrize("timeframe_ms", [MINUTE, HOUR, DAY])
def test_ohlc_invariants_continuity_and_rounding(symbol, timeframe_ms):
    frame = synthetic_candles(symbol, T0 - 2000 * timeframe_ms, T0, timeframe_ms)
    assert frame.height == 2000
    checks = frame.select(
        high_on_top=(pl.col("high") >= pl.max_horizontal("open", "close")).all(),
        low_below=(pl.col("low") <= pl.min_horizontal("open", "close")).all(),
        positive=((pl.col("low") > 0) & (pl.col("volume") > 0)).all(),
    )
    assert checks.row(0) == (True, True, True)
    assert frame["open"][1:].to_list() == frame["close"][:-1].to_list()  # open(t) = close(t - tf)
    decimals = 2 if base_price(symbol) >= 1 else 8
    for column in ("open", "high", "low", "close"):
        assert frame[column].to_list() == frame[column].round(decimals).to_list()
    assert frame["volume"].to_list() == frame["volume"].round(5).to_list()
    assert frame["high"].n_unique() > 100  # the path actually moves


def test_known_symbols_trade_near_their_base_price_and_unknown_ones_get_a_stable_positive_one():
    btc = synthetic_candles("BTC/USDT", T0, T0 + DAY)
    assert 60_000 * 0.6 < btc["close"].mean() < 60_000 / 0.6
    assert base_price("ZZZ/USDT") == base_price("ZZZ/USDT")
    assert 0.01 <= base_price("ZZZ/USDT") < 10_000
    assert base_price("ZZZ/USDT") != base_price("YYY/USDT")


def test_windows_are_aligned_to_the_timeframe():
    frame = synthetic_candles("BTC/USDT", T0 + 1, T0 + 3 * MINUTE + 1)
    assert frame["open_ms"].to_list() == [T0 + MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE]
    assert synthetic_candles("BTC/USDT", T0 + 1, T0 + MINUTE).is_empty()


def test_nothing_before_listing():
    frame = synthetic_candles("BTC/USDT", LISTED_SINCE_MS - DAY, LISTED_SINCE_MS + 3 * MINUTE)
    assert frame["open_ms"].to_list() == [LISTED_SINCE_MS + i * MINUTE for i in range(3)]
    assert synthetic_candles("BTC/USDT", 0, LISTED_SINCE_MS).is_empty()


@pytest.mark.parametrize("timeframe_ms", [MINUTE, HOUR])
def test_the_still_open_candle_is_the_last_one(timeframe_ms):
    before = time.time_ns() // 1_000_000
    frame = synthetic_candles("BTC/USDT", before - 10 * timeframe_ms, before + 10 * DAY, timeframe_ms)
    after = time.time_ns() // 1_000_000
    last = frame["open_ms"][-1]
    assert before // timeframe_ms * timeframe_ms <= last <= after // timeframe_ms * timeframe_ms
    assert last <= after < last + timeframe_ms + (after - before)


def test_a_non_positive_timeframe_is_refused():
    with pytest.raises(ValueError, match="timeframe_ms"):
        synthetic_candles("BTC/USDT", T0, T0 + HOUR, 0)
