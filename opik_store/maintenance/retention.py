"""Retention of trace data by class, enforced by TTL over partition-aligned parts.

The rules this module keeps (see ddl/README.md for the schema and its proofs):

* **A row's class is a function of immutable fields.** Every trace and span
  row carries ``retention_at`` (the UTC day of its id's UUIDv7 time; for
  spans, their trace's) and ``retention_days``, both MATERIALIZED. The class
  is the rule of (workspace, project), else (workspace, ''), else ('', ''),
  in effect on ``retention_at``, read from the ``retention`` Join table (one
  ``arrayLast`` over the three keys' histories, default first, project last). All
  versions of a row compute the same class, land in the same partition and
  collapse under ReplacingMergeTree.
* **Rules only ever take effect in the future.** ``apply`` writes a rule
  effective from the start of the UTC day after tomorrow (24 to 48 hours
  ahead, ``ACTIVATION_DAYS``). No id already written, no node whose lookup is
  minutes stale and no client clock less than a day ahead can see a class
  that differs from what a later version of the same row computes.
* **An id without a usable time is kept.** Ids that are not UUIDv7, nil,
  malformed, or dated before 2000 or from 2070 on (clients do mint ids dated
  2199-2201) get ``retention_at`` 1970-01-01 and class 0 (unlimited): the
  lookup never holds a period in effect on that day (``FIRST_DAY``).
  ``plan`` counts them.
* **Nothing expires early.** The TTL is the UTC moment ``retention_at +
  retention_days`` (a DateTime in UTC, so the server's timezone plays no
  part), computed in Date32 arithmetic that cannot wrap; classes are at most
  ``MAX_DAYS``. The partition key is (class, week of ``retention_at``), and
  ``ttl_only_drop_parts`` drops whole parts only.
* **--expire-now never runs ahead of the TTL.** A partition is dropped only
  once the last moment any of its rows can expire has passed on the server's
  clock (its week's Sunday + class, next midnight UTC), and only if the
  server's own TTL bookkeeping agrees for every active part.
* **Ingestion never depends on the retention machinery.** The lookup is a
  Join table inside the database: no dictionary source, no login, no load to
  fail or wait for. An empty or partial lookup yields the safe class 0.
* **Sharded topology: data is moved on the shard that holds it.** Parts,
  partitions, TTL and mutations belong to the shard-local tables
  (``traces_local``, ``spans_local``). ``backfill`` copies and deletes in the
  shard-local tables of the shard it is connected to, and never runs its
  DELETE ON CLUSTER: part names repeat across shards, so a DELETE bound to
  one shard's parts would remove rows another shard never copied. Run it
  against a node of every shard (the report names the shard). ``plan`` and
  ``--expire-now`` read the parts of every shard (``cluster()``) and drop a
  partition on every shard only once all of them are past their TTL. The
  lookup is read at insert on the node that stores the row (a Distributed
  table forwards blocks without their MATERIALIZED columns, and the shard
  computes the class), so every node of every shard needs it refreshed.
* **Every node's lookup follows the rules.** The ``retention`` Join table is
  per node (never replicated); the rules table is replicated. On a cluster
  of servers, ``stale_lookup`` (and so ``plan``) reports a key stale on any
  host, and ``apply`` refreshes each host from its own replica of the rules
  after ``SYSTEM SYNC REPLICA``, one connection per host (the hosts
  ``system.clusters`` lists). A host that cannot be reached is named in a
  RetentionLookupError raised after everything else ``apply`` does, so the
  job run fails and the next one retries; the rule margin (rules take effect
  the day after tomorrow) leaves a day for that. The embedded engine has one
  node: its lookup is refreshed in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opik_store.config import StoreConfig, control_write_settings
from opik_store.engine.adapter import Adapter
from opik_store.engine.hosts import cluster_hosts, fans_out, on_every_host
from opik_store.engine.quoting import quote_identifier, quote_string
from opik_store.errors import ConfigError, OpikStoreError
from opik_store.maintenance.config_file import RetentionConfig
from opik_store.schema.ddl import TABLES, ddl
from opik_store.schema.render import render_statement
from opik_store.schema.shapes import expected_shapes, read_shapes
from opik_store.schema.sharding import storage_table

#: Tables whose rows carry retention_days and are partitioned by (retention_days, week).
RETAINED_TABLES = ("traces", "spans")
#: retention_at of rows whose id carries no usable time (kept: class 0).
UNDATED = date(1970, 1, 1)
#: The lookup's earliest period start: a rule from an earlier day is stored as from this one, so no period is
#: in effect on UNDATED (the class expression has no separate test for undated rows).
FIRST_DAY = UNDATED + timedelta(days=1)
#: A rule applied today takes effect for ids from this many UTC days ahead (start of that day).
ACTIVATION_DAYS = 2
_PARTITION = re.compile(r"^\((\d+),'(\d{4}-\d{2}-\d{2})'\)$")


@dataclass(frozen=True)
class RuleChange:
    """One rule to append: ids of (workspace, project) from ``effective_from`` on get ``days``."""

    workspace: str
    project: str
    current: int | None
    days: int
    effective_from: date | None = None  # set by plan() from the server's clock

    def describe(self) -> str:
        key = "default" if not self.workspace else f"workspace {self.workspace!r}"
        if self.project:
            key += f" project {self.project!r}"
        now = "unset" if self.current is None else _days(self.current)
        when = f"ids from {self.effective_from.isoformat()} 00:00 UTC on" if self.effective_from else "new ids"
        return f"{key}: {now} -> {_days(self.days)} ({when})"

    def as_json(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "project": self.project,
            "current": self.current,
            "days": self.days,
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
        }


def _days(days: int) -> str:
    return "unlimited" if days == 0 else f"{days} days"


@dataclass(frozen=True)
class PartitionExpiry:
    """One partition of a retained table and when every row it can hold has expired."""

    table: str
    partition_id: str
    retention_days: int
    week: date  # the Monday (UTC) of the ids' week; 1969-12-29 holds the undated rows
    rows: int
    bytes_on_disk: int
    ttl_max: datetime | None  # the server's TTL bookkeeping: the latest delete TTL of the active parts

    @property
    def undated(self) -> bool:
        return self.week <= UNDATED

    @property
    def expires_at(self) -> datetime | None:
        """Midnight UTC after the week's last day + class: no row of this partition expires later."""
        if self.retention_days == 0 or self.undated:
            return None
        last = self.week + timedelta(days=6 + self.retention_days)
        return datetime(last.year, last.month, last.day, tzinfo=UTC)

    def expired(self, now: datetime) -> bool:
        """Past its expiry by the server's clock, and the server's TTL agrees for every active part."""
        at = self.expires_at
        return at is not None and at <= now and self.ttl_max is not None and self.ttl_max <= now

    def as_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "partition_id": self.partition_id,
            "retention_days": self.retention_days,
            "week": self.week.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,  # UTC
            "ttl_max": self.ttl_max.isoformat() if self.ttl_max else None,
            "rows": self.rows,
            "bytes_on_disk": self.bytes_on_disk,
        }


