"""Adoption: move a database Opik created onto the store's tables, online, and onto its ledger.

``Adoption`` recognises Opik's ORIGINAL layout (``traces``/``spans`` as its
first migrations made them: ReplacingMergeTree(last_updated_at), no
partitions, DateTime64(9) times, ``usage`` Map(String, Int32), spans sorted
with ``parent_span_id``) and its SUCCESSOR layout (``is_deleted``,
``input_slim``/``output_slim``, ``environment``, ``id_at``, weekly
partitions, spans sorted without ``parent_span_id``), and re-lays each table
out onto ``ddl/`` with :class:`opik_store.migrations.relayout.Relayout`.
Rules it keeps:

* It refuses, changing nothing, anything it does not recognise: a table
  missing, a column it would have to drop, a sort key or engine it does not
  know, a Distributed wrapper, a database that is not Atomic (EXCHANGE needs
  it), or a name it would create that someone else already uses.
* It touches ``traces`` and ``spans`` only, plus what it creates itself: the
  store's ``retention_rules`` and ``retention`` (which the new tables' class
  column reads), the new tables, their backups and its progress table. Opik's
  other tables are never read or written.
* ``run`` holds the migration lock (so no ``migrate`` or second ``run`` races
  it) and fences on it after every window. ``finish`` records the ledger at
  head through ``stamp`` (which refuses unless the live tables match) before
  it drops any backup, and drops them only when confirmed.

May import: ``opik_store.errors``, ``opik_store.engine``, ``opik_store.config``,
``opik_store.schema`` and ``opik_store.migrations``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from opik_store.config import StoreConfig
from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_identifier
from opik_store.errors import DataLossError, OpikStoreError
from opik_store.migrations.relayout import (
    BACKUP_SUFFIX,
    NEW_SUFFIX,
    PROGRESS_TABLE,
    Check,
    Limits,
    Relayout,
    RelayoutPlan,
    Say,
    StepHook,
    WindowHook,
    read_columns,
)
from opik_store.migrations.runner import Migrator
from opik_store.schema.ddl import ddl
from opik_store.schema.lint import create_columns
from opik_store.schema.render import render_statement

ORIGINAL = "original"
SUCCESSOR = "successor"
STORE = "store"
#: Tables of the store's layout without the store's ledger (Opik's own tables after its cutover): adopted in
#: place, no row copied.
IN_PLACE = "store layout, adopted in place"

TABLES = ("traces", "spans")
#: (identity of a row = the new layout's sort key, window column) per table.
KEYS: dict[str, tuple[tuple[str, ...], str]] = {
    "traces": (("workspace_id", "project_id", "id"), "id"),
    "spans": (("workspace_id", "project_id", "trace_id", "id"), "trace_id"),
}
#: Opik's own cutover rule (runbook spans-local-v2-cutover, its copy and reconciliation statements: ``if(length(
#: parent_span_id) = 36, ..., '')``): a parent_span_id that is not 36 bytes, such as the 40-character poison value
#: SpanDAO's partial insert writes, becomes '' (a root span); a CAST would fail the whole copy. ``adopt plan`` counts
#: them.
BLANK_IF_MALFORMED: dict[str, tuple[str, ...]] = {"spans": ("parent_span_id",)}
#: Store objects the new tables need first (their class column reads the ``retention`` lookup).
PREREQUISITES = ("retention_rules", "retention")

#: The columns Opik's first changeset (000001_init_script) gives both tables: every Opik install has them. Columns
#: added later (error_info, thread_id, slim, environment, ttft, source, id_at, ...) may be missing: the store's
#: layout gives a missing column its DEFAULT.
_COMMON = {
    "id", "workspace_id", "project_id", "name", "start_time", "end_time", "input", "output", "metadata", "tags",
    "created_at", "last_updated_at",
}  # fmt: skip
_REQUIRED = {
    "traces": _COMMON,
    "spans": _COMMON | {"trace_id", "parent_span_id", "type", "usage"},
}


def _current_layout(table: str, cols: dict[str, Any], partition_key: str) -> bool:
    """Whether a table has the store's current layout (revision 0004 on: Opik's own newest table): its column
    names, Opik's weekly partition key and the String truncation columns. Opik's tables after its own cutover
    pass too: they need no copy, only the ledger (``stamp``)."""
    names = set(create_columns(ddl(table)))
    truncated = cols.get("truncated_input")
    return set(cols) == names and partition_key == _OPIK_WEEK and truncated is not None and truncated.type == "String"


_OPIK_WEEK = "toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))"
_SORT_KEYS = {
    (ORIGINAL, "traces"): "workspace_id, project_id, id",
    (ORIGINAL, "spans"): "workspace_id, project_id, trace_id, parent_span_id, id",
    (SUCCESSOR, "traces"): "workspace_id, project_id, id",
    (SUCCESSOR, "spans"): "workspace_id, project_id, trace_id, id",
}
#: Seconds per uncompressed GB the cost estimate assumes: an assumption, and the plan says so
#: (bench/adopt_cost.py measures the real rate of a server; here it copied ~0.8 KB rows at ~90k rows/s with
#: verification, so the assumption is on the slow side).
ASSUMED_SECONDS_PER_GB = 40.0


def _wrapped(db: str, table: str, engine_full: str) -> str:
    """The refusal of a Distributed ``table`` (Opik's runbook wraps its successor table, renamed
    ``<table>_local``, this way), with the steps that make it adoptable."""
    found = re.match(r"Distributed\(\s*'([^']*)'\s*,\s*'[^']*'\s*,\s*'([^']*)'", engine_full)
    cluster, local = (found.group(1), found.group(2)) if found else ("?", f"{table}_local")
    return (
        f"{table} is a Distributed table over {local} (cluster {cluster!r}): Opik's wrap after its cutover. The "
        f"store keeps {table} as the table itself. On a single shard, with Opik's writers stopped, unwrap it on "
        f"each node: RENAME TABLE `{db}`.`{table}` TO `{db}`.`{table}_opik_wrap`, `{db}`.`{local}` TO "
        f"`{db}`.`{table}`; then `opik-store adopt plan` (Opik's successor layout is the store's: nothing is "
        f"copied), and drop `{table}_opik_wrap` once Opik runs without its wrap flag. Several shards are not "
        "supported by this version"
    )


class AdoptionRefused(OpikStoreError):
    """The database is not something adoption recognises, or not in a state the command needs; nothing changed."""


@dataclass(frozen=True)
class TableFinding:
    table: str
    layout: str
    engine: str
    sorting_key: str
    problems: tuple[str, ...] = ()


@dataclass
class AdoptPlan:
    """What ``adopt`` found and will do: the layout, each table's re-layout plan and state, the cost."""

    database: str
    layout: str
    state: str
    tables: list[RelayoutPlan] = field(default_factory=list)
    creates: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def bytes_on_disk(self) -> int:
        return sum(t.bytes_on_disk for t in self.tables)

    @property
    def estimated_seconds(self) -> float:
        return sum(t.bytes_uncompressed for t in self.tables) / 1e9 * ASSUMED_SECONDS_PER_GB

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "layout": self.layout,
            "state": self.state,
            "rows": self.rows,
            "bytes_on_disk": self.bytes_on_disk,
            "extra_disk_bytes": self.bytes_on_disk,
            "estimated_seconds": round(self.estimated_seconds, 1),
            "creates": self.creates,
            "steps": self.steps,
            "tables": [t.as_json() for t in self.tables],
        }


