"""The migration runner: plans and applies revisions, records each in the ledger.

Rules:

* One run at a time per database: everything that reads the ledger to decide
  and then changes the schema happens under the migration lock (lock.py), and
  the lock is re-checked (fenced) before every statement.
* Statements run in revision order, one at a time, with the configured DDL
  settings; transient server errors are retried with backoff (retry.py).
  Each statement is idempotent (render.py), so re-running after an
  interruption or a failure completes the work.
* Each application is bracketed in the ledger: a ``started`` row before the
  first statement, then ``applied`` (or ``failed`` with the server's error).
  A revision whose newest row is ``started`` was interrupted; the next run
  applies it again, or, if it holds a statement that must not run twice,
  stops and says exactly what to check.
* In cluster mode, a CREATE TABLE of a revision being applied or reverted
  (and the ledger's own CREATE) that fails with REPLICA_ALREADY_EXISTS (Keeper
  holds that node's replica from a create interrupted after registering, or
  from a node that lost its disk) drops that leftover replica and runs again,
  once; ClickHouse refuses while the replica is active (replicas.py states
  the rule).
* Refusals happen before anything changes: a ledger naming revisions this
  code does not know; an applied revision whose statements were edited since
  (unless allow_changed); a destructive revision (unless allow_destructive);
  a downgrade that loses data (unless allow_data_loss); in cluster mode, a
  cluster that fails pre-flight.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from opik_store.config import StoreConfig, Topology
from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_identifier
from opik_store.engine.retry import RetryPolicy, call_with_retries
from opik_store.errors import DataLossError, OpikStoreError, RevisionError, ServerError
from opik_store.migrations.ledger import (
    APPLIED,
    DOWNGRADE,
    FAILED,
    LEDGER_TABLE,
    REVERTED,
    STARTED,
    UPGRADE,
    Ledger,
    LedgerEntry,
    create_database_sql,
)
from opik_store.migrations.lock import MigrationLock
from opik_store.migrations.operations import HEADER, parse_relayout, replayable
from opik_store.migrations.preflight import check_cluster, check_layout
from opik_store.migrations.relayout import Limits, Relayout, RelayoutError
from opik_store.migrations.replicas import run_create
from opik_store.migrations.revisions import Revision, RevisionSet
from opik_store.schema.lint import ColumnModel
from opik_store.schema.render import Rendered, render_statement, render_statements
from opik_store.schema.shapes import Difference, compare_topology, expected_shapes, read_shapes
from opik_store.schema.sharding import storage_table

Progress = Callable[[str], None]
#: Called after each statement with (revision id, 1-based statement index); tests inject faults here.
StatementHook = Callable[[str, int], None]


class MigrationError(OpikStoreError):
    """A statement of a revision failed; the ledger records the failure."""

    def __init__(self, revision: str, index: int, total: int, sql: str, cause: ServerError) -> None:
        first_line = " ".join(sql.split())[:160]
        super().__init__(
            f"revision {revision} failed at statement {index}/{total}: {cause}\n  statement: {first_line}\n"
            "Every statement is idempotent: fix the cause and run the same command again."
        )
        self.revision = revision
        self.cause = cause


class RefusedError(OpikStoreError):
    """The run was refused before anything changed (changed, destructive, unsafe to resume, drift)."""


@dataclass(frozen=True)
class Step:
    """One revision in one direction, with the exact statements it runs and what they risk."""

    revision: Revision
    direction: str
    statements: list[Rendered]
    sources: list[str]
    hazards: tuple[str, ...] = ()

    @property
    def checksum(self) -> str:
        return _digest(s.sql for s in self.statements)

    @property
    def source_checksum(self) -> str:
        return _digest(self.sources)

    @property
    def sql(self) -> list[str]:
        """The statements this step runs, as SQL text, in order."""
        return [r.sql for r in self.statements]

    def __str__(self) -> str:
        """The step as a SQL script: a comment naming it, then each statement ending in ``;``."""
        head = f"-- {self.direction} {self.revision.id}: {self.revision.message}"
        return "\n".join([head, *(f"{sql};" for sql in self.sql)])

    def __repr__(self) -> str:
        risk = f", destructive: {', '.join(self.hazards)}" if self.hazards else ""
        name = f"{self.direction} {self.revision.id} {self.revision.message!r}"
        return f"<Step {name}: {len(self.statements)} statements{risk}>"

    @property
    def checksums(self) -> tuple[str, str]:
        return self.checksum, self.source_checksum

    @property
    def destructive(self) -> bool:
        return bool(self.hazards)


def _digest(parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def revision_hazards(revisions: RevisionSet) -> dict[str, tuple[str, ...]]:
    """Destructive-change lint of every revision's upgrade, replaying column types in order."""
    model = ColumnModel()
    out: dict[str, tuple[str, ...]] = {}
    for revision in revisions.ordered:
        found: list[str] = []
        for source in revision.upgrade_statements():
            spec = parse_relayout(source)
            if spec:
                found.extend(model.relayout(spec.table, spec.create))
                continue
            found.extend(render_statement(source, "lint", Topology()).hazards)
            found.extend(model.apply(source))
        out[revision.id] = tuple(found)
    return out


