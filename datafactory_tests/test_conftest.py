"""The suite's own guard: a request to a real venue's host fails before it leaves the machine."""

import pytest
import requests


def test_a_real_venue_host_is_refused_before_any_connection():
    with pytest.raises(requests.exceptions.ConnectionError, match="127.0.0.1 only"):
        requests.get("https://api.binance.com/api/v3/ping", timeout=2)
