"""Funding validation (caps, the interval, duplicates) and the events due but missing around a window."""

from datetime import datetime

import polars as pl

from datafactory_assets.checks.funding import RATE_CAP, missing_events, validate_funding
from datafactory_assets.datasets.funding_rates import FUNDING_SCHEMA

DAY = datetime(2025, 6, 2)
H = 3_600_000


UNKNOWN_CAPS = (None, None, "unknown: binance's fundingInfo does not list BTCUSDT")
OKX_CAPS = (0.00375, -0.00375, "okx GET /api/v5/public/funding-rate maxFundingRate/minFundingRate")


def events(*rows, caps=UNKNOWN_CAPS):
    """(hour of DAY, rate, interval hours) rows as the funding frame, each with `caps` (cap, floor, caps_from)."""
    return pl.DataFrame([("BTC/USDT:USDT", DAY.replace(hour=h), rate, 70000.0, hours * H, DAY.replace(hour=h),
                          "binance", *caps) for h, rate, hours in rows], schema=FUNDING_SCHEMA, orient="row")


def test_valid_events_pass_and_each_rule_names_its_first_offender():
    assert validate_funding(events((0, 0.0001, 8), (8, -0.0003, 8), (16, 0.0, 8)), start=DAY,
                            end=DAY.replace(hour=23)) == []
    bad = events((0, RATE_CAP * 1.01, 8), (4, 0.0001, 8), (4, 0.0001, 8), (12, 0.0001, 4))
    found = {v.rule: (v.count, v.first_ts) for v in validate_funding(bad, start=DAY, end=DAY.replace(hour=10))}
    assert found == {"rate_beyond_cap": (1, DAY), "off_interval": (2, DAY.replace(hour=4)),
                     "duplicate_timestamp": (2, DAY.replace(hour=4)), "outside_window": (1, DAY.replace(hour=12))}


def test_a_rate_beyond_the_caps_its_venue_stated_is_refused_naming_the_cap_and_who_stated_it():
    within = events((0, 0.00375, 8), (8, -0.00375, 8), caps=OKX_CAPS)
    assert validate_funding(within, start=DAY, end=DAY.replace(hour=23)) == []
    beyond = events((0, 0.0001, 8), (8, 0.004, 8), (16, -0.01, 8), caps=OKX_CAPS)
    [violation] = validate_funding(beyond, start=DAY, end=DAY.replace(hour=23))
    assert (violation.rule, violation.count, violation.first_ts) == ("rate_beyond_cap", 2, DAY.replace(hour=8))
    assert str(violation) == (
        "rate_beyond_cap: 2 candle(s), first at 2025-06-02 08:00:00 (rate +0.004 beyond the cap +0.00375 / floor "
        "-0.00375 stated by okx GET /api/v5/public/funding-rate maxFundingRate/minFundingRate)")


def test_where_the_venues_caps_are_unknown_the_flat_band_applies_and_the_message_says_so():
    assert validate_funding(events((0, 0.004, 8), (8, -RATE_CAP, 8)), start=DAY, end=DAY.replace(hour=23)) == []
    [violation] = validate_funding(events((0, -0.031, 8)), start=DAY, end=DAY.replace(hour=23))
    assert violation.detail == ("rate -0.031 beyond the flat cap +0.03 / floor -0.03; the venue's own caps: unknown: "
                                "binance's fundingInfo does not list BTCUSDT")


def test_an_event_due_after_a_stored_one_and_absent_is_missing_and_none_is_due_before_the_first():
    stored = events((0, 0.0001, 8), (16, 0.0001, 4), (20, 0.0001, 4))
    assert missing_events(stored, start=DAY, end=DAY.replace(hour=23)).rows() == [
        (DAY.replace(hour=8), DAY.replace(hour=8), 1)]
    assert missing_events(events((16, 0.0001, 8)), start=DAY, end=DAY.replace(hour=17)).height == 0
    assert missing_events(events((0, 0.0001, 8)), start=DAY.replace(hour=9), end=DAY.replace(hour=10)).height == 0