def render_revision(
    revision: Revision, direction: str, config: StoreConfig, hazards: tuple[str, ...] | None = None
) -> Step:
    """Render a revision's statements for the configured database and topology."""
    sources = revision.upgrade_statements() if direction == UPGRADE else revision.downgrade_statements()
    try:
        rendered = [r for s in sources for r in _render_source(s, config)]
    except OpikStoreError as exc:
        raise RevisionError(f"revision {revision.id} ({revision.path.name}): {exc}") from None
    if hazards is None:
        hazards = tuple(h for r in rendered for h in r.hazards)
    return Step(revision=revision, direction=direction, statements=rendered, sources=sources, hazards=hazards)


def _render_source(source: str, config: StoreConfig) -> list[Rendered]:
    """One revision statement rendered. A re-layout renders as comments only (its header, then the CREATE of
    the new layout), so SQL printed by ``--sql`` and run by hand does nothing for it."""
    spec = parse_relayout(source)
    if spec is None:
        return render_statements(source, config.database, config.topology)
    creates = render_statements(spec.create, config.database, config.topology, guard=False)
    commented = "\n--   ;\n".join("\n".join(f"--   {line}" for line in c.sql.splitlines()) for c in creates)
    how = (
        "rebuilt only while it holds no row on any shard (a sharded table with rows cannot be re-laid out: the "
        "copy needs a run per shard)"
        if config.topology.is_sharded
        else f"copy, verify, EXCHANGE; the old table stays as {spec.table}_opik_store_backup"
    )
    return [Rendered(
        sql=f"{HEADER} {spec.table} key={','.join(spec.key)} window={spec.window_column}: {how} (runs only "
        f"through `opik-store migrate`; SQL alone cannot do it) into:\n{commented}",
        kind="relayout",
        table=spec.table,
    )]  # fmt: skip


@dataclass
class ChangedRevision:
    """An applied revision whose statements no longer match what was recorded."""

    revision: str
    recorded: str
    current: str


@dataclass
class Status:
    """Where a database stands relative to the revision scripts."""

    database: str
    topology: str
    heads: list[str]
    current: list[str]
    applied: list[str]
    pending: list[Step]
    interrupted: list[LedgerEntry] = field(default_factory=list)
    in_progress: list[LedgerEntry] = field(default_factory=list)
    failed: list[LedgerEntry] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    changed: list[ChangedRevision] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return not self.pending and not self.unknown

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "topology": self.topology,
            "heads": self.heads,
            "current": self.current,
            "applied": self.applied,
            "pending": [
                {"revision": s.revision.id, "message": s.revision.message, "destructive": list(s.hazards)}
                for s in self.pending
            ],
            "interrupted": [e.as_json() for e in self.interrupted],
            "in_progress": [e.as_json() for e in self.in_progress],
            "failed": [e.as_json() for e in self.failed],
            "unknown": self.unknown,
            "changed": [c.__dict__ for c in self.changed],
            "up_to_date": self.up_to_date,
        }


