"""The native-protocol adapter (clickhouse-driver) for real servers.

Rules this adapter keeps:

* Query parameters are sent to the server (``server_side_params``) and bound
  there, in ClickHouse's ``{name:Type}`` syntax -- the same SQL as the embedded
  engine runs. A server whose protocol revision predates parameters (before
  54459, i.e. before 22.x; the 18.16 of the cluster tests) gets the same SQL
  bound client-side by ``engine.binding`` with the driver's own escaping
  (``binds_client_side`` says which); such servers are refused by the version
  gate anyway unless a test lets them through.
* Settings are sent with each query, so nothing leaks between statements.
* Errors carry the server's code; text is scrubbed of the password.
* ``insert_arrow`` sends the batch as native-protocol columns (one INSERT);
  ``stream`` reads the result block by block (``execute_iter``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from opik_store.engine.adapter import Rows
from opik_store.engine.binding import bind
from opik_store.engine.quoting import quote_identifier
from opik_store.engine.urls import ConnectionSpec
from opik_store.errors import ConfigError, ServerError

if TYPE_CHECKING:
    import pyarrow

T = TypeVar("T")


class NativeAdapter:
    """A clickhouse-driver client bound to one server."""

    def __init__(self, spec: ConnectionSpec, connect_timeout: float = 10.0) -> None:
        from clickhouse_driver import Client

        self.spec = spec
        self._client = Client(
            host=spec.host,
            port=spec.port,
            user=spec.user,
            password=spec.password,
            secure=spec.secure,
            connect_timeout=connect_timeout,
            settings={"server_side_params": True},
        )
        self.binds_client_side = False
        # Connect now so that a wrong host/password is reported here.
        self.query("SELECT 1")
        from clickhouse_driver import defines

        revision = int(self._client.connection.server_info.used_revision)
        # True when the server cannot bind ``{name:Type}`` itself and this adapter binds them (engine.binding).
        self.binds_client_side = revision < defines.DBMS_MIN_PROTOCOL_VERSION_WITH_PARAMETERS

    def _bound(self, sql: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
        """The SQL and parameters to send: unchanged, or bound here for a server that cannot bind them."""
        if not params:
            return sql, None
        if not self.binds_client_side:
            return sql, dict(params)
        from clickhouse_driver.util.escape import escape_param

        context = self._client.connection.context
        try:
            return bind(sql, params, lambda value: escape_param(value, context)), None
        except ValueError as exc:
            raise ConfigError(f"cannot bind query parameters: {exc}") from None

    def _call(self, sql: str, params: Mapping[str, Any] | None, settings: Mapping[str, str] | None) -> Any:
        sql, bound = self._bound(sql, params)
        return self._guard(
            lambda: self._client.execute(
                sql,
                bound,
                with_column_types=True,
                settings=dict(settings or {}),
            )
        )

    def _guard(self, func: Callable[[], T]) -> T:
        """Run a driver call, turning its errors into ServerError with the password scrubbed."""
        from clickhouse_driver import errors

        try:
            return func()
        except errors.ServerException as exc:
            message = self.spec.scrub(str(exc.message)).split("Stack trace:")[0].strip()
            raise ServerError(int(exc.code or 0), message) from None
        except errors.Error as exc:
            raise ServerError(
                int(getattr(exc, "code", 0) or 0),
                f"{self.spec.display}: {self.spec.scrub(str(exc))}",
            ) from None
        except (OSError, EOFError) as exc:
            raise ServerError(210, f"cannot reach {self.spec.display}: {self.spec.scrub(str(exc))}") from None

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> Rows:
        data, columns = self._call(sql, params, settings)
        names = tuple(name for name, _ in columns)
        rows = [tuple(_normalize(v) for v in row) for row in data]
        return Rows(names, rows)

    def execute(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> None:
        self._call(sql, params, settings)

    def stream(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> Iterator[Rows]:
        """Yield the result in blocks of at most 10,000 rows as the server sends them."""
        sql, bound = self._bound(sql, params)
        it = self._guard(
            lambda: self._client.execute_iter(sql, bound, with_column_types=True, settings=dict(settings or {}))
        )
        names: tuple[str, ...] = ()
        block: list[tuple[Any, ...]] = []
        first = True
        done = object()
        while True:
            item: Any = self._guard(lambda: next(it, done))
            if item is done:
                break
            if first:
                names, first = tuple(name for name, _ in item), False
                continue
            block.append(tuple(_normalize(v) for v in item))
            if len(block) >= 10_000:
                yield Rows(names, block)
                block = []
        if block:
            yield Rows(names, block)

    def insert_arrow(
        self, target: str, columns: Sequence[str], data: pyarrow.Table, settings: Mapping[str, str]
    ) -> None:
        """One native INSERT of the batch as columns (Map columns become dicts, as the driver wants)."""
        import pyarrow as pa

        cols: list[list[Any]] = []
        for field, column in zip(data.schema, data.columns, strict=True):
            values = column.to_pylist()
            if pa.types.is_map(field.type):
                values = [dict(v) if v is not None else {} for v in values]
            cols.append(values)
        names = ", ".join(quote_identifier(c, "column") for c in columns)
        self._guard(
            lambda: self._client.execute(
                f"INSERT INTO {target} ({names}) VALUES", cols, columnar=True, settings=dict(settings)
            )
        )

    def close(self) -> None:
        self._client.disconnect()


def _normalize(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
