"""The funding_rates declaration: registered for perpetuals, and ccxt's funding structures into its frame."""

from datetime import datetime

from datafactory_assets.datasets import DATASETS
from datafactory_assets.datasets.funding_rates import FUNDING_RATES, FUNDING_SCHEMA, funding_from_rows
from datafactory_assets.sources.funding_terms import StatedTerms


def test_it_is_a_swap_dataset_at_the_venues_own_intervals_served_by_binance_okx_and_bybit():
    assert DATASETS["funding_rates"] is FUNDING_RATES
    assert (FUNDING_RATES.market, FUNDING_RATES.cadence.venue_interval, FUNDING_RATES.keys) == (
        "swap", True, ("symbol", "ts"))
    assert {venue: e.limit for venue, e in FUNDING_RATES.venues.items()} == {"binance": 1000, "okx": 100,
                                                                           "bybit": 200}
    assert FUNDING_RATES.venues["okx"].depth.days == 90 and FUNDING_RATES.nullable == {
        "mark_price", "rate_cap", "rate_floor", "caps_from"}


def test_a_time_a_few_ms_past_the_hour_is_that_hours_slot_and_the_venues_own_time_is_kept():
    rows = [{"timestamp": 1768953600001, "fundingRate": 0.0001, "info": {"markPrice": "2938.29662016"}},
            {"timestamp": 1768982400000, "fundingRate": -0.00002, "info": {"markPrice": "2940.1"}}]
    terms = StatedTerms(8 * 3_600_000, 0.02, -0.02, "binance GET /fapi/v1/fundingInfo")
    frame = funding_from_rows(rows, symbol="ETH/USDT:USDT", source="binance", terms=terms)
    assert dict(frame.schema) == FUNDING_SCHEMA
    assert frame.rows() == [
        ("ETH/USDT:USDT", datetime(2026, 1, 21), 0.0001, 2938.29662016, 28_800_000,
         datetime(2026, 1, 21, 0, 0, 0, 1000), "binance", 0.02, -0.02, "binance GET /fapi/v1/fundingInfo"),
        ("ETH/USDT:USDT", datetime(2026, 1, 21, 8), -0.00002, 2940.1, 28_800_000, datetime(2026, 1, 21, 8),
         "binance", 0.02, -0.02, "binance GET /fapi/v1/fundingInfo")]


def test_a_venue_without_mark_price_leaves_it_null():
    frame = funding_from_rows([{"timestamp": 1768953600000, "fundingRate": 0.0001, "info": {"instId": "X"}}],
                              symbol="BTC/USDT:USDT", source="okx")
    assert frame["mark_price"].to_list() == [None] and frame.height == 1
    assert frame.select("rate_cap", "rate_floor", "caps_from").row(0) == (
        None, None, "unknown: okx stated no terms with this answer")
