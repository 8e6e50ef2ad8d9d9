"""The native-protocol adapter (clickhouse-driver) for real servers.

Rules this adapter keeps:

* Query parameters are sent to the server (``server_side_params``) and bound
  there, in ClickHouse's ``{name:Type}`` syntax -- the same SQL as the embedded
  engine runs.
* Settings are sent with each query, so nothing leaks between statements.
* Errors carry the server's code; text is scrubbed of the password.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opik_store.engine.adapter import Rows
from opik_store.engine.urls import ConnectionSpec
from opik_store.errors import ServerError


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
        # Connect now so that a wrong host/password is reported here.
        self.query("SELECT 1")

    def _call(self, sql: str, params: Mapping[str, Any] | None, settings: Mapping[str, str] | None) -> Any:
        from clickhouse_driver import errors

        try:
            return self._client.execute(
                sql,
                dict(params) if params else None,
                with_column_types=True,
                settings=dict(settings or {}),
            )
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

    def close(self) -> None:
        self._client.disconnect()


def _normalize(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
