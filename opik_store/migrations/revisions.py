"""The revision graph: alembic's script directory over ``migrations/``.

A revision script defines ``revision``, ``down_revision`` and two functions,
``upgrade()`` and ``downgrade()``, each returning a list of SQL statements in
single-node form. Alembic parses the scripts and keeps the graph (branches,
merges, partial ids, ``head``/``base``); this module adds the orders the
runner needs: what to apply to reach a target from an applied set, and what
to revert.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from opik_store.errors import RevisionError
from opik_store.resources import data_dir, is_shipped, migrations_dir

if TYPE_CHECKING:
    from alembic.script import Script


def _alembic_errors() -> tuple[type[Exception], ...]:
    """alembic's errors, imported on first use: alembic (and SQLAlchemy, which it imports) take ~0.3 s, which
    commands that read no revision (health, profiles, jobs, ``--help``) do not pay."""
    from alembic.script.revision import RevisionError as AlembicRevisionError
    from alembic.util import CommandError

    return CommandError, AlembicRevisionError


BASE = "base"
HEAD = "heads"


@dataclass(frozen=True)
class Revision:
    """One revision script."""

    id: str
    message: str
    down: tuple[str, ...]
    path: Path
    module: Any

    def upgrade_statements(self) -> list[str]:
        return self._statements("upgrade")

    def downgrade_statements(self) -> list[str]:
        return self._statements("downgrade")

    def _statements(self, name: str) -> list[str]:
        func = getattr(self.module, name, None)
        if not callable(func):
            raise RevisionError(f"revision {self.id} ({self.path.name}) has no {name}() function")
        result = cast(Callable[[], Any], func)()
        if result is None:
            return []
        if isinstance(result, str) or not all(isinstance(s, str) for s in result):
            raise RevisionError(f"revision {self.id}: {name}() must return a list of SQL strings")
        return list(result)


class RevisionSet:
    """The revisions found in a migrations folder (default: the shipped one)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        from alembic.script import ScriptDirectory

        self.directory = migrations_dir(directory)
        self._script = ScriptDirectory(str(self.directory))
        try:
            scripts = list(self._script.walk_revisions(BASE, HEAD))
        except _alembic_errors() as exc:
            raise RevisionError(f"invalid revision graph in {self.directory}: {exc}") from None
        self._ordered = [self._wrap(s) for s in reversed(scripts)]
        self._by_id = {r.id: r for r in self._ordered}

    @staticmethod
    def _wrap(script: Script) -> Revision:
        down = script.down_revision
        downs = () if down is None else (down,) if isinstance(down, str) else tuple(down)
        return Revision(
            id=script.revision,
            message=(script.doc or "").strip().splitlines()[0] if script.doc else "",
            down=downs,
            path=Path(script.path),
            module=script.module,
        )

    @property
    def source(self) -> str:
        """Where these revisions come from, as the ledger records it: '' for the ones shipped in the package,
        else the folder's absolute path."""
        folder = self.directory.resolve()
        return "" if is_shipped(folder) or folder == data_dir("migrations").resolve() else str(folder)

    @property
    def ordered(self) -> list[Revision]:
        """All revisions, every revision after the ones it depends on."""
        return list(self._ordered)

    @property
    def heads(self) -> list[str]:
        return list(self._script.get_heads())

    def get(self, rev_id: str) -> Revision:
        return self._by_id[self.resolve(rev_id)]

    def resolve(self, target: str) -> str:
        """Resolve a full or partial id, or ``head``; raise RevisionError if unknown/ambiguous."""
        if target in self._by_id:
            return target
        if target in {"head", "heads"}:
            heads = self.heads
            if len(heads) != 1:
                raise RevisionError(f"several heads ({', '.join(heads)}): name one, or merge them")
            return heads[0]
        try:
            script = self._script.get_revision(target)
        except _alembic_errors() as exc:
            raise RevisionError(f"unknown revision {target!r}: {exc}") from None
        if script is None:
            raise RevisionError(f"unknown revision {target!r}")
        return str(script.revision)

    def ancestors(self, rev_id: str) -> set[str]:
        """``rev_id`` and every revision it depends on, transitively."""
        out: set[str] = set()
        stack = [self.resolve(rev_id)]
        while stack:
            current = stack.pop()
            if current in out:
                continue
            out.add(current)
            stack.extend(self._by_id[current].down)
        return out

    def _targets(self, target: str) -> set[str]:
        if target in {"head", "heads"}:
            return set().union(*(self.ancestors(h) for h in self.heads)) if self.heads else set()
        if target == BASE:
            return set()
        return self.ancestors(target)

    def to_apply(self, target: str, applied: Iterable[str]) -> list[Revision]:
        """Revisions to apply, in order, so that ``target`` and its ancestors are applied."""
        done = set(applied)
        wanted = self._targets(target)
        return [r for r in self._ordered if r.id in wanted and r.id not in done]

    def to_revert(self, target: str, applied: Iterable[str]) -> list[Revision]:
        """Applied revisions to revert, newest first, to go back to ``target`` (or ``base``)."""
        keep = self._targets(target)
        done = set(applied)
        return [r for r in reversed(self._ordered) if r.id in done and r.id not in keep]

    def between(self, start: str | None, end: str) -> list[Revision]:
        """Revisions after ``start`` (exclusive; None = from base) up to ``end``, in order."""
        before = self._targets(start) if start else set()
        return [r for r in self._ordered if r.id in self._targets(end) and r.id not in before]

    def current(self, applied: Iterable[str]) -> list[str]:
        """The applied revisions no other applied revision depends on (the 'current' heads)."""
        done = [r for r in self._ordered if r.id in set(applied)]
        below = {d for r in done for d in r.down}
        return [r.id for r in done if r.id not in below]

    def create(self, message: str, rev_id: str | None = None) -> Path:
        """Write a new revision on top of the single head; return its path.

        The id defaults to the next number after the highest numeric id (0002,
        0003, ...), so files sort in the order they were written. Refused: an
        id that is not plain letters, digits and underscores (it names a file),
        and a folder inside the installed package (every later migrate from
        that install would apply the new script).
        """
        if not message.strip():
            raise RevisionError("a revision needs a message (-m)")
        if rev_id is not None and not re.fullmatch(r"[A-Za-z0-9_]{1,64}", rev_id):
            raise RevisionError(
                f"revision id {rev_id!r} must be 1-64 letters, digits or underscores (it becomes part of a file name)"
            )
        if is_shipped(self.directory):
            raise RevisionError(
                f"{self.directory} is the migrations folder shipped inside the installed opik-store package: "
                "a script written there would be applied by every later `migrate` from this install. "
                "Write revisions into your own folder: --migrations-dir PATH (a copy of the shipped one)"
            )
        if rev_id is None:
            numbers = [int(r.id) for r in self._ordered if re.fullmatch(r"\d+", r.id)]
            rev_id = f"{(max(numbers) + 1 if numbers else 1):04d}"
        if rev_id in self._by_id:
            raise RevisionError(f"revision {rev_id} already exists")
        heads = self.heads
        if len(heads) > 1:
            raise RevisionError(f"several heads ({', '.join(heads)}): merge them first")
        self._script.timezone = "UTC"
        # the message lands in the script's docstring: escaped so that a backslash (\\N) or a triple quote
        # cannot break the file (the file name is built from its words only)
        docstring = message.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        try:
            script = self._script.generate_revision(rev_id, docstring, head="head")
        except _alembic_errors() as exc:
            raise RevisionError(str(exc)) from None
        if script is None:
            raise RevisionError("alembic did not create the revision")
        path = Path(script.path)
        try:
            ast.parse(path.read_text(encoding="utf-8"), str(path))
        except SyntaxError as exc:
            path.unlink()
            raise RevisionError(f"the message {message!r} made a script Python cannot read ({exc.msg}); nothing "
                                "was written: use another message") from None  # fmt: skip
        return path
