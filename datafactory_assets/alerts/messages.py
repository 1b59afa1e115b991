"""Notices become messages: those of one kind, condition and subject in one batch share a message, so a backfill
whose 700 partitions fail the same check sends one alert listing a few and "and N more", not 700."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from datafactory_assets.alerts.conditions import BREAKER, DELISTED, FRESHNESS, HISTORY_REWRITE, RUN_FAILURE
from datafactory_assets.alerts.ledger import Notice

LISTED_PER_MESSAGE = 10
_HEADLINES = {  # condition -> (failing, recovered)
    RUN_FAILURE: ("run failed", "runs succeed again"),
    BREAKER: ("circuit breaker open", "circuit breaker closed again"),
    FRESHNESS: ("asset is stale", "asset is fresh again"),
    HISTORY_REWRITE: ("venue rewrote stored history", "no further history rewrites"),
    DELISTED: ("instrument delisted", "instrument trading again"),
}


@dataclass(frozen=True)
class Message:
    """One message for every channel: a one-line subject and a plain-text body."""

    subject: str
    body: str

    @property
    def text(self) -> str:
        return f"{self.subject}\n{self.body}"


def headline(condition: str, *, recovered: bool) -> str:
    """`check:gaps` -> "check gaps failed"; other conditions have their own words."""
    if condition.startswith("check:"):
        name = condition.removeprefix("check:")
        return f"check {name} passes again" if recovered else f"check {name} failed"
    failing, healed = _HEADLINES.get(condition, (f"{condition} failing", f"{condition} cleared"))
    return healed if recovered else failing


def compose(notices: Sequence[Notice]) -> list[Message]:
    """One message per (kind, condition, subject), in the order their first notice came."""
    groups: dict[tuple[str, str, str], list[Notice]] = {}
    for notice in notices:
        groups.setdefault((notice.kind, notice.observation.condition, notice.observation.subject), []).append(notice)
    return [_message(kind, condition, subject, group) for (kind, condition, subject), group in groups.items()]


def _message(kind: str, condition: str, subject: str, group: list[Notice]) -> Message:
    recovered = kind == "recovery"
    title = f"[Data-Factory] {'RECOVERED' if recovered else 'ALERT'}: {headline(condition, recovered=recovered)} " \
            f"on {subject}"
    lines = [_line(n) for n in group[:LISTED_PER_MESSAGE]]
    if len(group) > LISTED_PER_MESSAGE:
        lines.append(f"and {len(group) - LISTED_PER_MESSAGE} more partitions")
    return Message(subject=title, body="\n".join(lines))


def _line(notice: Notice) -> str:
    obs = notice.observation
    where = f"partition {obs.partition}: " if obs.partition else ""
    repeats = f" (and {notice.more} more since the last message)" if notice.more else ""
    return f"{where}{obs.reason}{repeats}"
