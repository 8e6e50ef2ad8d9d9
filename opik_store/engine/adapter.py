"""Adapters: one small class per way of reaching ClickHouse.

Both adapters expose the same calls (``query``, ``execute``, ``stream``,
``insert_arrow``, ``close``) with ClickHouse's own ``{name:Type}`` query
parameters, so the rest of the package never formats a user value into SQL.
An adapter is one connection: it is not safe to use from two threads at once
(callers that share one serialize their calls, as ``ingest`` and ``reads`` do). ``engine.connect.open_adapter``
picks one from a parsed URL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from opik_store.engine.urls import ConnectionSpec

if TYPE_CHECKING:
    import pyarrow


@dataclass(frozen=True)
class Rows:
    """A query result: column names and rows of Python values."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


class Adapter(Protocol):
    """What the store needs from a connection."""

    spec: ConnectionSpec

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> Rows: ...

    def execute(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> None: ...

    def stream(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> Iterator[Rows]:
        """Run a query and yield its result block by block (each block a Rows), never all at once."""
        ...

    def insert_arrow(
        self, target: str, columns: Sequence[str], data: pyarrow.Table, settings: Mapping[str, str]
    ) -> None:
        """One INSERT of ``data`` (columns in ``columns`` order) into the quoted ``target``, columnar.

        ``settings`` go with that INSERT only (never onto the session).
        """
        ...

    def close(self) -> None: ...
