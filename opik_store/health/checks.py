"""The health checks: one :class:`Check` per thing the scaling guide says to watch.

Rules:

* Every check reads the server's own tables only, each named through
  ``Health.source``: ``system.<t>`` on one node; with a cluster,
  ``clusterAllReplicas(cluster, system.<t>)``, so every replica answers, with
  ``hostName()`` on every row and the result reported per host. A replica
  that cannot be reached fails the query and the check is ``unknown``.
* Log tables (query_log, part_log, asynchronous_metric_log) are read over a
  bounded window, filtered on ``event_date`` and ``event_time`` (their sort
  key), so the rows read do not grow with the age of the logs; the rest
  (parts, merges, mutations, disks, tables, replicas, asynchronous_metrics)
  are in-memory state tables.
* CPU and memory-to-CPU have two sources, one check: a server's own
  ``system.asynchronous_metrics`` (and ``asynchronous_metric_log`` for the
  window); on the embedded engine, which has none, this process, which *is*
  the engine (``health.host``). The check says which source it used.
* Every health query carries ``log_comment = 'opik-store health'`` so it can
  be found in query_log, and the query-duration check leaves those out.
* A check whose source the server does not have (a node without part_log) is
  ``unknown``, saying why, and does not raise the exit code. A check whose
  query fails (on a cluster: any replica that cannot be reached) is
  ``unknown`` with the server's message and makes the report at least
  ``warn``: a health run that could not look must not read as healthy.
* On the embedded engine ``run`` first asks for ``SYSTEM FLUSH LOGS`` (a
  reopened engine lists its logs only after one). Never on a server: a scrape
  every few seconds would force a new part into every log table each time, the
  very part pressure the ``parts`` check watches for; the server's own flush
  interval (7.5 s by default) is fresh enough.
* Statuses rank ok < warn < critical; the report's status is the worst one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_identifier, quote_string
from opik_store.errors import OpikStoreError
from opik_store.health import host
from opik_store.maintenance.config_file import HealthConfig
from opik_store.maintenance.system_tables import LOG_TABLE_PATTERN
from opik_store.schema.shapes import split_engine_full

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
    failed: bool = False  # its query failed (an unknown that raises the report to at least warn)

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
        """The worst status of any check (``unknown`` counts as ok, but a failed check as warn)."""
        worst = max((RANK["warn"] if c.failed else RANK[c.status] for c in self.checks), default=0)
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


#: The system tables the checks read, each named through :meth:`Health.source` only.
SYSTEM_TABLES = (
    "asynchronous_metrics", "asynchronous_metric_log", "part_log", "asynchronous_inserts", "query_log", "parts",
    "merges", "mutations", "disks", "tables", "replicas",
)  # fmt: skip
#: CPU of the server's cgroup (container) against its quota; preferred when the server reports them.
CGROUP_CPU = ("CGroupUserTimeNormalized", "CGroupSystemTimeNormalized")
#: CPU of the whole host, normalized to its cores (to CGroupMaxCPU when a quota is set).
OS_CPU = ("OSUserTimeNormalized", "OSSystemTimeNormalized")
_MEMORY = ("OSMemoryTotal", "CGroupMemoryTotal", "CGroupMaxCPU")


class Health:
    """Runs the checks against one server (or every replica of a cluster) with the ``[health]`` thresholds.

    ``cluster``: every check reads ``clusterAllReplicas(cluster, system.<table>)``
    with ``hostName()`` on each row, and reports per host (see :meth:`source`).
    ``cpu_sample_seconds``: how long the embedded engine's CPU is sampled for
    the "now" figure (a server measures its own, every second).
    """

    def __init__(
        self,
        adapter: Adapter,
        config: HealthConfig | None = None,
        cluster: str | None = None,
        cpu_sample_seconds: float = 0.5,
    ) -> None:
        self.adapter = adapter
        self.config = config or HealthConfig()
        self.cluster = cluster
        self.cpu_sample_seconds = cpu_sample_seconds
        self._tables: set[str] | None = None

    def source(self, table: str) -> str:
        """The one place a system table is named in a health query.

        One node: ``system.`t```. A cluster: ``clusterAllReplicas('c', system.`t`)``,
        so every replica answers; each query also selects ``hostName()`` (evaluated
        on the replica that produced the row) and the checks report per host. A
        replica that cannot be reached fails the query: the check is ``unknown``
        with the server's message, never silently partial.
        """
        if table not in SYSTEM_TABLES:
            raise ValueError(f"not a table the health checks read: {table!r}")
        name = f"system.{quote_identifier(table)}"
        return f"clusterAllReplicas({quote_string(self.cluster)}, {name})" if self.cluster else name

    def _q(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.adapter.query(sql, params, settings=_SETTINGS).rows

    def _has(self, table: str) -> bool:
        """Whether the connected node has ``system.<table>`` (replicas of one cluster are assumed alike)."""
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
                out.append(Check(name, "unknown", "query failed", "-", f"the server said: {message}", failed=True))
        return HealthReport(datetime.now(UTC), out)

    # -- CPU and memory -------------------------------------------------------------------------------------

    def _async_metrics(self, names: tuple[str, ...]) -> dict[str, dict[str, float]]:
        """host -> metric -> value, from every replica's asynchronous_metrics."""
        rows = self._q(
            f"SELECT hostName() AS host, metric, value FROM {self.source('asynchronous_metrics')} "
            "WHERE metric IN {m:Array(String)} ORDER BY host, metric",
            {"m": list(names)},
        )
        out: dict[str, dict[str, float]] = {}
        for name, metric, value in rows:
            out.setdefault(str(name), {})[str(metric)] = float(value)
        return out

    def _cpu_from_server(self) -> tuple[dict[str, tuple[float, float | None, str]], str]:
        """host -> (percent now, percent averaged over the window or None, metrics used), and the source text.

        Per host, the cgroup's own CPU (CGroupUserTimeNormalized + CGroupSystemTimeNormalized, against the
        container's quota) when the server reports it, else the host's (OSUserTimeNormalized +
        OSSystemTimeNormalized). The average is the mean of the same sum over the window's
        asynchronous_metric_log rows, one sum per event_time.
        """
        now = self._async_metrics(CGROUP_CPU + OS_CPU)
        average: dict[str, float] = {}
        if self._has("asynchronous_metric_log"):
            rows = self._q(
                "SELECT host, avg(if(cgroup_n > 0, cgroup, os)) FROM (SELECT hostName() AS host, event_time, "
                "sumIf(value, metric IN {cg:Array(String)}) AS cgroup, "
                "countIf(metric IN {cg:Array(String)}) AS cgroup_n, "
                "sumIf(value, metric IN {os:Array(String)}) AS os "
                f"FROM {self.source('asynchronous_metric_log')} "
                "WHERE event_date >= toDate(now() - toIntervalMinute({w:UInt32})) "
                "AND event_time >= now() - toIntervalMinute({w:UInt32}) AND metric IN {m:Array(String)} "
                "GROUP BY host, event_time) GROUP BY host ORDER BY host",
                {"w": self.config.window_minutes, "cg": list(CGROUP_CPU), "os": list(OS_CPU),
                 "m": list(CGROUP_CPU + OS_CPU)},
            )  # fmt: skip
            average = {str(h): 100 * float(v) for h, v in rows if v == v}
        out: dict[str, tuple[float, float | None, str]] = {}
        for name, values in now.items():
            names = CGROUP_CPU if any(n in values for n in CGROUP_CPU) else OS_CPU
            if not any(n in values for n in names):
                continue
            out[name] = (100 * sum(values.get(n, 0.0) for n in names), average.get(name), " + ".join(names))
        log = "asynchronous_metric_log" if self._has("asynchronous_metric_log") else "no metric log for an average"
        return out, f"server: asynchronous_metrics, {log}"

    def _cpu_of_this_process(self) -> tuple[dict[str, tuple[float, float | None, str]], str]:
        """The embedded engine: this process's CPU now, and the engine's own logged CPU over the window.

        Now: this process's CPU time over ``cpu_sample_seconds`` (every thread: the engine's pools and the
        host program), divided by the cores it may use (:func:`host.resources`). Window: the CPU the engine
        logged (ProfileEvents UserTimeMicroseconds + SystemTimeMicroseconds) for queries that finished in
        the window (query_log) and for background merges and mutations (part_log rows without a query_id;
        a merge run by a query is already in that query's figure), over window x cores. Work still running
        is not in the logs yet; a query that began before the window counts whole. The embedded engine
        has no replicas: with a cluster, only rows whose hostName() is this engine's count.
        """
        busy, _ = host.sample_cpu(self.cpu_sample_seconds)
        cores = host.resources().cores
        now = 100 * busy / cores
        c = self.config
        used = 0.0
        where = (
            "event_date >= toDate(now() - toIntervalMinute({w:UInt32})) "
            "AND event_time >= now() - toIntervalMinute({w:UInt32})"
        )
        cpu = "ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds']"
        name = str(self._q("SELECT hostName()")[0][0])
        for table, which in (("query_log", "type != 'QueryStart'"), ("part_log", "query_id = ''")):
            if self._has(table):
                rows = self._q(f"SELECT hostName() AS host, sum({cpu}) FROM {self.source(table)} WHERE {where} "
                               f"AND {which} GROUP BY host", {"w": c.window_minutes})  # fmt: skip
                used += sum(float(v or 0) for h, v in rows if str(h) == name)  # this engine's rows only
        average = 100 * used / 1e6 / (c.window_minutes * 60 * cores)
        return {name: (now, average, f"process CPU time over {self.cpu_sample_seconds:g} s")}, (
            f"embedded: this process (pid {os.getpid()}, {cores:g} cores) now, query_log + part_log CPU over the window"
        )

    def cpu(self) -> Check:
        """CPU use now and averaged over the window, per host, in percent of the cores available.

        Two sources, one check: a server's own asynchronous metrics (``_cpu_from_server``), or, on the
        embedded engine, this process (``_cpu_of_this_process``). Warn when the average is above
        cpu_warn_percent; critical when now or the average is above cpu_critical_percent.
        """
        c = self.config
        threshold = f"average <= {c.cpu_warn_percent:g} %, never above {c.cpu_critical_percent:g} %"
        if self._has("asynchronous_metrics"):
            hosts, source = self._cpu_from_server()
            if not hosts:
                return Check("cpu", "unknown", "not measured", threshold, "the server reports no OS CPU metrics",
                             details={"source": source})  # fmt: skip
        elif self.adapter.spec.kind == "embedded":
            hosts, source = self._cpu_of_this_process()
        else:
            return Check("cpu", "unknown", "not measured", threshold,
                         "this server has no system.asynchronous_metrics; watch the host's CPU instead")  # fmt: skip
        status = "ok"
        metrics: list[Metric] = []
        parts = []
        per_host = []
        for name, (now, avg, used) in sorted(hosts.items()):
            s = _above(now, c.cpu_critical_percent, c.cpu_critical_percent)
            if avg is not None:
                s = _worst(s, _above(avg, c.cpu_warn_percent, c.cpu_critical_percent))
            status = _worst(status, s)
            labels = (("host", name),)
            metrics.append(Metric("cpu_percent", now, "CPU use now, percent of the cores available", labels))
            window = ", no average (no metric log)"
            if avg is not None:
                metrics.append(Metric("cpu_average_percent", avg, "CPU use averaged over the window", labels))
                window = f", {avg:.1f} % over {c.window_minutes} min"
            parts.append(f"{name}: {now:.1f} % now{window}")
            per_host.append({"host": name, "now_percent": now, "average_percent": avg, "status": s, "from": used})
        action = {
            "ok": "none",
            "warn": "sustained CPU above the guide's 10-20 % target: look at the slowest query shapes, "
            "merges, and whether the node needs more cores",
            "critical": "CPU above the 40-50 % the guide allows for spikes: find the heavy queries now "
            "(system.processes) and add capacity",
        }[status]
        return Check("cpu", status, "; ".join(parts) + f" ({source})", threshold, action, tuple(metrics),
                     {"source": source, "hosts": per_host})  # fmt: skip

    def memory_cpu_ratio(self) -> Check:
        """GiB of RAM per CPU core, per host, against the guide's 4:1 (8:1 for large deployments).

        Server: memory is OSMemoryTotal lowered to CGroupMemoryTotal when that is set (0 means no limit);
        cores are CGroupMaxCPU when a quota is set, else the count of per-CPU OSUserTimeCPU<N> metrics.
        Embedded: this process's cores and memory (:func:`host.resources`, cgroup-aware).
        """
        c = self.config
        threshold = f">= {c.memory_per_core_gib:g} GiB per core"
        found: dict[str, tuple[float, float]] = {}
        if self._has("asynchronous_metrics"):
            source = "server: asynchronous_metrics"
            values = self._async_metrics(_MEMORY)
            cpus = {
                str(h): float(n)
                for h, n in self._q(
                    f"SELECT hostName() AS host, count() FROM {self.source('asynchronous_metrics')} "
                    "WHERE match(metric, '^OSUserTimeCPU[0-9]+$') GROUP BY host"
                )
            }
            for name in sorted(set(values) | set(cpus)):
                m = values.get(name, {})
                memory = m.get("OSMemoryTotal", 0.0)
                limit = m.get("CGroupMemoryTotal", 0.0)
                if limit > 0 and (not memory or limit < memory):
                    memory = limit
                cores = m.get("CGroupMaxCPU") or cpus.get(name, 0.0)
                if memory and cores:
                    found[name] = (memory, cores)
        elif self.adapter.spec.kind == "embedded":
            r = host.resources()
            source = f"embedded: this process (memory from {r.memory_source}; cores from {r.cores_source})"
            if r.memory_bytes and r.cores:
                found[str(self._q("SELECT hostName()")[0][0])] = (float(r.memory_bytes), r.cores)
        else:
            return Check("memory_cpu_ratio", "unknown", "not measured", threshold,
                         "this server has no system.asynchronous_metrics; compare the host's RAM and cores "
                         "by hand")  # fmt: skip
        if not found:
            return Check("memory_cpu_ratio", "unknown", "not measured", threshold,
                         "the server reports no memory or core count", details={"source": source})  # fmt: skip
        status = "ok"
        parts = []
        metrics = []
        per_host = []
        for name, (memory, cores) in sorted(found.items()):
            ratio = memory / (1 << 30) / cores
            s = "warn" if ratio < c.memory_per_core_gib else "ok"
            status = _worst(status, s)
            parts.append(f"{name}: {ratio:.1f} GiB per core ({_size(memory)}, {cores:g} cores)")
            metrics.append(Metric("memory_per_core_gib", ratio, "GiB of RAM per CPU core", (("host", name),)))
            per_host.append({"host": name, "memory_bytes": memory, "cores": cores, "gib_per_core": ratio, "status": s})
        action = (
            "none"
            if status == "ok"
            else "add memory (or use fewer, larger nodes): the guide sizes 4 GiB per core, 8 GiB for large deployments"
        )
        return Check("memory_cpu_ratio", status, "; ".join(parts) + f" ({source})", threshold, action,
                     tuple(metrics), {"source": source, "hosts": per_host})  # fmt: skip

    # -- inserts ---------------------------------------------------------------------------------------------

    def insert_rate(self) -> Check:
        """Rows per minute inserted into user tables in the window, against the trailing average before it.

        Per host (NewPart rows of each replica's part_log: a part is new where it was inserted, replicas
        that fetch it log DownloadPart), summed for the status: a cluster's inserts may move between
        replicas without dropping.
        """
        c = self.config
        threshold = (
            f"drop below the {c.trailing_minutes} min average: warn at {c.insert_drop_warn_percent:g} %, "
            f"critical at {c.insert_drop_critical_percent:g} %"
        )
        if not self._has("part_log"):
            return Check("insert_rate", "unknown", "not measured", threshold,
                         self._enable_advice("part_log", "the insert rate"))  # fmt: skip
        rows = self._q(
            "SELECT hostName() AS host, sumIf(rows, event_time >= now() - toIntervalMinute({w:UInt32})), "
            "sumIf(rows, event_time < now() - toIntervalMinute({w:UInt32})), "
            "minIf(event_time, event_time < now() - toIntervalMinute({w:UInt32})) "
            f"FROM {self.source('part_log')} WHERE event_date >= toDate(now() - toIntervalMinute({{t:UInt32}})) "
            "AND event_time >= now() - toIntervalMinute({t:UInt32}) AND event_type = 'NewPart' AND "
            + _USER_DATABASES
            + " GROUP BY host ORDER BY host",
            {"w": c.window_minutes, "t": c.window_minutes + c.trailing_minutes},
        )
        recent = sum(int(r[1]) for r in rows)
        before = sum(int(r[2]) for r in rows)
        firsts = [r[3] for r in rows if int(r[2]) and isinstance(r[3], datetime)]
        rate = float(recent) / c.window_minutes
        baseline_minutes = c.trailing_minutes
        if before and firsts:
            first = min(firsts)
            start = first if first.tzinfo else first.replace(tzinfo=UTC)
            elapsed = (datetime.now(UTC) - start).total_seconds() / 60 - c.window_minutes
            baseline_minutes = int(min(max(elapsed, 1.0), c.trailing_minutes))
        baseline = float(before) / baseline_minutes
        queues: dict[str, int] = {}
        if self._has("asynchronous_inserts"):
            sql = f"SELECT hostName() AS host, count() FROM {self.source('asynchronous_inserts')} GROUP BY host"
            queues = {str(h): int(n) for h, n in self._q(sql)}
        queue = sum(queues.values())
        metrics = [
            Metric("insert_rows_per_minute", rate, "rows inserted per minute over the window"),
            Metric("insert_rows_per_minute_trailing", baseline, "rows per minute over the trailing window"),
            Metric("async_insert_queue", float(queue), "pending asynchronous inserts"),
        ]
        per_host = []
        for name, r_recent, r_before, _ in rows:
            host_rate = int(r_recent) / c.window_minutes
            per_host.append({"host": str(name), "rows_per_minute": host_rate, "trailing_rows": int(r_before),
                             "async_insert_queue": queues.get(str(name), 0)})  # fmt: skip
            help_text = "rows inserted per minute over the window on one host"
            metrics.append(Metric("insert_rows_per_minute_host", host_rate, help_text, (("host", str(name)),)))
        value = (
            f"{rate:,.0f} rows/min over {c.window_minutes} min (before: {baseline:,.0f}); async-insert queue {queue}"
        )
        if len(per_host) > 1:
            value += " (" + ", ".join(f"{h['host']}: {h['rows_per_minute']:,.0f}" for h in per_host) + ")"
        details: dict[str, Any] = {"rows_per_minute": rate, "trailing_rows_per_minute": baseline, "hosts": per_host}
        if baseline <= 0:
            return Check("insert_rate", "ok", value + "; no trailing baseline", threshold, "none", tuple(metrics),
                         details)  # fmt: skip
        drop = max(0.0, 100 * (1 - rate / baseline))
        status = _above(drop, c.insert_drop_warn_percent - 1e-9, c.insert_drop_critical_percent - 1e-9)
        action = "none" if status == "ok" else (
            f"inserts dropped {drop:.0f} %: check the ingesting service and its errors "
            "(system.query_log type = 'ExceptionWhileProcessing', query_kind = 'Insert')"
        )  # fmt: skip
        return Check("insert_rate", status, value + f"; drop {drop:.0f} %", threshold, action, tuple(metrics),
                     {**details, "drop_percent": drop})  # fmt: skip

    # -- queries ---------------------------------------------------------------------------------------------

    def _enable_advice(self, log: str, what: str) -> str:
        """How to get ``log`` on this kind of server, to measure ``what``."""
        if self.adapter.spec.kind == "embedded":
            return (f"the embedded engine keeps no {log} unless its config file enables <{log}> "
                    "(--url 'chdb:PATH?config-file=FILE'); on a development box it can stay unknown")  # fmt: skip
        return f"enable <{log}> in the server config to measure {what}"

    def query_duration(self) -> Check:
        """p50/p95/p99 of finished queries per host and user over the window, and the slowest query shapes."""
        c = self.config
        threshold = f"p95 <= {c.query_warn_seconds:g} s, p99 <= {c.query_critical_seconds:g} s (per user and shape)"
        if not self._has("query_log"):
            return Check("query_duration", "unknown", "not measured", threshold,
                         self._enable_advice("query_log", "query durations"))  # fmt: skip
        where = (
            "event_date >= toDate(now() - toIntervalMinute({w:UInt32})) "
            "AND event_time >= now() - toIntervalMinute({w:UInt32}) AND type = 'QueryFinish' "
            "AND log_comment != {c:String}"
        )
        params = {"w": c.window_minutes, "c": LOG_COMMENT}
        users = self._q(
            "SELECT hostName() AS host, user, count(), quantiles(0.5, 0.95, 0.99)(query_duration_ms) "
            f"FROM {self.source('query_log')} WHERE {where} GROUP BY host, user ORDER BY host, user",
            params,
        )
        shapes = self._q(
            "SELECT toString(normalized_query_hash), count(), quantile(0.95)(query_duration_ms), "
            "max(query_duration_ms), substring(any(query), 1, 160), arraySort(groupUniqArray(hostName())) "
            f"FROM {self.source('query_log')} WHERE {where} GROUP BY normalized_query_hash ORDER BY 3 DESC LIMIT 5",
            params,
        )
        status = "ok"
        metrics: list[Metric] = []
        per_user = []
        for name, user, n, (p50, p95, p99) in users:
            status = _worst(status, "warn" if p95 / 1000 > c.query_warn_seconds else "ok",
                            "critical" if p99 / 1000 > c.query_critical_seconds else "ok")  # fmt: skip
            per_user.append({"host": str(name), "user": user, "queries": int(n), "p50_ms": p50, "p95_ms": p95,
                             "p99_ms": p99})  # fmt: skip
            for q, v in (("0.5", p50), ("0.95", p95), ("0.99", p99)):
                metrics.append(Metric("query_duration_seconds", v / 1000, "query duration quantile over the window",
                                      (("host", str(name)), ("user", str(user)), ("quantile", q))))  # fmt: skip
        slow = []
        for shape, n, p95, longest, sample, hosts in shapes:
            shape_status = _above(p95 / 1000, c.query_warn_seconds, c.query_critical_seconds)
            status = _worst(status, shape_status)
            slow.append({"normalized_query_hash": shape, "queries": int(n), "p95_ms": p95, "max_ms": int(longest),
                         "sample": " ".join(str(sample).split()), "status": shape_status,
                         "hosts": [str(h) for h in hosts]})  # fmt: skip
        if not per_user:
            value = f"no finished queries in {c.window_minutes} min"
        else:
            value = "; ".join(
                f"{u['host']} {u['user']}: p50 {u['p50_ms'] / 1000:.2f} s, p95 {u['p95_ms'] / 1000:.2f} s, "
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
        """The most active parts in any one partition, on any host."""
        c = self.config
        threshold = f"<= {c.parts_warn} active parts per partition (critical above {c.parts_critical})"
        rows = self._q(
            f"SELECT hostName() AS host, database, table, partition_id, count() AS n FROM {self.source('parts')} "
            "WHERE active GROUP BY host, database, table, partition_id ORDER BY n DESC, host LIMIT 5"
        )
        if not rows:
            return Check("parts", "ok", "no active parts", threshold, "none")
        name, database, table, partition, most = rows[0]
        status = _above(int(most), c.parts_warn, c.parts_critical)
        action = "none" if status == "ok" else (
            "too many small inserts: batch them (opik-store's BatchWriter) or use async_insert; "
            "the server delays inserts at 1000 parts per partition and refuses them at 3000"
        )  # fmt: skip
        metrics = tuple(
            Metric("active_parts", float(n), "active parts in the partition", (("host", str(h)),
                   ("database", str(d)), ("table", str(t)), ("partition", str(p))))
            for h, d, t, p, n in rows
        )  # fmt: skip
        top = [{"host": str(h), "database": d, "table": t, "partition_id": p, "active_parts": int(n)}
               for h, d, t, p, n in rows]  # fmt: skip
        return Check("parts", status, f"{most} in {database}.{table} partition {partition} on {name}", threshold,
                     action, metrics, {"partitions": top})  # fmt: skip

    def merges_mutations(self) -> Check:
        """Merges running longer than stuck_minutes, and mutations not done after it (or failing), per host.

        A stuck merge or mutation warns; a mutation with a failure reason is critical.
        """
        c = self.config
        threshold = f"no merge or mutation running over {c.stuck_minutes:g} min, no failing mutation"
        seconds = c.stuck_minutes * 60
        merges = self._q(
            "SELECT hostName() AS host, database, table, round(elapsed), round(progress, 2), is_mutation "
            f"FROM {self.source('merges')} WHERE elapsed > {{s:Float64}} ORDER BY elapsed DESC LIMIT 10",
            {"s": seconds},
        )
        mutations = self._q(
            "SELECT hostName() AS host, database, table, mutation_id, toString(create_time), latest_fail_reason "
            f"FROM {self.source('mutations')} WHERE NOT is_done AND (create_time < now() - "
            "toIntervalSecond({s:UInt32}) OR latest_fail_reason != '') ORDER BY create_time LIMIT 10",
            {"s": max(1, round(seconds))},
        )
        failing = [m for m in mutations if m[5]]
        status = "critical" if failing else "warn" if merges or mutations else "ok"
        value = f"{len(merges)} stuck merge(s), {len(mutations)} stuck mutation(s) ({len(failing)} failing)"
        if merges:
            h, d, t, e, _, _ = merges[0]
            value += f"; longest merge {d}.{t} on {h}: {e:g} s"
        action = "none" if status == "ok" else (
            "see system.mutations (latest_fail_reason) and system.merges; a failing mutation blocks later ones: "
            "fix its cause or KILL MUTATION"
        )  # fmt: skip
        details = {
            "merges": [{"host": str(h), "database": d, "table": t, "elapsed_s": e, "progress": p,
                        "is_mutation": bool(m)} for h, d, t, e, p, m in merges],
            "mutations": [{"host": str(h), "database": d, "table": t, "mutation_id": i, "created": ct,
                           "fail_reason": f} for h, d, t, i, ct, f in mutations],
        }  # fmt: skip
        metrics = (
            Metric("stuck_merges", float(len(merges)), "merges running longer than the stuck threshold"),
            Metric("stuck_mutations", float(len(mutations)), "mutations not done after the stuck threshold"),
        )
        return Check("merges_mutations", status, value, threshold, action, metrics, details)

    # -- disk and system logs --------------------------------------------------------------------------------

    def disk(self) -> Check:
        """Free space per disk on every host, and the largest user tables."""
        c = self.config
        threshold = f"free >= {c.disk_free_warn_percent:g} % (critical below {c.disk_free_critical_percent:g} %)"
        disks = self._q(
            f"SELECT hostName() AS host, name, free_space, total_space FROM {self.source('disks')} ORDER BY host, name"
        )
        tables = self._q(
            f"SELECT hostName() AS host, database, table, sum(bytes_on_disk) AS b FROM {self.source('parts')} "
            "WHERE active AND " + _USER_DATABASES + " GROUP BY host, database, table ORDER BY b DESC LIMIT 10"
        )
        many = len({str(r[0]) for r in disks}) > 1
        status = "ok"
        parts = []
        metrics: list[Metric] = []
        for h, name, free, total in disks:
            if not total:
                continue
            percent = 100 * float(free) / float(total)
            disk_status = ("critical" if percent < c.disk_free_critical_percent
                           else "warn" if percent < c.disk_free_warn_percent else "ok")  # fmt: skip
            status = _worst(status, disk_status)
            where = f"{h} {name}" if many else str(name)
            parts.append(f"{where}: {percent:.0f} % free ({_size(float(free))} of {_size(float(total))})")
            labels = (("host", str(h)), ("disk", str(name)))
            metrics.append(Metric("disk_free_bytes", float(free), "free bytes on the disk", labels))
            metrics.append(Metric("disk_total_bytes", float(total), "size of the disk", labels))
        for h, d, t, b in tables:
            metrics.append(Metric("table_bytes", float(b), "bytes on disk of a user table",
                                  (("host", str(h)), ("database", str(d)), ("table", str(t)))))  # fmt: skip
        if tables:
            h, d, t, b = tables[0]
            parts.append(f"largest table {d}.{t} {_size(float(b))}" + (f" on {h}" if many else ""))
        action = "none" if status == "ok" else (
            "free space: apply retention (opik-store retention apply), prune system logs "
            "(opik-store system-tables prune), or grow the disk; see README 'Troubleshooting a full disk'"
        )  # fmt: skip
        details = {
            "disks": [{"host": str(h), "disk": n, "free_bytes": int(f), "total_bytes": int(t)} for h, n, f, t in disks],
            "tables": [{"host": str(h), "database": d, "table": t, "bytes_on_disk": int(b)} for h, d, t, b in tables],
        }
        return Check("disk", status, "; ".join(parts) or "no disk reports a size", threshold, action,
                     tuple(metrics), details)  # fmt: skip

    def system_logs(self) -> Check:
        """Sizes of the system log tables on every host and whether each has a TTL.

        The log tables are system.tables names ending in ``_log`` (or a rotated ``_log_N``) with a
        MergeTree engine; the TTL is read from engine_full; sizes are their active parts.
        """
        c = self.config
        threshold = f"every log table over {_size(c.system_log_warn_bytes)} has a TTL"
        tables = self._q(
            f"SELECT hostName() AS host, name, engine_full FROM {self.source('tables')} WHERE database = 'system' "
            "AND match(name, {re:String}) AND engine LIKE '%MergeTree' ORDER BY host, name",
            {"re": LOG_TABLE_PATTERN},
        )
        sizes = {
            (str(h), str(t)): (int(r), int(b))
            for h, t, r, b in self._q(
                f"SELECT hostName() AS host, table, sum(rows), sum(bytes_on_disk) FROM {self.source('parts')} "
                "WHERE database = 'system' AND active GROUP BY host, table"
            )
        }
        found: list[dict[str, Any]] = []
        for h, name, engine_full in tables:
            rows, size = sizes.get((str(h), str(name)), (0, 0))
            ttl = split_engine_full(str(engine_full))[2].get("TTL", "")
            found.append({"host": str(h), "table": str(name), "bytes_on_disk": size, "rows": rows, "ttl": ttl or None})
        many = len({t["host"] for t in found}) > 1

        def label(t: dict[str, Any]) -> str:
            return f"{t['host']}:{t['table']}" if many else str(t["table"])

        unbounded = [t for t in found if not t["ttl"] and t["bytes_on_disk"] > c.system_log_warn_bytes]
        no_ttl = sorted({label(t) for t in found if not t["ttl"]})
        total = sum(t["bytes_on_disk"] for t in found)
        status = "warn" if unbounded else "ok"
        value = f"{len(found)} log table(s), {_size(float(total))}; without TTL: {', '.join(no_ttl) or 'none'}"
        action = "none" if status == "ok" else (
            f"{', '.join(label(t) for t in unbounded)} grow without bound: opik-store system-tables prune now, "
            "and install opik-store system-tables render-config for durable retention"
        )  # fmt: skip
        metrics = tuple(
            Metric("system_log_bytes", float(t["bytes_on_disk"]), "bytes on disk of a system log table",
                   (("host", t["host"]), ("table", t["table"]), ("ttl", "yes" if t["ttl"] else "no")))
            for t in found
        )  # fmt: skip
        return Check("system_logs", status, value, threshold, action, metrics, {"tables": found})

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
        rows = self._q(
            "SELECT hostName() AS host, database, table, is_readonly, is_session_expired, queue_size, "
            f"absolute_delay FROM {self.source('replicas')} ORDER BY absolute_delay DESC, queue_size DESC"
        )
        if not rows:
            where = f"cluster {self.cluster!r}" if self.cluster else "this node"
            return Check("replication", "ok", f"not replicated (no Replicated tables on {where})", threshold, "none")
        status = "ok"
        metrics: list[Metric] = []
        bad = []
        for name, database, table, readonly, expired, queue, delay in rows:
            s = "critical" if readonly or expired else _above(float(delay), c.replica_delay_warn_seconds,
                                                               c.replica_delay_critical_seconds)  # fmt: skip
            if int(queue) > c.replica_queue_warn:
                s = _worst(s, "warn")
            status = _worst(status, s)
            if s != "ok":
                bad.append(f"{name}:{database}.{table}")
            labels = (("host", str(name)), ("database", str(database)), ("table", str(table)))
            metrics.append(Metric("replica_delay_seconds", float(delay), "replication delay", labels))
            metrics.append(Metric("replica_queue_size", float(queue), "replication queue size", labels))
            metrics.append(Metric("replica_readonly", float(bool(readonly)), "1 when the replica is read-only",
                                  labels))  # fmt: skip
        worst = rows[0]
        value = (f"{len(rows)} replicated table(s); most delayed {worst[0]}:{worst[1]}.{worst[2]}: {worst[6]} s, "
                 f"queue {worst[5]}; read-only: {sum(bool(r[3]) for r in rows)}")  # fmt: skip
        action = "none" if status == "ok" else (
            f"{', '.join(bad[:5])}: a read-only replica has lost Keeper (check Keeper and the server log); "
            "a growing delay or queue means fetches or merges cannot keep up"
        )  # fmt: skip
        return Check("replication", status, value, threshold, action, tuple(metrics))
