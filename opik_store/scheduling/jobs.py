"""Named maintenance jobs, their run history, and the rule that one run of a job happens at a time.

Rules:

* A job is a named function of (store, file config, dry_run) that returns a
  one-line summary. The built-in jobs are ``apply-retention`` (rules, TTL fixes,
  dropping fully expired partitions), ``prune-system-tables`` and ``health``
  (one snapshot of the health checks appended to ``<db>.opik_store_health``,
  a table with its own TTL of ``[health] history_days``, reset by MODIFY TTL
  when that value changes).
* Every run is recorded in the append-only ``<db>.opik_store_job_runs``
  table: a ``started`` row, then ``succeeded``/``failed`` with the summary or
  error. A run that finds the job busy elsewhere records ``skipped``.
* Before running, a job takes its own lease (the migration lock's mechanism,
  under the prefix ``opik_store_joblock_<job>_``) without waiting. So two
  schedulers, or a scheduler and a cron line, pointed at one database or
  cluster never run the same job at once. The lease is the store's lock
  lease (OPIK_STORE_LOCK_LEASE, 60 s); a holder killed on the same host frees
  it at once.
* A run killed before it recorded an outcome stays ``started``; the next run
  of the job, holding the lease (so no such run can still be alive), appends
  an ``interrupted`` row for it.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opik_store.engine.quoting import quote_identifier
from opik_store.errors import ConfigError
from opik_store.maintenance.config_file import FileConfig
from opik_store.maintenance.system_tables import SystemTables
from opik_store.migrations.ledger import create_database_sql
from opik_store.migrations.lock import JOB_LOCK_PREFIX, MigrationLock
from opik_store.schema.render import render_statement
from opik_store.store import Store

RUNS_TABLE = "opik_store_job_runs"
RUNS_DDL = f"""
CREATE TABLE {RUNS_TABLE}
(
    run_id       UUID,
    job          LowCardinality(String),
    state        Enum8('started' = 1, 'succeeded' = 2, 'failed' = 3, 'skipped' = 4, 'interrupted' = 5),
    host         String,
    pid          UInt32,
    started_at   DateTime64(6, 'UTC'),
    finished_at  Nullable(DateTime64(6, 'UTC')),
    duration_ms  Nullable(UInt64),
    summary      String,
    error        String,
    recorded_at  DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = MergeTree
ORDER BY (job, recorded_at)
"""

HEALTH_TABLE = "opik_store_health"
#: One row per check per snapshot; the TTL is [health] history_days (applied with MODIFY TTL when it changes).
HEALTH_DDL = f"""
CREATE TABLE {HEALTH_TABLE}
(
    checked_at  DateTime64(3, 'UTC'),
    check       LowCardinality(String),
    status      Enum8('unknown' = -1, 'ok' = 0, 'warn' = 1, 'critical' = 2),
    value       String,
    threshold   String,
    action      String,
    details     String
)
ENGINE = MergeTree
PARTITION BY toDate(checked_at)
ORDER BY (check, checked_at)
TTL toDateTime(checked_at) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 1
"""

JobFunc = Callable[[Store, FileConfig, bool], str]


def apply_retention(store: Store, config: FileConfig, dry_run: bool) -> str:
    retention = store.retention()
    plan = retention.plan(config.retention, horizon_days=0)
    if dry_run:
        return (
            f"would add {len(plan.changes)} rule(s), run {len(plan.ttl_statements)} TTL fix(es), "
            f"drop {len(plan.expired)} expired partition(s)"
        )
    done = retention.apply(plan, expire_now=True)
    drops = sum("DROP PARTITION" in d for d in done)
    return f"added {len(plan.changes)} rule(s), {len(plan.ttl_statements)} TTL fix(es), dropped {drops} partition(s)"


def prune_system_tables(store: Store, config: FileConfig, dry_run: bool) -> str:
    settings = config.system_tables
    report = SystemTables(store.adapter).prune(settings.keep_days, settings.tables, dry_run=dry_run)
    rows = sum(a.rows for a in report.actions)
    verb = "would remove" if dry_run else "removed"
    return f"{verb} {rows} row(s) older than {report.cutoff} in {len({a.table for a in report.actions})} table(s)"


def record_health(store: Store, config: FileConfig, dry_run: bool) -> str:
    """Run the health checks and append the snapshot to ``<db>.opik_store_health`` (TTL: history_days)."""
    report = store.health(config.health)
    counts = ", ".join(f"{n} {s}" for s in ("ok", "warn", "critical", "unknown")
                       if (n := sum(c.status == s for c in report.checks)))  # fmt: skip
    if dry_run:
        return f"would record {len(report.checks)} checks ({counts}); status {report.status}"
    db = quote_identifier(store.config.database, "database name")
    table = f"{db}.{quote_identifier(HEALTH_TABLE)}"
    store.adapter.execute(create_database_sql(store.config.database, store.config.topology))
    store.adapter.execute(render_statement(HEALTH_DDL, store.config.database, store.config.topology).sql)
    days = int(config.health.history_days)
    ttl = f"toDateTime(checked_at) + toIntervalDay({days})"
    engine_full = str(store.adapter.query(
        "SELECT engine_full FROM system.tables WHERE database = {d:String} AND name = {n:String}",
        {"d": store.config.database, "n": HEALTH_TABLE},
    ).scalar() or "")  # fmt: skip
    if ttl not in engine_full:  # history_days changed: the table keeps its own TTL in step (ON CLUSTER on a cluster)
        alter = f"ALTER TABLE {HEALTH_TABLE} MODIFY TTL toDateTime(checked_at) + INTERVAL {days} DAY"
        store.adapter.execute(render_statement(alter, store.config.database, store.config.topology).sql)
    for check in report.checks:
        store.adapter.execute(
            f"INSERT INTO {table} (checked_at, check, status, value, threshold, action, details) "
            "SELECT {t:DateTime64(3, 'UTC')}, {c:String}, {s:String}, {v:String}, {h:String}, {a:String}, {d:String}",
            {"t": report.checked_at, "c": check.name, "s": check.status, "v": check.value, "h": check.threshold,
             "a": check.action, "d": json.dumps(check.as_json()["details"], default=str)},
        )  # fmt: skip
    return f"recorded {len(report.checks)} checks ({counts}); status {report.status}"


BUILTIN_JOBS: dict[str, tuple[JobFunc, str]] = {
    "apply-retention": (apply_retention, "retention rules, TTL fixes, drop fully expired partitions"),
    "prune-system-tables": (prune_system_tables, "bound ClickHouse's system log tables"),
    "health": (record_health, f"record a health snapshot in {HEALTH_TABLE} (kept [health] history_days)"),
}


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    job: str
    state: str
    host: str
    pid: int
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    summary: str
    error: str

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["started_at"] = self.started_at.isoformat()
        out["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return out


class JobRunner:
    """Runs named jobs against one store and records every run."""

    def __init__(
        self,
        store_factory: Callable[[], Store],
        config: FileConfig,
        jobs: Mapping[str, tuple[JobFunc, str]] | None = None,
        lease: float | None = None,
    ) -> None:
        self.store_factory = store_factory
        self.config = config
        self.jobs = dict(jobs or BUILTIN_JOBS)
        self.lease = lease
        self.host = socket.gethostname()

    def _table(self, store: Store) -> str:
        return f"{quote_identifier(store.config.database, 'database name')}.{quote_identifier(RUNS_TABLE)}"

    def ensure_table(self, store: Store) -> None:
        store.adapter.execute(create_database_sql(store.config.database, store.config.topology))
        store.adapter.execute(render_statement(RUNS_DDL, store.config.database, store.config.topology).sql)

    def _record(self, store: Store, run_id: str, job: str, state: str, started: datetime, **extra: str) -> RunRecord:
        """Append one row and return it as recorded."""
        finished = None if state == "started" else datetime.now(UTC)
        record = RunRecord(
            run_id=run_id,
            job=job,
            state=state,
            host=self.host,
            pid=os.getpid(),
            started_at=started,
            finished_at=finished,
            duration_ms=None if finished is None else int((finished - started).total_seconds() * 1000),
            summary=extra.get("summary", ""),
            error=extra.get("error", ""),
        )
        store.adapter.execute(
            f"INSERT INTO {self._table(store)} (run_id, job, state, host, pid, started_at, finished_at, duration_ms, "
            "summary, error) SELECT {r:UUID}, {j:String}, {s:String}, {h:String}, {p:UInt32}, "
            "{st:DateTime64(6, 'UTC')}, {f:Nullable(DateTime64(6, 'UTC'))}, {d:Nullable(UInt64)}, "
            "{sm:String}, {e:String}",
            {
                "r": record.run_id,
                "j": record.job,
                "s": record.state,
                "h": record.host,
                "p": record.pid,
                "st": record.started_at,
                "f": record.finished_at,
                "d": record.duration_ms,
                "sm": record.summary,
                "e": record.error,
            },
        )
        return record

    def run(self, name: str, dry_run: bool = False) -> RunRecord:
        """Run job ``name`` once (unless another run holds its lease); record and return the outcome."""
        if name not in self.jobs:
            raise ConfigError(f"unknown job {name!r} (jobs: {', '.join(sorted(self.jobs))})")
        func = self.jobs[name][0]
        run_id, started = str(uuid.uuid4()), datetime.now(UTC)
        with self.store_factory() as store:
            if dry_run:
                summary = func(store, self.config, True)
                return RunRecord(run_id, name, "dry-run", self.host, os.getpid(), started, None, None, summary, "")
            self.ensure_table(store)
            prefix = f"{JOB_LOCK_PREFIX}{name.replace('-', '_')}_"
            seconds = self.lease if self.lease is not None else store.config.lock_lease
            lease = MigrationLock(store.adapter, store.config, seconds, lambda _m: None, run_id, prefix)
            holder = lease.try_acquire()
            if holder is not None:
                summary = f"skipped: already running on {holder.describe()}"
                return self._record(store, run_id, name, "skipped", started, summary=summary)
            try:
                self._close_interrupted(store, name)
                self._record(store, run_id, name, "started", started)
                try:
                    summary = func(store, self.config, False)
                except Exception as exc:
                    self._record(store, run_id, name, "failed", started, error=f"{type(exc).__name__}: {exc}")
                    raise
                record = self._record(store, run_id, name, "succeeded", started, summary=summary)
            finally:
                lease.release()
            return record

    def _close_interrupted(self, store: Store, job: str) -> None:
        """Record ``interrupted`` for runs of ``job`` left ``started``; the caller holds the job's lease."""
        rows = store.adapter.query(
            f"SELECT toString(run_id), min(started_at) FROM {self._table(store)} WHERE job = {{j:String}} "
            "GROUP BY run_id HAVING countIf(state != 'started') = 0",
            {"j": job},
        ).rows
        for run_id, started in rows:
            self._record(store, str(run_id), job, "interrupted", started,
                         error="stopped without recording an outcome (killed, or lost its database)")  # fmt: skip

    def history(self, store: Store, job: str | None = None) -> list[RunRecord]:
        """Every recorded run row, oldest first (optionally of one job)."""
        exists = store.adapter.query(
            "SELECT count() FROM system.tables WHERE database = {d:String} AND name = {n:String}",
            {"d": store.config.database, "n": RUNS_TABLE},
        ).scalar()
        if not exists:
            return []
        rows = store.adapter.query(
            "SELECT toString(run_id), job, toString(state), host, pid, started_at, finished_at, duration_ms, summary, "
            f"error FROM {self._table(store)} WHERE {{j:String}} = '' OR job = {{j:String}} ORDER BY recorded_at",
            {"j": job or ""},
        ).rows
        return [RunRecord(*row) for row in rows]
