from datafactory_assets.alerts.ledger import AlertLedger, Notice, Observation

HOUR = 3600.0


def gaps(partition="2024-03-01-00:00", *, failing=True, reason="12 missing candles"):
    return Observation("check:gaps", "candles/btc_usdt", partition, failing=failing, reason=reason)


def kinds(notices: list[Notice]) -> list[tuple[str, str, int]]:
    return [(n.kind, n.observation.partition, n.more) for n in notices]


def test_first_failure_alerts_repeats_are_held_and_counted_into_the_next_alert(tmp_path):
    ledger = AlertLedger(tmp_path / "alerts.sqlite", repeat_interval_s=HOUR)
    assert kinds(ledger.record([gaps()], now=0)) == [("alert", "2024-03-01-00:00", 0)]
    assert ledger.record([gaps(), gaps()], now=60) == []
    assert ledger.record([gaps(reason="13 missing candles")], now=120) == []
    (released,) = ledger.record([], now=HOUR + 1)
    assert (released.kind, released.more, released.observation.reason) == ("alert", 2, "13 missing candles")
    assert ledger.record([], now=2 * HOUR + 2) == [], "nothing new happened: no reminder"


def test_recovery_follows_an_alert_once_and_the_key_closes(tmp_path):
    ledger = AlertLedger(tmp_path / "alerts.sqlite", repeat_interval_s=HOUR)
    ledger.record([gaps()], now=0)
    assert ledger.open_keys() == [("check:gaps", "candles/btc_usdt", "2024-03-01-00:00")]
    assert kinds(ledger.record([gaps(failing=False, reason="0 missing")], now=10)) == [
        ("recovery", "2024-03-01-00:00", 0)]
    assert ledger.record([gaps(failing=False)], now=20) == []
    assert ledger.open_keys() == []


def test_a_failure_and_its_recovery_in_one_batch_are_both_told_in_order(tmp_path):
    ledger = AlertLedger(tmp_path / "alerts.sqlite", repeat_interval_s=HOUR)
    notices = ledger.record([gaps(), gaps(failing=False)], now=0)
    assert [n.kind for n in notices] == ["alert", "recovery"]


def test_a_flapping_key_sends_at_most_one_alert_per_interval_and_no_recovery_for_what_was_not_told(tmp_path):
    ledger = AlertLedger(tmp_path / "alerts.sqlite", repeat_interval_s=HOUR)
    told = []
    for minute in range(0, 60, 2):  # fails, passes, fails ... every minute for an hour
        told += ledger.record([gaps(failing=minute % 4 == 0)], now=minute * 60)
    assert [n.kind for n in told] == ["alert", "recovery"]


def test_keys_are_separate_per_condition_subject_and_partition(tmp_path):
    ledger = AlertLedger(tmp_path / "alerts.sqlite", repeat_interval_s=HOUR)
    notices = ledger.record([gaps("2024-03-01-00:00"), gaps("2024-03-01-01:00"),
                             Observation("check:validation", "candles/btc_usdt", "2024-03-01-00:00", True, "x"),
                             Observation("breaker", "binance", "", True, "open")], now=0)
    assert len(notices) == 4 and len(ledger.open_keys()) == 4


def test_state_survives_a_new_ledger_on_the_same_file_as_after_a_daemon_restart(tmp_path):
    AlertLedger(tmp_path / "alerts.sqlite", repeat_interval_s=HOUR).record([gaps()], now=0)
    restarted = AlertLedger(tmp_path / "alerts.sqlite", repeat_interval_s=HOUR)
    assert restarted.record([gaps()], now=30) == []
    assert [n.kind for n in restarted.record([gaps(failing=False)], now=60)] == ["recovery"]


def test_polled_states_do_not_count_as_new_occurrences(tmp_path):
    ledger = AlertLedger(tmp_path / "alerts.sqlite", repeat_interval_s=60)
    breaker = Observation("breaker", "binance", "", True, "open")
    assert [n.kind for n in ledger.record([breaker], now=0, polled=True)] == ["alert"]
    for second in range(10, 600, 10):
        assert ledger.record([breaker], now=second, polled=True) == []


def test_a_held_first_alert_of_a_reopened_key_is_released_after_the_interval(tmp_path):
    ledger = AlertLedger(tmp_path / "alerts.sqlite", repeat_interval_s=HOUR)
    ledger.record([gaps()], now=0)
    ledger.record([gaps(failing=False)], now=10)
    assert ledger.record([gaps(reason="again")], now=20) == []
    assert kinds(ledger.record([], now=HOUR)) == [("alert", "2024-03-01-00:00", 0)]
