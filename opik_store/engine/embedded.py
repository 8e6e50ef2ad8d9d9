"""The embedded engine (chdb): real ClickHouse running in this process.

Rules this adapter keeps:

* chdb runs one engine per process, bound to one directory. Opening a second
  directory while the first is open fails; the error says which path holds it.
* Query parameters are bound by the engine (``{name:Type}``), never formatted.
* Settings for a statement are applied with ``SET`` on this connection (chdb
  has no per-query settings for DDL); they stay in force for the session.
  ``insert_arrow`` is the exception: its settings (a deduplication token,
  the ingest profile's values) go in the INSERT's own SETTINGS clause, so
  they never leak into later statements.
* ``insert_arrow`` hands an Arrow table to the engine through the
  ``Python(...)`` table function (no text encoding); ``stream`` yields the
  engine's result blocks as they come.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opik_store.engine.adapter import Rows
from opik_store.engine.disk import check_folder_space, recover_debris, writes_files
from opik_store.engine.quoting import check_setting_name, quote_identifier, setting_literal, settings_clause
from opik_store.engine.urls import ConnectionSpec
from opik_store.errors import ConfigError, ServerError

_log = logging.getLogger("opik_store")
if TYPE_CHECKING:
    import pyarrow

_CODE = re.compile(r"Code:\s*(\d+)\.\s*(.*)", re.S)


def server_error(exc: BaseException, spec: ConnectionSpec) -> ServerError:
    """Turn an engine exception into a ServerError with ClickHouse's code."""
    text = spec.scrub(str(exc))
    match = _CODE.search(text)
    if match:
        return ServerError(int(match.group(1)), match.group(2).strip())
    return ServerError(0, text)


def installed() -> bool:
    """Whether the embedded engine (chdb) can be imported here, without importing it (that takes ~2 s)."""
    if "chdb" in sys.modules:
        return sys.modules["chdb"] is not None
    return importlib.util.find_spec("chdb") is not None


def not_installed(display: str) -> str:
    """The error for a target naming the embedded engine on an install without it (the lean install)."""
    return (
        f"{display} names the embedded engine, which is not installed: install 'opik-store[embedded]' for it, "
        "or point --url / OPIK_STORE_URL at a server"
    )


