"""The guard between the platform and a venue, through the real ccxt client against the emulator: a venue's own ban
answer stops it at once, for the ban's time, without a retry into it."""

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from datafactory_assets.emulator.server import Emulator
from datafactory_assets.sources.base import ErrorKind, SourceError, SourceUnavailableError
from datafactory_assets.sources.resource import SourcesResource

START = datetime(2024, 3, 1, tzinfo=UTC)


def resource(url: str, tmp_path) -> SourcesResource:
    """Four attempts and a 60 s ban of our own, so that only the venue's ban time can make a ban last longer."""
    return SourcesResource(emulator_url=url, state_path=str(tmp_path / "state.sqlite"), retry_attempts=4,
                           retry_backoff_s=0.01, retry_max_backoff_s=0.05, ban_s=60)


def test_bybit_banning_our_ip_stops_every_request_for_ten_minutes_without_a_retry(tmp_path):
    with Emulator(budgets={"bybit": 3}) as emu:
        sources = resource(emu.url, tmp_path)
        client, guard = sources.client("bybit"), sources.guard("bybit")
        window = {"start": START, "end": START + timedelta(minutes=3000), "timeframe": "1m", "guard": guard}
        with pytest.raises(SourceError) as caught:  # markets and two pages fit the quota; the third page is over it
            client.fetch_range("BTC/USDT", **window)
        assert caught.value.kind is ErrorKind.BANNED
        assert [r["status"] for r in emu.request_log()] == [200, 200, 200, 403]  # no retry into the ban
        assert 590 < guard.breaker.blocked_until() - time.time() <= 605  # Bybit's "at least 10 minutes"
        with pytest.raises(SourceUnavailableError):
            client.fetch_range("BTC/USDT", **window)
        assert len(emu.request_log()) == 4  # banned: not even a probe


def test_a_binance_firewall_403_bans_binance_for_our_ban_time_in_one_log_line(emulator, tmp_path, caplog):
    sources = resource(emulator.url, tmp_path)
    client, guard = sources.client("binance"), sources.guard("binance")
    emulator.add_fault("binance:status:403")
    with caplog.at_level(logging.WARNING, logger="datafactory_assets.resilience.guard"), \
            pytest.raises(SourceError) as caught:
        client.fetch_range("BTC/USDT", start=START, end=START + timedelta(hours=1), timeframe="1m", guard=guard)
    assert caught.value.kind is ErrorKind.BANNED
    klines = [r for r in emulator.request_log() if r["path"] == "/api/v3/klines"]
    assert [r["status"] for r in klines] == [403]
    assert 55 < guard.breaker.blocked_until() - time.time() <= 60  # Binance names no ban time: ours
    [record] = caplog.records
    assert "\n" not in record.getMessage() and "firewall (WAF)" in record.getMessage()
