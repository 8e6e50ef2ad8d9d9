"""The health checks: one :class:`Check` per thing the scaling guide says to watch.

Rules:

* Every check reads the server's own tables only. Log tables (query_log,
  part_log, asynchronous_metric_log) are read over a bounded window, filtered
  on ``event_date`` and ``event_time`` (their sort key), so the rows read do not
  grow with the age of the logs; the rest (parts, merges, mutations, disks,
  replicas) are in-memory state tables.
* Every health query carries ``log_comment = 'opik-store health'`` so it can
  be found in query_log, and the query-duration check leaves those out.
* A check whose source the server does not have (the embedded engine has no
  ``system.asynchronous_metrics``; a node without part_log) is ``unknown``,
  saying why; ``unknown`` never raises the exit code. A check whose query
  fails is ``unknown`` with the server's message.
* On the embedded engine ``run`` first asks for ``SYSTEM FLUSH LOGS`` (a
  reopened engine lists its logs only after one). Never on a server: a scrape
  every few seconds would force a new part into every log table each time, the
  very part pressure the ``parts`` check watches for; the server's own flush
  interval (7.5 s by default) is fresh enough.
* Statuses rank ok < warn < critical; the report's status is the worst one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_string
from opik_store.errors import OpikStoreError
from opik_store.maintenance.config_file import HealthConfig
from opik_store.maintenance.system_tables import SystemTables

LOG_COMMENT = "opik-store health"
STATUSES = ("ok", "warn", "critical")
RANK = {"unknown": -1, "ok": 0, "warn": 1, "critical": 2}
_SETTINGS = {"log_comment": LOG_COMMENT}
_USER_DATABASES = "database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema')"


@dataclass(frozen=True)
class Metric:
    """One number for Prometheus: ``opik_store_<name>{labels} value``."""

    name: str
    value: float
    help: str
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Check:
    """One line of the report: status, what was measured, the threshold, what to do."""

    name: str
    status: str  # ok | warn | critical | unknown
    value: str
    threshold: str
    action: str
    metrics: tuple[Metric, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "status": self.status,
            "value": self.value,
            "threshold": self.threshold,
            "action": self.action,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class HealthReport:
    checked_at: datetime
    checks: list[Check]

    @property
    def status(self) -> str:
        """The worst status of any check (``unknown`` counts as ok)."""
        worst = max((RANK[c.status] for c in self.checks), default=0)
        return STATUSES[max(worst, 0)]

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def as_json(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "status": self.status,
            "checks": [c.as_json() for c in self.checks],
        }


def _worst(*statuses: str) -> str:
    return max(statuses, key=lambda s: RANK[s])


def _above(value: float, warn: float, critical: float) -> str:
    return "critical" if value > critical else "warn" if value > warn else "ok"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


class Health:
    """Runs the checks against one server with the ``[health]`` thresholds."""

    def __init__(self, adapter: Adapter, config: HealthConfig | None = None, cluster: str | None = None) -> None:
        self.adapter = adapter
        self.config = config or HealthConfig()
        self.cluster = cluster
        self._tables: set[str] | None = None

    def _q(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.adapter.query(sql, params, settings=_SETTINGS).rows

    def _has(self, table: str) -> bool:
        if self._tables is None:
            self._tables = {str(r[0]) for r in self._q("SELECT name FROM system.tables WHERE database = 'system'")}
        return table in self._tables

    def run(self) -> HealthReport:
        """Every check, in a fixed order."""
        self._tables = None
        if self.adapter.spec.kind == "embedded":
            with contextlib.suppress(OpikStoreError):
                self.adapter.execute("SYSTEM FLUSH LOGS", settings=_SETTINGS)
        checks: list[Callable[[], Check]] = [
            self.cpu,
            self.memory_cpu_ratio,
            self.insert_rate,
            self.query_duration,
            self.parts,
            self.merges_mutations,
            self.disk,
            self.system_logs,
            self.replication,
        ]
        out = []
        for func in checks:
            name = func.__name__
            try:
                out.append(func())
            except OpikStoreError as exc:
                message = " ".join(str(exc).split())[:300]
                out.append(Check(name, "unknown", "query failed", "-", f"the server said: {message}"))
        return HealthReport(datetime.now(UTC), out)

    # -- CPU and memory -------------------------------------------------------------------------------------

    def _async_metrics(self, names: tuple[str, ...]) -> dict[str, float]:
        rows = self._q(
            "SELECT metric, value FROM system.asynchronous_metrics WHERE metric IN {m:Array(String)}",
            {"m": list(names)},
        )
        return {str(m): float(v) for m, v in rows}

    def cpu(self) -> Check:
        """CPU use now (user + system, normalized to all cores) and averaged over the window."""
        c = self.config
        threshold = f"average <= {c.cpu_warn_percent:g} %, never above {c.cpu_critical_percent:g} %"
        if not self._has("asynchronous_metrics"):
            return Check("cpu", "unknown", "not measured", threshold,
                         "this server (the embedded engine) has no system.asynchronous_metrics; "
                         "watch the host's CPU instead")  # fmt: skip
        names = ("OSUserTimeNormalized", "OSSystemTimeNormalized")
        now_values = self._async_metrics(names)
        if not now_values:
            return Check("cpu", "unknown", "not measured", threshold, "the server reports no OS CPU metrics")
        now = 100 * sum(now_values.values())
        average = None
        if self._has("asynchronous_metric_log"):
            average = self._q(
                "SELECT avg(v) FROM (SELECT event_time, sum(value) AS v FROM system.asynchronous_metric_log "
                "WHERE event_date >= toDate(now() - toIntervalMinute({w:UInt32})) "
                "AND event_time >= now() - toIntervalMinute({w:UInt32}) AND metric IN {m:Array(String)} "
                "GROUP BY event_time)",
                {"w": c.window_minutes, "m": list(names)},
            )[0][0]
        avg = None if average is None or average != average else 100 * float(average)
        status = _above(now, c.cpu_critical_percent, c.cpu_critical_percent)
        if avg is not None:
            status = _worst(status, _above(avg, c.cpu_warn_percent, c.cpu_critical_percent))
        window = f", {avg:.1f} % over {c.window_minutes} min" if avg is not None else ", no metric log for an average"
        metrics = [Metric("cpu_percent", now, "CPU use now, percent of all cores")]
        if avg is not None:
            metrics.append(Metric("cpu_average_percent", avg, "CPU use averaged over the window"))
        action = {
            "ok": "none",
            "warn": "sustained CPU above the guide's 10-20 % target: look at the slowest query shapes, "
            "merges, and whether the node needs more cores",
            "critical": "CPU above the 40-50 % the guide allows for spikes: find the heavy queries now "
            "(system.processes) and add capacity",
        }[status]
        return Check("cpu", status, f"{now:.1f} % now{window}", threshold, action, tuple(metrics))

    def memory_cpu_ratio(self) -> Check:
        """GiB of RAM per CPU core, against the guide's 4:1 (8:1 for large deployments)."""
        c = self.config
        threshold = f">= {c.memory_per_core_gib:g} GiB per core"
        if not self._has("asynchronous_metrics"):
            return Check("memory_cpu_ratio", "unknown", "not measured", threshold,
                         "this server (the embedded engine) has no system.asynchronous_metrics; "
                         "compare the host's RAM and cores by hand")  # fmt: skip
        m = self._async_metrics(("OSMemoryTotal", "CGroupMemoryTotal", "NumberOfCPUCores", "CGroupMaxCPU"))
        memory = m.get("CGroupMemoryTotal") or m.get("OSMemoryTotal")
        cores = m.get("CGroupMaxCPU") or m.get("NumberOfCPUCores")
        if not memory or not cores:
            return Check("memory_cpu_ratio", "unknown", "not measured", threshold,
                         "the server reports no memory or core count")  # fmt: skip
        ratio = memory / (1 << 30) / cores
        status = "warn" if ratio < c.memory_per_core_gib else "ok"
        action = (
            "none"
            if status == "ok"
            else "add memory (or use fewer, larger nodes): the guide sizes 4 GiB per core, 8 GiB for large deployments"
        )
        return Check("memory_cpu_ratio", status, f"{ratio:.1f} GiB per core ({_size(memory)}, {cores:g} cores)",
                     threshold, action, (Metric("memory_per_core_gib", ratio, "GiB of RAM per CPU core"),))  # fmt: skip

    # -- inserts ---------------------------------------------------------------------------------------------

    def insert_rate(self) -> Check:
        """Rows per minute inserted into user tables in the window, against the trailing average before it."""
        c = self.config
        threshold = (
            f"drop below the {c.trailing_minutes} min average: warn at {c.insert_drop_warn_percent:g} %, "
            f"critical at {c.insert_drop_critical_percent:g} %"
        )
        if not self._has("part_log"):
            return Check("insert_rate", "unknown", "not measured", threshold,
                         "enable <part_log> in the server config to measure the insert rate")  # fmt: skip
        recent, before, first = self._q(
            "SELECT sumIf(rows, event_time >= now() - toIntervalMinute({w:UInt32})), "
            "sumIf(rows, event_time < now() - toIntervalMinute({w:UInt32})), "
            "minIf(event_time, event_time < now() - toIntervalMinute({w:UInt32})) "
            "FROM system.part_log WHERE event_date >= toDate(now() - toIntervalMinute({t:UInt32})) "
            "AND event_time >= now() - toIntervalMinute({t:UInt32}) AND event_type = 'NewPart' AND " + _USER_DATABASES,
            {"w": c.window_minutes, "t": c.window_minutes + c.trailing_minutes},
        )[0]
        rate = float(recent) / c.window_minutes
        baseline_minutes = c.trailing_minutes
        if before and isinstance(first, datetime):
            start = first if first.tzinfo else first.replace(tzinfo=UTC)
            elapsed = (datetime.now(UTC) - start).total_seconds() / 60 - c.window_minutes
            baseline_minutes = int(min(max(elapsed, 1.0), c.trailing_minutes))
        baseline = float(before) / baseline_minutes
        queue = self._q("SELECT count() FROM system.asynchronous_inserts")[0][0] if self._has(
            "asynchronous_inserts") else 0  # fmt: skip
        metrics = (
            Metric("insert_rows_per_minute", rate, "rows inserted per minute over the window"),
            Metric("insert_rows_per_minute_trailing", baseline, "rows per minute over the trailing window"),
            Metric("async_insert_queue", float(queue), "pending asynchronous inserts"),
        )
        value = (
            f"{rate:,.0f} rows/min over {c.window_minutes} min (before: {baseline:,.0f}); async-insert queue {queue}"
        )
        if baseline <= 0:
            return Check("insert_rate", "ok", value + "; no trailing baseline", threshold, "none", metrics)
        drop = max(0.0, 100 * (1 - rate / baseline))
        status = _above(drop, c.insert_drop_warn_percent - 1e-9, c.insert_drop_critical_percent - 1e-9)
        action = "none" if status == "ok" else (
            f"inserts dropped {drop:.0f} %: check the ingesting service and its errors "
            "(system.query_log type = 'ExceptionWhileProcessing', query_kind = 'Insert')"
        )  # fmt: skip
        return Check("insert_rate", status, value + f"; drop {drop:.0f} %", threshold, action, metrics,
                     {"rows_per_minute": rate, "trailing_rows_per_minute": baseline, "drop_percent": drop})  # fmt: skip

    # -- queries ---------------------------------------------------------------------------------------------

    def query_duration(self) -> Check:
        """p50/p95/p99 of finished queries per user over the window, and the slowest query shapes."""
        c = self.config
        threshold = f"p95 <= {c.query_warn_seconds:g} s, p99 <= {c.query_critical_seconds:g} s (per user and shape)"
        if not self._has("query_log"):
            return Check("query_duration", "unknown", "not measured", threshold,
                         "enable <query_log> in the server config to measure query durations")  # fmt: skip
        where = (
            "event_date >= toDate(now() - toIntervalMinute({w:UInt32})) "
            "AND event_time >= now() - toIntervalMinute({w:UInt32}) AND type = 'QueryFinish' "
            "AND log_comment != {c:String}"
        )
        params = {"w": c.window_minutes, "c": LOG_COMMENT}
        users = self._q(
            "SELECT user, count(), quantiles(0.5, 0.95, 0.99)(query_duration_ms) FROM system.query_log "
            f"WHERE {where} GROUP BY user ORDER BY user",
            params,
        )
        shapes = self._q(
            "SELECT toString(normalized_query_hash), count(), quantile(0.95)(query_duration_ms), "
            "max(query_duration_ms), substring(any(query), 1, 160) FROM system.query_log "
            f"WHERE {where} GROUP BY normalized_query_hash ORDER BY 3 DESC LIMIT 5",
            params,
        )
        status = "ok"
        metrics: list[Metric] = []
        per_user = []
        for user, n, (p50, p95, p99) in users:
            status = _worst(status, "warn" if p95 / 1000 > c.query_warn_seconds else "ok",
                            "critical" if p99 / 1000 > c.query_critical_seconds else "ok")  # fmt: skip
            per_user.append({"user": user, "queries": int(n), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99})
            for q, v in (("0.5", p50), ("0.95", p95), ("0.99", p99)):
                metrics.append(Metric("query_duration_seconds", v / 1000, "query duration quantile over the window",
                                      (("user", str(user)), ("quantile", q))))  # fmt: skip
        slow = []
        for shape, n, p95, longest, sample in shapes:
            shape_status = _above(p95 / 1000, c.query_warn_seconds, c.query_critical_seconds)
            status = _worst(status, shape_status)
            slow.append({"normalized_query_hash": shape, "queries": int(n), "p95_ms": p95, "max_ms": int(longest),
                         "sample": " ".join(str(sample).split()), "status": shape_status})  # fmt: skip
        if not per_user:
            value = f"no finished queries in {c.window_minutes} min"
        else:
            value = "; ".join(
                f"{u['user']}: p50 {u['p50_ms'] / 1000:.2f} s, p95 {u['p95_ms'] / 1000:.2f} s, "
                f"p99 {u['p99_ms'] / 1000:.2f} s ({u['queries']} queries)"
                for u in per_user
            )
            if slow:
                value += f"; slowest shape p95 {slow[0]['p95_ms'] / 1000:.2f} s: {slow[0]['sample'][:60]}"
        action = "none" if status == "ok" else (
            "look at the slowest query shapes (--json lists them by normalized_query_hash): missing "
            "filters on the sort key, too-wide time ranges, or a query profile without limits"
        )  # fmt: skip
        return Check("query_duration", status, value, threshold, action, tuple(metrics),
                     {"users": per_user, "slowest_shapes": slow})  # fmt: skip

    # -- parts, merges, mutations ----------------------------------------------------------------------------

    def parts(self) -> Check:
        """The most active parts in any one partition."""
        c = self.config
        threshold = f"<= {c.parts_warn} active parts per partition (critical above {c.parts_critical})"
        rows = self._q(
            "SELECT database, table, partition_id, count() AS n FROM system.parts WHERE active "
            "GROUP BY database, table, partition_id ORDER BY n DESC LIMIT 5"
        )
        if not rows:
            return Check("parts", "ok", "no active parts", threshold, "none")
        database, table, partition, most = rows[0]
        status = _above(int(most), c.parts_warn, c.parts_critical)
        action = "none" if status == "ok" else (
            "too many small inserts: batch them (opik-store's BatchWriter) or use async_insert; "
            "the server delays inserts at 1000 parts per partition and refuses them at 3000"
        )  # fmt: skip
        metrics = tuple(
            Metric("active_parts", float(n), "active parts in the partition", (("database", str(d)),
                   ("table", str(t)), ("partition", str(p))))
            for d, t, p, n in rows
        )  # fmt: skip
        top = [{"database": d, "table": t, "partition_id": p, "active_parts": int(n)} for d, t, p, n in rows]
        return Check("parts", status, f"{most} in {database}.{table} partition {partition}", threshold, action,
                     metrics, {"partitions": top})  # fmt: skip

    def merges_mutations(self) -> Check:
        """Merges running longer than stuck_minutes, and mutations not done after it (or failing)."""
        c = self.config
        threshold = f"no merge or mutation running over {c.stuck_minutes} min, no failing mutation"
        seconds = c.stuck_minutes * 60
        merges = self._q(
            "SELECT database, table, round(elapsed), round(progress, 2) FROM system.merges "
            "WHERE elapsed > {s:UInt32} ORDER BY elapsed DESC LIMIT 10",
            {"s": seconds},
        )
        mutations = self._q(
            "SELECT database, table, mutation_id, toString(create_time), latest_fail_reason FROM system.mutations "
            "WHERE NOT is_done AND (create_time < now() - toIntervalSecond({s:UInt32}) OR latest_fail_reason != '') "
            "ORDER BY create_time LIMIT 10",
            {"s": seconds},
        )
        failing = [m for m in mutations if m[4]]
        status = "critical" if failing else "warn" if merges or mutations else "ok"
        value = f"{len(merges)} stuck merge(s), {len(mutations)} stuck mutation(s) ({len(failing)} failing)"
        action = "none" if status == "ok" else (
            "see system.mutations (latest_fail_reason) and system.merges; a failing mutation blocks later ones: "
            "fix its cause or KILL MUTATION"
        )  # fmt: skip
        details = {
            "merges": [{"database": d, "table": t, "elapsed_s": e, "progress": p} for d, t, e, p in merges],
            "mutations": [{"database": d, "table": t, "mutation_id": i, "created": ct, "fail_reason": f}
                          for d, t, i, ct, f in mutations],
        }  # fmt: skip
        metrics = (
            Metric("stuck_merges", float(len(merges)), "merges running longer than the stuck threshold"),
            Metric("stuck_mutations", float(len(mutations)), "mutations not done after the stuck threshold"),
        )
        return Check("merges_mutations", status, value, threshold, action, metrics, details)

    # -- disk and system logs --------------------------------------------------------------------------------

    def disk(self) -> Check:
        """Free space per disk, and the largest user tables."""
        c = self.config
        threshold = f"free >= {c.disk_free_warn_percent:g} % (critical below {c.disk_free_critical_percent:g} %)"
        disks = self._q("SELECT name, free_space, total_space FROM system.disks ORDER BY name")
        tables = self._q(
            "SELECT database, table, sum(bytes_on_disk) AS b FROM system.parts WHERE active AND "
            + _USER_DATABASES
            + " GROUP BY database, table ORDER BY b DESC LIMIT 10"
        )
        status = "ok"
        parts = []
        metrics: list[Metric] = []
        for name, free, total in disks:
            if not total:
                continue
            percent = 100 * float(free) / float(total)
            disk_status = ("critical" if percent < c.disk_free_critical_percent
                           else "warn" if percent < c.disk_free_warn_percent else "ok")  # fmt: skip
            status = _worst(status, disk_status)
            parts.append(f"{name}: {percent:.0f} % free ({_size(float(free))} of {_size(float(total))})")
            metrics.append(Metric("disk_free_bytes", float(free), "free bytes on the disk", (("disk", str(name)),)))
            metrics.append(Metric("disk_total_bytes", float(total), "size of the disk", (("disk", str(name)),)))
        for d, t, b in tables:
            metrics.append(Metric("table_bytes", float(b), "bytes on disk of a user table",
                                  (("database", str(d)), ("table", str(t)))))  # fmt: skip
        if tables:
            d, t, b = tables[0]
            parts.append(f"largest table {d}.{t} {_size(float(b))}")
        action = "none" if status == "ok" else (
            "free space: apply retention (opik-store retention apply), prune system logs "
            "(opik-store system-tables prune), or grow the disk; see README 'Troubleshooting a full disk'"
        )  # fmt: skip
        details = {"tables": [{"database": d, "table": t, "bytes_on_disk": int(b)} for d, t, b in tables]}
        return Check("disk", status, "; ".join(parts) or "no disk reports a size", threshold, action,
                     tuple(metrics), details)  # fmt: skip

    def system_logs(self) -> Check:
        """Sizes of the system log tables and whether each has a TTL (maintenance.system_tables)."""
        c = self.config
        threshold = f"every log table over {_size(c.system_log_warn_bytes)} has a TTL"
        tables = SystemTables(self.adapter).report(with_dates=False)
        unbounded = [t for t in tables if not t.ttl and t.bytes_on_disk > c.system_log_warn_bytes]
        no_ttl = [t.name for t in tables if not t.ttl]
        total = sum(t.bytes_on_disk for t in tables)
        status = "warn" if unbounded else "ok"
        value = f"{len(tables)} log table(s), {_size(float(total))}; without TTL: {', '.join(no_ttl) or 'none'}"
        action = "none" if status == "ok" else (
            f"{', '.join(t.name for t in unbounded)} grow without bound: opik-store system-tables prune now, "
            "and install opik-store system-tables render-config for durable retention"
        )  # fmt: skip
        metrics = tuple(
            Metric("system_log_bytes", float(t.bytes_on_disk), "bytes on disk of a system log table",
                   (("table", t.name), ("ttl", "yes" if t.ttl else "no")))
            for t in tables
        )  # fmt: skip
        details = {"tables": [{"table": t.name, "bytes_on_disk": t.bytes_on_disk, "rows": t.rows,
                               "ttl": t.ttl or None} for t in tables]}  # fmt: skip
        return Check("system_logs", status, value, threshold, action, metrics, details)

    # -- replication -----------------------------------------------------------------------------------------

    def replication(self) -> Check:
        """Per replicated table on every replica: queue size, delay, read-only state, Keeper session."""
        c = self.config
        threshold = (
            f"not read-only, delay <= {c.replica_delay_warn_seconds:g} s (critical above "
            f"{c.replica_delay_critical_seconds:g} s), queue <= {c.replica_queue_warn}"
        )
        if not self._has("replicas"):
            return Check("replication", "unknown", "not measured", threshold, "the server has no system.replicas")
        # On a cluster every replica answers (clusterAllReplicas); a replica that cannot be reached fails the
        # query, and the check says so as unknown with the server's message.
        source = (
            f"clusterAllReplicas({quote_string(self.cluster)}, system.replicas)" if self.cluster else "system.replicas"
        )
        rows = self._q(
            "SELECT concat(hostName(), ':', database), table, is_readonly, is_session_expired, queue_size, "
            f"absolute_delay FROM {source} ORDER BY absolute_delay DESC, queue_size DESC"
        )
        if not rows:
            where = f"cluster {self.cluster!r}" if self.cluster else "this node"
            return Check("replication", "ok", f"not replicated (no Replicated tables on {where})", threshold, "none")
        status = "ok"
        metrics: list[Metric] = []
        bad = []
        for database, table, readonly, expired, queue, delay in rows:
            s = "critical" if readonly or expired else _above(float(delay), c.replica_delay_warn_seconds,
                                                               c.replica_delay_critical_seconds)  # fmt: skip
            if int(queue) > c.replica_queue_warn:
                s = _worst(s, "warn")
            status = _worst(status, s)
            if s != "ok":
                bad.append(f"{database}.{table}")
            host, _, db = str(database).partition(":")
            labels = (("host", host), ("database", db), ("table", str(table)))
            metrics.append(Metric("replica_delay_seconds", float(delay), "replication delay", labels))
            metrics.append(Metric("replica_queue_size", float(queue), "replication queue size", labels))
            metrics.append(Metric("replica_readonly", float(bool(readonly)), "1 when the replica is read-only",
                                  labels))  # fmt: skip
        worst = rows[0]
        value = (f"{len(rows)} replicated table(s); most delayed {worst[0]}.{worst[1]}: {worst[5]} s, "
                 f"queue {worst[4]}; read-only: {sum(bool(r[2]) for r in rows)}")  # fmt: skip
        action = "none" if status == "ok" else (
            f"{', '.join(bad[:5])}: a read-only replica has lost Keeper (check Keeper and the server log); "
            "a growing delay or queue means fetches or merges cannot keep up"
        )  # fmt: skip
        return Check("replication", status, value, threshold, action, tuple(metrics))
