"""What a venue's enforced request budget allowed a benchmark, and what the platform spent of it.

A budget of B weight per rolling window of w seconds (Binance: 6,000 per minute) admits B at once, then more only as
earlier weight leaves the window: W weight cannot all be admitted before (ceil(W / B) - 1) * w seconds, however fast
the client. That is the budget's floor; a workload whose weight fits one window has a floor of 0, and only the
venue's serving speed (the raw pass) bounds it.

A client is not infinitely fast, though: the paced floor is when a client fetching at the venue's serving speed (the
raw pass's weight a second) is done under the budget, sending each page as soon as it is ready and the window admits
it. It is the raw pass's own time for weight within one window, and the budget's floor plus the last window's share at
the venue's speed beyond; a platform within it of a few seconds is bound by the budget, whatever its size.

The platform's spend is read from the emulator's own request log, so it counts every request the platform made
(retries, market lists), each at the venue's weight for its path.
"""

from __future__ import annotations

import math
from collections import deque

import requests

from datafactory_assets.emulator.binance import BinanceVenue
from datafactory_assets.emulator.binance_usdm import BinanceUsdmVenue

BUDGETS = {venue.id: venue.rate_budget for venue in (BinanceVenue, BinanceUsdmVenue)}


def enforce(url: str, venue: str, *, on: bool) -> None:
    """Enforce the venue's real budget from now on, with a fresh window (`on`), or stop enforcing it."""
    answer = requests.request("POST" if on else "DELETE", f"{url}/_emulator/budgets", json={"venue": venue},
                              timeout=10)
    answer.raise_for_status()


def floor_s(weight: int, *, amount: int, window_s: float) -> float:
    """The earliest time a rolling budget of `amount` per `window_s` admits the last of `weight`."""
    return max(math.ceil(weight / amount) - 1, 0) * window_s


def paced_floor_s(weight: int, *, amount: float, window_s: float, rate: float, page: int = 2) -> float:
    """When a client that serves itself `rate` weight a second, in requests of `page` weight each sent as soon as it
    is ready and the rolling budget of `amount` per `window_s` admits it, has received the last of `weight`."""
    sent: deque[float] = deque()  # when each request in the window was sent
    ready = 0.0
    for _ in range(math.ceil(weight / page)):
        while sent and sent[0] <= ready - window_s:
            sent.popleft()
        if (len(sent) + 1) * page > amount:  # the window is full: wait until its oldest request leaves it
            ready = sent.popleft() + window_s
        sent.append(ready)
        ready += page / rate
    return ready


def spent(url: str, venue: str, *, since: float, until: float = math.inf) -> dict:
    """The venue's budget figures for the requests it received from `since` to `until` (epoch seconds): the weight
    spent, the budget's floor for it, the busiest window's weight, the weight of each window in turn from the first
    request on (a client the budget holds back fills each but the last to its share), and the requests the budget
    refused (429, 418)."""
    budget = BUDGETS[venue]
    log = requests.get(f"{url}/_emulator/requests", timeout=60).json()
    made = [(entry["time"], budget.weights.get(entry["path"], 1), entry["status"]) for entry in log
            if entry["venue"] == venue and since <= entry["time"] < until]
    admitted = [(at, weight) for at, weight, status in made if status not in (429, 418)]
    weight = sum(w for _, w in admitted)
    windows: list[int] = []  # the weight of each window from the first request on, the last one cut short
    for at, w in admitted:
        index = int((at - admitted[0][0]) // budget.window_s)
        windows.extend([0] * (index + 1 - len(windows)))
        windows[index] += w
    busiest, first, in_window = 0, 0, 0
    for at, w in admitted:  # the log is in arrival order
        in_window += w
        while admitted[first][0] <= at - budget.window_s:
            in_window -= admitted[first][1]
            first += 1
        busiest = max(busiest, in_window)
    return {"budget": f"{budget.amount} per {budget.window_s:g}s", "weight": weight,
            "floor_s": floor_s(weight, amount=budget.amount, window_s=budget.window_s),
            "busiest_window_weight": busiest, "windows": windows,
            "refused": sum(status in (429, 418) for _, _, status in made)}
