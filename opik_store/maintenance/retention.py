"""Retention of trace data by class, enforced by the store's expiry job inside Opik's weekly partitions.

The rules this module keeps (ddl/README.md has the design and its measurements):

* **A row's class is computed when the job runs, never stored.** The tables
  are Opik's own (partitioned by the week of each row's own id; no class
  column). A row's class is the rule of (workspace, project), else
  (workspace, ''), else ('', ''), in effect on the UTC day of its id's UUIDv7
  time, read from ``retention_rules`` (replicated on a cluster) by the job
  itself and bound into its statements. No node keeps a lookup, so no new,
  restarted or restored node can give a row a wrong class, and an INSERT reads
  nothing of retention: ingestion cannot fail or wait because of it.
* **Rules only ever take effect in the future.** ``apply`` writes a rule
  effective from the start of the UTC day after tomorrow (``ACTIVATION_DAYS``),
  so an id already written keeps its class. All versions of a row share its id,
  so they share its day, its partition and its class, and collapse.
  ``backfill`` is the one explicit way to give past ids a new class: it counts
  the rows that would then be due at once and refuses without ``yes``.
* **An id without a usable time is kept.** Ids that are not UUIDv7, nil,
  malformed, or dated before 2000 or from 2070 on are never due: their weeks
  (1969-12-29 for the undated) are skipped whole. ``plan`` counts them.
* **Nothing expires early.** The rows of one (class, week) group are deleted
  together once the youngest id the week can hold is ``class`` days old: from
  00:00 UTC of the week's Monday + 7 + class (Date32 arithmetic in UTC; the
  server's timezone plays no part). A row goes at least ``class`` x 24 h after
  its id's time and at most 7 days (plus the job's cadence) after that.
* **Expiry writes little.** A due (class, week) group goes by one lightweight
  ``DELETE ... IN PARTITION ID`` (a row mask is written, not the rows, for
  wide parts; a part under 10 MiB is stored compact and rewritten whole); once
  the rows left in a week are all of one class, the masked rows are reclaimed
  once (``APPLY DELETED MASK``); a week past the longest class in effect on any
  of its days, with no unlimited class in effect on them, is dropped whole
  (``DROP PARTITION``, nothing written). That condition holds for every row the
  week can ever receive, so the drop races no INSERT.
* **Opik's own retention job may run beside it.** Each deletes only rows due
  by its own rules; the shorter rule removes a row first, and neither brings
  back what the other deleted. Like Opik's, the store's job keeps the traces
  (and their spans) linked to experiments when the database has Opik's
  ``experiment_items``; a week holding such rows is never dropped whole.
* **Sharded topology: every shard expires its own rows.** Parts, partitions
  and mutations belong to the shard-local tables, so the job runs on every
  host of the cluster; a replicated DELETE or DROP reaches the other replicas
  of its shard by replication (they then find nothing left to do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opik_store.config import StoreConfig, control_write_settings
from opik_store.engine.adapter import Adapter
from opik_store.engine.hosts import cluster_hosts, fans_out, on_every_host
from opik_store.engine.quoting import quote_identifier, quote_string
from opik_store.errors import ConfigError, DataLossError, OpikStoreError
from opik_store.maintenance.config_file import RetentionConfig
from opik_store.schema.sharding import storage_table

#: Tables whose rows the expiry job removes (Opik's weekly partitions by each row's own id).
RETAINED_TABLES = ("traces", "spans")
#: Ids dated before this or from LAST_DATED on are kept whatever their class (clients do mint ids dated 2199).
FIRST_DATED = date(2000, 1, 1)
LAST_DATED = date(2070, 1, 1)
#: A rule applied today takes effect for ids from this many UTC days ahead (start of that day).
ACTIVATION_DAYS = 2

#: A row's UTC id day when its id carries a usable time, else NULL (never due).
_DAY = (
    "if(substring(id, 15, 1) = '7' AND id_at >= toDateTime64('2000-01-01 00:00:00', 0, 'UTC') "
    "AND id_at < toDateTime64('2070-01-01 00:00:00', 0, 'UTC'), toDate32(id_at), NULL)"
)


def _history(part: str, key: str, prefix: str) -> str:
    """One key's ``part`` ('froms' or 'days') array out of the bound rule history (empty when the key has none)."""
    element = "Date32" if part == "froms" else "UInt16"
    keys = f"{{{prefix}keys:Array(Tuple(String, String))}}"
    return f"{{{prefix}{part}:Array(Array({element}))}}[indexOf({keys}, {key})]"


