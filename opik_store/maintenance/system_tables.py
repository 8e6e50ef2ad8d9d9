"""Bounding ClickHouse's own log tables (system.query_log, part_log, opentelemetry_span_log, ...).

Rules this module keeps:

* It only ever touches **log tables**: tables in the ``system`` database whose
  name is ``<something>_log`` (or a rotated ``<something>_log_<N>`` left by
  the server after a config change), and whose engine is a MergeTree. Other
  system tables (``System*`` engines, e.g. ``user_query_log``) and every user
  table are out of reach; names given with ``--tables`` are checked against
  that set.
* Rotated leftovers are pruned only when asked (``include_rotated``).
* Pruning drops whole partitions that are entirely older than the cutoff. The
  one partition that straddles the cutoff gets a delete bounded to that
  partition (``ALTER ... DELETE IN PARTITION ... WHERE date < cutoff``).
* A TTL set with ALTER on a system table lasts only until the server restarts
  or its log config changes: the server then renames the table to ``X_0`` and
  recreates it from config. ``prune`` says so every time it sets one. Durable
  retention is the ``config.d`` file from :func:`render_config`.
* On a cluster, log tables are per node (never replicated), so
  :func:`prune_every_node` prunes each host ``system.clusters`` lists, one
  connection each (an ALTER on a node's own system table cannot travel
  through ``clusterAllReplicas``); a host that cannot be reached is reported
  by name and the others are still pruned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from opik_store.engine.adapter import Adapter
from opik_store.engine.hosts import ClusterHost, HostOutcome, cluster_hosts, fans_out, on_every_host
from opik_store.engine.quoting import quote_identifier, quote_string
from opik_store.errors import ConfigError
from opik_store.maintenance.config_file import MAX_DAYS
from opik_store.schema.shapes import split_engine_full

#: What makes a system table a log table, for ``match(name, ...)`` in SQL: ``*_log`` or a rotated ``*_log_N``.
LOG_TABLE_PATTERN = "_log(_[0-9]+)?$"
_LOG_NAME = re.compile(r"^[a-z0-9_]+_log(?:_(\d+))?$")
RESTART_WARNING = (
    "a TTL set with ALTER on a system table lasts until the next server restart or log-config change "
    "(the server then renames the table to <name>_0 and recreates it from its config). "
    "For durable retention install the file from `opik-store system-tables render-config`."
)

#: Logs render_config uses without a server to ask (--offline): the ones a default server writes.
COMMON_LOGS = (
    "query_log", "part_log", "trace_log", "text_log", "metric_log", "asynchronous_metric_log",
    "processors_profile_log", "opentelemetry_span_log",
)  # fmt: skip

#: Log tables render_config knows, with their date column; opentelemetry_span_log is configured with <engine>.
KNOWN_LOGS: dict[str, str] = {
    "query_log": "event_date",
    "query_thread_log": "event_date",
    "query_views_log": "event_date",
    "query_metric_log": "event_date",
    "part_log": "event_date",
    "trace_log": "event_date",
    "text_log": "event_date",
    "metric_log": "event_date",
    "asynchronous_metric_log": "event_date",
    "latency_log": "event_date",
    "error_log": "event_date",
    "processors_profile_log": "event_date",
    "session_log": "event_date",
    "zookeeper_log": "event_date",
    "transactions_info_log": "event_date",
    "filesystem_cache_log": "event_date",
    "asynchronous_insert_log": "event_date",
    "backup_log": "event_date",
    "blob_storage_log": "event_date",
    "s3queue_log": "event_date",
    "crash_log": "event_date",
    "opentelemetry_span_log": "finish_date",
}
OTEL_ENGINE = "MergeTree PARTITION BY toYYYYMM(finish_date) ORDER BY (finish_date, finish_time_us)"


def _servers_own(name: str, comment: str) -> bool:
    """Whether ``system.<name>`` is one of the server's own log tables, not a user's table named like one: a name
    the server uses for a log (rotated leftovers included), or any table the server described with a comment
    (every log table it creates carries one, 23.x on; a log newer than KNOWN_LOGS is found that way)."""
    match = _LOG_NAME.match(name)
    base = name[: match.start(1) - 1] if match and match.group(1) else name
    return base in KNOWN_LOGS or bool(comment.strip())


@dataclass(frozen=True)
class LogTable:
    """One log table as it stands."""

    name: str
    rotated: bool
    engine: str
    partition_key: str
    date_column: str | None
    ttl: str
    rows: int
    bytes_on_disk: int
    oldest: date | None
    newest: date | None

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["oldest"] = self.oldest.isoformat() if self.oldest else None
        out["newest"] = self.newest.isoformat() if self.newest else None
        return out


@dataclass
class PruneAction:
    table: str
    kind: str  # drop_partition | delete_in_partition | set_ttl
    sql: str
    rows: int = 0
    bytes_on_disk: int = 0


@dataclass
class PruneReport:
    keep_days: int
    cutoff: date
    actions: list[PruneAction] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "keep_days": self.keep_days,
            "cutoff": self.cutoff.isoformat(),
            "dry_run": self.dry_run,
            "actions": [a.__dict__ for a in self.actions],
            "skipped": self.skipped,
            "warnings": self.warnings,
        }


class SystemTables:
    """Report on and prune the server's log tables."""

    def __init__(self, adapter: Adapter, say: Callable[[str], None] | None = None) -> None:
        self.adapter = adapter
        self.say = say or (lambda _m: None)

    def report(self, with_dates: bool = True) -> list[LogTable]:
        """Every log table (rotated leftovers included) with size, date range and TTL.

        ``with_dates=False`` skips the oldest/newest day (a min/max over each table): sizes and TTLs
        then come from system.tables and system.parts only, whatever the size of the logs.
        """
        has_comment = self.adapter.query(
            "SELECT count() FROM system.columns WHERE database = 'system' AND table = 'tables' AND name = 'comment'"
        ).scalar()
        comment = "comment" if has_comment else "''"
        tables = [
            (name, engine, engine_full, partition_key)
            for name, engine, engine_full, partition_key, note in self.adapter.query(
                f"SELECT name, engine, engine_full, partition_key, {comment} FROM system.tables "
                "WHERE database = 'system' AND match(name, {re:String}) AND engine LIKE '%MergeTree' ORDER BY name",
                {"re": LOG_TABLE_PATTERN},
            ).rows
            if _servers_own(str(name), str(note))
        ]
        sizes = {
            t: (int(r), int(b))
            for t, r, b in self.adapter.query(
                "SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts "
                "WHERE database = 'system' AND active GROUP BY table"
            ).rows
        }
        dates = {
            t: c
            for t, c in self.adapter.query(
                "SELECT table, name FROM system.columns WHERE database = 'system' AND type = 'Date' "
                "AND name IN ('event_date', 'finish_date')"
            ).rows
        }
        out = []
        for name, engine, engine_full, partition_key in tables:
            match = _LOG_NAME.match(name)
            if not match:
                continue
            date_column = dates.get(name)
            oldest = newest = None
            if with_dates and date_column and sizes.get(name, (0, 0))[0]:
                oldest, newest = self.adapter.query(
                    f"SELECT min({quote_identifier(date_column)}), max({quote_identifier(date_column)}) "
                    f"FROM system.{quote_identifier(name)}"
                ).rows[0]
            rows, size = sizes.get(name, (0, 0))
            out.append(
                LogTable(
                    name=name,
                    rotated=match.group(1) is not None,
                    engine=engine,
                    partition_key=partition_key,
                    date_column=date_column,
                    ttl=split_engine_full(engine_full)[2].get("TTL", ""),
                    rows=rows,
                    bytes_on_disk=size,
                    oldest=_as_date(oldest),
                    newest=_as_date(newest),
                )
            )
        return out

    def select(self, names: Iterable[str] | None, include_rotated: bool) -> list[LogTable]:
        """The log tables to act on; names that are not log tables are refused, naming them."""
        tables = self.report()
        by_name = {t.name: t for t in tables}
        if names:
            wanted = list(dict.fromkeys(names))
            unknown = [n for n in wanted if n not in by_name]
            if unknown:
                available = ", ".join(sorted(by_name)) or "none"
                raise ConfigError(
                    f"not a log table in this server's system database: {', '.join(unknown)} (log tables: {available})"
                )
            chosen = [by_name[n] for n in wanted]
            rotated = [t.name for t in chosen if t.rotated]
            if rotated and not include_rotated:
                raise ConfigError(f"{', '.join(rotated)}: rotated leftovers are pruned only with --include-rotated")
            return chosen
        return [t for t in tables if include_rotated or not t.rotated]

    def prune(
        self,
        keep_days: int,
        names: Iterable[str] | None = None,
        include_rotated: bool = False,
        set_ttl: bool = True,
        dry_run: bool = False,
    ) -> PruneReport:
        """Remove rows older than ``keep_days`` days from the chosen log tables."""
        if keep_days < 1:
            raise ConfigError(f"keep-days must be at least 1 (got {keep_days}); 0 or less would delete everything")
        if keep_days > MAX_DAYS:
            raise ConfigError(f"keep-days must be at most {MAX_DAYS:,} (about 27 years; got {keep_days:,})")
        cutoff = datetime.now(UTC).date() - timedelta(days=keep_days)
        report = PruneReport(keep_days=keep_days, cutoff=cutoff, dry_run=dry_run)
        for table in self.select(names, include_rotated):
            if not table.date_column:
                report.skipped.append(f"{table.name}: no event_date/finish_date column")
                continue
            report.actions.extend(self._plan_table(table, cutoff, keep_days, set_ttl and not table.rotated))
        if any(a.kind == "set_ttl" for a in report.actions):
            report.warnings.append(RESTART_WARNING)
        if dry_run:
            return report
        for action in report.actions:
            self.say(f"{action.table}: {action.kind} ({action.rows} rows)")
            settings = {"mutations_sync": "2"} if action.kind == "delete_in_partition" else {}
            if action.kind == "set_ttl":
                settings = {"materialize_ttl_after_modify": "0"}
            self.adapter.execute(action.sql, settings=settings)
        return report

    def _plan_table(self, table: LogTable, cutoff: date, keep_days: int, set_ttl: bool) -> list[PruneAction]:
        assert table.date_column
        name = f"system.{quote_identifier(table.name)}"
        column = quote_identifier(table.date_column)
        parts = self.adapter.query(
            "SELECT partition_id, min(min_date), max(max_date), sum(rows), sum(bytes_on_disk) FROM system.parts "
            "WHERE database = 'system' AND table = {t:String} AND active GROUP BY partition_id ORDER BY partition_id",
            {"t": table.name},
        ).rows
        actions: list[PruneAction] = []
        for pid, low, high, rows, size in parts:
            low, high = _as_date(low), _as_date(high)
            has_dates = low is not None and high is not None and high.year > 1970
            if has_dates and high is not None and high < cutoff:
                sql = f"ALTER TABLE {name} DROP PARTITION ID {quote_string(pid)}"
                actions.append(PruneAction(table.name, "drop_partition", sql, int(rows), int(size)))
                continue
            old = int(
                self.adapter.query(
                    f"SELECT count() FROM {name} WHERE _partition_id = {{p:String}} AND {column} < {{c:Date}}",
                    {"p": pid, "c": cutoff.isoformat()},
                ).scalar()
            )
            if old:
                sql = (
                    f"ALTER TABLE {name} DELETE IN PARTITION ID {quote_string(pid)} "
                    f"WHERE {column} < toDate({quote_string(cutoff.isoformat())})"
                )
                actions.append(PruneAction(table.name, "delete_in_partition", sql, old))
        wanted_ttl = f"{table.date_column} + toIntervalDay({keep_days})"
        if set_ttl and table.ttl != wanted_ttl:
            sql = f"ALTER TABLE {name} MODIFY TTL {column} + INTERVAL {keep_days} DAY"
            actions.append(PruneAction(table.name, "set_ttl", sql))
        return actions


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.strptime(str(value)[:10], "%Y-%m-%d").date()


