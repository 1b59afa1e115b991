from datafactory_assets.alerts.ledger import Notice, Observation
from datafactory_assets.alerts.messages import compose, headline


def notice(partition, *, kind="alert", subject="candles/btc_usdt", condition="check:gaps", more=0):
    return Notice(kind, Observation(condition, subject, partition, kind == "alert", f"reason {partition}"), more)


def test_notices_of_one_check_and_asset_share_a_message_listing_ten_and_the_rest_counted():
    (message,) = compose([notice(f"2024-03-01-{h:02d}:00") for h in range(24)])
    assert message.subject == "[Data-Factory] ALERT: check gaps failed on candles/btc_usdt"
    lines = message.body.splitlines()
    assert lines[0] == "partition 2024-03-01-00:00: reason 2024-03-01-00:00"
    assert len(lines) == 11 and lines[-1] == "and 14 more partitions"


def test_kinds_subjects_and_conditions_get_their_own_messages_in_order():
    messages = compose([notice("a"), notice("a", kind="recovery"), notice("b", subject="candles/eth_usdt"),
                        notice("", condition="breaker", subject="binance", more=3)])
    assert [m.subject for m in messages] == [
        "[Data-Factory] ALERT: check gaps failed on candles/btc_usdt",
        "[Data-Factory] RECOVERED: check gaps passes again on candles/btc_usdt",
        "[Data-Factory] ALERT: check gaps failed on candles/eth_usdt",
        "[Data-Factory] ALERT: circuit breaker open on binance",
    ]
    assert messages[3].body == "reason  (and 3 more since the last message)"
    assert messages[0].text == f"{messages[0].subject}\npartition a: reason a"


def test_headlines_of_conditions_not_known_in_advance():
    assert headline("check:accuracy", recovered=False) == "check accuracy failed"
    assert headline("something_new", recovered=True) == "something_new cleared"
