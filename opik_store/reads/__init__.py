"""Profile-aware reads: every query runs with the settings profile of its purpose.

Example::

    reader = store.reader()                       # its own connection
    rows = reader.query(
        "SELECT id, name FROM opik.traces WHERE workspace_id = {ws:String} LIMIT 10",
        {"ws": "acme"},
        purpose="read",
    )
    for block in reader.stream("SELECT id FROM opik.spans", purpose="analytics"):
        ...                                       # Rows, one engine block at a time

Rules kept:

* **Purpose -> profile.** ``purpose`` is one of ``QueryProfiles``'s purposes
  (``ingest``, ``read``, ``analytics`` by default; an unknown one is a
  ConfigError naming the known ones). By default the profile's own values
  (``QueryProfiles.values``) that the server knows are sent; with
  ``by_name=True`` the query sends ``profile = '<name>'`` instead, so the
  server also applies the profile's constraints (the profile must exist on
  the server: ``opik-store profiles apply`` or users.xml).
* **Per query only.** The settings go in the statement's own ``SETTINGS``
  clause, appended by the reader: they never stay on the connection, and a
  query passed in must not carry its own SETTINGS or FORMAT clause.
* **Parameters are bound**, never formatted: ClickHouse's ``{name:Type}``
  syntax in text, and for SQLAlchemy statements (``select``) every bound
  value becomes a typed ``{name:Type}`` parameter.
* **Streaming**: ``stream``/``stream_select`` yield the result block by block
  without holding it all in memory.
* **Threads and connections**: a reader owns one connection and reuses it
  for every query. Calls are serialized with a lock, so a reader may be
  shared by threads, but they take turns; a stream holds the connection until
  it is exhausted or closed. Open one reader per thread for parallel reads
  (``Store.reader()`` opens a new connection each time).

May import: ``opik_store.errors``, ``engine``, ``config``, ``schema``, ``access``.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from opik_store.access.profiles import QueryProfiles
from opik_store.engine.adapter import Adapter, Rows
from opik_store.engine.quoting import settings_clause
from opik_store.errors import ConfigError, ServerError

_GENERIC = {
    "INTEGER": "Int64",
    "BIGINT": "Int64",
    "SMALLINT": "Int16",
    "VARCHAR": "String",
    "TEXT": "String",
    "FLOAT": "Float64",
    "BOOLEAN": "Bool",
    "NUMERIC": "Decimal(38, 12)",
    "DATETIME": "DateTime64(6, 'UTC')",
}


class Reader:
    """Runs queries on one connection with the settings of each query's purpose (see the module rules)."""

    def __init__(
        self,
        adapter: Adapter,
        profiles: QueryProfiles | None = None,
        by_name: bool = False,
        close_adapter: bool = False,
    ) -> None:
        self.adapter = adapter
        self.profiles = profiles or QueryProfiles.load()
        self.by_name = by_name
        self._close_adapter = close_adapter
        self._lock = threading.RLock()
        wanted = sorted({k for p in self.profiles.model.purposes for k in self.profiles.values(p)})
        self._known = {
            row[0]
            for row in adapter.query(
                "SELECT name FROM system.settings WHERE name IN {names:Array(String)}", {"names": wanted}
            ).rows
        }

    def settings(self, purpose: str) -> dict[str, str]:
        """The settings a query of ``purpose`` runs with."""
        if self.by_name:
            return self.profiles.settings(purpose)
        return {k: v for k, v in self.profiles.values(purpose).items() if k in self._known}

    def _sql(self, sql: str, purpose: str) -> str:
        # on a line of its own: after a trailing "-- comment" it would be commented out, silently
        return sql.rstrip().rstrip(";").rstrip() + "\n" + settings_clause(self.settings(purpose)).lstrip()

    def query(self, sql: str, params: Mapping[str, Any] | None = None, purpose: str = "read") -> Rows:
        """Run ``sql`` with ``{name:Type}`` ``params`` under ``purpose``'s profile; the whole result."""
        text = self._sql(sql, purpose)
        with self._lock, self._named_profile(purpose):
            return self.adapter.query(text, params)

    @contextlib.contextmanager
    def _named_profile(self, purpose: str) -> Iterator[None]:
        """Turn the server's THERE_IS_NO_PROFILE (180) for a by-name profile into an error naming the next step."""
        try:
            yield
        except ServerError as exc:
            if exc.code != 180 or not self.by_name:
                raise
            name = self.profiles.settings(purpose).get("profile", "?")
            raise ConfigError(
                f"the server has no settings profile {name} (for purpose {purpose!r}): create it with "
                "`opik-store profiles apply` (or users.xml from `opik-store profiles render-xml`), or read with "
                "by_name=False to send the profile's values instead"
            ) from None

    def stream(self, sql: str, params: Mapping[str, Any] | None = None, purpose: str = "read") -> Iterator[Rows]:
        """Like ``query``, yielding the result block by block; holds the connection until done."""
        text = self._sql(sql, purpose)
        with self._lock, self._named_profile(purpose):
            yield from self.adapter.stream(text, params)

    def select(self, statement: Any, purpose: str = "read") -> Rows:
        """Run a SQLAlchemy Core statement (e.g. over ``opik_store.tables``) with bound parameters."""
        sql, params = compile_statement(statement)
        return self.query(sql, params, purpose)

    def stream_select(self, statement: Any, purpose: str = "read") -> Iterator[Rows]:
        sql, params = compile_statement(statement)
        return self.stream(sql, params, purpose)

    def close(self) -> None:
        """Close the connection if this reader opened it (``Store.reader`` does)."""
        if self._close_adapter:
            self.adapter.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_BIND = re.compile(r"%\((\w+)\)s")


def compile_statement(statement: Any) -> tuple[str, dict[str, Any]]:
    """Compile with clickhouse-sqlalchemy's dialect; every bound value becomes a ``{name:Type}`` parameter.

    The type is the bind's own (a comparison with a column takes the column's
    type); SQLAlchemy's generic types map to ClickHouse's (Integer -> Int64).
    """
    from clickhouse_sqlalchemy.drivers.base import ClickHouseDialect

    dialect = ClickHouseDialect()
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = dict(compiled.params)

    def typed(match: re.Match[str]) -> str:
        name = match.group(1)
        bind = compiled.binds.get(name)
        if bind is None:
            bind = compiled.binds.get(re.sub(r"_\d+$", "", name))
        if bind is None or name not in params:
            raise ConfigError(f"cannot bind parameter {name!r} of the statement")
        ctype: str = dialect.type_compiler.process(bind.type)
        ctype = _GENERIC.get(ctype.split("(")[0], ctype)
        if ctype == "NULL":
            raise ConfigError(f"parameter {name!r} has no type; compare it with a column or use literal(..., type_)")
        return "{" + name + ":" + ctype + "}"

    sql = _BIND.sub(typed, str(compiled)).replace("%%", "%")
    return sql, params