def render_config(keep_days: int, tables: Iterable[str] | None = None) -> str:
    """The ``config.d`` XML that gives each log table a durable TTL of ``keep_days`` days.

    Only the named logs get a section: a section enables its log, so a log the
    operator removed must not appear (the CLI passes the logs the server has).
    Logs configured with ``<partition_by>`` (most) get a ``<ttl>`` element.
    opentelemetry_span_log is configured with an ``<engine>`` in ClickHouse's
    default config, and a ``<ttl>`` next to an ``<engine>`` is a start-up
    error (ClickHouse #88366), so its TTL goes inside a full ``<engine>``.
    """
    if not 1 <= keep_days <= MAX_DAYS:
        raise ConfigError(f"keep-days must be between 1 and {MAX_DAYS:,} (got {keep_days:,})")
    names = list(dict.fromkeys(tables)) if tables else list(COMMON_LOGS)
    unknown = [n for n in names if n not in KNOWN_LOGS]
    if unknown:
        raise ConfigError(f"no durable config known for {', '.join(unknown)} (known: {', '.join(KNOWN_LOGS)})")
    lines = [
        "<!-- Written by opik-store: durable retention for ClickHouse system log tables.",
        f"     Keeps {keep_days} days. Install as /etc/clickhouse-server/config.d/opik-store-system-logs.xml",
        "     (on every node) and restart the server; an old table whose definition differs is renamed",
        "     to <name>_0 by the server: prune those leftovers with opik-store system-tables prune",
        "     and its include-rotated option. -->",
        "<clickhouse>",
    ]
    for name in names:
        column = KNOWN_LOGS[name]
        ttl = f"{column} + INTERVAL {keep_days} DAY DELETE"
        lines.append(f"    <{name}>")
        lines.append("        <database>system</database>")
        lines.append(f"        <table>{name}</table>")
        if name == "opentelemetry_span_log":
            lines.append(f"        <engine>ENGINE = {escape(OTEL_ENGINE)} TTL {escape(ttl)}</engine>")
        else:
            lines.append(f"        <partition_by>toYYYYMM({column})</partition_by>")
            lines.append(f"        <ttl>{escape(ttl)}</ttl>")
        lines.append("        <flush_interval_milliseconds>7500</flush_interval_milliseconds>")
        lines.append(f"    </{name}>")
    lines.append("</clickhouse>")
    return "\n".join(lines) + "\n"


