"""The migration ledger: an append-only history of every application.

Rules:

* One table per target database (``<db>.opik_store_ledger``), so two databases
  on one server never share state; replicated in cluster mode (rendered like
  every other table), so every node reads the same history.
* Rows are only ever INSERTed -- never UPDATEd or DELETEd (those are
  asynchronous mutations on ClickHouse). A revision's state is its newest row.
* ``recorded_at`` strictly increases within a process, so two rows written in
  one run never tie; runs never write concurrently (the migration lock).
* ``checksum`` covers the exact SQL run; ``source_checksum`` covers the
  revision's statements as written, which is what ``status`` compares to find
  an edited revision (the rendered SQL also changes with the topology).
* In cluster mode rows are written with a quorum and read with sequential
  consistency, so a reader on any replica sees every acknowledged row.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opik_store.config import Topology
from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_identifier
from opik_store.schema.render import render_statement

LEDGER_TABLE = "opik_store_ledger"

STARTED, APPLIED, FAILED, REVERTED = "started", "applied", "failed", "reverted"
UPGRADE, DOWNGRADE = "upgrade", "downgrade"

LEDGER_DDL = f"""
CREATE TABLE {LEDGER_TABLE}
(
    revision     String,
    state        Enum8('started' = 1, 'applied' = 2, 'failed' = 3, 'reverted' = 4),
    direction    Enum8('upgrade' = 1, 'downgrade' = 2),
    checksum     String,
    source_checksum String,
    run_id       UUID,
    host         String,
    pid          UInt32,
    started_at   DateTime64(6, 'UTC'),
    finished_at  Nullable(DateTime64(6, 'UTC')),
    duration_ms  Nullable(UInt64),
    error        String,
    note         String,
    recorded_at  DateTime64(6, 'UTC')
)
ENGINE = MergeTree
ORDER BY (revision, recorded_at)
"""

_COLUMNS = (
    ("revision", "String"),
    ("state", "String"),
    ("direction", "String"),
    ("checksum", "String"),
    ("source_checksum", "String"),
    ("run_id", "UUID"),
    ("host", "String"),
    ("pid", "UInt32"),
    ("started_at", "DateTime64(6, 'UTC')"),
    ("finished_at", "Nullable(DateTime64(6, 'UTC'))"),
    ("duration_ms", "Nullable(UInt64)"),
    ("error", "String"),
    ("note", "String"),
    ("recorded_at", "DateTime64(6, 'UTC')"),
)


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the ledger."""

    revision: str
    state: str
    direction: str
    checksum: str
    source_checksum: str
    run_id: str
    host: str
    pid: int
    started_at: datetime
    finished_at: datetime | None = None
    duration_ms: int | None = None
    error: str = ""
    note: str = ""
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.__dict__)
        for key in ("started_at", "finished_at", "recorded_at"):
            value = out[key]
            out[key] = value.isoformat() if value else None
        return out


def _fmt_time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def create_database_sql(database: str, topology: Topology) -> str:
    """``CREATE DATABASE IF NOT EXISTS`` for the target (ON CLUSTER in cluster mode)."""
    return f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database, 'database name')}{topology.on_cluster}"


def setup_statements(database: str, topology: Topology) -> list[str]:
    """The statements that create the database and the ledger (idempotent)."""
    return [create_database_sql(database, topology), render_statement(LEDGER_DDL, database, topology).sql]


class Ledger:
    """Reads and appends rows of one database's ledger."""

    def __init__(self, adapter: Adapter, database: str, topology: Topology) -> None:
        self.adapter = adapter
        self.database = database
        self.topology = topology
        self.run_id = str(uuid.uuid4())
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._last = datetime.min.replace(tzinfo=UTC)
        self._table = f"{quote_identifier(database, 'database name')}.{quote_identifier(LEDGER_TABLE)}"
        cluster = topology.is_cluster
        self._write_settings = {"insert_quorum": "auto", "insert_quorum_parallel": "0"} if cluster else {}
        self._read_settings = {"select_sequential_consistency": "1"} if cluster else {}

    def setup_statements(self) -> list[str]:
        return setup_statements(self.database, self.topology)

    def exists(self) -> bool:
        rows = self.adapter.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {name:String}",
            {"db": self.database, "name": LEDGER_TABLE},
        )
        return bool(rows.scalar())

    def _next_time(self) -> datetime:
        now = datetime.now(UTC)
        if now <= self._last:
            now = self._last + timedelta(microseconds=1)
        self._last = now
        return now

    def record(
        self,
        revision: str,
        state: str,
        direction: str,
        checksums: tuple[str, str],
        started_at: datetime,
        error: str = "",
        note: str = "",
    ) -> LedgerEntry:
        """Append one row; finished rows get their end time and duration.

        ``checksums`` is (rendered SQL checksum, source statements checksum).
        """
        recorded = self._next_time()
        finished = None if state == STARTED else recorded
        entry = LedgerEntry(
            revision=revision,
            state=state,
            direction=direction,
            checksum=checksums[0],
            source_checksum=checksums[1],
            run_id=self.run_id,
            host=self.host,
            pid=self.pid,
            started_at=started_at,
            finished_at=finished,
            duration_ms=None if finished is None else int((finished - started_at).total_seconds() * 1000),
            error=error,
            note=note,
            recorded_at=recorded,
        )
        values = {
            **entry.__dict__,
            "started_at": _fmt_time(entry.started_at),
            "finished_at": _fmt_time(entry.finished_at),
            "recorded_at": _fmt_time(entry.recorded_at),
        }
        select = ", ".join(f"{{{name}:{ctype}}}" for name, ctype in _COLUMNS)
        names = ", ".join(name for name, _ in _COLUMNS)
        self.adapter.execute(
            f"INSERT INTO {self._table} ({names}) SELECT {select}", values, settings=self._write_settings
        )
        return entry

    def now(self) -> datetime:
        return self._next_time()

    def entries(self) -> list[LedgerEntry]:
        """Every row, oldest first."""
        if not self.exists():
            return []
        names = ", ".join(name for name, _ in _COLUMNS)
        rows = self.adapter.query(
            f"SELECT {names} FROM {self._table} ORDER BY recorded_at, revision", settings=self._read_settings
        )
        out = []
        for row in rows.dicts():
            row["state"], row["direction"], row["run_id"] = str(row["state"]), str(row["direction"]), str(row["run_id"])
            out.append(LedgerEntry(**row))
        return out

    def latest(self) -> dict[str, LedgerEntry]:
        """Each revision's newest row: its current state."""
        out: dict[str, LedgerEntry] = {}
        for entry in self.entries():
            out[entry.revision] = entry
        return out