@dataclass
class RetentionPlan:
    """What ``apply`` would do, and what is about to expire (times in the server's timezone)."""

    changes: list[RuleChange]
    unmanaged: list[tuple[str, str, int]]  # rules in the database but not in the file
    ttl_statements: list[str]
    expiring: list[PartitionExpiry]
    now: datetime  # the server's clock (aware, UTC); shown in ``timezone``
    timezone: str
    undated_rows: dict[str, int] = field(default_factory=dict)
    stale_lookup: list[tuple[str, str]] = field(default_factory=list)  # keys whose lookup row differs from rules
    lookup_unchecked: list[str] = field(default_factory=list)  # "host: error" for cluster hosts not reached

    @property
    def expired(self) -> list[PartitionExpiry]:
        return [p for p in self.expiring if p.expired(self.now)]

    def as_json(self) -> dict[str, Any]:
        return {
            "server_now": self.now.astimezone(_zone(self.timezone)).isoformat(),
            "server_timezone": self.timezone,
            "changes": [c.as_json() for c in self.changes],
            "unmanaged": [{"workspace": w, "project": p, "days": d} for w, p, d in self.unmanaged],
            "ttl_statements": self.ttl_statements,
            "stale_lookup": [{"workspace": w, "project": p} for w, p in self.stale_lookup],
            "lookup_unchecked_hosts": self.lookup_unchecked,
            "undated_rows": self.undated_rows,
            "expiring": [p.as_json() for p in self.expiring],
            "expired_partitions": [p.partition_id for p in self.expired],
        }