def prune_every_node(
    adapter: Adapter,
    cluster: str | None,
    keep_days: int,
    names: Iterable[str] | None = None,
    include_rotated: bool = False,
    set_ttl: bool = True,
    dry_run: bool = False,
    say: Callable[[str], None] | None = None,
) -> list[HostOutcome[PruneReport]]:
    """:meth:`SystemTables.prune` on every host of ``cluster`` (on the connected node when ``cluster`` is None,
    and on the embedded engine, which is one node whatever ``--cluster`` says).

    Bad arguments (``keep_days`` below 1, names that are not log tables) are
    refused before any host changes: on a cluster they are checked on the
    connected node with a dry run first (on one node ``prune`` checks them
    before it changes anything).
    """
    chosen = list(names) if names else None

    def work(conn: Adapter) -> PruneReport:
        return SystemTables(conn, say).prune(keep_days, chosen, include_rotated, set_ttl, dry_run)

    if cluster is None or not fans_out(adapter.spec, cluster):
        here = ClusterHost(1, 1, adapter.spec.host or adapter.spec.path, adapter.spec.port)
        return [HostOutcome(here, result=work(adapter))]
    SystemTables(adapter).prune(keep_days, chosen, include_rotated, set_ttl, dry_run=True)
    hosts = cluster_hosts(adapter, cluster)
    if not hosts:
        raise ConfigError(f"cluster {cluster!r} is not defined on this server (system.clusters): nothing was pruned")
    return on_every_host(adapter.spec, hosts, work)
