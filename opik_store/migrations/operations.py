"""Operations a revision can return besides plain SQL: the re-layout of a table.

A revision's ``upgrade()``/``downgrade()`` return a list of strings, and a
re-layout is one of them: a header line naming the operation, then the
CREATE TABLE of the layout to move to. So the ledger's checksums, ``--sql``
and the destructive-change lint see it like any other statement, and a
changed re-layout is caught like a changed ALTER. The runner recognises the
header and runs :class:`~opik_store.migrations.relayout.Relayout` (copy in
windows, catch up, verify, EXCHANGE, keep the old table as
``<table>_opik_store_backup``) instead of the SQL.

Use it for what ALTER cannot change in place: the sort key, the partition
key, the engine's version or delete column. Write it in a revision as::

    from opik_store.migrations.operations import relayout

    def upgrade() -> list[str]:
        return [relayout(NEW_CREATE, key=("workspace_id", "project_id", "id"))]

    def downgrade() -> list[str]:
        return [relayout(OLD_CREATE, key=("workspace_id", "project_id", "id"))]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from opik_store.errors import RevisionError

HEADER = "-- opik-store: relayout"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CREATE = re.compile(r"\s*(?:--[^\n]*\n\s*)*CREATE\s+TABLE\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(", re.IGNORECASE)
_HEADER = re.compile(rf"{re.escape(HEADER)} key=(\S+) window=(\S+)\n")


@dataclass(frozen=True)
class RelayoutSpec:
    """A re-layout as a revision declared it."""

    table: str
    create: str
    key: tuple[str, ...]
    window_column: str


def relayout(create: str, key: Sequence[str], window_column: str = "id") -> str:
    """The statement that rebuilds a table into the layout ``create`` describes, online.

    Rules it keeps: ``create`` is one plain ``CREATE TABLE <name> (...)`` (unqualified, no IF NOT EXISTS) of a
    table that exists when the revision runs; ``key`` names the columns that identify a row (the versions of
    one row share them; the copy's catch-up and checks match rows by them) and ``window_column`` the column
    whose UUIDv7 time cuts the copy into windows. Every name must be a plain identifier. Raises
    RevisionError, naming the problem, otherwise."""
    spec = _spec(create, tuple(key), window_column)
    return f"{HEADER} key={','.join(spec.key)} window={spec.window_column}\n{spec.create}"


def parse_relayout(source: str) -> RelayoutSpec | None:
    """The re-layout ``source`` declares, or None for any other statement."""
    found = _HEADER.match(source)
    if not found:
        return None
    return _spec(source[found.end() :], tuple(found.group(1).split(",")), found.group(2))


def replayable(sources: Sequence[str]) -> list[str]:
    """``sources`` as plain statements that build the same tables from nothing: a re-layout becomes a DROP
    and the CREATE (what the table is after it), for the scratch databases that ``check`` and the lint use."""
    out: list[str] = []
    for source in sources:
        spec = parse_relayout(source)
        out.extend([f"DROP TABLE {spec.table}", spec.create] if spec else [source])
    return out


def _spec(create: str, key: tuple[str, ...], window_column: str) -> RelayoutSpec:
    found = _CREATE.match(create)
    if not found:
        raise RevisionError(
            "a re-layout needs one plain 'CREATE TABLE <name> (...)' statement (unqualified, without IF NOT "
            f"EXISTS): got {' '.join(create.split())[:80]!r}"
        )
    bad = [n for n in (*key, window_column) if not _NAME.fullmatch(n)]
    if not key or bad:
        raise RevisionError(f"a re-layout of {found.group(1)} needs plain column names for key and window: "
                            f"{bad or 'no key given'}")  # fmt: skip
    return RelayoutSpec(found.group(1), create.strip(), key, window_column)
