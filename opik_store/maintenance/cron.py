"""Cron expressions with crontab semantics, for APScheduler 3.x, computed by croniter.

APScheduler's own CronTrigger differs from crontab in two ways that a hand translation kept missing: weekdays
are numbered from Monday = 0 (crontab: Sunday = 0 and 7), and a line restricting both the day of month and the
day of week fires when *both* match (crontab: when *either* does, so ``0 0 1 * 1`` fires on every Monday and
on every 1st). :class:`CrontabTrigger` asks croniter (the cron library most Python schedulers use, with
crontab's rules, ``day_or``) for every next time, so a line means under the scheduler what it means under cron.

* Five fields are standard crontab (names such as ``mon`` and ``jan`` allowed); six fields put seconds first
  (useful for tests and short intervals).
* Times are UTC.
* A line croniter refuses, or one that can never fire (``0 0 30 2 *``), is refused with ConfigError; so is
  a range that runs backwards (``5-1``), which croniter would read as wrapping around and crontab refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from croniter import CroniterBadDateError, CroniterError, croniter

from opik_store.errors import ConfigError


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]
    """An APScheduler trigger firing at the times a crontab line names (UTC), with optional jitter."""

    def __init__(self, expr: str, jitter: int | None = None) -> None:
        self.expr = expr
        self.jitter = jitter or None
        self._seconds = len(expr.split()) == 6

    def _after(self, moment: datetime) -> datetime:
        found = croniter(self.expr, moment.astimezone(UTC), second_at_beginning=self._seconds).get_next(datetime)
        return found.astimezone(UTC)  # type: ignore[no-any-return]

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first matching time after ``previous_fire_time`` or, on the first call, at or after ``now``."""
        base = previous_fire_time if previous_fire_time is not None else now - timedelta(microseconds=1)
        try:
            nxt = self._after(base)
        except CroniterBadDateError:
            return None
        return self._apply_jitter(nxt, self.jitter, now)  # type: ignore[no-any-return]

    def __str__(self) -> str:
        return f"crontab[{self.expr}]"

    def __repr__(self) -> str:
        return f"<CrontabTrigger ({self.expr!r}, jitter={self.jitter}, timezone='UTC')>"


_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_NAMES = {
    "month": ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    "day-of-week": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
}


def _backwards(fields: list[str]) -> str:
    """The first range (``a-b``, names allowed) whose start is after its end, as "<range> in <field>"; ''."""
    names = ["second", *_FIELDS] if len(fields) == 6 else list(_FIELDS)
    for name, field in zip(names, fields, strict=True):
        for part in field.split(","):
            first, dash, last = part.partition("/")[0].partition("-")
            if not dash:
                continue
            ends = []
            for word in (first, last):
                known = _NAMES.get(name, [])
                ends.append(known.index(word.lower()) + (name == "month") if word.lower() in known else word)
            low, high = (int(e) if isinstance(e, int) or str(e).isdigit() else None for e in ends)
            if low is not None and high is not None and low > high:
                return f"{part} in the {name} field"
    return ""


def _weekday_steps(field: str) -> str:
    """``N/step`` in the day-of-week field means N through 7 in crontab (7 is Sunday again); croniter stops at 6,
    so such a part is written out as ``N-7/step`` (a name as its number)."""
    days = _NAMES["day-of-week"]
    parts = []
    for part in field.split(","):
        start, slash, step = part.partition("/")
        if slash and "-" not in start and start != "*":
            number = str(days.index(start.lower())) if start.lower() in days else start
            part = f"{number}-7/{step}"
        parts.append(part)
    return ",".join(parts)


def cron_trigger(expr: str, jitter: int | None = None) -> Any:
    """A trigger in UTC for a 5-field (or seconds-first 6-field) crontab line; ConfigError for a bad or
    never-firing line."""
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ConfigError(f"schedule {expr!r} is not a 5-field cron expression (or 6 with seconds first)")
    fields = [*fields[:-1], _weekday_steps(fields[-1])]
    text = " ".join(fields)
    try:
        valid = croniter.is_valid(text, second_at_beginning=len(fields) == 6)
    except CroniterError:
        valid = False
    backwards = _backwards(fields)
    if backwards:
        raise ConfigError(f"schedule {expr!r}: the range {backwards} runs backwards (crontab refuses it; list both "
                          "parts, e.g. 5-6,0-1 or fri-sat,sun-mon)")  # fmt: skip
    if not valid:
        raise ConfigError(
            f"schedule {expr!r} is not a valid cron expression (minute hour day-of-month month day-of-week, "
            "e.g. '17 3 * * *'; ranges, lists, steps and names such as mon or jan are allowed)"
        )
    trigger = CrontabTrigger(text, jitter)
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise ConfigError(f"schedule {expr!r} never fires (no such date, e.g. 30 February)")
    return trigger
