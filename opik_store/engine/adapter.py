"""Adapters: one small class per way of reaching ClickHouse.

Both adapters expose the same three calls (``query``, ``execute``, ``close``)
with ClickHouse's own ``{name:Type}`` query parameters, so the rest of the
package never formats a user value into SQL. ``engine.connect.open_adapter``
picks one from a parsed URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from opik_store.engine.urls import ConnectionSpec


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

    def close(self) -> None: ...