class EmbeddedAdapter:
    """A connection to the in-process engine at ``spec.path``."""

    def __init__(self, spec: ConnectionSpec) -> None:
        try:
            import chdb  # imported lazily: ~2 s and a large shared object
        except ImportError:
            raise ConfigError(not_installed(spec.display)) from None

        self.spec = spec
        if spec.path != ":memory:":
            try:
                Path(spec.path).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot use {spec.path} as the embedded database folder: {exc.strerror or exc}"
                ) from None
            _refuse_if_held(spec)
            target = f"file:{spec.path}"
        else:
            target = ":memory:"
        if spec.options:
            target += "?" + "&".join(f"{k}={v}" for k, v in spec.options)
        try:
            try:
                self._conn = chdb.connect(target)
            except Exception:
                if spec.path == ":memory:":
                    raise
                recovery = recover_debris(Path(spec.path))
                if recovery.kept:
                    _log.error("left in place (opik-store cannot tell that nothing is lost): %s",
                               recovery.describe_kept())  # fmt: skip
                if not recovery.changed:
                    raise
                self._conn = chdb.connect(target)  # once more, without the files a full disk left empty
        except Exception as exc:  # chdb raises RuntimeError subclasses
            err = server_error(exc, spec)
            if "already initialized" in str(exc):
                raise ConfigError(
                    f"cannot open embedded database {spec.display}: this process already has another "
                    f"embedded database open ({err.server_message}). Close it first."
                ) from None
            if err.code == 36:
                raise ConfigError(
                    f"the embedded engine could not start on {spec.display}; its own message, printed above, names "
                    "the file or setting at fault"
                ) from None
            raise err from None
        self._applied: dict[str, str] = {}

    def _guard(self, sql: str) -> None:
        """DiskFullError before a statement that writes a file the engine must read whole at start, when the
        folder's disk is nearly full (see ``engine.disk``)."""
        if self.spec.path != ":memory:" and writes_files(sql):
            check_folder_space(self.spec.path, f"a {sql.lstrip().split(None, 1)[0].upper()} statement")

    def _run(self, sql: str, params: Mapping[str, Any] | None) -> Any:
        self._guard(sql)
        try:
            encoded = {k: encode_param(v) for k, v in (params or {}).items()}
            return self._conn.query(sql, "JSONCompact", params=encoded)
        except Exception as exc:
            raise server_error(exc, self.spec) from None

    def _apply_settings(self, settings: Mapping[str, str] | None) -> None:
        for name, value in (settings or {}).items():
            if self._applied.get(name) != value:
                self._run(f"SET {check_setting_name(name)} = {setting_literal(value)}", None)
                self._applied[name] = value

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> Rows:
        self._apply_settings(settings)
        result = self._run(sql, params)
        raw = result.bytes()
        if not raw:
            return Rows((), [])
        doc = json.loads(raw)
        meta = doc.get("meta", [])
        names = tuple(m["name"] for m in meta)
        converters = [_converter(m["type"]) for m in meta]
        rows = [tuple(conv(v) for conv, v in zip(converters, row, strict=True)) for row in doc.get("data", [])]
        return Rows(names, rows)

    def execute(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> None:
        self._apply_settings(settings)
        self._run(sql, params)

    def stream(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> Iterator[Rows]:
        """Yield the result block by block; each block of the engine arrives with its names and types."""
        self._apply_settings(settings)
        try:
            encoded = {k: encode_param(v) for k, v in (params or {}).items()}
            result = self._conn.send_query(sql, "JSONCompactEachRowWithNamesAndTypes", params=encoded)
        except Exception as exc:
            raise server_error(exc, self.spec) from None
        try:
            for chunk in result:
                lines = chunk.bytes().splitlines()
                if len(lines) < 2:
                    continue
                names = tuple(json.loads(lines[0]))
                converters = [_converter(t) for t in json.loads(lines[1])]
                rows = [
                    tuple(conv(v) for conv, v in zip(converters, json.loads(line), strict=True)) for line in lines[2:]
                ]
                if rows:
                    yield Rows(names, rows)
        except Exception as exc:
            raise server_error(exc, self.spec) from None
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def insert_arrow(
        self, target: str, columns: Sequence[str], data: pyarrow.Table, settings: Mapping[str, str]
    ) -> None:
        """``INSERT INTO target (columns) SELECT * FROM Python(batch) SETTINGS ...`` -- one statement."""
        opik_batch = data  # read by the engine through Python(opik_batch), from this frame
        names = ", ".join(quote_identifier(c, "column") for c in columns)
        sql = f"INSERT INTO {target} ({names}) SELECT * FROM Python(opik_batch){settings_clause(settings)}"
        self._guard(sql)
        try:
            self._conn.query(sql)
        except Exception as exc:
            raise server_error(exc, self.spec) from None
        del opik_batch

    def close(self) -> None:
        self._conn.close()


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _refuse_if_held(spec: ConnectionSpec) -> None:
    """ConfigError when another process has the embedded folder open.

    The engine locks ``<folder>/status`` (flock) while it runs; a second
    process cannot open the folder, and the engine's own error blames the
    wrong thing. Probing the same lock first gives the operator the real
    cause and the holder's pid, and prints nothing to stderr.
    """
    status = Path(spec.path) / "status"
    try:
        text = status.read_text(errors="replace")
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return  # never opened, or unreadable: the engine says what is wrong
    pid = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("PID:")), "?")
    try:
        if pid == str(os.getpid()):
            return  # this process holds it: another connection to the same engine is fine
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        raise ConfigError(
            f"embedded database {spec.display} is in use by another process (pid {pid}): the embedded engine "
            "allows one process per folder. Stop that process, or use another folder."
        ) from None
    finally:
        os.close(fd)


def encode_param(value: Any) -> str:
    """Encode a parameter value in the escaped text form the engine parses.

    The engine reads parameter values like TSV fields: backslash sequences are
    interpreted and ``\\N`` is NULL, so text is escaped here and None becomes NULL.
    """
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):  # whole seconds without a fraction, so a DateTime parameter parses them too
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f" if value.microsecond else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, list | tuple):  # Array(...) / Tuple(...): parsed as a literal, not TSV
        return _literal(value)
    raise TypeError(f"unsupported query parameter type {type(value).__name__}")


def _literal(value: Any) -> str:
    """A ClickHouse literal of ``value`` (strings quoted and escaped) for array and tuple parameters."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ")"
    raise TypeError(f"unsupported query parameter element type {type(value).__name__}")


def _converter(type_name: str) -> Any:
    inner = type_name
    nullable = False
    while True:
        if inner.startswith("Nullable(") and inner.endswith(")"):
            inner, nullable = inner[9:-1], True
        elif inner.startswith("LowCardinality(") and inner.endswith(")"):
            inner = inner[15:-1]
        else:
            break
    if re.fullmatch(r"U?Int(8|16|32|64|128|256)", inner):
        base: Any = int
    elif inner.startswith("DateTime"):
        base = _parse_datetime
    else:
        return lambda v: v

    def convert(value: Any) -> Any:
        if value is None and nullable:
            return None
        return base(value)

    return convert


def _parse_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)
