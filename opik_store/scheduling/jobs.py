"""Named maintenance jobs, their run history, and the rule that one run of a job happens at a time.

Rules:

* A job is a named function of (store, file config, dry_run) that returns a
  one-line summary. The built-in jobs are ``apply-retention`` (rules, then due groups removed,
  a week past every class dropped whole), ``prune-system-tables`` and ``health``
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
  an ``interrupted`` row for it. A lease-free job's next run does so for its
  runs that cannot be alive: this host's, whose process is gone, and any
  left ``started`` for over an hour.
* A run that changes nothing issues no DDL, so no distributed DDL on a
  cluster: the runs and health tables are created only when missing; a job
  with a probe (``BUILTIN_PROBES``) asks it first, without the lease, and a
  run with nothing to do records ``succeeded`` ("nothing to do") without
  taking the lease (whose acquisition is a CREATE ... ON CLUSTER). ``health``
  takes no lease at all (``LEASE_FREE_JOBS``): a snapshot only appends rows,
  and two concurrent runs record two snapshots, which is harmless.
* Times and ordering come from the server's clock: ``started_at``,
  ``finished_at`` and ``recorded_at`` are the server's ``now()``; ``seq`` is
  the table's largest plus one, evaluated by the server in the INSERT.
  Column types are ones every server down to 18.16 holds (whole-second
  ``DateTime``), the same table on every server.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opik_store.config import control_write_settings
from opik_store.engine.quoting import quote_identifier
from opik_store.errors import ConfigError, OpikStoreError
from opik_store.maintenance.config_file import FileConfig
from opik_store.maintenance.system_tables import prune_every_node
from opik_store.migrations.ledger import create_database_sql
from opik_store.migrations.lock import JOB_LOCK_PREFIX, MigrationLock, process_alive
from opik_store.migrations.replicas import run_create
from opik_store.schema.render import render_statement
from opik_store.store import Store

RUNS_TABLE = "opik_store_job_runs"
RUNS_DDL = f"""
CREATE TABLE {RUNS_TABLE}
(
    run_id       UUID,
    job          String,
    state        Enum8('started' = 1, 'succeeded' = 2, 'failed' = 3, 'skipped' = 4, 'interrupted' = 5),
    host         String,
    pid          UInt32,
    started_at   DateTime('UTC'),
    finished_at  Nullable(DateTime('UTC')),
    duration_ms  Nullable(UInt64),
    summary      String,
    error        String,
    recorded_at  DateTime('UTC') DEFAULT now(),
    seq          UInt64
)
ENGINE = MergeTree
ORDER BY (job, seq)
"""
#: Added to a runs table created before ``seq`` existed (checked in system.columns first: 18.16 has no IF NOT EXISTS).
RUNS_ADD_SEQ = f"ALTER TABLE {RUNS_TABLE} ADD COLUMN seq UInt64"

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
#: Whether a job has anything to do now (asked without the lease; must change nothing).
Probe = Callable[[Store, FileConfig], bool]


def _table_exists(store: Store, name: str) -> bool:
    return bool(
        store.adapter.query(
            "SELECT count() FROM system.tables WHERE database = {d:String} AND name = {n:String}",
            {"d": store.config.database, "n": name},
        ).scalar()
    )


def _create_if_missing(store: Store, name: str, ddl: str) -> None:
    """CREATE the database and table (ON CLUSTER on a cluster) only when the table is missing: no DDL otherwise.

    On a cluster, a replica Keeper still holds from an interrupted create (REPLICA_ALREADY_EXISTS) is dropped
    and the CREATE runs once more, by the migration runner's rule (migrations/replicas.py).
    """
    if _table_exists(store, name):
        return
    store.adapter.execute(create_database_sql(store.config.database, store.config.topology))
    sql = render_statement(ddl, store.config.database, store.config.topology).sql
    run_create(store.adapter, lambda: store.adapter.execute(sql), store.config.topology.is_cluster, lambda _m: None)


def apply_retention(store: Store, config: FileConfig, dry_run: bool) -> str:
    retention = store.retention()
    plan = retention.plan(config.retention, horizon_days=0)
    if dry_run:
        return f"would add {len(plan.changes)} rule(s), remove {len(plan.expired)} due (class, week) group(s)"
    done = retention.apply(plan, expire_now=True)
    drops = sum(d.startswith("drop ") for d in done)
    deletes = sum(d.startswith("delete ") for d in done)
    return f"added {len(plan.changes)} rule(s), dropped {drops} week(s), deleted {deletes} (class, week) group(s)"


def prune_system_tables(store: Store, config: FileConfig, dry_run: bool) -> str:
    """Prune the log tables of every node (each host of the cluster, or the one node); fail naming unreached hosts."""
    settings = config.system_tables
    outcomes = prune_every_node(
        store.adapter, store.config.topology.cluster, settings.keep_days, settings.tables, dry_run=dry_run
    )
    reports = [o.result for o in outcomes if o.result is not None]
    rows = sum(a.rows for r in reports for a in r.actions)
    tables = len({(o.host, a.table) for o in outcomes if o.result for a in o.result.actions})
    verb = "would remove" if dry_run else "removed"
    cutoff = reports[0].cutoff if reports else "-"
    summary = f"{verb} {rows} row(s) older than {cutoff} in {tables} table(s) on {len(reports)} node(s)"
    failed = [o for o in outcomes if o.error]
    if failed:
        raise OpikStoreError(f"{summary}; not pruned: " + "; ".join(f"{o.host.label}: {o.error}" for o in failed))
    return summary


def record_health(store: Store, config: FileConfig, dry_run: bool) -> str:
    """Run the health checks and append the snapshot to ``<db>.opik_store_health`` (TTL: history_days)."""
    report = store.health(config.health)
    counts = ", ".join(f"{n} {s}" for s in ("ok", "warn", "critical", "unknown")
                       if (n := sum(c.status == s for c in report.checks)))  # fmt: skip
    if dry_run:
        return f"would record {len(report.checks)} checks ({counts}); status {report.status}"
    db = quote_identifier(store.config.database, "database name")
    table = f"{db}.{quote_identifier(HEALTH_TABLE)}"
    _create_if_missing(store, HEALTH_TABLE, HEALTH_DDL)
    days = int(config.health.history_days)
    ttl = f"toDateTime(checked_at) + toIntervalDay({days})"
    engine_full = str(
        store.adapter.query(
            "SELECT engine_full FROM system.tables WHERE database = {d:String} AND name = {n:String}",
            {"d": store.config.database, "n": HEALTH_TABLE},
        ).scalar()
        or ""
    )
    if ttl not in engine_full:  # history_days changed: the table keeps its own TTL in step (ON CLUSTER on a cluster)
        alter = f"ALTER TABLE {HEALTH_TABLE} MODIFY TTL toDateTime(checked_at) + INTERVAL {days} DAY"
        store.adapter.execute(render_statement(alter, store.config.database, store.config.topology).sql)
    for check in report.checks:
        store.adapter.execute(
            f"INSERT INTO {table} (checked_at, check, status, value, threshold, action, details) "
            "SELECT {t:DateTime64(3, 'UTC')}, {c:String}, {s:String}, {v:String}, {h:String}, {a:String}, {d:String}",
            {
                "t": report.checked_at,
                "c": check.name,
                "s": check.status,
                "v": check.value,
                "h": check.threshold,
                "a": check.action,
                "d": json.dumps(check.as_json()["details"], default=str),
            },
        )
    return f"recorded {len(report.checks)} checks ({counts}); status {report.status}"


def retention_has_work(store: Store, config: FileConfig) -> bool:
    """Rules to add, or (class, week) groups due."""
    plan = store.retention().plan(config.retention, horizon_days=0)
    return bool(plan.changes or plan.expired)


def prune_has_work(store: Store, config: FileConfig) -> bool:
    """Any log table on any node with rows to remove or a TTL to set (a dry run)."""
    settings = config.system_tables
    reports = prune_every_node(
        store.adapter, store.config.topology.cluster, settings.keep_days, settings.tables, dry_run=True
    )
    return any(o.result and o.result.actions for o in reports) or any(o.error for o in reports)


BUILTIN_PROBES: dict[str, Probe] = {"apply-retention": retention_has_work, "prune-system-tables": prune_has_work}
#: Jobs that never take the lease: they only append rows of their own.
LEASE_FREE_JOBS = frozenset({"health"})

#: A lease-free run left ``started`` longer than this is closed as interrupted by the next run of its job.
LEASE_FREE_STALE_SECONDS = 3600

BUILTIN_JOBS: dict[str, tuple[JobFunc, str]] = {
    "apply-retention": (apply_retention, "retention rules, then remove the due (class, week) groups"),
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
        probes: Mapping[str, Probe] | None = None,
        lease_free: frozenset[str] = LEASE_FREE_JOBS,
    ) -> None:
        """``probes`` default to BUILTIN_PROBES for the built-in jobs (none for custom ``jobs``)."""
        self.store_factory = store_factory
        self.config = config
        self.jobs = dict(jobs or BUILTIN_JOBS)
        self.lease = lease
        self.probes = dict(probes if probes is not None else (BUILTIN_PROBES if jobs is None else {}))
        self.lease_free = lease_free
        self.host = socket.gethostname()

    def _table(self, store: Store) -> str:
        return f"{quote_identifier(store.config.database, 'database name')}.{quote_identifier(RUNS_TABLE)}"

    def _columns(self, store: Store) -> set[str]:
        rows = store.adapter.query(
            "SELECT name FROM system.columns WHERE database = {d:String} AND table = {n:String}",
            {"d": store.config.database, "n": RUNS_TABLE},
        ).rows
        return {str(r[0]) for r in rows}

    def ensure_table(self, store: Store) -> None:
        """Create the runs table when missing, add ``seq`` to one from before it; no DDL when it is current."""
        columns = self._columns(store)
        if not columns:
            _create_if_missing(store, RUNS_TABLE, RUNS_DDL)
        elif "seq" not in columns:
            sql = render_statement(RUNS_ADD_SEQ, store.config.database, store.config.topology, guard=False).sql
            store.adapter.execute(sql, settings=store.config.ddl_settings)

    @staticmethod
    def server_now(store: Store) -> datetime:
        """The server's clock (UTC, whole seconds)."""
        value: datetime = store.adapter.query("SELECT toDateTime(now(), 'UTC')").scalar()
        return value

    def _record(self, store: Store, run_id: str, job: str, state: str, started: datetime, **extra: str) -> RunRecord:
        """Append one row, stamped by the server (end time, duration, ``recorded_at``, ``seq``); return it as stored."""
        finished = state != "started"
        table = self._table(store)
        store.adapter.execute(
            f"INSERT INTO {table} (run_id, job, state, host, pid, started_at, finished_at, duration_ms, summary, "
            "error, recorded_at, seq) SELECT {r:UUID}, {j:String}, {s:String}, {h:String}, {p:UInt32}, "
            "{st:DateTime('UTC')}, if({f:UInt8}, now(), NULL), if({f:UInt8}, 1000 * toUInt64(greatest("
            "toInt64(toUInt32(now())) - toInt64(toUInt32({st:DateTime('UTC')})), 0)), NULL), {sm:String}, {e:String}, "
            f"now(), (SELECT max(seq) FROM {table}) + 1",
            {
                "r": run_id,
                "j": job,
                "s": state,
                "h": self.host,
                "p": os.getpid(),
                "st": started,
                "f": int(finished),
                "sm": extra.get("summary", ""),
                "e": extra.get("error", ""),
            },
            settings=control_write_settings(),
        )
        row = store.adapter.query(
            f"SELECT finished_at, duration_ms FROM {table} WHERE run_id = {{r:UUID}} AND state = {{s:String}} "
            "ORDER BY seq DESC LIMIT 1",
            {"r": run_id, "s": state},
        ).rows
        finished_at, duration = row[0] if row else (None, None)
        return RunRecord(run_id, job, state, self.host, os.getpid(), started, finished_at, duration,
                         extra.get("summary", ""), extra.get("error", ""))  # fmt: skip

    def run(self, name: str, dry_run: bool = False) -> RunRecord:
        """Run job ``name`` once (unless another run holds its lease); record and return the outcome.

        With a probe that finds nothing to do, the run is recorded as
        ``succeeded`` ("nothing to do") without the lease and without any DDL.
        """
        if name not in self.jobs:
            raise ConfigError(f"unknown job {name!r} (jobs: {', '.join(sorted(self.jobs))})")
        func = self.jobs[name][0]
        run_id = str(uuid.uuid4())
        with self.store_factory() as store:
            started = self.server_now(store)
            if dry_run:
                summary = func(store, self.config, True)
                return RunRecord(run_id, name, "dry-run", self.host, os.getpid(), started, None, None, summary, "")
            self.ensure_table(store)
            probe = self.probes.get(name)
            if probe is not None:
                try:
                    idle = not probe(store, self.config)
                except Exception as exc:  # recorded like a failing job, then raised
                    self._record(store, run_id, name, "failed", started, error=f"{type(exc).__name__}: {exc}")
                    raise
                if idle:
                    return self._record(store, run_id, name, "succeeded", started, summary="nothing to do")
            if name in self.lease_free:
                self._close_interrupted(store, name, lease_free=True)
                return self._run_recorded(store, func, run_id, name, started)
            prefix = f"{JOB_LOCK_PREFIX}{name.replace('-', '_')}_"
            seconds = self.lease if self.lease is not None else store.config.lock_lease
            lease = MigrationLock(store.adapter, store.config, seconds, lambda _m: None, run_id, prefix)
            holder = lease.try_acquire()
            if holder is not None:
                summary = f"skipped: already running on {holder.describe()}"
                return self._record(store, run_id, name, "skipped", started, summary=summary)
            try:
                self._close_interrupted(store, name)
                return self._run_recorded(store, func, run_id, name, started)
            finally:
                lease.release()

    def _run_recorded(self, store: Store, func: JobFunc, run_id: str, name: str, started: datetime) -> RunRecord:
        """``started`` row, the job, then ``succeeded`` or ``failed`` (re-raising the job's error)."""
        self._record(store, run_id, name, "started", started)
        try:
            summary = func(store, self.config, False)
        except Exception as exc:
            self._record(store, run_id, name, "failed", started, error=f"{type(exc).__name__}: {exc}")
            raise
        return self._record(store, run_id, name, "succeeded", started, summary=summary)

    def _close_interrupted(self, store: Store, job: str, lease_free: bool = False) -> None:
        """Record ``interrupted`` for runs of ``job`` left ``started``.

        Under the job's lease (the caller holds it) every such run is over. A lease-free job's runs may overlap,
        so only runs that cannot be running are closed: started on this host by a process that is gone, or
        started more than :data:`LEASE_FREE_STALE_SECONDS` ago (a snapshot takes seconds). A host name shared by
        two containers on one database can close the other's running snapshot early; its outcome row follows."""
        rows = store.adapter.query(
            f"SELECT toString(run_id), min(started_at), any(host), any(pid), "
            f"dateDiff('second', min(started_at), now()) FROM {self._table(store)} WHERE job = {{j:String}} "
            "GROUP BY run_id HAVING countIf(state != 'started') = 0",
            {"j": job},
        ).rows
        for run_id, started, host, pid, age in rows:
            if lease_free and not (
                int(age) > LEASE_FREE_STALE_SECONDS or (str(host) == self.host and not process_alive(int(pid)))
            ):
                continue
            self._record(store, str(run_id), job, "interrupted", started,
                         error="stopped without recording an outcome (killed, or lost its database)")  # fmt: skip

    def history(self, store: Store, job: str | None = None) -> list[RunRecord]:
        """Every recorded run row, oldest first (in ``seq`` order), optionally of one job."""
        columns = self._columns(store)
        if not columns:
            return []
        order = "seq, recorded_at" if "seq" in columns else "recorded_at"
        rows = store.adapter.query(
            "SELECT toString(run_id), job, toString(state), host, pid, started_at, finished_at, duration_ms, summary, "
            f"error FROM {self._table(store)} WHERE {{j:String}} = '' OR job = {{j:String}} ORDER BY {order}",
            {"j": job or ""},
        ).rows
        return [RunRecord(*row) for row in rows]
