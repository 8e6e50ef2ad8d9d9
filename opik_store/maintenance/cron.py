"""Cron expressions with crontab semantics, for APScheduler 3.x.

APScheduler 3.x numbers weekdays from Monday = 0, while crontab uses
Sunday = 0 (and 7). Numeric weekdays are therefore translated to names
(``0`` -> ``sun``, ``1-5`` -> ``mon-fri``), so a crontab line means the same
under the scheduler as under cron. Five fields are standard crontab; six
fields put seconds first (useful for tests and short intervals).
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from opik_store.errors import ConfigError

_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _weekday(field: str) -> str:
    def name(match: re.Match[str]) -> str:
        number = int(match.group(0))
        if number > 7:
            raise ConfigError(f"day of week {number} is out of range 0-7")
        return _DAYS[number]

    if "/" in field and re.search(r"\d", field.split("/")[0]):
        raise ConfigError(f"day-of-week steps over numbers ({field!r}) are ambiguous: use names (mon-fri)")
    return re.sub(r"\d+", name, field)


def cron_trigger(expr: str, jitter: int | None = None) -> Any:
    """An APScheduler CronTrigger in UTC for a 5-field (or seconds-first 6-field) cron expression."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ConfigError(f"schedule {expr!r} is not a 5-field cron expression (or 6 with seconds first)")
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekday(weekday),
            timezone=UTC,
            jitter=jitter or None,
        )
    except ValueError as exc:
        raise ConfigError(f"schedule {expr!r} is not a valid cron expression: {exc}") from None