def class_expression(prefix: str = "") -> str:
    """A row's class in days (0: unlimited) from a rule history bound as ``{prefix}keys``/``froms``/``days``
    (Rules.params): the last period in effect on its id day over the default's, then the workspace's, then
    the project's periods (so a project period in effect wins, then a workspace one, then the default); 0 when
    none is in effect or the id has no usable day."""
    keys = ("('', '')", "(workspace_id, '')", "(workspace_id, toString(project_id))")
    days = ", ".join(_history("days", k, prefix) for k in keys)
    froms = ", ".join(_history("froms", k, prefix) for k in keys)
    return f"ifNull(arrayLast((d, f) -> f <= {_DAY}, arrayConcat({days}), arrayConcat({froms})), 0)"


def due_expression(prefix: str = "") -> str:
    """Whether a row's (class, week) group is due on the bound ``{today:Date32}`` (see GroupExpiry.due_on)."""
    cls = class_expression(prefix)
    return f"({cls} > 0 AND ({_DAY} - toDayOfWeek({_DAY}, 1)) + 7 + {cls} <= {{today:Date32}})"


CLASS = class_expression()


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


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass(frozen=True)
class Rules:
    """The rule history, periods collapsed (per key and start day the newest rule wins), as the job binds it."""

    periods: dict[tuple[str, str], list[tuple[date, int]]]  # key -> [(from, days)] sorted by day

    def params(self) -> dict[str, Any]:
        keys = sorted(self.periods)
        return {
            "keys": [tuple(k) for k in keys],
            "froms": [[f.isoformat() for f, _ in self.periods[k]] for k in keys],
            "days": [[d for _, d in self.periods[k]] for k in keys],
        }

    def classes_on(self, first: date, last: date) -> set[int]:
        """Every class some key has in effect on some day from ``first`` to ``last`` (0 included: unlimited,
        also when the default has no period in effect)."""
        found: set[int] = set()
        for periods in self.periods.values():
            for i, (start, days) in enumerate(periods):
                end = periods[i + 1][0] if i + 1 < len(periods) else date.max
                if start <= last and end > first:
                    found.add(days)
        default = self.periods.get(("", ""), [])
        if not default or default[0][0] > first:
            found.add(0)  # a key without any period in effect keeps its rows
        return found

    def shortest(self) -> int | None:
        """The shortest limited class of any period (None when every class is unlimited)."""
        limited = [d for periods in self.periods.values() for _, d in periods if d > 0]
        return min(limited) if limited else None


@dataclass(frozen=True)
class GroupExpiry:
    """The live rows of one class in one week of a retained table, and when they are all due."""

    table: str
    partition_id: str
    week: date  # the Monday (UTC) of the ids' week
    days: int  # the class; 0 = unlimited
    rows: int

    @property
    def due_on(self) -> date | None:
        """The UTC day from whose start every row of the group is due (None: never)."""
        if self.days == 0 or not FIRST_DATED <= self.week < LAST_DATED:
            return None
        return self.week + timedelta(days=7 + self.days)

    def due(self, today: date) -> bool:
        at = self.due_on
        return at is not None and at <= today

    def as_json(self) -> dict[str, Any]:
        at = self.due_on
        return {"table": self.table, "partition_id": self.partition_id, "week": self.week.isoformat(),
                "days": self.days, "rows": self.rows, "due_on": at.isoformat() if at else None}  # fmt: skip


