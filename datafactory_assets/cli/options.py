"""Option values more than one command reads the same way."""

from __future__ import annotations

from datetime import UTC, datetime

import click


def parse_moment(text: str | None, option: str) -> datetime | None:
    """`2025-01-01`, `2025-01-01T05:00` or any ISO 8601 time; without an offset it is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not a date (2025-01-01) or an ISO hour (2025-01-01T05:00)",
                                 param_hint=option) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