class Adoption:
    """Adopt the configured database: plan, run, verify, finish, rollback."""

    def __init__(
        self,
        adapter: Adapter,
        config: StoreConfig,
        migrator: Migrator,
        limits: Limits | None = None,
        say: Say | None = None,
        after_window: WindowHook | None = None,
        after_step: StepHook | None = None,
    ) -> None:
        self.adapter = adapter
        self.after_step = after_step
        self.config = config
        self.migrator = migrator
        self.limits = limits or Limits()
        self.say: Say = say or (lambda _m: None)
        self.after_window = after_window
        self.db = config.database

    def relayout(self, table: str, after_window: WindowHook | None = None) -> Relayout:
        key, column = KEYS[table]
        return Relayout(
            self.adapter, self.config, table, ddl(table), key, column, self.limits, self.say,
            after_window or self.after_window, prerequisites=tuple(ddl(t) for t in PREREQUISITES),
            after_step=self.after_step, origin="adopt", blank_if_malformed=BLANK_IF_MALFORMED.get(table, ()),
        )  # fmt: skip

    # -- recognising ----------------------------------------------------------------------------
    def _tables(self) -> dict[str, dict[str, Any]]:
        rows = self.adapter.query(
            "SELECT name, engine, engine_full, sorting_key, partition_key, toString(uuid) AS uuid FROM system.tables "
            "WHERE database = {d:String}",
            {"d": self.db},
        ).dicts()
        return {str(r["name"]): r for r in rows}

    def table_names(self) -> set[str]:
        """The names of the database's tables (views and dictionaries included)."""
        return set(self._tables())

    def classify(self, table: str, info: dict[str, Any] | None) -> TableFinding:
        """The layout of one table (original, successor, store) or ``unknown`` with every reason."""
        if info is None:
            return TableFinding(table, "unknown", "", "", (f"{table} does not exist",))
        engine, sort = str(info["engine"]), str(info["sorting_key"])
        cols = {c.name: c for c in read_columns(self.adapter, self.db, table)}
        if "retention_days" in cols or _current_layout(table, cols, str(info.get("partition_key", ""))):
            return TableFinding(table, STORE, engine, sort)
        problems: list[str] = []
        if engine == "Distributed":
            problems.append(_wrapped(self.db, table, str(info.get("engine_full", ""))))
        elif engine.removeprefix("Replicated") != "ReplacingMergeTree":
            problems.append(f"{table} has engine {engine}, not ReplacingMergeTree")
        # Opik's successor tables carry is_deleted (its engine's deletion flag); its live tables before the
        # cutover never do, whatever columns its changesets added to them since (slim, environment, id_at, ...)
        layout = SUCCESSOR if "is_deleted" in cols else ORIGINAL
        missing = sorted(_REQUIRED[table] - set(cols))
        if missing:
            problems.append(f"{table} lacks column(s) {', '.join(missing)}")
        if engine != "Distributed" and sort != _SORT_KEYS[(layout, table)]:
            problems.append(f"{table} is sorted by ({sort}), not ({_SORT_KEYS[(layout, table)]}) as Opik's {layout} "
                            "layout is")  # fmt: skip
        return TableFinding(table, layout, engine, sort, tuple(problems))

    def detect(self) -> str:
        """The database's layout (original, successor, store, or ``adopting`` when a re-layout is under way);
        AdoptionRefused listing every reason when it is not one adoption recognises."""
        db_engine = self.adapter.query(
            "SELECT engine FROM system.databases WHERE name = {d:String}", {"d": self.db}
        ).scalar()
        if db_engine is None:
            raise AdoptionRefused(f"database {self.db!r} does not exist: nothing to adopt")
        tables = self._tables()
        if PROGRESS_TABLE in tables:
            states = [self.relayout(t).state() for t in TABLES]
            if any(s.planned and not s.finished for s in states):
                return "adopting"
        findings = [self.classify(t, tables.get(t)) for t in TABLES]
        problems = [p for f in findings for p in f.problems]
        layouts = {f.layout for f in findings}
        if not problems and layouts == {STORE}:
            return STORE
        if not problems and len(layouts) > 1:
            problems.append(f"traces and spans are in different layouts ({', '.join(sorted(layouts))})")
        if str(db_engine) not in {"Atomic", "Replicated"}:
            problems.append(f"database {self.db!r} has engine {db_engine}: EXCHANGE TABLES needs an Atomic database")
        cluster = self.config.topology.cluster
        if cluster:
            shards = self.adapter.query(
                "SELECT uniqExact(shard_num) FROM system.clusters WHERE cluster = {c:String}", {"c": cluster}
            ).scalar()
            if int(shards or 0) > 1:
                problems.append(f"cluster {cluster!r} has {shards} shards: adoption copies one shard's tables; "
                                "several shards are not supported by this version")  # fmt: skip
        taken = sorted(n for t in TABLES for n in (t + NEW_SUFFIX, t + BACKUP_SUFFIX) if n in tables)
        taken += sorted(n for n in PREREQUISITES if n in tables)
        if taken:
            problems.append(f"name(s) adoption would create already exist: {', '.join(taken)}")
        if problems:
            raise AdoptionRefused(
                f"database {self.db!r} is not an Opik layout adoption recognises; nothing was changed:\n  "
                + "\n  ".join(problems)
            )
        return findings[0].layout

    # -- plan ------------------------------------------------------------------------------------
    def plan(self) -> AdoptPlan:
        """What adoption found and will do, with its cost; changes nothing."""
        layout = self.detect()
        if layout == STORE:
            status = self.migrator.status()
            if status.pending or not status.applied:
                return self._in_place_plan()
            return AdoptPlan(self.db, STORE, "adopted: on the store's layout and ledger at head; nothing to do")
        plans = [self.relayout(t).plan() for t in TABLES]
        if layout == "adopting":
            states = {p.state for p in plans}
            state = "; ".join(f"{p.table}: {p.state}" for p in plans)
            layout = "original or successor (re-layout under way)"
            steps = self._next_steps(states)
        else:
            state = "not started"
            steps = [
                "create the store's retention_rules and retention (empty; the new tables' class column reads them)",
                *(f"create {p.new_table} beside {p.table}; copy {p.rows:,} rows in {len(p.windows)} windows of the "
                  f"{p.window_column} time, verifying each" for p in plans),
                "catch up writes and deletions made meanwhile; EXCHANGE each table with its new layout "
                "(the original stays as <table>_opik_store_backup)",
                *self._blanked(),
                "then: `adopt verify`, and `adopt finish --yes` (ledger at head, backups dropped) or `adopt rollback`",
            ]  # fmt: skip
        for p in plans:
            if p.dropped_columns:
                raise AdoptionRefused(f"{p.table}: the store's layout has no column(s) {', '.join(p.dropped_columns)}:"
                                      " adopting would drop them; nothing was changed")  # fmt: skip
        creates = [*PREREQUISITES, *(p.new_table for p in plans), PROGRESS_TABLE]
        return AdoptPlan(self.db, layout, state, plans, creates, steps)

    def _blanked(self) -> list[str]:
        """A step per column where values will be stored as '' (BLANK_IF_MALFORMED), with how many rows hold one
        now; none when no row does."""
        out = []
        for table, columns in BLANK_IF_MALFORMED.items():
            for column in columns:
                col = quote_identifier(column)
                n = int(self.adapter.query(
                    f"SELECT countIf(length({col}) NOT IN (0, 36)) FROM {quote_identifier(self.db)}.{table}"
                ).scalar() or 0)  # fmt: skip
                if n:
                    out.append(f"{table}: {n:,} row(s) hold a {column} that is not a 36-character id (Opik's "
                               "partial-insert '*'): stored as '' (a root span), as Opik's cutover does")  # fmt: skip
        return out

    def _in_place_steps(self) -> list[str]:
        """The statements that bring tables of the store's layout without the store's ledger to head (Opik's own
        tables after its cutover): the missing store tables, and the store's deduplication window (metadata only).
        AdoptionRefused, listing them, for any other difference."""
        head = [s for r in self.migrator.revisions.ordered for s in r.upgrade_statements()]
        steps: list[str] = []
        other: list[str] = []
        window = ", non_replicated_deduplication_window = 10000"
        for diff in self.migrator.differences(head):
            if diff.table in PREREQUISITES and diff.aspect == "table" and diff.actual == "missing":
                steps.append(render_statement(ddl(diff.table), self.db, self.config.topology).sql)
            elif (
                diff.table in TABLES and diff.aspect == "settings" and diff.expected.replace(window, "") == diff.actual
            ):
                alter = f"ALTER TABLE {diff.table} MODIFY SETTING {window.lstrip(', ')}"
                steps.append(render_statement(alter, self.db, self.config.topology).sql)
            else:
                other.append(diff.describe())
        if other:
            raise AdoptionRefused(
                f"traces and spans in {self.db!r} have the store's layout but differ from head: "
                + "; ".join(other)
                + ". Nothing was changed: see `opik-store check`."
            )
        return steps

    def _in_place_plan(self) -> AdoptPlan:
        steps = self._in_place_steps()
        return AdoptPlan(self.db, IN_PLACE, "not started", [], [], [
            *steps, "record revisions up to head in the ledger (stamp); no row is copied"])  # fmt: skip

    @staticmethod
    def _next_steps(states: set[str]) -> list[str]:
        if states == {"finished"}:
            return ["nothing: adoption is finished"]
        if states <= {"swapped", "finished"}:
            return ["`adopt verify`, then `adopt finish --yes` or `adopt rollback`"]
        return ["`adopt run` resumes where the last run stopped"]

    # -- run ---------------------------------------------------------------------------------------
    def run(self) -> AdoptPlan:
        """Create the prerequisites, copy both tables, swap both; resumable. Under the migration lock."""
        plan = self.plan()
        if plan.layout == STORE:
            return plan
        if plan.layout == IN_PLACE:
            lock = self.migrator.lock()
            lock.acquire(self.config.lock_timeout)
            try:
                for sql in self._in_place_steps():
                    self.adapter.execute(sql, settings=self.config.ddl_settings)
            finally:
                lock.release()
            self.migrator.stamp("heads")
            return self.plan()
        lock = self.migrator.lock()
        lock.acquire(self.config.lock_timeout)
        try:

            def fenced(window: Any, totals: Any) -> None:
                lock.check()
                if self.after_window:
                    self.after_window(window, totals)

            for name in PREREQUISITES:
                self.adapter.execute(
                    render_statement(ddl(name), self.db, self.config.topology).sql, settings=self.config.ddl_settings
                )
            layouts = [self.relayout(t, fenced) for t in TABLES]
            for r in layouts:
                r.copy()
            for r in layouts:
                lock.check()
                r.swap()
        finally:
            lock.release()
        return self.plan()

    def verify(self) -> dict[str, list[Check]]:
        """Every window of both tables: newest-version counts and checksums of original and new layout."""
        if self.detect() == STORE:
            return {}
        out: dict[str, list[Check]] = {}
        for t in TABLES:
            job = self.relayout(t)
            out[t] = job.verify() if job.state().planned else []  # [] : its copy has not started yet
        return out

    def finish(self, yes: bool, dry_run: bool = False) -> list[str]:
        """Verify, record the ledger at head (stamp), then drop the backups. Returns what it did (or would do).

        Refuses, changing nothing: before both tables are swapped, when a window differs, and without ``yes``."""
        if self.detect() == STORE:
            return []
        relayouts = [self.relayout(t) for t in TABLES]
        states = [r.state() for r in relayouts]
        if not all(s.swapped for s in states):
            raise AdoptionRefused("finish needs both tables swapped: run `opik-store adopt run` first")
        bad = {r.table: [c.window for c in r.verify() if not c.ok] for r, s in zip(relayouts, states, strict=True)
               if not s.finished}  # fmt: skip
        bad = {t: w for t, w in bad.items() if w}
        if bad:
            raise AdoptionRefused(f"verification failed ({bad}); nothing was dropped: see `adopt verify`")
        sizes = [(r.backup_table, *r.source_size(r.backup_table)) for r, s in zip(relayouts, states, strict=True)
                 if not s.finished]  # fmt: skip
        actions = ["record revisions up to head in the ledger (stamp)"] + [
            f"drop {name} ({rows:,} rows, {size:,} bytes)" for name, rows, size, _ in sizes
        ]
        if dry_run:
            return actions
        if not yes:
            raise DataLossError(
                "finish drops the backup(s) "
                + ", ".join(f"{n} ({r:,} rows)" for n, r, _, _ in sizes)
                + ": re-run with --yes to confirm (nothing was changed)"
            )
        self.migrator.stamp("heads")
        for r, s in zip(relayouts, states, strict=True):
            if not s.finished:
                r.drop_backup()
        return actions

    def rollback(self, dry_run: bool = False) -> list[str]:
        """Put both original tables back under their names with every write made since the swap."""
        if self.detect() == STORE:
            return []
        relayouts = [self.relayout(t) for t in reversed(TABLES)]
        states = [r.state() for r in relayouts]
        if any(s.finished for s in states):
            raise AdoptionRefused("adoption was finished (backups dropped): there is nothing to roll back to")
        lossy = {r.table: r.lossy_rollback() for r in relayouts}
        if any(lossy.values()):
            listing = ", ".join(f"{t}.{c} in {n:,} rows" for t, cols in lossy.items() for c, n in cols.items())
            raise AdoptionRefused(f"rolling back would change values that do not fit Opik's layout ({listing}); "
                                  "nothing was changed. The store's layout stays live.")  # fmt: skip
        actions = [
            f"{r.table}: copy writes made since the swap back into {r.backup_table}, then EXCHANGE them back"
            if s.swapped else f"{r.table}: not swapped; the live table stays the original"
            for r, s in zip(relayouts, states, strict=True)
        ]  # fmt: skip
        if dry_run:
            return actions
        lock = self.migrator.lock()
        lock.acquire(self.config.lock_timeout)
        try:
            for r in relayouts:
                r.rollback(values_checked=True)  # checked above, for both tables before either moves
        finally:
            lock.release()
        return actions
