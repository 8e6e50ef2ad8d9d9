"""Retention of trace data by class, enforced by TTL over partition-aligned parts.

How it works (see ddl/README.md for the schema):

* Every trace and span row carries ``retention_days``, a MATERIALIZED column
  the server computes at insert from the ``retention`` dictionary. The key is
  (workspace, project), falling back to (workspace, '') and then ('', ''), at
  the creation time encoded in the row's UUIDv7 (for spans, their trace's).
  A row's class is therefore fixed by immutable fields: every version of a
  row lands in the same partition, and ReplacingMergeTree keeps collapsing.
* The partition key is (retention_days, day of the id), and the TTL is
  ``day + retention_days`` with ``ttl_only_drop_parts = 1``. Every row of a
  part expires on the same day, so expiry drops whole parts and rewrites
  nothing.
* ``apply`` appends rules that take effect *now* and reloads the dictionary.
  Rows created from then on get the new class at once; existing rows keep
  theirs.
* ``backfill`` applies a key's current class to its past data. It is explicit,
  bounded by ``max_partitions``, and dry-runnable. It re-issues the key's
  rules so every period maps to the current class, moves the affected rows
  (INSERT ... SELECT recomputes their class), and deletes the originals
  partition by partition.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from opik_store.config import StoreConfig
from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_identifier, quote_string
from opik_store.errors import ConfigError
from opik_store.maintenance.config_file import RetentionConfig
from opik_store.schema.ddl import TABLES, ddl
from opik_store.schema.render import render_statement
from opik_store.schema.shapes import expected_shapes, read_shapes

#: Tables whose rows carry retention_days and are partitioned by (retention_days, day).
RETAINED_TABLES = ("traces", "spans")
_PARTITION_ID = re.compile(r"^(\d+)-(\d{8})$")


@dataclass(frozen=True)
class RuleChange:
    """One rule to append: (workspace, project) gets ``days`` from now on."""

    workspace: str
    project: str
    current: int | None
    days: int

    def describe(self) -> str:
        key = "default" if not self.workspace else f"workspace {self.workspace!r}"
        if self.project:
            key += f" project {self.project!r}"
        now = "unset" if self.current is None else _days(self.current)
        return f"{key}: {now} -> {_days(self.days)} (new data from now on)"


def _days(days: int) -> str:
    return "unlimited" if days == 0 else f"{days} days"


@dataclass(frozen=True)
class PartitionExpiry:
    """One partition of a retained table and when it expires."""

    table: str
    partition_id: str
    retention_days: int
    day: date
    rows: int
    bytes_on_disk: int

    @property
    def expires_on(self) -> date | None:
        return None if self.retention_days == 0 else self.day + timedelta(days=self.retention_days)

    def expired(self, today: date) -> bool:
        return self.expires_on is not None and self.expires_on <= today

    def as_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "partition_id": self.partition_id,
            "retention_days": self.retention_days,
            "day": self.day.isoformat(),
            "expires_on": self.expires_on.isoformat() if self.expires_on else None,
            "rows": self.rows,
            "bytes_on_disk": self.bytes_on_disk,
        }


@dataclass
class RetentionPlan:
    """What ``apply`` would do, and what is about to expire."""

    changes: list[RuleChange]
    unmanaged: list[tuple[str, str, int]]  # rules in the database but not in the file
    ttl_statements: list[str]
    expiring: list[PartitionExpiry]
    today: date

    @property
    def expired(self) -> list[PartitionExpiry]:
        return [p for p in self.expiring if p.expired(self.today)]

    def as_json(self) -> dict[str, Any]:
        return {
            "changes": [c.__dict__ for c in self.changes],
            "unmanaged": [{"workspace": w, "project": p, "days": d} for w, p, d in self.unmanaged],
            "ttl_statements": self.ttl_statements,
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


class Retention:
    """Retention operations on one database."""

    def __init__(self, adapter: Adapter, config: StoreConfig, say: Callable[[str], None] | None = None) -> None:
        self.adapter = adapter
        self.config = config
        self.say = say or (lambda _m: None)
        self.db = quote_identifier(config.database, "database name")

    def _render(self, sql: str) -> str:
        return render_statement(sql, self.config.database, self.config.topology).sql

    def current_rules(self) -> dict[tuple[str, str], int]:
        """The rule in effect now for every key that has one."""
        rows = self.adapter.query(
            f"SELECT workspace_id, project_id, argMax(days, effective_from) FROM {self.db}.retention_periods "
            "WHERE effective_from <= now64(6) GROUP BY workspace_id, project_id"
        ).rows
        return {(w, p): int(d) for w, p, d in rows}

    def partitions(self) -> list[PartitionExpiry]:
        rows = self.adapter.query(
            "SELECT table, partition_id, sum(rows), sum(bytes_on_disk) FROM system.parts "
            "WHERE database = {db:String} AND active AND table IN ('traces', 'spans') "
            "GROUP BY table, partition_id ORDER BY table, partition_id",
            {"db": self.config.database},
        ).rows
        out = []
        for table, pid, count, size in rows:
            match = _PARTITION_ID.match(pid)
            if not match:
                continue
            day = datetime.strptime(match.group(2), "%Y%m%d").date()
            out.append(PartitionExpiry(table, pid, int(match.group(1)), day, int(count), int(size)))
        return out

    def ttl_statements(self) -> list[str]:
        """ALTERs that bring each retained table's TTL and ttl_only_drop_parts back to the design."""
        settings = dict(self.config.ddl_settings)
        expected = expected_shapes(self.adapter, [ddl(t) for t in TABLES], settings)
        live = read_shapes(self.adapter, self.config.database, RETAINED_TABLES)
        out = []
        for table in RETAINED_TABLES:
            want, have = expected[table], live.get(table)
            if have is None:
                raise ConfigError(f"table {table} does not exist in {self.config.database!r}: run `opik-store migrate`")
            if want.ttl != have.ttl:
                ttl = want.ttl.replace("'{database}.", f"'{self.config.database}.")
                out.append(self._render(f"ALTER TABLE {table} MODIFY TTL {ttl}"))
            if "ttl_only_drop_parts = 1" not in have.settings:
                out.append(self._render(f"ALTER TABLE {table} MODIFY SETTING ttl_only_drop_parts = 1"))
        return out

    def plan(self, wanted: RetentionConfig, horizon_days: int = 7, prune: bool = False) -> RetentionPlan:
        """Compare the file with the rules in effect; list TTL fixes and what expires within the horizon."""
        if horizon_days < 0:
            raise ConfigError(f"horizon must not be negative, got {horizon_days}")
        current = self.current_rules()
        desired = wanted.desired()
        changes = [
            RuleChange(w, p, current.get((w, p)), days)
            for (w, p), days in sorted(desired.items())
            if current.get((w, p)) != days
        ]
        unmanaged = sorted((w, p, d) for (w, p), d in current.items() if (w, p) not in desired)
        if prune:
            changes += [RuleChange(w, p, d, wanted.default_days) for w, p, d in unmanaged if d != wanted.default_days]
            unmanaged = []
        today = datetime.now(UTC).date()
        limit = today + timedelta(days=horizon_days)
        expiring = [p for p in self.partitions() if p.expires_on is not None and p.expires_on <= limit]
        return RetentionPlan(changes, unmanaged, self.ttl_statements(), expiring, today)

    def apply(self, plan: RetentionPlan, expire_now: bool = False) -> list[str]:
        """Carry out ``plan``; return the statements run, in order."""
        done: list[str] = []
        for change in plan.changes:
            self.adapter.execute(
                f"INSERT INTO {self.db}.retention_rules (workspace_id, project_id, days, effective_from, note) "
                "SELECT {w:String}, {p:String}, {d:UInt16}, now64(6), 'opik-store retention apply'",
                {"w": change.workspace, "p": change.project, "d": change.days},
                settings=self._write_settings(),
            )
            done.append(f"rule: {change.describe()}")
        if plan.changes:
            done.append(self.reload_dictionary())
        for sql in plan.ttl_statements:
            self.adapter.execute(sql, settings={**self.config.ddl_settings, "materialize_ttl_after_modify": "0"})
            done.append(sql)
        if expire_now:
            for part in plan.expired:
                sql = self._render(f"ALTER TABLE {part.table} DROP PARTITION ID {quote_string(part.partition_id)}")
                self.say(f"dropping expired partition {part.table} {part.partition_id} ({part.rows} rows)")
                self.adapter.execute(sql, settings=self.config.ddl_settings)
                done.append(sql)
        return done

    def _write_settings(self) -> dict[str, str]:
        return {"insert_quorum": "auto"} if self.config.topology.is_cluster else {}

    def reload_dictionary(self) -> str:
        sql = f"SYSTEM RELOAD DICTIONARY {self.db}.{quote_identifier('retention')}{self.config.topology.on_cluster}"
        self.adapter.execute(sql)
        return sql

    # -- past data ---------------------------------------------------------------
    def backfill(
        self, workspace: str, project: str = "", max_partitions: int = 10, dry_run: bool = False
    ) -> BackfillReport:
        """Apply the key's current class to its existing rows, at most ``max_partitions`` partitions a run."""
        if max_partitions < 1:
            raise ConfigError(f"max partitions must be at least 1, got {max_partitions}")
        key = (workspace, project)
        current = self.current_rules()
        if key not in current:
            raise ConfigError(
                f"no retention rule for workspace {workspace!r}" + (f" project {project!r}" if project else "")
                + ": assign a class with `opik-store retention apply` first"
            )  # fmt: skip
        report = BackfillReport(workspace, project, current[key], dry_run=dry_run)
        if not dry_run:
            self._reissue(workspace, project, current[key])
        found: list[BackfillPartition] = []
        where, params = self._mismatch(workspace, project, current[key])
        for table in RETAINED_TABLES:
            rows = self.adapter.query(
                f"SELECT _partition_id, count(), sum(length(input) + length(output) + length(metadata)) "
                f"FROM {self.db}.{quote_identifier(table)} WHERE {where} GROUP BY _partition_id ORDER BY _partition_id",
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

        A workspace-level key leaves out projects with rules of their own:
        their rows follow the project's class.
        """
        where = "workspace_id = {w:String} AND retention_days != {d:UInt16}"
        params: dict[str, Any] = {"w": workspace, "d": days}
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
            "WHERE workspace_id = {w:String} AND project_id = {p:String} AND effective_from <= now64(6)",
            {"w": workspace, "p": project},
        ).rows
        moments = {"1970-01-01 00:00:00.000000"} | {s[0].strftime("%Y-%m-%d %H:%M:%S.%f") for s in starts}
        for moment in sorted(moments):
            self.adapter.execute(
                f"INSERT INTO {self.db}.retention_rules (workspace_id, project_id, days, effective_from, note) "
                "SELECT {w:String}, {p:String}, {d:UInt16}, toDateTime64({e:String}, 6, 'UTC'), "
                "'opik-store retention backfill'",
                {"w": workspace, "p": project, "d": days, "e": moment},
                settings=self._write_settings(),
            )
        self.reload_dictionary()

    def _move(self, part: BackfillPartition, where: str, params: dict[str, Any]) -> None:
        """Re-insert the partition's mismatched rows (the class is recomputed), then delete the originals.

        Interrupted between the two, a re-run copies the rows again: the copies
        are the same versions in the same new partition, so they collapse.
        """
        table = f"{self.db}.{quote_identifier(part.table)}"
        params = {**params, "pid": part.partition_id}
        self.say(f"moving {part.rows} rows of {part.table} out of partition {part.partition_id}")
        self.adapter.execute(
            f"INSERT INTO {table} SELECT * FROM {table} WHERE _partition_id = {{pid:String}} AND {where}", params
        )
        partition = quote_string(part.partition_id)
        self.adapter.execute(
            f"ALTER TABLE {table}{self.config.topology.on_cluster} DELETE IN PARTITION ID {partition} WHERE {where}",
            params,
            settings={**self.config.ddl_settings, "mutations_sync": "2", "allow_nondeterministic_mutations": "1"},
        )