@dataclass
class RetentionPlan:
    """What ``apply`` would do, and what is due within the horizon (times in the server's timezone)."""

    changes: list[RuleChange]
    unmanaged: list[tuple[str, str, int]]  # rules in the database but not in the file
    expiring: list[GroupExpiry]
    now: datetime  # the server's clock (aware, UTC); shown in ``timezone``
    timezone: str
    undated_rows: dict[str, int] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.now.astimezone(UTC).date()

    @property
    def expired(self) -> list[GroupExpiry]:
        return [g for g in self.expiring if g.due(self.today)]

    def as_json(self) -> dict[str, Any]:
        return {
            "server_now": self.now.astimezone(_zone(self.timezone)).isoformat(),
            "server_timezone": self.timezone,
            "changes": [c.as_json() for c in self.changes],
            "unmanaged": [{"workspace": w, "project": p, "days": d} for w, p, d in self.unmanaged],
            "undated_rows": self.undated_rows,
            "expiring": [g.as_json() for g in self.expiring],
            "due_groups": len(self.expired),
            "due_rows": sum(g.rows for g in self.expired),
        }


@dataclass
class BackfillReport:
    """A backfill of one key: the class its past ids take, and the rows that are due at once under it."""

    workspace: str
    project: str
    days: int
    due_now: dict[str, int] = field(default_factory=dict)  # "table workspace/project" -> rows due at once
    dry_run: bool = False
    rules_added: int = 0

    @property
    def due_rows(self) -> int:
        return sum(self.due_now.values())

    def as_json(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "project": self.project, "days": self.days, "dry_run": self.dry_run,
                "rules_added": self.rules_added, "due_rows": self.due_rows, "due_now": self.due_now}  # fmt: skip


class RetentionLookupError(OpikStoreError):
    """Some cluster hosts could not be reached by the expiry job (each named, with its error)."""


