"""The migration runner: plans and applies revisions, records each in the ledger.

Rules:

* Statements run in revision order, one at a time, with the configured DDL
  settings; each is idempotent (see render.py), so re-running after an
  interruption or a failure completes the work.
* Each application is bracketed in the ledger: a ``started`` row before the
  first statement, then ``applied`` (or ``failed`` with the server's error).
  A revision whose newest row is ``started`` was interrupted; the next run
  applies it again.
* A database whose ledger names revisions this code does not know is refused:
  it was migrated by newer code.
* A downgrade that would lose data (DROP TABLE, DROP COLUMN, ...) is refused
  unless the caller confirms it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opik_store.adapters import Adapter
from opik_store.config import StoreConfig
from opik_store.errors import DataLossError, OpikStoreError, RevisionError, ServerError
from opik_store.ledger import (
    APPLIED,
    DOWNGRADE,
    FAILED,
    REVERTED,
    STARTED,
    UPGRADE,
    Ledger,
    LedgerEntry,
)
from opik_store.render import Rendered, render_statement
from opik_store.revisions import Revision, RevisionSet

Progress = Callable[[str], None]


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


@dataclass(frozen=True)
class Step:
    """One revision in one direction, with the exact statements it runs."""

    revision: Revision
    direction: str
    statements: list[Rendered]

    @property
    def checksum(self) -> str:
        return checksum_of(self.statements)

    @property
    def destructive(self) -> bool:
        return any(s.destructive for s in self.statements)


def checksum_of(statements: list[Rendered]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for st in statements:
        digest.update(st.sql.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def render_revision(revision: Revision, direction: str, config: StoreConfig) -> Step:
    """Render a revision's statements for the configured database and topology."""
    sources = revision.upgrade_statements() if direction == UPGRADE else revision.downgrade_statements()
    try:
        rendered = [render_statement(s, config.database, config.topology) for s in sources]
    except OpikStoreError as exc:
        raise RevisionError(f"revision {revision.id} ({revision.path.name}): {exc}") from None
    return Step(revision=revision, direction=direction, statements=rendered)


@dataclass
class Status:
    """Where a database stands relative to the revision scripts."""

    database: str
    topology: str
    heads: list[str]
    current: list[str]
    applied: list[str]
    pending: list[Revision]
    interrupted: list[LedgerEntry] = field(default_factory=list)
    failed: list[LedgerEntry] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

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
            "pending": [{"revision": r.id, "message": r.message} for r in self.pending],
            "interrupted": [e.as_json() for e in self.interrupted],
            "failed": [e.as_json() for e in self.failed],
            "unknown": self.unknown,
            "up_to_date": self.up_to_date,
        }


@dataclass
class Report:
    """What a migrate or downgrade run did (or, dry, would do)."""

    direction: str
    steps: list[Step]
    dry_run: bool = False

    @property
    def revisions(self) -> list[str]:
        return [s.revision.id for s in self.steps]

    def as_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "dry_run": self.dry_run,
            "revisions": [
                {"revision": s.revision.id, "message": s.revision.message, "statements": [r.sql for r in s.statements]}
                for s in self.steps
            ],
        }


class Migrator:
    """Runs revisions against one database through an adapter."""

    def __init__(self, adapter: Adapter, config: StoreConfig, revisions: RevisionSet) -> None:
        self.adapter = adapter
        self.config = config
        self.revisions = revisions
        self.ledger = Ledger(adapter, config.database, config.topology)

    def _run(self, sql: str) -> None:
        self.adapter.execute(sql, settings=self.config.ddl_settings)

    def _applied(self, latest: dict[str, LedgerEntry]) -> list[str]:
        """Revisions whose schema changes are (at least partly) in place."""
        out = []
        for rev, entry in latest.items():
            if entry.direction == UPGRADE and entry.state == APPLIED:
                out.append(rev)
            elif entry.direction == DOWNGRADE and entry.state in {STARTED, FAILED}:
                out.append(rev)  # a half-done downgrade: still to be reverted
        return out

    def status(self) -> Status:
        latest = self.ledger.latest()
        applied = self._applied(latest)
        known = {r.id for r in self.revisions.ordered}
        return Status(
            database=self.config.database,
            topology=self.config.topology.label,
            heads=self.revisions.heads,
            current=self.revisions.current([a for a in applied if a in known]),
            applied=[r.id for r in self.revisions.ordered if r.id in applied],
            pending=self.revisions.to_apply("heads", applied),
            interrupted=[e for e in latest.values() if e.state == STARTED and e.direction == UPGRADE],
            failed=[e for e in latest.values() if e.state == FAILED and e.direction == UPGRADE],
            unknown=sorted(a for a in applied if a not in known),
        )

    def upgrade(self, target: str = "heads", dry_run: bool = False, progress: Progress | None = None) -> Report:
        """Apply every revision needed to reach ``target``; return what was applied."""
        say = progress or (lambda _msg: None)
        target = target if target in {"head", "heads"} else self.revisions.resolve(target)
        status = self.status()
        if status.unknown:
            raise RevisionError(
                f"database {self.config.database!r} has revisions this opik-store does not know "
                f"({', '.join(status.unknown)}): it was migrated by a newer version. Upgrade opik-store."
            )
        for entry in status.interrupted:
            say(
                f"revision {entry.revision} was interrupted (started {entry.started_at:%Y-%m-%d %H:%M:%S} "
                f"on {entry.host}, pid {entry.pid}); applying it again"
            )
        steps = [render_revision(r, UPGRADE, self.config) for r in self.revisions.to_apply(target, status.applied)]
        report = Report(direction=UPGRADE, steps=steps, dry_run=dry_run)
        if dry_run:
            return report
        for sql in self.ledger.setup_statements():
            self._run(sql)
        for step in steps:
            self._apply(step, UPGRADE, APPLIED, say)
        return report

    def downgrade(
        self,
        target: str,
        allow_data_loss: bool = False,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> Report:
        """Revert applied revisions down to ``target`` (kept) or ``base``."""
        say = progress or (lambda _msg: None)
        if target != "base":
            target = self.revisions.resolve(target)
        status = self.status()
        steps = [render_revision(r, DOWNGRADE, self.config) for r in self.revisions.to_revert(target, status.applied)]
        report = Report(direction=DOWNGRADE, steps=steps, dry_run=dry_run)
        lossy = [s for s in steps if s.destructive]
        if lossy and not allow_data_loss and not dry_run:
            listing = "; ".join(
                f"{s.revision.id}: " + ", ".join(" ".join(r.sql.split())[:80] for r in s.statements if r.destructive)
                for s in lossy
            )
            raise DataLossError(f"this downgrade loses data ({listing}). Re-run with --yes to confirm.")
        if dry_run:
            return report
        for step in steps:
            self._apply(step, DOWNGRADE, REVERTED, say)
        return report

    def _apply(self, step: Step, direction: str, done_state: str, say: Progress) -> None:
        rev = step.revision
        started = self.ledger.now()
        verb = "applying" if direction == UPGRADE else "reverting"
        say(f"{verb} {rev.id}: {rev.message}")
        self.ledger.record(rev.id, STARTED, direction, step.checksum, started)
        total = len(step.statements)
        for index, statement in enumerate(step.statements, start=1):
            say(f"  [{index}/{total}] {' '.join(statement.sql.split())[:100]}")
            try:
                self._run(statement.sql)
            except ServerError as exc:
                self.ledger.record(rev.id, FAILED, direction, step.checksum, started, error=str(exc))
                raise MigrationError(rev.id, index, total, statement.sql, exc) from None
        self.ledger.record(rev.id, done_state, direction, step.checksum, started)
