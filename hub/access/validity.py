"""When a token stops working, from what a person types. Pure: ``now`` is handed in."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from hub.errors import ConfigError

_DAYS = re.compile(r"^(\d{1,5})d$")


def expiry(text: str, now: datetime) -> datetime:
    """``90d`` is 90 days from now; ``2027-06-30`` is the start of that day, UTC."""
    days = _DAYS.match(text.strip())
    if days:
        return now + timedelta(days=int(days.group(1)))
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--expires {text!r}: give a date (2027-06-30) or days (90d)") from None
    at = datetime.combine(day, time(), tzinfo=UTC)
    if at <= now:
        raise ConfigError(f"--expires {text!r} is not in the future")
    return at