class Retention:
    """Retention operations on one database."""

    def __init__(self, adapter: Adapter, config: StoreConfig, say: Callable[[str], None] | None = None) -> None:
        self.adapter = adapter
        self.config = config
        self.say = say or (lambda _m: None)
        self.db = quote_identifier(config.database, "database name")

    def _stored(self, table: str) -> str:
        """The quoted table that holds ``table``'s rows here (shard-local on the sharded topology)."""
        return f"{self.db}.{quote_identifier(storage_table(table, self.config.topology))}"

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

    def rules(self) -> Rules:
        """The whole rule history, as the expiry job reads it (one query, from the replicated rules table)."""
        rows = self.adapter.query(f"{self._periods()} ORDER BY workspace_id, project_id, effective_from").rows
        periods: dict[tuple[str, str], list[tuple[date, int]]] = {}
        for w, p, start, days in rows:
            periods.setdefault((str(w), str(p)), []).append((_as_date(start), int(days)))
        return Rules(periods)

    def server_clock(self) -> tuple[datetime, str]:
        """The server's clock (as an aware UTC datetime) and its timezone name."""
        ts, tz = self.adapter.query("SELECT toUnixTimestamp(now()), timezone()").rows[0]
        return datetime.fromtimestamp(int(ts), UTC), str(tz)

    def weeks(self, table: str) -> list[tuple[str, date, int]]:
        """(partition id, Monday, rows) of every week of ``table`` stored here (partition ids are YYYYMMDD)."""
        rows = self.adapter.query(
            "SELECT partition_id, sum(rows) FROM system.parts WHERE database = {db:String} AND table = {t:String} "
            "AND active GROUP BY partition_id ORDER BY partition_id",
            {"db": self.config.database, "t": storage_table(table, self.config.topology)},
        ).rows
        out = []
        for pid, count in rows:
            text = str(pid)
            if len(text) == 8 and text.isdigit():
                out.append((text, date(int(text[:4]), int(text[4:6]), int(text[6:])), int(count)))
        return out

    def groups(self, table: str, partition_id: str, week: date, rules: Rules, keep: str = "") -> list[GroupExpiry]:
        """The live rows of one week by class (rows of ids without a usable time are class 0), leaving out the
        rows ``keep`` protects (``_kept_for_experiments``): they are never due."""
        rows = self.adapter.query(
            f"SELECT {CLASS} AS class, count() FROM {self._stored(table)} WHERE _partition_id = {{pid:String}}{keep} "
            "GROUP BY class ORDER BY class",
            {**rules.params(), "pid": partition_id},
        ).rows
        return [GroupExpiry(table, partition_id, week, int(c), int(n)) for c, n in rows]

    def droppable(self, week: date, rules: Rules, today: date) -> bool:
        """Whether every row week ``week`` holds or can ever receive is due: a dated week past the longest class
        in effect on any of its days, with no unlimited class in effect on them."""
        if not FIRST_DATED <= week < LAST_DATED:
            return False
        classes = rules.classes_on(week, week + timedelta(days=6))
        return 0 not in classes and week + timedelta(days=7 + max(classes)) <= today

    def candidates(self, table: str, rules: Rules, today: date,
                   weeks: list[tuple[str, date, int]] | None = None) -> list[tuple[str, date, int]]:  # fmt: skip
        """Weeks of ``table`` (``weeks`` when the caller read them already) in which some group may be due:
        dated weeks at least the shortest class old."""
        shortest = rules.shortest()
        if shortest is None:
            return []
        return [(pid, week, n) for pid, week, n in (self.weeks(table) if weeks is None else weeks)
                if FIRST_DATED <= week < LAST_DATED and week + timedelta(days=7 + shortest) <= today]  # fmt: skip

    def plan(self, wanted: RetentionConfig, horizon_days: int = 7, prune: bool = False) -> RetentionPlan:
        """Compare the file with the newest rules; list the (class, week) groups due within the horizon."""
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
        rules = self.rules()
        horizon = now.date() + timedelta(days=horizon_days)
        expiring: list[GroupExpiry] = []
        undated: dict[str, int] = {}
        for table in RETAINED_TABLES:
            weeks = self.weeks(table)
            for _pid, week, rows in weeks:
                if not FIRST_DATED <= week < LAST_DATED:
                    undated[table] = undated.get(table, 0) + rows
            keep = self._kept_for_experiments(table)
            for pid, week, _ in self.candidates(table, rules, horizon, weeks):
                expiring += [g for g in self.groups(table, pid, week, rules, keep)
                             if (at := g.due_on) is not None and at <= horizon]  # fmt: skip
        return RetentionPlan(changes, unmanaged, expiring, now, tz, undated)

    def _activation_day(self) -> date:
        return _as_date(self.adapter.query(f"SELECT toDate32(now('UTC')) + {ACTIVATION_DAYS}").scalar())

    def add_rule(self, workspace: str, project: str, days: int, effective_from: date, note: str) -> None:
        """Append one rule. Callers keep effective_from in the future (``backfill`` is the explicit exception)."""
        self.adapter.execute(
            f"INSERT INTO {self.db}.retention_rules (workspace_id, project_id, days, effective_from, note) "
            "SELECT {w:String}, {p:String}, {d:UInt16}, toDate32({e:String}), {n:String}",
            {"w": workspace, "p": project, "d": days, "e": effective_from.isoformat(), "n": note},
            settings=control_write_settings(),
        )

    def apply(self, plan: RetentionPlan, expire_now: bool = False) -> list[str]:
        """Carry out ``plan`` (append its rules), then, with ``expire_now``, run the expiry; return what was done."""
        done: list[str] = []
        earliest = self._activation_day()  # a plan made earlier must not bring a rule closer than the margin
        for change in plan.changes:
            effective = max(change.effective_from or earliest, earliest)
            self.add_rule(change.workspace, change.project, change.days, effective, "opik-store retention apply")
            done.append(f"rule: {change.describe()}")
        if expire_now:
            done += self.expire_now()
        return done

    # -- expiry --------------------------------------------------------------------
    def _every_host(self) -> bool:
        """Whether the shard-local tables live on several servers (a sharded cluster reached over the network)."""
        return self.config.topology.is_sharded and fans_out(self.adapter.spec, self.config.topology.cluster)

    def expire_now(self, dry_run: bool = False) -> list[str]:
        """Remove every due (class, week) group: DROP PARTITION of weeks wholly past their classes, a
        lightweight DELETE per other due group, one reclaim of the masked rows when one class is left.

        On a sharded cluster every host runs it on its own shard-local tables; a host not reached is named in
        a RetentionLookupError raised after every other host was done."""
        if not self._every_host():
            return self._expire_here(dry_run)
        assert self.config.topology.cluster is not None
        hosts = cluster_hosts(self.adapter, self.config.topology.cluster)
        done: list[str] = []
        unreached: list[str] = []

        def here(conn: Adapter) -> list[str]:
            return Retention(conn, self.config, self.say)._expire_here(dry_run)

        for outcome in on_every_host(self.adapter.spec, hosts, here):
            if outcome.error:
                unreached.append(f"{outcome.host.label}: {outcome.error}")
            else:
                done += [f"{line} on {outcome.host.label}" for line in outcome.result or []]
        if unreached:
            raise RetentionLookupError(
                f"expiry did not run on {len(unreached)} host(s): {'; '.join(unreached)}. Everything else was "
                f"done ({len(done)} step(s)); run it again once they answer."
            )
        return done

    def _expire_here(self, dry_run: bool, today: date | None = None) -> list[str]:
        """The expiry on this node's tables, as of the server's UTC day (``today`` only for simulations that
        replay a retention cycle, such as bench/opik_parity.py: a later day removes rows before their time)."""
        if today is None:
            today = self.server_clock()[0].date()
        rules = self.rules()
        done: list[str] = []
        settings = {**self.config.ddl_settings, "mutations_sync": "2"}
        for table in RETAINED_TABLES:
            stored = self._stored(table)
            keep = self._kept_for_experiments(table)
            for pid, week, rows in self.candidates(table, rules, today):
                if self.droppable(week, rules, today) and not self._linked_rows(stored, pid, keep):
                    sql = f"ALTER TABLE {stored} DROP PARTITION ID {quote_string(pid)}"
                    self.say(f"dropping week {week} of {table} ({rows} rows, all past their class)")
                    if not dry_run:
                        self.adapter.execute(sql, settings=self.config.ddl_settings)
                    done.append(f"drop {table} week {week} ({rows} rows)")
                    continue
                groups = self.groups(table, pid, week, rules, keep)
                due = [g for g in groups if g.due(today)]
                for g in due:
                    self.say(f"deleting {g.rows} rows of {table} week {week} class {g.days} days")
                    if not dry_run:
                        self.adapter.execute(
                            f"DELETE FROM {stored} IN PARTITION ID {quote_string(pid)} WHERE {CLASS} = {{c:UInt16}}"
                            f"{keep}",
                            {**rules.params(), "c": g.days},
                            settings=settings,
                        )
                    done.append(f"delete {table} week {week} class {g.days} days ({g.rows} rows)")
                left = {g.days for g in groups} - {g.days for g in due}
                if due and len(left) <= 1:
                    if not dry_run:
                        self.adapter.execute(
                            f"ALTER TABLE {stored} APPLY DELETED MASK IN PARTITION ID {quote_string(pid)}",
                            settings=settings,
                        )
                    done.append(f"reclaim {table} week {week}")
        return done

    def _kept_for_experiments(self, table: str) -> str:
        """The condition that keeps rows of traces linked to experiments, as Opik's own retention does (its
        DELETEs exclude ``trace_id``s in ``experiment_items``): '' when the database has no such table."""
        found = self.adapter.query(
            "SELECT count() FROM system.tables WHERE database = {d:String} AND name = 'experiment_items'",
            {"d": self.config.database},
        ).scalar()
        if not int(found):
            return ""
        key = "id" if table == "traces" else "trace_id"
        return f" AND {key} NOT IN (SELECT trace_id FROM {self.db}.experiment_items)"

    def _linked_rows(self, stored: str, partition_id: str, keep: str) -> bool:
        """Whether the week holds rows that ``keep`` protects (then it is expired group by group, not dropped)."""
        if not keep:
            return False
        linked = self.adapter.query(
            f"SELECT count() FROM {stored} WHERE _partition_id = {{pid:String}} AND NOT (1 {keep})",
            {"pid": partition_id},
        ).scalar()
        return int(linked) > 0

    # -- past data ---------------------------------------------------------------
    def backfill(self, workspace: str, project: str = "", dry_run: bool = False, yes: bool = False) -> BackfillReport:
        """Give the key's past ids its newest class (even one not yet in effect).

        Appends, for every period of the key that has started (and for all time before its first one), a
        rule with the newest class; rules of other keys are untouched (a workspace's projects with rules of
        their own keep theirs). Counts per table and workspace/project the rows that would be due at once
        under it; refuses (DataLossError, nothing written) when any would and ``yes`` is not given. The
        next expiry removes them."""
        if project and not workspace:
            raise ConfigError("a project rule belongs to a workspace: name the workspace too")
        key = (workspace, project)
        current = self.latest_rules()
        if key not in current:
            what = f"workspace {workspace!r}" + (f" project {project!r}" if project else "") if workspace else "default"
            raise ConfigError(
                f"no retention rule for the {what}: assign a class with `opik-store retention apply` first"
            )
        days = current[key]
        report = BackfillReport(workspace, project, days, dry_run=dry_run)
        rules = self.rules()
        today = self._today()
        starts = sorted({date(1970, 1, 1)} | {f for f, _ in rules.periods.get(key, []) if f <= today})
        history = dict(rules.periods)
        merged = dict(history.get(key, []))
        merged.update({s: days for s in starts})
        history[key] = sorted(merged.items())
        after = Rules(history)
        report.due_now = self._due_counts(after, rules, today)
        if dry_run:
            return report
        if report.due_rows and not yes:
            raise DataLossError(
                f"backfilling {days} days onto the past ids of the {_key(workspace, project)} makes "
                f"{report.due_rows} row(s) due at once; the next expiry deletes them ("
                + ", ".join(f"{k}: {n}" for k, n in sorted(report.due_now.items()))
                + "). Nothing was changed. Re-run with --yes to confirm, or --dry-run to see the count."
            )
        for start in starts:
            self.add_rule(workspace, project, days, start, "opik-store retention backfill")
        report.rules_added = len(starts)
        return report

    def _today(self) -> date:
        return self.server_clock()[0].date()

    def _due_counts(self, after: Rules, before: Rules, today: date) -> dict[str, int]:
        """Per "table workspace/project", the rows due on ``today`` under ``after`` that are not under ``before``."""
        shortest = after.shortest()
        if shortest is None:
            return {}
        found: dict[str, int] = {}
        params = {**after.params(), **{f"b_{k}": v for k, v in before.params().items()}, "today": today.isoformat()}
        for table in RETAINED_TABLES:
            rows = self.adapter.query(
                f"SELECT workspace_id, toString(project_id), count() FROM {self._stored(table)} "
                f"WHERE {due_expression()} AND NOT {due_expression('b_')} GROUP BY 1, 2 ORDER BY 1, 2",
                params,
            ).rows
            for w, p, n in rows:
                found[f"{table} {w}/{p}"] = int(n)
        return found


def _key(workspace: str, project: str) -> str:
    if not workspace:
        return "default"
    return f"workspace {workspace!r}" + (f" project {project!r}" if project else "")


def _zone(name: str) -> tzinfo:
    """The server's timezone; UTC when this Python does not know its name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local(moment: datetime, timezone: str) -> datetime:
    """``moment`` as the server's wall clock shows it."""
    return moment.astimezone(_zone(timezone))
