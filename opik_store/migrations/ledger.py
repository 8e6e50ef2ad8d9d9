"""The migration ledger: an append-only history of every application.

Rules:

* One table per target database (``<db>.opik_store_ledger``), so two databases
  on one server never share state; replicated in cluster mode (rendered like
  every other table), so every node reads the same history.
* Rows are only ever INSERTed -- never UPDATEd or DELETEd (those are
  asynchronous mutations on ClickHouse). A revision's state is its newest row.
* Ordering comes from the server, never from a client clock: each row's
  ``seq`` is the ledger's largest ``seq`` plus one and its times are the
  server's ``now()``, both evaluated by the server in the ``INSERT ...
  SELECT``. Runs never write concurrently (the migration lock), so ``seq``
  strictly increases; rows are read in ``seq`` order.
* ``checksum`` covers the exact SQL run; ``source_checksum`` covers the
  revision's statements as written, which is what ``status`` compares to find
  an edited revision (the rendered SQL also changes with the topology).
* ``migrations_dir`` is where the revisions a run applied came from: '' for
  the ones shipped in the package, else the folder's absolute path. A later
  command that names no folder uses the newest row's (see
  :meth:`Ledger.recorded_folder`).
* Column types are ones every server can hold, down to the 18.16 of the
  cluster tests (``DateTime('UTC')``, whole seconds), so one table definition
  serves every server. A ledger created before ``seq`` existed (with
  ``DateTime64`` times) is read as it is and gets the column added by the next
  run that writes; its times then convert on insert.
* Rows are written under the control-row quorum policy
  (:func:`opik_store.config.control_write_settings`) and read back by the
  writer from the node it wrote to.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opik_store.config import Topology, control_write_settings
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
    started_at   DateTime('UTC'),
    finished_at  Nullable(DateTime('UTC')),
    duration_ms  Nullable(UInt64),
    error        String,
    note         String,
    recorded_at  DateTime('UTC'),
    seq          UInt64,
    migrations_dir String
)
ENGINE = MergeTree
ORDER BY (revision, seq)
"""

#: Added to a ledger created before a column existed (checked in system.columns first: 18.16 has no IF NOT
#: EXISTS), in this order.
ADDED_COLUMNS = (("seq", "UInt64"), ("migrations_dir", "String"))

_READ = (
    "revision",
    "state",
    "direction",
    "checksum",
    "source_checksum",
    "run_id",
    "host",
    "pid",
    "started_at",
    "finished_at",
    "duration_ms",
    "error",
    "note",
    "recorded_at",
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
    recorded_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.__dict__)
        for key in ("started_at", "finished_at", "recorded_at"):
            value = out[key]
            out[key] = value.isoformat() if value else None
        return out


def create_database_sql(database: str, topology: Topology) -> str:
    """``CREATE DATABASE IF NOT EXISTS`` for the target (ON CLUSTER in cluster mode)."""
    return f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database, 'database name')}{topology.on_cluster}"


def setup_statements(database: str, topology: Topology) -> list[str]:
    """The statements that create the database and the ledger (idempotent)."""
    return [create_database_sql(database, topology), render_statement(LEDGER_DDL, database, topology).sql]


