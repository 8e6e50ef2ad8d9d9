"""What a target database is, decided in one place, and the command that comes next.

Every command that acts on the schema (``migrate`` and its ``--dry-run``,
``stamp``, ``status``, ``check``) asks :func:`identify` first, so they agree
on what they see and each names the same next step. Rules it keeps:

* It only reads (``system.databases``, ``system.tables``, the ledger and the
  adoption's progress table); it creates nothing, not even the ledger.
* A database with ledger rows is the store's: Opik's tables after an adoption
  are recorded there (``adopt finish`` and the in-place adoption stamp the
  ledger), so nothing else is consulted.
* Without ledger rows, traces and spans decide: none is an empty database the
  store may create its tables in; Opik's original or successor layout, Opik's
  own newest tables (the store's layout, recorded in place), or an adoption
  under way are named as such; anything else is ``unknown`` with every reason.

May import: ``opik_store.adopt`` (the layout recognition), ``opik_store.errors``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opik_store.adopt import ORIGINAL, STORE, SUCCESSOR, TABLES, Adoption, AdoptionRefused

MISSING = "missing"
EMPTY = "empty"
STORE_DB = "store"
OPIK_ORIGINAL = "opik-original"
OPIK_SUCCESSOR = "opik-successor"
OPIK_NEWEST = "opik-newest"
ADOPTING = "adopting"
UNKNOWN = "unknown"

#: Kinds on which ``migrate`` and ``stamp`` must not run: adoption is the way.
OPIK_KINDS = (OPIK_ORIGINAL, OPIK_SUCCESSOR, OPIK_NEWEST, ADOPTING)


@dataclass(frozen=True)
class Identity:
    """What the database is (``kind``), in words (``summary``), and the command to run next (``next_step``)."""

    database: str
    kind: str
    summary: str
    next_step: str
    reasons: tuple[str, ...] = ()

    @property
    def is_opik(self) -> bool:
        """An Opik-made database not (yet fully) adopted: migrate and stamp refuse it and name ``adopt``."""
        return self.kind in OPIK_KINDS

    def refusal(self, command: str) -> str:
        """One message saying why ``command`` does not run on this database, and what to run instead."""
        return (
            f"database {self.database!r}: {self.summary}. `opik-store {command}` does not run on it; nothing was "
            f"changed. Next: {self.next_step}"
        )

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "summary": self.summary, "next_step": self.next_step, "reasons": list(self.reasons)}


def identify(adoption: Adoption, pending: Callable[[], int]) -> Identity:
    """What ``adoption``'s database is. ``pending`` counts the revisions the store would still apply; it is
    called only for the store's own database (its next step). Reads only."""
    db = adoption.db
    exists = adoption.adapter.query("SELECT count() FROM system.databases WHERE name = {d:String}", {"d": db})
    if not exists.scalar():
        return Identity(db, MISSING, "does not exist yet", "`opik-store migrate` creates it with the store's tables")
    if adoption.migrator.ledger.latest():
        count = pending()
        step = f"`opik-store migrate` applies {count} pending revision(s)" if count else "nothing: up to date"
        return Identity(db, STORE_DB, "managed by opik-store (its ledger records the revisions)", step)
    tables = adoption.table_names()
    if not any(t in tables for t in TABLES):
        return Identity(db, EMPTY, "has no traces or spans and no ledger", "`opik-store migrate` creates the tables")
    try:
        layout = adoption.detect()
    except AdoptionRefused as exc:
        reasons = tuple(line.strip() for line in str(exc).splitlines()[1:] if line.strip())
        return Identity(db, UNKNOWN, "has traces or spans that neither opik-store nor an Opik layout it knows made",
                        "point opik-store at another database (--database), or compare them with `opik-store check`",
                        reasons)  # fmt: skip
    if layout in (ORIGINAL, SUCCESSOR):
        kind = OPIK_ORIGINAL if layout == ORIGINAL else OPIK_SUCCESSOR
        return Identity(db, kind, f"created by Opik ({layout} layout), not adopted yet",
                        "`opik-store adopt plan` shows the takeover (a copy into the store's layout while Opik keeps "
                        "writing), `opik-store adopt run` does it")  # fmt: skip
    if layout == STORE:
        return Identity(db, OPIK_NEWEST, "Opik's own newest tables (the store's layout), not recorded in a ledger",
                        "`opik-store adopt run` records them in place; no row is copied")  # fmt: skip
    states = {s.name for s in (adoption.relayout(t).state() for t in TABLES)}
    if states <= {"swapped", "finished"}:
        return Identity(db, ADOPTING, "an adoption swapped the tables and is not finished",
                        "`opik-store adopt verify`, then `opik-store adopt finish --yes` (or `opik-store adopt "
                        "rollback`)")  # fmt: skip
    return Identity(db, ADOPTING, "an adoption is copying the tables",
                    "`opik-store adopt run` continues it (`opik-store adopt rollback` undoes it)")  # fmt: skip
