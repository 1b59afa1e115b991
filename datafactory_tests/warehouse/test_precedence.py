"""The replacement rules over frames: who may replace whom, what is a revision, what a history rewrite."""

from datetime import datetime, timedelta

import polars as pl

from datafactory_assets.frames import candles_from_rows
from datafactory_assets.warehouse.precedence import history_rewrites, replacement, source_ranks

T0 = datetime(2024, 3, 1)
T0_MS = int((T0 - datetime(1970, 1, 1)).total_seconds() * 1000)
INGESTED = datetime(2024, 3, 2)
CHAIN = ("binance_archive", "binance", "okx", "yahoo")


def frame(source: str, closes: list[float]) -> pl.DataFrame:
    rows = [[T0_MS + m * 60_000, c, c + 1, c - 1, c, 2.0] for m, c in enumerate(closes)]
    return candles_from_rows(rows, symbol="BTC/USDT", source=source)


def stored(source: str, closes: list[float]) -> pl.DataFrame:
    return frame(source, closes).select("ts", "open", "high", "low", "close", "volume", "source",
                                        ingested_at=pl.lit(INGESTED))


def test_binance_and_its_archive_share_the_better_rank_and_others_keep_their_position():
    assert source_ranks(CHAIN) == {"binance_archive": 0, "binance": 0, "okx": 2, "yahoo": 3}
    assert source_ranks(("okx", "binance", "binance_archive")) == {"okx": 0, "binance": 1, "binance_archive": 1}


def test_identical_candles_write_nothing_and_new_minutes_are_written():
    decided = replacement(frame("binance", [1.0, 2.0, 3.0]), stored("binance", [1.0, 2.0]), chain=CHAIN)
    assert decided.write["close"].to_list() == [3.0]
    assert decided.revisions.is_empty() and decided.refused == 0


def test_a_window_with_nothing_held_writes_every_row_as_it_came_and_revises_nothing():
    incoming = frame("okx", [1.0, 2.0, 3.0])
    decided = replacement(incoming, stored("binance", []), chain=CHAIN)
    assert decided.write.equals(incoming) and decided.refused == 0
    revising = replacement(frame("binance", [5.0]), stored("okx", [1.0]), chain=CHAIN).revisions
    assert decided.revisions.is_empty() and decided.revisions.schema == revising.schema


def test_a_lower_ranked_source_is_refused_and_a_higher_or_equal_one_revises():
    held = stored("okx", [1.0, 2.0])
    down = replacement(frame("yahoo", [5.0, 6.0]), held, chain=CHAIN)
    assert down.write.is_empty() and down.refused == 2 and down.revisions.is_empty()
    up = replacement(frame("binance", [5.0, 2.0]), held, chain=CHAIN)
    assert up.write["close"].to_list() == [5.0] and up.refused == 0
    assert up.revisions.select("old_close", "new_close", "old_source", "new_source", "old_ingested_at").rows() == [
        (1.0, 5.0, "okx", "binance", INGESTED)]


def test_binance_and_its_archive_correct_each_other():
    assert replacement(frame("binance", [5.0]), stored("binance_archive", [1.0]), chain=CHAIN).revisions.height == 1
    assert replacement(frame("binance_archive", [5.0]), stored("binance", [1.0]), chain=CHAIN).revisions.height == 1


def test_another_quote_currency_only_fills_even_first_in_the_chain():
    decided = replacement(frame("yahoo", [5.0, 6.0]), stored("okx", [1.0]), chain=("yahoo", "okx"),
                          fill_only={"yahoo"})
    assert decided.write["close"].to_list() == [6.0] and decided.refused == 1


def test_a_source_no_longer_in_the_chain_is_replaced_as_a_revision():
    decided = replacement(frame("okx", [5.0]), stored("coinbase", [1.0]), chain=("okx",))
    assert decided.revisions.select("old_source", "new_source").rows() == [("coinbase", "okx")]


def test_only_a_venue_changing_its_own_candles_older_than_a_day_rewrites_history():
    revisions = pl.DataFrame({"ts": [T0, T0, T0, T0 + timedelta(days=3)],
                              "old_source": ["binance", "binance_archive", "okx", "binance"],
                              "new_source": ["binance", "binance", "binance", "binance"]})
    assert history_rewrites(revisions, now=T0 + timedelta(days=3, hours=1)) == 2


def test_another_dataset_is_compared_on_its_own_values_and_keys():
    from dataclasses import replace

    from datafactory_assets.datasets import SPOT_CANDLES

    funding = replace(SPOT_CANDLES, name="funding_like", table="funding_like", revisions=None,
                      schema={"symbol": pl.String(), "ts": pl.Datetime("us"), "rate": pl.Float64(),
                              "mark_price": pl.Float64(), "source": pl.String()},
                      values=("rate", "mark_price"), nullable=frozenset({"mark_price"}))
    times = [T0, T0 + timedelta(hours=8), T0 + timedelta(hours=16)]
    incoming = pl.DataFrame({"symbol": "BTC/USDT:USDT", "ts": times, "rate": [1e-4, 2e-4, 3e-4],
                             "mark_price": [None, 50_000.0, 51_000.0], "source": "binance"})
    held = pl.DataFrame({"ts": times[:2], "rate": [1e-4, 2e-4], "mark_price": [None, 49_000.0],
                         "source": ["binance", "okx"], "ingested_at": [INGESTED, INGESTED]})
    decided = replacement(incoming, held, chain=CHAIN, dataset=funding)
    # a missing mark price held as missing is the same row; another mark price is a revision; a new time is written
    assert decided.write["ts"].to_list() == times[1:] and decided.refused == 0
    assert decided.revisions.columns == ["ts", "old_rate", "old_mark_price", "old_source", "old_ingested_at",
                                         "new_rate", "new_mark_price", "new_source"]
    assert decided.revisions.select("old_mark_price", "new_mark_price", "old_source").rows() == [
        (49_000.0, 50_000.0, "okx")]