class Ledger:
    """Reads and appends rows of one database's ledger."""

    def __init__(self, adapter: Adapter, database: str, topology: Topology, source_dir: str = "") -> None:
        """``source_dir``: where the revisions this run applies come from ('' for the shipped ones), recorded
        with every row it writes."""
        self.adapter = adapter
        self.source_dir = source_dir
        self.database = database
        self.topology = topology
        self.run_id = str(uuid.uuid4())
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._table = f"{quote_identifier(database, 'database name')}.{quote_identifier(LEDGER_TABLE)}"
        self._write_settings = control_write_settings()

    def setup_statements(self) -> list[str]:
        return setup_statements(self.database, self.topology)

    def _columns(self) -> set[str]:
        rows = self.adapter.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {name:String}",
            {"db": self.database, "name": LEDGER_TABLE},
        ).rows
        return {str(r[0]) for r in rows}

    def exists(self) -> bool:
        rows = self.adapter.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {name:String}",
            {"db": self.database, "name": LEDGER_TABLE},
        )
        return bool(rows.scalar())

    def upgrade_statements(self) -> list[str]:
        """What brings an existing ledger to the current shape (empty when it has it: no DDL on a no-op)."""
        columns = self._columns()
        if not columns:
            return []
        return [
            render_statement(f"ALTER TABLE {LEDGER_TABLE} ADD COLUMN {name} {kind}", self.database, self.topology,
                             guard=False).sql
            for name, kind in ADDED_COLUMNS
            if name not in columns
        ]  # fmt: skip

    def recorded_folder(self) -> tuple[int, str | None]:
        """(rows, folder): how many rows the ledger holds, and the folder the newest run's revisions came from
        ('' for the shipped ones; None when no row says: no ledger, no row, or a ledger written before the
        column existed)."""
        columns = self._columns()
        if not columns:
            return 0, None
        if "migrations_dir" not in columns:
            return int(self.adapter.query(f"SELECT count() FROM {self._table}").scalar() or 0), None
        order = "seq" if "seq" in columns else "recorded_at"
        rows = self.adapter.query(f"SELECT count(), argMax(migrations_dir, {order}) FROM {self._table}").rows
        count = int(rows[0][0]) if rows else 0
        return count, (str(rows[0][1]) if count else None)

    def record(
        self,
        revision: str,
        state: str,
        direction: str,
        checksums: tuple[str, str],
        started_at: datetime,
        error: str = "",
        note: str = "",
        elapsed: float | None = None,
    ) -> None:
        """Append one row; the server stamps it (``seq``, ``recorded_at``, and the end time of a finished row).

        ``checksums`` is (rendered SQL checksum, source statements checksum);
        ``started_at`` is a time from :meth:`now` (the server's clock). ``elapsed`` (seconds, measured by the
        caller's monotonic clock) gives a finished row its ``duration_ms`` to the millisecond; without it the
        duration is the server's clock difference, in whole seconds.
        """
        finished = state != STARTED
        self.adapter.execute(
            f"INSERT INTO {self._table} (revision, state, direction, checksum, source_checksum, run_id, host, pid, "
            "started_at, finished_at, duration_ms, error, note, recorded_at, seq, migrations_dir) "
            "SELECT {revision:String}, {state:String}, {direction:String}, {checksum:String}, {source:String}, "
            "{run_id:UUID}, {host:String}, {pid:UInt32}, {started:DateTime('UTC')}, "
            "if({finished:UInt8}, now(), NULL), "
            "if({finished:UInt8}, if({elapsed:Int64} >= 0, toUInt64({elapsed:Int64}), "
            "1000 * toUInt64(greatest(toInt64(toUInt32(now())) - toInt64(toUInt32({started:DateTime('UTC')})), 0))), "
            "NULL), {error:String}, {note:String}, now(), "
            f"(SELECT max(seq) FROM {self._table}) + 1, {{migrations_dir:String}}",
            {
                "revision": revision,
                "state": state,
                "direction": direction,
                "checksum": checksums[0],
                "source": checksums[1],
                "run_id": self.run_id,
                "host": self.host,
                "pid": self.pid,
                "started": started_at,
                "finished": int(finished),
                "elapsed": -1 if elapsed is None else round(elapsed * 1000),
                "error": error,
                "note": note,
                "migrations_dir": self.source_dir,
            },
            settings=self._write_settings,
        )

    def now(self) -> datetime:
        """The server's clock (whole seconds, UTC): the start time of a step."""
        value: datetime = self.adapter.query("SELECT toDateTime(now(), 'UTC')").scalar()
        return value

    def entries(self) -> list[LedgerEntry]:
        """Every row, oldest first (in ``seq`` order; a ledger from before ``seq`` in time order)."""
        columns = self._columns()
        if not columns:
            return []
        order = "seq, recorded_at, revision" if "seq" in columns else "recorded_at, revision"
        rows = self.adapter.query(f"SELECT {', '.join(_READ)} FROM {self._table} ORDER BY {order}")
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
