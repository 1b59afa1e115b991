import re
import time

import dagster as dg
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from datafactory_assets.alerts.conditions import (
    HISTORY_REWRITE,
    breaker_observations,
    check_observations,
    freshness_observation,
    rewrite_observations,
    run_partition,
)
from datafactory_assets.checks import Violation, validation_result
from datafactory_assets.resilience import breaker_states
from datafactory_assets.resilience.breaker import SourceBreaker
from datafactory_assets.settings import AlertSettings

KEY = dg.AssetKey(["candles", "btc_usdt"])


def evaluation(name: str, *, passed: bool, metadata=None, description=None, partition=None,
               severity=dg.AssetCheckSeverity.ERROR):
    return dg.AssetCheckEvaluation(asset_key=KEY, check_name=name, passed=passed, metadata=metadata or {},
                                   description=description, partition=partition, severity=severity)


def test_run_partition_names_a_key_a_range_or_nothing():
    assert run_partition({"dagster/partition": "2024-03-01-05:00"}) == "2024-03-01-05:00"
    range_tags = {"dagster/asset_partition_range_start": "2024-03-01-00:00",
                  "dagster/asset_partition_range_end": "2024-03-01-23:00"}
    assert run_partition(range_tags) == "2024-03-01-00:00...2024-03-01-23:00"
    assert run_partition({**range_tags, "dagster/asset_partition_range_end": "2024-03-01-00:00"}) == \
        "2024-03-01-00:00"
    assert run_partition({}) == ""


def test_gaps_alert_only_above_the_threshold_and_a_pass_clears():
    alerts = AlertSettings(gaps_threshold=5)
    at, above, clean = (evaluation("gaps", passed=False, metadata={"missing_candles": 5, "gap_ranges": 2}),
                        evaluation("gaps", passed=False, metadata={"missing_candles": 6, "gap_ranges": 3}),
                        evaluation("gaps", passed=True, metadata={"missing_candles": 0, "gap_ranges": 0}))
    observed = check_observations([at, above, clean], partition="2024-03-01-00:00", alerts=alerts)
    assert [o.failing for o in observed] == [False, True, False]
    assert observed[1].reason == "6 missing candles in 3 range(s) (alerts above 5)"
    assert {(o.condition, o.subject, o.partition) for o in observed} == {
        ("check:gaps", "candles/btc_usdt", "2024-03-01-00:00")}


def test_a_funding_gaps_check_alerts_in_events_as_it_counts_them():
    lost = evaluation("gaps", passed=False, metadata={"missing_funding_events": 6, "unconfirmed": 6,
                                                      "gap_ranges": 6})
    (observed,) = check_observations([lost], partition="p", alerts=AlertSettings(gaps_threshold=5))
    assert observed.failing and observed.reason == "6 missing funding events in 6 range(s) (alerts above 5)"


def test_gaps_count_only_the_holes_not_confirmed_at_every_source():
    confirmed = evaluation("gaps", passed=True, metadata={"missing_candles": 9, "confirmed_empty": 9,
                                                          "unconfirmed": 0, "gap_ranges": 1})
    (observed,) = check_observations([confirmed], partition="p", alerts=AlertSettings(gaps_threshold=5))
    assert not observed.failing


def test_an_accuracy_check_that_could_not_compare_is_no_alert_and_a_deviation_is():
    unverified = evaluation("accuracy", passed=False, severity=dg.AssetCheckSeverity.WARN,
                            description="unverified: coingecko answered HTTP 503")
    deviated = evaluation("accuracy", passed=False, description="150 bps from coingecko, beyond 100")
    observed = check_observations([unverified, deviated], partition="p", alerts=AlertSettings())
    assert [o.failing for o in observed] == [False, True]
    assert observed[1].reason == "150 bps from coingecko, beyond 100"


def test_failed_checks_alert_by_name_with_their_own_words_and_others_are_ignored():
    violations = validation_result([Violation("ohlc_out_of_range", 3, None)])
    observed = check_observations([
        evaluation("validation", passed=False, metadata=dict(violations.metadata)),
        evaluation("accuracy", passed=False, description="close 1.2% off coingecko", partition="2024-03-02-00:00"),
        evaluation("row_count", passed=False),
    ], partition="2024-03-01-00:00", alerts=AlertSettings())
    assert [(o.condition, o.partition, o.reason) for o in observed] == [
        ("check:validation", "2024-03-01-00:00", "violations: 1; ohlc_out_of_range: 3 candle(s), first at None"),
        ("check:accuracy", "2024-03-02-00:00", "close 1.2% off coingecko"),
    ]


def test_an_open_or_banned_breaker_fails_and_a_closed_one_clears(tmp_path):
    path = tmp_path / "state.sqlite"
    SourceBreaker(path=path, source="binance", fail_max=3, reset_timeout_s=60).ban(600, "HTTP 418 banned")
    SourceBreaker(path=path, source="okx", fail_max=3, reset_timeout_s=60)
    binance, okx = breaker_observations(breaker_states(path))
    assert (binance.subject, binance.failing, okx.subject, okx.failing) == ("binance", True, "okx", False)
    assert re.search(r"blocked for 59\d s more; last error: HTTP 418 banned$", binance.reason), binance.reason


def test_freshness_fail_opens_pass_clears_and_warn_is_no_alert():
    def change(new, previous=FreshnessState.PASS):
        return FreshnessStateChange(key=KEY, new_state=new, previous_state=previous, state_change_timestamp=time.time())

    failing = freshness_observation(change(FreshnessState.FAIL, FreshnessState.WARN))
    assert (failing.condition, failing.subject, failing.failing) == ("freshness", "candles/btc_usdt", True)
    assert not freshness_observation(change(FreshnessState.PASS, FreshnessState.FAIL)).failing
    assert freshness_observation(change(FreshnessState.WARN)) is None


def test_history_rewrites_give_one_observation_per_asset_and_none_without_them():
    rewritten = dg.AssetMaterialization(KEY, partition="2024-03-01-07:00", metadata={"run_history_rewrites": 3})
    unchanged = dg.AssetMaterialization(dg.AssetKey(["candles", "eth_usdt"]), metadata={"run_history_rewrites": 0})
    partition_only = dg.AssetMaterialization(KEY, partition="2024-03-01-06:00", metadata={"rows": 60})
    (observed,) = rewrite_observations([partition_only, rewritten, unchanged], partition="06:00...07:00")
    assert (observed.condition, observed.subject, observed.partition, observed.failing) == (
        HISTORY_REWRITE, "candles/btc_usdt", "06:00...07:00", True)
    assert observed.reason.startswith("the venue changed 3 stored candle(s) older than a day")


def test_a_history_rewrite_counts_the_rows_of_the_assets_dataset():
    """Before, an open-interest asset's rewrite said candle(s)."""
    rewritten = dg.AssetMaterialization(dg.AssetKey(["open_interest", "btc_usdt"]),
                                        metadata={"run_history_rewrites": 2})
    (observed,) = rewrite_observations([rewritten], partition="06:00...07:00")
    assert observed.reason.startswith("the venue changed 2 stored open-interest reading(s) older than a day")
