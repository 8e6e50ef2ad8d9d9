"""Cron expressions with crontab semantics, for APScheduler 3.x.

APScheduler 3.x numbers weekdays from Monday = 0, while crontab uses
Sunday = 0 (and 7). The day-of-week field is therefore expanded day by day
into names (``0`` -> ``sun``, ``1-5`` -> ``mon,tue,wed,thu,fri``, ``0-7`` ->
every day), so a crontab line means the same under the scheduler as under
cron. A schedule that can never fire (``0 0 30 2 *``) is refused. Five fields are standard crontab; six
fields put seconds first (useful for tests and short intervals).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opik_store.errors import ConfigError

_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _day(word: str, field: str) -> int:
    """A crontab weekday: 0-7 (0 and 7 are Sunday) or a three-letter name."""
    if word.isdigit():
        number = int(word)
        if number > 7:
            raise ConfigError(f"day of week {number} is out of range 0-7 in {field!r}")
        return number
    if word.lower() in _NAMES:
        return _NAMES.index(word.lower())
    raise ConfigError(f"day of week {word!r} in {field!r} is neither 0-7 nor a name (sun, mon, ...)")


def _weekday(field: str) -> str:
    """Translate a crontab day-of-week field into APScheduler's names, day by day.

    Every element (``*``, ``N``, ``A-B``, with an optional ``/STEP``, names
    allowed) is expanded over crontab's numbering (Sunday = 0 or 7), so
    ``0-7`` is every day, ``0-6`` too, ``1-5`` Monday to Friday and ``*/2``
    Sunday, Tuesday, Thursday, Saturday; the result is a list of names that
    APScheduler (Monday = 0) cannot misread.
    """
    if field in {"*", "?"}:
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, slash, step_text = part.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise ConfigError(f"day-of-week step {step_text!r} in {field!r} is not a positive number")
        step = int(step_text) if slash else 1
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, _, last = span.partition("-")
            low, high = _day(first, field), _day(last, field)
            if low > high:
                raise ConfigError(f"day-of-week range {span!r} in {field!r} runs backwards")
        else:
            low = _day(span, field)
            high = 7 if slash else low
        days.update(d % 7 for d in range(low, high + 1, step))
    return "*" if len(days) == 7 else ",".join(_NAMES[d] for d in sorted(days))


def cron_trigger(expr: str, jitter: int | None = None) -> Any:
    """An APScheduler CronTrigger in UTC for a 5-field (or seconds-first 6-field) cron expression."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ConfigError(f"schedule {expr!r} is not a 5-field cron expression (or 6 with seconds first)")
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    try:
        trigger = CronTrigger(
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
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise ConfigError(f"schedule {expr!r} never fires (no such date, e.g. 30 February)")
    return trigger