@dataclass
class BackfillPartition:
    table: str
    partition_id: str
    rows: int
    bytes_on_disk: int


@dataclass
class BackfillReport:
    workspace: str
    project: str
    days: int
    partitions: list[BackfillPartition] = field(default_factory=list)
    remaining: int = 0  # partitions left for a later run (max_partitions)
    dry_run: bool = False
    #: Sharded topology: the shard(s) this run moved rows on, and every shard of the cluster (else both empty).
    shards: list[int] = field(default_factory=list)
    all_shards: list[int] = field(default_factory=list)

    @property
    def shard_note(self) -> str:
        """What an operator must still do on a sharded cluster ('' elsewhere)."""
        if not self.all_shards:
            return ""
        others = [s for s in self.all_shards if s not in self.shards]
        here = ", ".join(map(str, self.shards)) or "none (this node is not in the cluster)"
        rest = f"; run it against a node of shard(s) {', '.join(map(str, others))} too" if others else ""
        return f"sharded: rows moved on shard {here} of {len(self.all_shards)} only{rest}"


class RetentionLookupError(OpikStoreError):
    """The lookup of some cluster hosts could not be refreshed (each named, with its error)."""


class Retention:
    """Retention operations on one database."""

    def __init__(self, adapter: Adapter, config: StoreConfig, say: Callable[[str], None] | None = None) -> None:
        self.adapter = adapter
        self.config = config
        self.say = say or (lambda _m: None)
        self.db = quote_identifier(config.database, "database name")

    def _render(self, sql: str) -> str:
        return render_statement(sql, self.config.database, self.config.topology).sql

    def _stored(self, table: str) -> str:
        """The quoted table that holds ``table``'s rows here (shard-local on the sharded topology)."""
        return f"{self.db}.{quote_identifier(storage_table(table, self.config.topology))}"

    def _parts_source(self) -> str:
        """``system.parts`` of this node, or of one replica of every shard on the sharded topology."""
        topology = self.config.topology
        if topology.is_sharded and topology.cluster:
            return f"cluster({quote_string(topology.cluster)}, system.parts)"
        return "system.parts"

    def local_shards(self) -> tuple[list[int], list[int]]:
        """(this node's shard numbers, every shard number) of the cluster; both empty off the sharded topology."""
        topology = self.config.topology
        if not topology.is_sharded:
            return [], []
        rows = self.adapter.query(
            "SELECT shard_num, max(is_local) FROM system.clusters WHERE cluster = {c:String} GROUP BY shard_num "
            "ORDER BY shard_num",
            {"c": topology.cluster},
        ).rows
        return [int(s) for s, here in rows if int(here)], [int(s) for s, _ in rows]

    def _periods(self) -> str:
        """Rules with re-issued ones collapsed: per (key, effective_from) the newest created_at wins."""
        return (
            f"SELECT workspace_id, project_id, effective_from, argMax(days, created_at) AS days "
            f"FROM {self.db}.retention_rules GROUP BY workspace_id, project_id, effective_from"
        )

    def latest_rules(self) -> dict[tuple[str, str], int]:
        """The newest rule of every key, including rules that take effect in the coming days."""
        rows = self.adapter.query(
            f"SELECT workspace_id, project_id, argMax(days, effective_from) FROM ({self._periods()}) "
            "GROUP BY workspace_id, project_id"
        ).rows
        return {(w, p): int(d) for w, p, d in rows}

    def _history_sql(self) -> str:
        """Per key, its periods as the lookup's (froms, days) arrays, sorted by day.

        A period starting on or before 1970-01-01 is stored as starting on 1970-01-02 (of several such, the
        latest): the class expression gives undated rows (``retention_at`` 1970-01-01) class 0 only because
        no period in the lookup is in effect on that day. Dated rows (2000 on) get the same class either way.
        """
        return (
            "SELECT workspace_id, project_id, arrayMap(x -> x.1, h) AS froms, arrayMap(x -> x.2, h) AS days FROM ("
            "SELECT workspace_id, project_id, arraySort(groupArray((day, days))) AS h FROM ("
            f"SELECT workspace_id, project_id, greatest(effective_from, toDate32('{FIRST_DAY}')) AS day, "
            f"argMax(days, effective_from) AS days FROM ({self._periods()}) GROUP BY workspace_id, project_id, day) "
            "GROUP BY workspace_id, project_id)"
        )

    def _every_host(self) -> bool:
        """Whether the lookup lives on several servers (a cluster reached over the network)."""
        return fans_out(self.adapter.spec, self.config.topology.cluster)

    def stale_lookup(self) -> list[tuple[str, str]]:
        """Keys whose row in the ``retention`` lookup is missing or differs from the rules (on any host)."""
        return self.lookup_state()[0]

    def lookup_state(self) -> tuple[list[tuple[str, str]], list[str]]:
        """(keys stale on any host, "host: error" for each host that could not be checked)."""
        if not self._every_host():
            return self._stale_here(), []
        keys: set[tuple[str, str]] = set()
        unchecked: list[str] = []
        for outcome in self._on_every_host(lambda here: here._stale_here()):
            if outcome.error:
                unchecked.append(f"{outcome.host.label}: {outcome.error}")
            keys.update(outcome.result or [])
        return sorted(keys), unchecked

    def _on_every_host(self, work: Callable[[Retention], Any]) -> list[Any]:
        assert self.config.topology.cluster is not None
        hosts = cluster_hosts(self.adapter, self.config.topology.cluster)
        return on_every_host(self.adapter.spec, hosts, lambda conn: work(Retention(conn, self.config, self.say)))

    def _stale_here(self) -> list[tuple[str, str]]:
        rows = self.adapter.query(
            f"SELECT r.workspace_id, r.project_id FROM ({self._history_sql()}) AS r "
            "WHERE (r.froms, r.days) != (joinGet({t:String}, 'froms', r.workspace_id, r.project_id), "
            "joinGet({t:String}, 'days', r.workspace_id, r.project_id))",
            {"t": f"{self.config.database}.retention"},
        ).rows
        return sorted((str(w), str(p)) for w, p in rows)

    def refresh_lookup(self, keys: list[tuple[str, str]] | None = None) -> str:
        """Copy the rules of ``keys`` (all keys if None) into the ``retention`` lookup.

        Rows are only ever added (the newest per key wins), so a reader never
        sees a key vanish half-way through a refresh.
        """
        if keys is None:
            self.adapter.execute(f"INSERT INTO {self.db}.retention {self._history_sql()}")
        for workspace, project in keys or []:
            self.adapter.execute(
                f"INSERT INTO {self.db}.retention SELECT * FROM ({self._history_sql()}) "
                "WHERE workspace_id = {w:String} AND project_id = {p:String}",
                {"w": workspace, "p": project},
            )
        return f"lookup: refreshed {'all keys' if keys is None else f'{len(keys)} key(s)'}"

    def server_clock(self) -> tuple[datetime, str]:
        """The server's clock (as an aware UTC datetime) and its timezone name."""
        ts, tz = self.adapter.query("SELECT toUnixTimestamp(now()), timezone()").rows[0]
        return datetime.fromtimestamp(int(ts), UTC), str(tz)

    def partitions(self) -> list[PartitionExpiry]:
        """Partitions of the retained tables (summed over every shard on the sharded topology)."""
        stored = {storage_table(t, self.config.topology): t for t in RETAINED_TABLES}
        rows = self.adapter.query(
            "SELECT table, partition_id, any(partition), sum(rows), sum(bytes_on_disk), "
            "toUnixTimestamp(max(delete_ttl_info_max)) "
            f"FROM {self._parts_source()} WHERE database = {{db:String}} AND active AND table IN {{t:Array(String)}} "
            "GROUP BY table, partition_id ORDER BY table, partition_id",
            {"db": self.config.database, "t": list(stored)},
        ).rows
        out = []
        for stored_table, pid, partition, count, size, ttl_max in rows:
            table = stored[str(stored_table)]
            match = _PARTITION.match(str(partition))
            if not match:
                continue  # not the store's partitioning (a table created by other tooling): not ours to judge
            week = date.fromisoformat(match.group(2))
            ttl = datetime.fromtimestamp(int(ttl_max), UTC) if int(ttl_max) > 0 else None
            out.append(PartitionExpiry(table, pid, int(match.group(1)), week, int(count), int(size), ttl))
        return out

    def ttl_statements(self) -> list[str]:
        """ALTERs that bring each retained table's TTL and ttl_only_drop_parts back to the design."""
        settings = dict(self.config.ddl_settings)
        expected = expected_shapes(self.adapter, [ddl(t) for t in TABLES], settings)
        stored = {t: storage_table(t, self.config.topology) for t in RETAINED_TABLES}
        live = read_shapes(self.adapter, self.config.database, stored.values())
        out = []
        for table in RETAINED_TABLES:
            want, have = expected[table], live.get(stored[table])
            if have is None:
                raise ConfigError(f"table {table} does not exist in {self.config.database!r}: run `opik-store migrate`")
            if want.ttl != have.ttl:  # a table the server cannot describe (full disk) raised in read_shapes
                out.append(self._render(f"ALTER TABLE {table} MODIFY TTL {want.ttl}"))
            if "ttl_only_drop_parts = 1" not in have.settings:
                out.append(self._render(f"ALTER TABLE {table} MODIFY SETTING ttl_only_drop_parts = 1"))
        return out

    def plan(self, wanted: RetentionConfig, horizon_days: int = 7, prune: bool = False) -> RetentionPlan:
        """Compare the file with the newest rules; list lookup and TTL fixes and what expires within the horizon."""
        if horizon_days < 0:
            raise ConfigError(f"horizon must not be negative, got {horizon_days}")
        now, tz = self.server_clock()
        effective = self._activation_day()
        latest = self.latest_rules()
        desired = wanted.desired()
        changes = [
            RuleChange(w, p, latest.get((w, p)), days, effective)
            for (w, p), days in sorted(desired.items())
            if latest.get((w, p)) != days
        ]
        unmanaged = sorted((w, p, d) for (w, p), d in latest.items() if (w, p) not in desired)
        if prune:
            changes += [
                RuleChange(w, p, d, wanted.default_days, effective) for w, p, d in unmanaged if d != wanted.default_days
            ]
            unmanaged = []
        limit = now + timedelta(days=horizon_days)
        parts = self.partitions()
        expiring = [p for p in parts if (at := p.expires_at) is not None and at <= limit]
        undated: dict[str, int] = {}
        for p in parts:
            if p.undated:
                undated[p.table] = undated.get(p.table, 0) + p.rows
        stale, unchecked = self.lookup_state()
        return RetentionPlan(changes, unmanaged, self.ttl_statements(), expiring, now, tz, undated, stale, unchecked)

    def _activation_day(self) -> date:
        value = self.adapter.query(f"SELECT toDate32(now('UTC')) + {ACTIVATION_DAYS}").scalar()
        return value if isinstance(value, date) else date.fromisoformat(str(value))

    def add_rule(self, workspace: str, project: str, days: int, effective_from: date, note: str) -> None:
        """Append one rule (the lookup is refreshed separately). Callers keep effective_from in the future."""
        self.adapter.execute(
            f"INSERT INTO {self.db}.retention_rules (workspace_id, project_id, days, effective_from, note) "
            "SELECT {w:String}, {p:String}, {d:UInt16}, toDate32({e:String}), {n:String}",
            {"w": workspace, "p": project, "d": days, "e": effective_from.isoformat(), "n": note},
            settings=self._write_settings(),
        )

    def apply(self, plan: RetentionPlan, expire_now: bool = False) -> list[str]:
        """Carry out ``plan``; return what was done, in order."""
        done: list[str] = []
        earliest = self._activation_day()  # a plan made earlier must not bring a rule closer than the margin
        for change in plan.changes:
            effective = max(change.effective_from or earliest, earliest)
            self.add_rule(change.workspace, change.project, change.days, effective, "opik-store retention apply")
            done.append(f"rule: {change.describe()}")
        keys = sorted({(c.workspace, c.project) for c in plan.changes} | set(plan.stale_lookup))
        # A host the plan could not check may hold a stale lookup: it is asked again (it computes its own keys).
        work = bool(keys or plan.lookup_unchecked)
        refreshed, unreached = self.refresh_lookup_everywhere(keys) if work else ([], [])
        done += refreshed
        for sql in plan.ttl_statements:
            self.adapter.execute(sql, settings={**self.config.ddl_settings, "materialize_ttl_after_modify": "0"})
            done.append(sql)
        if expire_now:
            done += self.expire_now()
        if unreached:
            raise RetentionLookupError(
                f"the retention lookup was not refreshed on {len(unreached)} host(s): {'; '.join(unreached)}. "
                f"Everything else was done ({len(done)} step(s)); run `retention apply` again once they answer."
            )
        return done

    def refresh_lookup_everywhere(self, keys: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
        """(what was done, "host: error" for each host not refreshed): every host on a cluster of servers.

        On a cluster each host syncs its replica of the rules and refreshes
        the keys stale there (``keys`` only decides that there is work); on
        one node the ``keys`` are refreshed in place.
        """
        if not self._every_host():
            return [self.refresh_lookup(keys)], []
        done: list[str] = []
        unreached: list[str] = []
        for outcome in self._on_every_host(lambda here: here._sync_and_refresh()):
            if outcome.error:
                unreached.append(f"{outcome.host.label}: {outcome.error}")
            else:
                done.append(f"{outcome.result} on {outcome.host.label}")
        return done, unreached

    def _sync_and_refresh(self) -> str:
        """On one host: wait for its replica of the rules to catch up, then refresh the keys stale there."""
        self.adapter.execute(f"SYSTEM SYNC REPLICA {self.db}.{quote_identifier('retention_rules')}")
        stale = self._stale_here()
        return self.refresh_lookup(stale) if stale else "lookup: up to date"

    def expire_now(self) -> list[str]:
        """Drop every partition whose rows have all expired, re-reading the parts right before each drop."""
        done = []
        now, _ = self.server_clock()
        for part in self.partitions():
            if not part.expired(now):
                continue
            sql = self._render(f"ALTER TABLE {part.table} DROP PARTITION ID {quote_string(part.partition_id)}")
            self.say(f"dropping expired partition {part.table} {part.partition_id} ({part.rows} rows)")
            self.adapter.execute(sql, settings=self.config.ddl_settings)
            done.append(sql)
        return done

    def _write_settings(self) -> dict[str, str]:
        """Rule rows follow the control-row quorum policy (config.control_write_settings)."""
        return control_write_settings()

    # -- past data ---------------------------------------------------------------
    def backfill(
        self, workspace: str, project: str = "", max_partitions: int = 10, dry_run: bool = False
    ) -> BackfillReport:
        """Apply the key's newest class (even one not yet in effect) to its existing rows.

        At most ``max_partitions`` partitions a run. The key's past periods are
        re-issued with the newest class first, so a row updated while the
        backfill runs computes the same class as its moved copy.
        """
        if max_partitions < 1:
            raise ConfigError(f"max partitions must be at least 1, got {max_partitions}")
        if project and not workspace:
            raise ConfigError("a project rule belongs to a workspace: name the workspace too")
        key = (workspace, project)
        current = self.latest_rules()
        if key not in current:
            what = f"workspace {workspace!r}" + (f" project {project!r}" if project else "") if workspace else "default"
            raise ConfigError(
                f"no retention rule for the {what}: assign a class with `opik-store retention apply` first"
            )
        report = BackfillReport(workspace, project, current[key], dry_run=dry_run)
        report.shards, report.all_shards = self.local_shards()
        if not dry_run:
            self._reissue(workspace, project, current[key])
        found: list[BackfillPartition] = []
        where, params = self._mismatch(workspace, project, current[key])
        for table in RETAINED_TABLES:
            rows = self.adapter.query(
                f"SELECT _partition_id, count(), sum(length(input) + length(output) + length(metadata)) "
                f"FROM {self._stored(table)} WHERE {where} GROUP BY _partition_id ORDER BY _partition_id",
                params,
            ).rows
            found += [BackfillPartition(table, pid, int(n), int(b)) for pid, n, b in rows]
        report.partitions = found[:max_partitions]
        report.remaining = max(0, len(found) - max_partitions)
        if dry_run:
            return report
        for part in report.partitions:
            self._move(part, where, params)
        return report

    def _mismatch(self, workspace: str, project: str, days: int) -> tuple[str, dict[str, Any]]:
        """Rows of the key whose class is not ``days``.

        Rows without a usable id time keep class 0 by rule and are never
        "mismatched" (moving them would recompute 0 again, forever). A
        workspace key leaves out projects with rules of their own; the
        default key ('', '') leaves out every workspace with a workspace rule
        and every project with a project rule: their rows follow those rules.
        Rows updated while a multi-run (bounded) backfill is still going take
        the new class at once while older versions wait in not-yet-moved
        partitions; they collapse again when the backfill finishes.
        """
        where = "retention_days != {d:UInt16} AND retention_at != toDate32('1970-01-01')"
        params: dict[str, Any] = {"w": workspace, "d": days}
        if not workspace:
            rules = f"{self.db}.retention_rules"
            return (
                f"{where} AND workspace_id NOT IN (SELECT workspace_id FROM {rules} WHERE workspace_id != '' "
                "AND project_id = '') AND (workspace_id, toString(project_id)) NOT IN "
                f"(SELECT workspace_id, project_id FROM {rules} WHERE project_id != '')"
            ), params
        where += " AND workspace_id = {w:String}"
        if project:
            where += " AND project_id = {p:String}"
            params["p"] = project
        else:
            where += (
                f" AND toString(project_id) NOT IN (SELECT project_id FROM {self.db}.retention_rules "
                "WHERE workspace_id = {w:String} AND project_id != '')"
            )
        return where, params

    def _reissue(self, workspace: str, project: str, days: int) -> None:
        """Make every period of the key (and all time before its first rule) map to ``days``."""
        starts = self.adapter.query(
            f"SELECT DISTINCT effective_from FROM {self.db}.retention_rules "
            "WHERE workspace_id = {w:String} AND project_id = {p:String} AND effective_from <= toDate32(now('UTC'))",
            {"w": workspace, "p": project},
        ).rows
        days_from = {UNDATED} | {s[0] if isinstance(s[0], date) else date.fromisoformat(str(s[0])) for s in starts}
        for day in sorted(days_from):
            self.add_rule(workspace, project, days, day, "opik-store retention backfill")
        _, unreached = self.refresh_lookup_everywhere([(workspace, project)])
        if unreached:  # a node with the old lookup would write new versions into the old class: move nothing yet
            raise RetentionLookupError(
                f"the rules were re-issued but the lookup was not refreshed on {'; '.join(unreached)}; nothing was "
                "moved. Run the backfill again once those hosts answer."
            )

    def _move(self, part: BackfillPartition, where: str, params: dict[str, Any]) -> None:
        """Re-insert the partition's mismatched rows (the class is recomputed), then delete the originals.

        Both steps are bound to the parts that held the rows when the move
        began (``_part``), so the DELETE can never reach a copy, nor a row that
        arrived in that partition after the copy was taken. If a merge renames
        those parts in between, nothing is deleted and the next run moves the
        rows again: the copies are the same versions in the same new partition,
        so they collapse. Interrupted between the two steps, the same holds.
        On the sharded topology both steps act on this shard's local table and
        the DELETE is not sent ON CLUSTER (it replicates to this shard's
        replicas only): other shards have parts of the same names holding rows
        this run never copied.
        """
        table = self._stored(part.table)
        params = {**params, "pid": part.partition_id}
        parts = [
            str(r[0])
            for r in self.adapter.query(
                f"SELECT DISTINCT _part FROM {table} WHERE _partition_id = {{pid:String}} AND {where}", params
            ).rows
        ]
        if not parts:
            return
        params["parts"] = parts
        bound = f"has({{parts:Array(String)}}, _part) AND {where}"
        self.say(f"moving {part.rows} rows of {part.table} out of partition {part.partition_id}")
        self.adapter.execute(
            f"INSERT INTO {table} SELECT * FROM {table} WHERE _partition_id = {{pid:String}} AND {bound}", params
        )
        partition = quote_string(part.partition_id)
        on_cluster = "" if self.config.topology.is_sharded else self.config.topology.on_cluster
        self.adapter.execute(
            f"ALTER TABLE {table}{on_cluster} DELETE IN PARTITION ID {partition} WHERE {bound}",
            params,
            settings={**self.config.ddl_settings, "mutations_sync": "2", "allow_nondeterministic_mutations": "1"},
        )


def _zone(name: str) -> tzinfo:
    """The server's timezone; UTC when this Python does not know its name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local(moment: datetime, timezone: str) -> datetime:
    """``moment`` as the server's wall clock shows it."""
    return moment.astimezone(_zone(timezone))