@dataclass(repr=False)
class Report:
    """What a migrate, downgrade or stamp run did (or, dry, would do). ``str``/``repr`` are one line."""

    direction: str
    steps: list[Step]
    dry_run: bool = False
    #: The current revisions, when the run found nothing to do and read them (saves a second read).
    current: list[str] | None = None

    @property
    def revisions(self) -> list[str]:
        return [s.revision.id for s in self.steps]

    def __repr__(self) -> str:
        verb = {"upgrade": "applied", "downgrade": "reverted", "stamp": "stamped"}.get(self.direction, self.direction)
        if self.dry_run:
            verb = f"would be {verb}"
        done = f"{verb} {', '.join(self.revisions)}" if self.steps else "nothing to do"
        return f"<Report {self.direction}: {done}>"

    __str__ = __repr__

    def as_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "dry_run": self.dry_run,
            "revisions": [
                {
                    "revision": s.revision.id,
                    "message": s.revision.message,
                    "destructive": list(s.hazards),
                    "statements": [r.sql for r in s.statements],
                }
                for s in self.steps
            ],
        }


class Migrator:
    """Runs revisions against one database through an adapter."""

    def __init__(
        self, adapter: Adapter, config: StoreConfig, revisions: RevisionSet, progress: Progress | None = None
    ) -> None:
        self.adapter = adapter
        self.config = config
        self.revisions = revisions
        self.say: Progress = progress or (lambda _msg: None)
        self.ledger = Ledger(adapter, config.database, config.topology, revisions.source)
        self.policy = RetryPolicy(attempts=config.retries)
        self._hazards: dict[str, tuple[str, ...]] | None = None

    # -- helpers ---------------------------------------------------------------
    def _run(self, sql: str, retry: bool = True) -> None:
        policy = self.policy if retry else RetryPolicy(attempts=1)
        call_with_retries(
            lambda: self.adapter.execute(sql, settings=self.config.ddl_settings),
            policy,
            describe=" ".join(sql.split())[:60],
            on_retry=self.say,
        )

    def run_statement(self, statement: Rendered) -> None:
        """Run one rendered statement of a revision being applied or reverted.

        Transient errors are retried (idempotent statements only). In cluster
        mode a CREATE TABLE that fails with REPLICA_ALREADY_EXISTS drops the
        leftover replica the error names and runs once more (replicas.py);
        every other error, and ClickHouse's refusal to drop an active replica,
        is raised as the server's ServerError.
        """
        cluster = statement.kind == "create_table" and self.config.topology.is_cluster
        run_create(self.adapter, lambda: self._run(statement.sql, retry=statement.idempotent), cluster, self.say)

    @property
    def hazards(self) -> dict[str, tuple[str, ...]]:
        if self._hazards is None:
            self._hazards = revision_hazards(self.revisions)
        return self._hazards

    def upgrade_step(self, revision: Revision) -> Step:
        return render_revision(revision, UPGRADE, self.config, self.hazards.get(revision.id, ()))

    def downgrade_step(self, revision: Revision) -> Step:
        """``revision`` rendered to revert it, with the hazards of its statements; a re-layout among them also
        names the columns its layout drops and the types it narrows, from the schema the revisions up to
        ``revision`` leave (a re-layout's statement alone shows neither)."""
        step = render_revision(revision, DOWNGRADE, self.config)
        if not any(parse_relayout(s) for s in step.sources):
            return step
        model = ColumnModel()
        ordered = self.revisions.ordered
        found = list(step.hazards)
        upgrades = [s for r in ordered[: ordered.index(revision) + 1] for s in r.upgrade_statements()]
        for index, source in enumerate([*upgrades, *step.sources]):
            spec = parse_relayout(source)
            if spec is None:
                model.apply(source)
            elif index < len(upgrades):
                model.relayout(spec.table, spec.create)
            else:
                found.extend(model.relayout(spec.table, spec.create))
        return replace(step, hazards=tuple(found))

    def lock(self) -> MigrationLock:
        """The lock for this database; it carries the ledger's run id so status can tell live runs apart."""
        return MigrationLock(self.adapter, self.config, self.config.lock_lease, self.say, run_id=self.ledger.run_id)

    @contextmanager
    def _locked(self, layout_checked: bool = False) -> Iterator[MigrationLock]:
        """Pre-flight, database, lock, ledger table -- then the caller's work -- then release.

        Everything before the lock is safe to run concurrently (checks and
        IF NOT EXISTS); everything that reads the ledger to decide runs inside.
        ``layout_checked``: the caller has just run :func:`check_layout`.
        """
        self._prepare(layout_checked)
        lock = self.lock()
        lock.acquire(self.config.lock_timeout)
        try:
            if not self.ledger.exists():
                for sql in self.ledger.setup_statements()[1:]:  # the ledger's CREATE: the same leftover-replica rule
                    self.run_statement(Rendered(sql=sql, kind="create_table", table=LEDGER_TABLE))
            for sql in self.ledger.upgrade_statements():  # a ledger from before ``seq``
                self._run(sql)
            yield lock
        finally:
            lock.release()

    def _prepare(self, layout_checked: bool = False) -> None:
        """Pre-flight (cluster mode) and the database: both safe to run without the lock."""
        if self.config.topology.cluster:
            check_cluster(self.adapter, self.config.topology.cluster, sharded=self.config.topology.is_sharded)
        if not layout_checked:
            check_layout(self.adapter, self.config.database, self.config.topology.is_sharded)
        self._run(create_database_sql(self.config.database, self.config.topology))

    def _applied(self, latest: dict[str, LedgerEntry]) -> list[str]:
        """Revisions whose schema changes are wholly in place.

        A half-done downgrade (newest row a downgrade ``started`` or
        ``failed``) is not: some of its tables may be gone. ``migrate``
        therefore applies it again (its statements are idempotent), and
        ``downgrade`` reverts it again (see :meth:`_half_reverted`).
        """
        return [rev for rev, e in latest.items() if e.direction == UPGRADE and e.state == APPLIED]

    def _half_reverted(self, latest: dict[str, LedgerEntry]) -> list[str]:
        return [rev for rev, e in latest.items() if e.direction == DOWNGRADE and e.state in {STARTED, FAILED}]

    # -- reading ---------------------------------------------------------------
    def status(self) -> Status:
        latest = self.ledger.latest()
        applied = self._applied(latest)
        known = {r.id: r for r in self.revisions.ordered}
        changed = []
        for rev in applied:
            entry = latest[rev]
            if rev in known and entry.direction == UPGRADE and entry.source_checksum:
                current = _digest(known[rev].upgrade_statements())
                if current != entry.source_checksum:
                    changed.append(ChangedRevision(rev, entry.source_checksum, current))
        started = [e for e in latest.values() if e.state == STARTED]  # upgrades and downgrades alike
        live_run = None
        if started:
            lock = self.lock()
            holder = lock.holder()
            live_run = holder.run_id if holder and not lock.is_free(holder) else None
        return Status(
            database=self.config.database,
            topology=self.config.topology.label,
            heads=self.revisions.heads,
            current=self.revisions.current([a for a in applied if a in known]),
            applied=[r.id for r in self.revisions.ordered if r.id in applied],
            pending=[self.upgrade_step(r) for r in self.revisions.to_apply("heads", applied)],
            interrupted=[e for e in started if e.run_id != live_run],
            in_progress=[e for e in started if e.run_id == live_run],
            failed=[e for e in latest.values() if e.state == FAILED],
            unknown=sorted(a for a in applied if a not in known),
            changed=changed,
        )

    # -- upgrade ---------------------------------------------------------------
    def upgrade(
        self,
        target: str = "heads",
        dry_run: bool = False,
        allow_changed: bool = False,
        allow_destructive: bool = False,
        after_statement: StatementHook | None = None,
    ) -> Report:
        """Apply every revision needed to reach ``target``; return what was (or would be) applied.

        A database laid out for the other topology (sharded or not) is refused first, also when nothing is
        pending: "up to date" would claim the wrong layout is right."""
        target = target if target in {"head", "heads"} else self.revisions.resolve(target)
        check_layout(self.adapter, self.config.database, self.config.topology.is_sharded)
        if dry_run:
            status = self.status()
            steps = [self.upgrade_step(r) for r in self.revisions.to_apply(target, status.applied)]
            # the refusals no flag lifts, read-only: a dry run never promises what the run would refuse
            self._refuse_foreign_tables(steps)
            self._refuse_unfinished_relayouts(steps)
            return Report(UPGRADE, steps, dry_run=True)
        status = self.status()
        current = self._up_to_date(status, target, allow_changed, allow_destructive)
        if current is not None:
            return Report(UPGRADE, [], current=current)
        # tables other tooling made are refused before the ledger or a lock is created (checked again below)
        self._refuse_foreign_tables([self.upgrade_step(r) for r in self.revisions.to_apply(target, status.applied)])
        with self._locked(layout_checked=True) as lock:
            status = self.status()  # again, under the lock: another run may have applied something meanwhile
            steps = [self.upgrade_step(r) for r in self.revisions.to_apply(target, status.applied)]
            self._refuse_upgrade(status, steps, allow_changed, allow_destructive)
            self._refuse_foreign_tables(steps)
            self._refuse_unfinished_relayouts(steps)
            for step in steps:
                self._apply(step, APPLIED, lock, after_statement)
            return Report(UPGRADE, steps)

    def _up_to_date(
        self, status: Status, target: str, allow_changed: bool, allow_destructive: bool
    ) -> list[str] | None:
        """The current revisions if ``target`` is already applied in ``status`` (read without the lock), else None.

        Two reads (does the ledger exist, its rows) and no write: a no-op
        migrate creates no lock generation and no ledger row. The refusals
        still apply (a ledger from newer code, edited revisions). Anything left
        to do, or no ledger yet, returns None: the caller then takes the lock
        and decides again under it.
        """
        if self.revisions.to_apply(target, status.applied) or status.interrupted:
            return None
        self._refuse_upgrade(status, [], allow_changed, allow_destructive)
        return status.current

    def _refuse_upgrade(self, status: Status, steps: list[Step], allow_changed: bool, allow_destructive: bool) -> None:
        if status.unknown:
            recorded = self.ledger.recorded_folder()[1]
            if recorded is not None and recorded != self.revisions.source:
                raise RevisionError(
                    f"database {self.config.database!r} has revision(s) {', '.join(status.unknown)} that "
                    f"{self.revisions.directory} does not have; its ledger records they came from "
                    f"{recorded or 'the revisions shipped with opik-store'}. Name that folder with --migrations-dir "
                    "(or OPIK_STORE_MIGRATIONS_DIR, or `[migrations] dir` in opik-store.toml); nothing was changed."
                )
            raise RevisionError(
                f"database {self.config.database!r} has revisions this opik-store does not know "
                f"({', '.join(status.unknown)}): it was migrated by a newer version. Upgrade opik-store."
            )
        if status.changed and not allow_changed:
            names = ", ".join(c.revision for c in status.changed)
            raise RefusedError(
                f"applied revision(s) {names} were edited after they were applied (checksum differs from the "
                "ledger). Revisions are history: revert the edit and add a new revision, or re-run with "
                "--allow-changed if the edit is cosmetic."
            )
        risky = [s for s in steps if s.destructive]
        if risky and not allow_destructive:
            listing = "; ".join(f"{s.revision.id}: {', '.join(s.hazards)}" for s in risky)
            raise RefusedError(f"destructive revision(s) pending ({listing}). Re-run with --allow-destructive.")
        for entry in status.interrupted:
            step = next((s for s in steps if s.revision.id == entry.revision), None)
            unsafe = [r for r in (step.statements if step else []) if not r.idempotent]
            if unsafe:
                raise RefusedError(
                    f"revision {entry.revision} was interrupted (started {entry.started_at:%Y-%m-%d %H:%M:%S} on "
                    f"{entry.host}) and contains a statement that must not run twice: "
                    f"{' '.join(unsafe[0].sql.split())}. Check by hand whether it ran (SHOW CREATE TABLE on both "
                    f"tables). If the whole revision is in place, run `opik-store stamp {entry.revision}`; "
                    "otherwise undo its partial work, then run `opik-store migrate` again."
                )
            what = "'s downgrade was interrupted" if entry.direction == DOWNGRADE else " was interrupted"
            self.say(
                f"revision {entry.revision}{what} (started {entry.started_at:%Y-%m-%d %H:%M:%S} "
                f"on {entry.host}, pid {entry.pid}); applying it again"
            )

    def _refuse_foreign_tables(self, steps: list[Step]) -> None:
        """Refuse, changing nothing, when a revision never run here would create a table that already exists.

        Such a table was made by other tooling (Opik's own migrations create
        ``traces`` and ``spans``): ``IF NOT EXISTS`` would skip it silently and
        the ledger would record a schema that is not there. A revision with a
        ledger row (an interrupted run) re-creates its own tables and is not
        refused.
        """
        seen = {  # run here and not reverted: a fully reverted revision's tables are gone, and may be foreign now
            rev for rev, e in self.ledger.latest().items() if not (e.direction == DOWNGRADE and e.state == REVERTED)
        }
        creates = {
            st.table: step.revision.id
            for step in steps
            if step.revision.id not in seen
            for st in step.statements
            if st.kind in {"create_table", "create_view", "create_dictionary"}
        }
        if not creates:
            return
        existing = {
            str(r[0])
            for r in self.adapter.query(
                "SELECT name FROM system.tables WHERE database = {d:String}", {"d": self.config.database}
            ).rows
        }
        clash = sorted(name for name in creates if name in existing)
        if clash:
            revs = ", ".join(sorted({creates[n] for n in clash}))
            raise RefusedError(
                f"database {self.config.database!r} already has {', '.join(clash)}, which revision(s) {revs} would "
                "create, and opik-store never created them (other tooling did: Opik's own migrations create traces "
                "and spans). Nothing was changed. Point opik-store at another database (--database), or, if "
                "`opik-store check` shows they match, record them with `opik-store stamp`."
            )

    def _refuse_unfinished_relayouts(self, steps: list[Step]) -> None:
        """Refuse, changing nothing, when a step would re-lay out a table whose earlier re-layout into another
        layout is unfinished (its original still kept as the backup): finish that one first. A table re-laid out
        twice in one run is refused too (the first keeps its original, so the second could not run), unless the
        table holds no row now (or does not exist yet): then the first keeps nothing, and the sharded topology
        keeps no original at all. Should rows arrive meanwhile, the second re-layout refuses when it is reached,
        the revisions before it applied."""
        seen: set[str] = set()
        for step in steps:
            for source in step.sources:
                spec = parse_relayout(source)
                if spec:
                    if spec.table in seen and self._holds_rows(spec.table) and not self.config.topology.is_sharded:
                        raise RelayoutError(
                            f"{step.revision.id} re-lays out {spec.table} again in this run; a re-layout keeps the "
                            f"original until `opik-store relayout finish {spec.table} --yes`, so apply up to the "
                            "first one, finish it, then go on. Nothing was changed."
                        )
                    seen.add(spec.table)
                    job = Relayout(self.adapter, self.config, spec.table, spec.create, spec.key, spec.window_column)
                    job.refuse_if_another_unfinished()

    def _holds_rows(self, table: str) -> bool:
        """Whether ``table`` exists in the database and holds a row."""
        return bool(self._row_count(table))

    def _row_count(self, table: str) -> int | None:
        """The rows of ``table`` (through a Distributed table: of every shard), or None when it does not exist."""
        exists = self.adapter.query(
            "SELECT count() FROM system.tables WHERE database = {d:String} AND name = {t:String}",
            {"d": self.config.database, "t": table},
        ).scalar()
        if not int(exists):
            return None
        db = quote_identifier(self.config.database, "database name")
        return int(self.adapter.query(f"SELECT count() FROM {db}.{quote_identifier(table)}").scalar())

    # -- downgrade -------------------------------------------------------------
    def downgrade(self, target: str, allow_data_loss: bool = False, dry_run: bool = False) -> Report:
        """Revert applied revisions down to ``target`` (kept) or ``base``."""
        if target != "base":
            target = self.revisions.resolve(target)
        if dry_run:
            applied = self._reverting(self.status().applied)
            steps = [self.downgrade_step(r) for r in self.revisions.to_revert(target, applied)]
            return Report(DOWNGRADE, steps, dry_run=True)
        with self._locked() as lock:
            applied = self._reverting(self.status().applied)
            steps = [self.downgrade_step(r) for r in self.revisions.to_revert(target, applied)]
            lossy = [s for s in steps if s.destructive]
            if lossy and not allow_data_loss:
                listing = "; ".join(f"{s.revision.id}: {', '.join(s.hazards)}" for s in lossy)
                raise DataLossError(f"this downgrade loses data ({listing}). Re-run with --yes to confirm.")
            self._refuse_unfinished_relayouts(steps)
            for step in steps:
                self._apply(step, REVERTED, lock, None)
            return Report(DOWNGRADE, steps)

    def _reverting(self, applied: list[str]) -> list[str]:
        """What a downgrade may revert: the applied revisions and those a downgrade left half done."""
        return applied + [r for r in self._half_reverted(self.ledger.latest()) if r not in applied]

    def _apply(self, step: Step, done_state: str, lock: MigrationLock, hook: StatementHook | None) -> None:
        rev = step.revision
        started = self.ledger.now()
        clock = time.monotonic()
        self.say(f"{'applying' if step.direction == UPGRADE else 'reverting'} {rev.id}: {rev.message}")
        self.ledger.record(rev.id, STARTED, step.direction, step.checksums, started)
        total = len(step.statements)
        relayouts = iter([i for i, source in enumerate(step.sources) if parse_relayout(source)])
        for index, statement in enumerate(step.statements, start=1):
            lock.check()
            self.say(f"  [{index}/{total}] {' '.join(statement.sql.split())[:100]}")
            try:
                if statement.kind == "relayout":
                    self._relayout(step, next(relayouts), lock)
                else:
                    self.run_statement(statement)
            except (RelayoutError, ServerError) as exc:
                elapsed = time.monotonic() - clock
                self.ledger.record(rev.id, FAILED, step.direction, step.checksums, started, str(exc), elapsed=elapsed)
                if isinstance(exc, RelayoutError):
                    raise
                raise MigrationError(rev.id, index, total, statement.sql, exc) from None
            if hook:
                hook(rev.id, index)
        self.ledger.record(
            rev.id, done_state, step.direction, step.checksums, started, elapsed=time.monotonic() - clock
        )

    def _relayout(self, step: Step, position: int, lock: MigrationLock) -> None:
        """Run the re-layout at ``step.sources[position]`` to its swap (resuming one a killed run left); the
        backup stays until ``opik-store relayout finish``, unless it holds no row at all (a fresh database):
        then it is dropped at once, as keeping an empty original protects nothing.

        The new table's CREATE is checked in a scratch database built from the schema just before it (the
        revisions below this one, and this one's statements before it), so lookups it reads exist there.
        Refused (RelayoutError) while an earlier re-layout of the same table is unfinished."""
        spec = parse_relayout(step.sources[position])
        assert spec is not None
        if self.config.topology.is_sharded:
            self._rebuild_empty_sharded(spec.table, spec.create)
            return
        ordered = self.revisions.ordered
        upto = ordered.index(step.revision) + (0 if step.direction == UPGRADE else 1)
        below = [s for r in ordered[:upto] for s in r.upgrade_statements()]
        prior = (*replayable([*below, *step.sources[:position]]), f"DROP TABLE {spec.table}")
        job = Relayout(self.adapter, self.config, spec.table, spec.create, spec.key, spec.window_column, Limits(),
                       say=self.say, after_window=lambda _w, _t: lock.check(), prerequisites=prior)  # fmt: skip
        job.swap()
        if job.backup_is_empty():
            job.drop_backup()

    def _rebuild_empty_sharded(self, table: str, create: str) -> None:
        """The sharded topology's re-layout: DROP and CREATE (Distributed and shard-local tables, rendered as
        every sharded statement is) while the table holds no row on any shard; RelayoutError, with nothing
        changed, when it holds rows or a shard does not answer the count."""
        try:
            rows = self._row_count(table)
        except ServerError as exc:
            raise RelayoutError(
                f"cannot count the rows of {self.config.database}.{table} on every shard ({exc.server_message}): "
                "a sharded table is re-laid out only while it is empty. Nothing was changed."
            ) from None
        if rows:
            raise RelayoutError(
                f"{self.config.database}.{table} holds {rows} row(s) across its shards, and a sharded table is "
                "re-laid out only while it is empty (the online copy needs a run per shard, which this version "
                "does not have). Nothing was changed. Stay at the revision before this one, or copy the rows "
                "out, migrate, and insert them back."
            )
        for statement in render_statements(f"DROP TABLE {table}", self.config.database, self.config.topology):
            self.run_statement(statement)
        for statement in render_statements(create, self.config.database, self.config.topology):
            self.run_statement(statement)

    # -- drift and adoption ------------------------------------------------------
    def differences(self, sources: list[str]) -> list[Difference]:
        """How the live tables differ from what ``sources`` (single-node statements) create on this server."""
        expected = expected_shapes(self.adapter, replayable(sources), dict(self.config.ddl_settings))
        topology = self.config.topology
        names = set(expected) | {storage_table(n, topology) for n in expected}
        live = read_shapes(self.adapter, self.config.database, names)
        return compare_topology(expected, live, topology, self.config.database)

    def stamp(self, target: str, force: bool = False) -> tuple[Report, list[Difference]]:
        """Record ``target`` and its ancestors as applied without running them.

        Refuses (RefusedError listing the differences) unless the live tables
        match what those revisions produce, or ``force``.
        """
        target = self.revisions.resolve(target)
        sources = [s for r in self.revisions.between(None, target) for s in r.upgrade_statements()]

        def refuse_differences() -> list[Difference]:
            diffs = self.differences(sources)
            if diffs and not force:
                listing = "\n  ".join(d.describe() for d in diffs)
                raise RefusedError(
                    f"the live tables do not match revision {target}:\n  {listing}\n"
                    "Nothing was recorded. Fix the tables, or re-run with --force to record it anyway."
                )
            return diffs

        if not force:
            refuse_differences()  # before the ledger or the lock is created: a refused stamp changes nothing
        with self._locked():
            diffs = refuse_differences()  # again under the lock: the tables may have changed meanwhile
            applied = self.status().applied
            steps = [self.upgrade_step(r) for r in self.revisions.to_apply(target, applied)]
            note = "stamped" + (" with --force" if diffs else "")
            for step in steps:
                now = self.ledger.now()
                self.ledger.record(step.revision.id, APPLIED, UPGRADE, step.checksums, now, note=note)
            return Report(UPGRADE, steps), diffs
