"""The operator's configuration file (TOML): retention, system tables, jobs.

Rules:

* ``--config`` / OPIK_STORE_CONFIG names the file; without one, ``./opik-store.toml``
  is read if it exists, else the built-in defaults apply.
* Validation happens before anything touches a server. Every problem is
  reported at once, one line each, naming the file, the entry and the key;
  unknown keys and wrongly shaped values (``retention = 5``) are errors (a
  typo must not silently mean "default"). The file must be UTF-8.
* Days are whole numbers from 0 to MAX_DAYS (10,000, about 27 years); 0 means "keep forever" where it is
  allowed (retention classes) and is refused where it would mean "delete
  everything" (system-table keep_days).

Example::

    [retention]
    default_days = 400
    [retention.classes]          # Opik's tiers; add your own
    short = 14
    standard = 60
    long = 400
    unlimited = 0
    [[retention.workspaces]]
    workspace = "acme"
    class = "short"
    [[retention.projects]]
    workspace = "acme"
    project = "0190c1f0-0000-7000-8000-000000000000"
    days = 400

    [migrations]
    dir = "migrations"           # your own revisions (relative to this file); default: the shipped ones

    [system_tables]
    keep_days = 30
    tables = ["query_log", "part_log", "opentelemetry_span_log"]   # default: every *_log table

    [jobs.apply-retention]
    schedule = "17 3 * * *"
    [jobs.prune-system-tables]
    schedule = "47 * * * *"

    [health]                     # thresholds of `opik-store health` (defaults: the scaling guide's)
    query_warn_seconds = 10
    parts_warn = 300
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opik_store.errors import ConfigError
from opik_store.maintenance.cron import cron_trigger
from opik_store.resources import read_toml

ENV_CONFIG = "OPIK_STORE_CONFIG"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: The longest finite retention class. An id dated up to 2069 (the last year whose ids carry a usable time)
#: plus MAX_DAYS stays before 2105-12-31, the last moment ClickHouse's 32-bit TTL bookkeeping holds, so
#: no accepted class can ever compute an expiry that wraps or is cut short (see ddl/README.md).
MAX_DAYS = 10000
DEFAULT_FILE = "opik-store.toml"
DEFAULT_CLASSES = {"short": 14, "standard": 60, "long": 400, "unlimited": 0}
JOB_NAMES = ("apply-retention", "prune-system-tables", "health")
DEFAULT_SCHEDULES = {"apply-retention": "17 3 * * *", "prune-system-tables": "47 * * * *", "health": "*/5 * * * *"}


@dataclass(frozen=True)
class RetentionConfig:
    """Retention in days per (workspace, project); ('', '') is the deployment default."""

    default_days: int = 400
    classes: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CLASSES))
    rules: Mapping[tuple[str, str], int] = field(default_factory=dict)

    def desired(self) -> dict[tuple[str, str], int]:
        return {("", ""): self.default_days, **self.rules}


@dataclass(frozen=True)
class SystemTablesConfig:
    keep_days: int = 30
    tables: tuple[str, ...] | None = None  # None: every log table


@dataclass(frozen=True)
class HealthConfig:
    """Thresholds of the health checks; the defaults are the scaling guide's values.

    A *_warn value must be below its *_critical value (above it for the
    free-disk percentages, where less is worse). Windows are in minutes.
    """

    window_minutes: int = 15  # CPU average, query durations, current insert rate
    trailing_minutes: int = 120  # the insert-rate baseline (the window before the current one)
    cpu_warn_percent: float = 20  # the guide's target is a 10-20 % average
    cpu_critical_percent: float = 50  # spikes to 40-50 % are the most the guide allows
    insert_drop_warn_percent: float = 50  # current rate this much below the trailing average
    insert_drop_critical_percent: float = 90
    query_warn_seconds: float = 10  # p95: the guide says investigate above 10 s
    query_critical_seconds: float = 30  # p99
    parts_warn: int = 300  # active parts in one partition
    parts_critical: int = 1000  # the server delays inserts here (parts_to_delay_insert) and fails at 3000
    stuck_minutes: float = 60  # a merge or mutation running longer than this is stuck (fractions allowed)
    disk_free_warn_percent: float = 20
    disk_free_critical_percent: float = 10
    system_log_warn_bytes: int = 1 << 30  # a log table without a TTL larger than this
    replica_delay_warn_seconds: float = 300
    replica_delay_critical_seconds: float = 3600
    replica_queue_warn: int = 100
    memory_per_core_gib: float = 4  # the guide's 4:1 (8:1 for large deployments)
    history_days: int = 30  # TTL of the health job's snapshot table


#: Pairs that must be ordered (warn, critical, True when a higher value is worse).
_HEALTH_ORDER = (
    ("cpu_warn_percent", "cpu_critical_percent", True),
    ("insert_drop_warn_percent", "insert_drop_critical_percent", True),
    ("query_warn_seconds", "query_critical_seconds", True),
    ("parts_warn", "parts_critical", True),
    ("disk_free_warn_percent", "disk_free_critical_percent", False),
    ("replica_delay_warn_seconds", "replica_delay_critical_seconds", True),
)
_HEALTH_PERCENT = {
    "cpu_warn_percent", "cpu_critical_percent", "insert_drop_warn_percent", "insert_drop_critical_percent",
    "disk_free_warn_percent", "disk_free_critical_percent",
}  # fmt: skip
_HEALTH_WHOLE = {"window_minutes", "trailing_minutes", "parts_warn", "parts_critical",
                 "system_log_warn_bytes", "replica_queue_warn", "history_days"}  # fmt: skip


@dataclass(frozen=True)
class JobConfig:
    name: str
    schedule: str
    enabled: bool = True
    jitter_seconds: int = 60
    misfire_grace_seconds: int = 600


@dataclass(frozen=True)
class FileConfig:
    path: Path | None = None
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    system_tables: SystemTablesConfig = field(default_factory=SystemTablesConfig)
    jobs: Mapping[str, JobConfig] = field(
        default_factory=lambda: {n: JobConfig(n, DEFAULT_SCHEDULES[n]) for n in JOB_NAMES}
    )
    health: HealthConfig = field(default_factory=HealthConfig)
    #: ``[migrations] dir``: the folder of the deployment's own revisions (relative to the file), or None.
    migrations_dir: str | None = None


class _Reader:
    """Validates one document, collecting every problem (each names the file, entry and key)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []

    def fail(self, entry: str, message: str) -> None:
        self.problems.append(f"{self.where}: {entry}: {message}")

    def table(self, value: Any, entry: str) -> Mapping[str, Any]:
        """``value`` if it is a table; else a problem and an empty table."""
        if isinstance(value, Mapping):
            return value
        self.fail(entry, f"must be a table ({entry} ... ), got {_shape(value)}")
        return {}

    def tables(self, value: Any, entry: str) -> list[Mapping[str, Any]]:
        """``value`` if it is an array of tables ([[...]]); else a problem and an empty list."""
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            self.fail(entry, f"must be an array of tables ([[{entry.strip('[]')}]]), got {_shape(value)}")
            return []
        return value

    def keys(self, table: Mapping[str, Any], entry: str, allowed: set[str]) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            self.fail(entry, f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")

    def seconds(self, value: Any, entry: str, key: str, low: int, high: int, default: int, meaning: str) -> int:
        """A whole number of seconds from ``low`` to ``high``; on a problem, ``default``. ``meaning`` says what
        the value does, in the error."""
        if isinstance(value, float) and value.is_integer() and not isinstance(value, bool):
            self.fail(entry, f"{key} must be a whole number of seconds: write {int(value)}, not {value!r} (TOML "
                             "reads 1e6 or 10.0 as a fraction)")  # fmt: skip
        elif isinstance(value, bool) or not isinstance(value, int):
            self.fail(entry, f"{key} must be a whole number of seconds, got {value!r}")
        elif not low <= value <= high:
            self.fail(entry, f"{key} must be between {low} and {high:,} seconds ({meaning}), got {value:,}")
        else:
            return value
        return default

    def days(
        self, value: Any, entry: str, key: str, allow_zero: bool = True, unit: str = "days", default: int = 0
    ) -> int:
        """A whole number from 0 (or 1) to MAX_DAYS; on a problem, ``default``."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(entry, f"{key} must be a whole number of {unit}, got {value!r}")
        elif value < 0:
            self.fail(entry, f"{key} must not be negative, got {value}")
        elif value == 0 and not allow_zero:
            self.fail(entry, f"{key} must be at least 1 (0 would delete everything)")
        elif value > MAX_DAYS:
            self.fail(entry, f"{key} must be at most {MAX_DAYS} (about 27 years; 0 is unlimited), got {value}")
        else:
            return value
        return default

    def text(self, value: Any, entry: str, key: str) -> str:
        if not isinstance(value, str) or not value or any(ord(c) < 32 for c in value):
            self.fail(entry, f"{key} must be a non-empty string without control characters, got {value!r}")
            return ""
        return value

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError("\n".join(self.problems))


def _shape(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}
    return f"{names.get(type(value), type(value).__name__)} ({value!r})"[:80]


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> FileConfig:
    """Read and validate the configuration file (see module doc for the search order)."""
    env = os.environ if environ is None else environ
    chosen = path or env.get(ENV_CONFIG)
    if chosen is None:
        if not Path(DEFAULT_FILE).is_file():
            return FileConfig()
        chosen = DEFAULT_FILE
    file = Path(chosen)
    data = read_toml(file, "configuration file")
    return parse_config(data, str(file))


def parse_config(data: Mapping[str, Any], where: str = "<config>") -> FileConfig:
    """Validate a parsed TOML document; raise one ConfigError listing every problem (file, entry, key)."""
    r = _Reader(where)
    r.keys(data, "top level", {"retention", "system_tables", "jobs", "health", "migrations"})
    config = FileConfig(
        migrations_dir=_migrations(r, r.table(data.get("migrations", {}), "[migrations]"), where),
        path=Path(where) if where != "<config>" else None,
        retention=_retention(r, r.table(data.get("retention", {}), "[retention]")),
        system_tables=_system_tables(r, r.table(data.get("system_tables", {}), "[system_tables]")),
        jobs=_jobs(r, r.table(data.get("jobs", {}), "[jobs]")),
        health=_health(r, r.table(data.get("health", {}), "[health]")),
    )
    r.raise_if_any()
    return config


def _migrations(r: _Reader, data: Mapping[str, Any], where: str) -> str | None:
    """``[migrations] dir``: a path; a relative one is relative to the file's folder (not the working one)."""
    r.keys(data, "[migrations]", {"dir"})
    if "dir" not in data:
        return None
    text = r.text(data["dir"], "[migrations]", "dir")
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.is_absolute() and where != "<config>":
        path = Path(where).resolve().parent / path
    return str(path)


def _retention(r: _Reader, data: Mapping[str, Any]) -> RetentionConfig:
    r.keys(data, "[retention]", {"default_days", "classes", "workspaces", "projects"})
    default_days = r.days(data.get("default_days", 400), "[retention]", "default_days")
    classes = dict(DEFAULT_CLASSES)
    for name, days in r.table(data.get("classes", {}), "[retention.classes]").items():
        classes[r.text(name, "[retention.classes]", "class name")] = r.days(days, "[retention.classes]", name)
    rules: dict[tuple[str, str], int] = {}
    for kind in ("workspaces", "projects"):
        for n, item in enumerate(r.tables(data.get(kind, []), f"[retention.{kind}]"), start=1):
            entry = f"[[retention.{kind}]] #{n}"
            allowed = {"workspace", "class", "days"} | ({"project"} if kind == "projects" else set())
            r.keys(item, entry, allowed)
            workspace = r.text(item.get("workspace"), entry, "workspace")
            project = r.text(item.get("project"), entry, "project") if kind == "projects" else ""
            if _UUID.fullmatch(project):
                project = project.lower()  # Opik stores ids in lowercase: an uppercase rule would never match
            if ("class" in item) == ("days" in item):
                r.fail(entry, "give exactly one of class or days")
                continue
            if "class" in item:
                if not isinstance(item["class"], str) or item["class"] not in classes:
                    r.fail(entry, f"unknown class {item['class']!r} (known: {', '.join(sorted(classes))})")
                    continue
                days = classes[item["class"]]
            else:
                days = r.days(item["days"], entry, "days")
            key = (workspace, project)
            if key in rules:
                r.fail(
                    entry, f"duplicate rule for workspace {workspace!r}" + (f" project {project!r}" if project else "")
                )
            rules[key] = days
    return RetentionConfig(default_days=default_days, classes=classes, rules=rules)


def _system_tables(r: _Reader, data: Mapping[str, Any]) -> SystemTablesConfig:
    r.keys(data, "[system_tables]", {"keep_days", "tables"})
    keep = r.days(data.get("keep_days", 30), "[system_tables]", "keep_days", allow_zero=False, default=30)
    tables = data.get("tables")
    if tables is not None:
        if not isinstance(tables, list) or not tables:
            r.fail("[system_tables]", "tables must be a non-empty list of log table names")
            tables = None
        else:
            tables = tuple(r.text(t, "[system_tables]", "tables[]") for t in tables)
    return SystemTablesConfig(keep_days=keep, tables=tables)


def _jobs(r: _Reader, data: Mapping[str, Any]) -> dict[str, JobConfig]:
    jobs = {n: JobConfig(n, DEFAULT_SCHEDULES[n]) for n in JOB_NAMES}
    for name, value in data.items():
        entry = f"[jobs.{name}]"
        if name not in JOB_NAMES:
            r.fail(entry, f"unknown job (known: {', '.join(JOB_NAMES)})")
            continue
        item = r.table(value, entry)
        r.keys(item, entry, {"schedule", "enabled", "jitter_seconds", "misfire_grace_seconds"})
        schedule = r.text(item.get("schedule", DEFAULT_SCHEDULES[name]), entry, "schedule")
        if schedule:
            try:
                cron_trigger(schedule)
            except ConfigError as exc:
                r.fail(entry, str(exc))
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            r.fail(entry, f"enabled must be true or false, got {enabled!r}")
        jitter = r.seconds(item.get("jitter_seconds", 60), entry, "jitter_seconds", 0, 3600, 60,
                           "the scheduler delays each run by up to this many random seconds")  # fmt: skip
        grace = r.seconds(item.get("misfire_grace_seconds", 600), entry, "misfire_grace_seconds", 1, 86400, 600,
                          "a run that could not start within this many seconds of its time is skipped")  # fmt: skip
        jobs[name] = JobConfig(name, schedule, enabled is True, jitter, grace)
    return jobs


def _health(r: _Reader, data: Mapping[str, Any]) -> HealthConfig:
    """[health]: positive numbers (whole where they count things), percentages up to 100, warn before critical."""
    allowed = set(HealthConfig.__dataclass_fields__)
    r.keys(data, "[health]", allowed)
    values: dict[str, Any] = {}
    for key in sorted(allowed & set(data)):
        value = data[key]
        whole = key in _HEALTH_WHOLE
        if isinstance(value, bool) or not isinstance(value, int | float) or (whole and not isinstance(value, int)):
            r.fail("[health]", f"{key} must be a {'whole ' if whole else ''}number, got {value!r}")
        elif not math.isfinite(value):
            r.fail("[health]", f"{key} must be a finite number, got {value}")
        elif value <= 0:
            r.fail("[health]", f"{key} must be above 0, got {value}")
        elif key in _HEALTH_PERCENT and value > 100:
            r.fail("[health]", f"{key} is a percentage: at most 100, got {value}")
        elif key == "history_days" and value > MAX_DAYS:
            r.fail("[health]", f"history_days must be at most {MAX_DAYS}, got {value}")
        else:
            values[key] = value
    config = HealthConfig(**values)
    for warn, critical, higher_is_worse in _HEALTH_ORDER:
        w, c = getattr(config, warn), getattr(config, critical)
        if (w >= c) if higher_is_worse else (w <= c):
            relation = "below" if higher_is_worse else "above"
            r.fail("[health]", f"{warn} ({w}) must be {relation} {critical} ({c})")
    return config
