"""The migration lock: one migrating run per database, on a node or a cluster.

Mechanism — generation tables. The lock's state is a series of tables
``<db>.opik_store_lock_<N>``; the holder is whoever created the highest N.

* **Acquire** = ``CREATE TABLE opik_store_lock_<N+1>`` *without* IF NOT
  EXISTS. ClickHouse serializes DDL on one table name (its DDL guard), so of
  any number of concurrent creators exactly one succeeds and the others get
  TABLE_ALREADY_EXISTS (57). On a cluster the statement runs ON CLUSTER
  through the distributed DDL queue, which Keeper orders: every host runs
  the competing CREATEs in the same order, so every host agrees on one
  winner. ClickHouse has no conditional INSERT/UPDATE, so no row-based scheme
  gets mutual exclusion without a settle delay; DDL does.
* **Lease** = heartbeat rows the holder inserts into its generation table
  (``at`` is filled by the server's ``now()``, and ages are computed by the
  server, so host clocks never compare). A separate connection heartbeats
  every ``lease/4`` seconds while statements run. Times are whole seconds
  (``DateTime``, which every server down to 18.16 holds), so an age is exact
  to a second: a dead holder's lease ends up to a second late, never early.
  Rows follow the control-row quorum policy
  (:func:`opik_store.config.control_write_settings`): a replica down does not
  stop the heartbeats; a replica that lags can only make a lease look older,
  which fencing makes safe.
* **Take-over**: a generation that is released, or whose newest heartbeat is
  older than the lease, is free: the next run creates N+1 (same atomic
  CREATE). A generation table with no rows yet counts from its creation time.
* **Fencing**: before every statement the holder checks that no newer
  generation exists and that its heartbeats still succeed; otherwise it stops
  with LockLost instead of racing the new holder.
* **A replica down** does not stop a cluster acquisition: the generation
  CREATE waits at most ``LOCK_DDL_TIMEOUT`` for the hosts; on a timeout
  (TIMEOUT_EXCEEDED, 159) the creator is read from the table on this node
  (its ``creator`` column's default is the creating run's id, and every host
  runs the queued CREATEs in Keeper's order, so every host has the same
  creator). The host that was down runs the queued CREATE when it is back.
  Old generations' DROPs that time out the same way are left to the queue.
* **Release** inserts a ``released`` row; older generations are dropped by the
  next holder (the last two are kept for ``unlock``/history), without
  ``SYNC``: a generation's name is never reused, so its Keeper path cannot
  collide even while a modern server delays the drop.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from opik_store.config import RAISING_DDL_OUTPUT_MODES, StoreConfig, control_write_settings
from opik_store.engine.adapter import Adapter
from opik_store.engine.connect import open_adapter
from opik_store.engine.disk import MIN_FREE_BYTES
from opik_store.engine.quoting import quote_identifier, quote_string
from opik_store.errors import DiskFullError, OpikStoreError, ServerError
from opik_store.schema.render import render_statement

LOCK_PREFIX = "opik_store_lock_"
JOB_LOCK_PREFIX = "opik_store_joblock_"

LOCK_DDL = """
CREATE TABLE {name}
(
    run_id  String,
    host    String,
    pid     UInt32,
    event   Enum8('acquired' = 1, 'heartbeat' = 2, 'released' = 3),
    at      DateTime('UTC') DEFAULT now(),
    creator String DEFAULT {creator}
)
ENGINE = MergeTree
ORDER BY at
"""


def lock_ddl(name: str, creator: str = "") -> str:
    """The single-node CREATE of lock generation ``name``; ``creator`` (a run id) is its creator column's default."""
    return LOCK_DDL.format(name=name, creator=quote_string(creator))


class LockTimeout(OpikStoreError):
    """Another run held the lock for longer than the caller was willing to wait."""


class LockLost(OpikStoreError):
    """The lease expired or was taken over while this run held it."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a generation of the lock."""

    generation: int
    run_id: str
    host: str
    pid: int
    since: datetime | None
    age_ms: int
    released: bool

    def describe(self) -> str:
        since = f"since {self.since:%Y-%m-%d %H:%M:%S} UTC" if self.since else "just now"
        host = self.host.split("#", 1)[0]
        return f"{host} pid {self.pid} ({since}, last heartbeat {self.age_ms / 1000:.1f} s ago)"


def local_identity() -> str:
    """This process's host as the lock records it: ``hostname#boot id#PID namespace`` where known.

    Two processes share an identity only if they run in the same boot of the
    same machine and see the same process table, so one can tell at once
    whether the other's pid is alive. Hostnames alone repeat across machines
    (``localhost``, container defaults) and the root PID namespace's inode is
    the same on every Linux host; without /proc the identity is the bare
    hostname, and the shortcut is never taken (see :meth:`MigrationLock.dead_here`).
    """
    host = socket.gethostname()
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{host}#{boot}#{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return host


def process_alive(pid: int) -> bool:
    """Whether ``pid`` names a live process here (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


#: Seconds a lock generation's CREATE/DROP ON CLUSTER waits for every host before the outcome is read on
#: this node instead (a replica down must not hold a lock acquisition for distributed_ddl_task_timeout).
LOCK_DDL_TIMEOUT = 10

#: Races for one lock generation lost in a row before try_acquire gives up.
MAX_CREATE_RACES = 20


def check_free_space(adapter: Adapter, minimum: int = MIN_FREE_BYTES) -> None:
    """DiskFullError naming the disk when one of the server's disks has less than ``minimum`` bytes free.

    A server without ``system.disks`` (before 19.15: below the version gate,
    reached only by the cluster mechanism tests' 18.16) cannot report free
    space, and there the check does nothing: UNKNOWN_TABLE (60) on that one
    table is the only error let through.
    """
    try:
        found = adapter.query(
            "SELECT name, free_space FROM system.disks WHERE name = 'default' OR NOT has("
            "(SELECT groupArray(name) FROM system.disks), 'default')"
        ).rows
    except ServerError as exc:
        if exc.code == 60 and "system.disks" in str(exc):
            return
        raise
    low = [(str(name), int(free)) for name, free in found if int(free) < minimum]
    if low:
        detail = ", ".join(f"disk {name}: {free:,} bytes free" for name, free in low)
        raise DiskFullError(
            f"not enough free disk space to change anything safely ({detail}; opik-store needs at least "
            f"{minimum // (1024 * 1024)} MiB). Nothing was created. Free space and run the command again."
        )


class MigrationLock:
    """A lease-based lock in one database: the migration lock, or (with another ``prefix``) a job's."""

    def __init__(
        self,
        adapter: Adapter,
        config: StoreConfig,
        lease: float,
        say: Callable[[str], None],
        run_id: str | None = None,
        prefix: str = LOCK_PREFIX,
    ) -> None:
        self.prefix = prefix
        self._name_re = re.compile(rf"^{re.escape(prefix)}(\d+)$")
        self.adapter = adapter
        self.config = config
        self.lease = lease
        self.say = say
        self.run_id = run_id or str(uuid.uuid4())
        self.host = local_identity()
        self.pid = os.getpid()
        self.generation = 0
        self._db = quote_identifier(config.database, "database name")
        self._write = control_write_settings()
        self._stop = threading.Event()
        self._beat_error: Exception | None = None
        self._output_mode: str | None = None  # the session's distributed_ddl_output_mode ("" where unknown)
        self._last_beat = 0.0
        self._thread: threading.Thread | None = None

    # -- reading -----------------------------------------------------------
    def _table(self, generation: int) -> str:
        return f"{self._db}.{quote_identifier(f'{self.prefix}{generation}')}"

    def generations(self) -> list[int]:
        rows = self.adapter.query(
            "SELECT name FROM system.tables WHERE database = {db:String} AND startsWith(name, {p:String})",
            {"db": self.config.database, "p": self.prefix},
        ).rows
        found = [self._name_re.match(r[0]) for r in rows]
        return sorted(int(m.group(1)) for m in found if m)

    def holder(self, generation: int | None = None) -> Holder | None:
        """The newest generation's holder (or ``generation``'s), None when there is none."""
        if generation is None:
            gens = self.generations()
            if not gens:
                return None
            generation = gens[-1]
        row = self.adapter.query(
            f"SELECT argMinIf(run_id, at, event = 'acquired'), argMinIf(host, at, event = 'acquired'), "
            f"argMinIf(pid, at, event = 'acquired'), minIf(at, event = 'acquired'), count(), "
            f"countIf(event = 'released'), 1000 * (toInt64(toUInt32(now())) - toInt64(toUInt32(max(at)))) "
            f"FROM {self._table(generation)}"
        ).rows[0]
        run_id, host, pid, since, rows, released, age = row
        if not rows:  # created, 'acquired' not yet written (or the creator died in between)
            created = self.adapter.query(
                "SELECT 1000 * (toInt64(toUInt32(now())) - toInt64(toUInt32(metadata_modification_time))) "
                "FROM system.tables "
                "WHERE database = {db:String} AND name = {n:String}",
                {"db": self.config.database, "n": f"{self.prefix}{generation}"},
            ).scalar()
            return Holder(generation, "", "(unknown: no heartbeat yet)", 0, None, int(created or 0), False)
        return Holder(generation, str(run_id), str(host), int(pid), since, int(age), bool(released))

    def is_free(self, holder: Holder | None) -> bool:
        """Released, held by a process of this host that no longer exists, or silent for longer than the lease.

        Ages are whole seconds on the server's clock (each end truncated), so
        a reported age can exceed the true one by up to a second: a holder is
        free only once its reported age exceeds the lease plus that second,
        never early. A generation with no rows yet is judged by its creation
        time and gets at least 2 s of grace on top.
        """
        if holder is None or holder.released:
            return True
        if self.dead_here(holder):
            return True  # killed on this very host: no need to wait out its lease
        grace = self.lease + 1.0 if holder.run_id else max(self.lease, 2.0) + 2.0
        return holder.age_ms > grace * 1000

    def dead_here(self, holder: Holder) -> bool:
        """The holder ran in this boot of this machine (same PID namespace) and its process is gone.

        Only a full identity (``hostname#boot id#namespace``) counts: a bare
        hostname (no /proc) repeats across machines, so its holders wait out
        their lease.
        """
        return (
            bool(holder.run_id)
            and "#" in self.host
            and holder.host == self.host
            and holder.pid != self.pid
            and not process_alive(holder.pid)
        )

    # -- acquiring -----------------------------------------------------------
    def try_acquire(self) -> Holder | None:
        """Take the lock if it is free now; otherwise return its live holder without waiting.

        Losing a race for a generation looks again at once, a bounded number of
        times: a generation that can be neither created nor seen (the state that
        once spun forever on a system database) becomes an error, not a loop.
        """
        for _ in range(MAX_CREATE_RACES):
            current = self.holder()
            if not self.is_free(current):
                return current
            if current is not None and not current.released:
                why = "is no longer running on this host" if self.dead_here(current) else "let its lease expire"
                self.say(f"taking over the lock: its holder {current.describe()} {why}")
            if self._try_create((current.generation if current else 0) + 1):
                return None
            # another run won this generation: look again at once
        raise LockTimeout(
            f"could not take the lock of database {self.config.database!r}: its next generation kept existing "
            f"without showing a holder ({MAX_CREATE_RACES} tries). Check `opik-store unlock`, then retry."
        )

    def acquire(self, timeout: float) -> None:
        """Take the lock, waiting up to ``timeout`` seconds for a live holder."""
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            current = self.try_acquire()
            if current is None:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockTimeout(
                    f"database {self.config.database!r} is being migrated by {current.describe()}; "
                    f"gave up after {timeout:.0f} s. If that run is dead, its lease ends {self.lease:.0f} s after "
                    "its last heartbeat; `opik-store unlock --force` frees it now."
                )
            if not announced:
                self.say(f"waiting for the migration lock held by {current.describe()}")
                announced = True
            time.sleep(min(max(self.lease / 10, 0.05), 1.0, remaining))

    def _ddl_settings(self) -> dict[str, str]:
        """The DDL settings for generation CREATE/DROP: on a cluster, a wait of 1..LOCK_DDL_TIMEOUT seconds and
        an output mode that raises (a server profile's non-raising mode is overridden where the server has it),
        so a lost CREATE race is always seen."""
        settings = dict(self.config.ddl_settings)
        if self.config.topology.is_cluster:
            configured = int(float(settings.get("distributed_ddl_task_timeout", LOCK_DDL_TIMEOUT)))
            waited = LOCK_DDL_TIMEOUT if configured <= 0 else min(configured, LOCK_DDL_TIMEOUT)
            settings["distributed_ddl_task_timeout"] = str(waited)
            if self._output_mode is None:
                mode = self.adapter.query(
                    "SELECT value FROM system.settings WHERE name = 'distributed_ddl_output_mode'"
                ).rows
                self._output_mode = str(mode[0][0]) if mode else ""
            if self._output_mode and self._output_mode not in RAISING_DDL_OUTPUT_MODES:
                settings["distributed_ddl_output_mode"] = "throw"
        return settings

    def creator(self, generation: int) -> str | None:
        """The run id that created ``generation`` as this node has it (None: no such table here yet)."""
        value = self.adapter.query(
            "SELECT default_expression FROM system.columns WHERE database = {db:String} AND table = {t:String} "
            "AND name = 'creator'",
            {"db": self.config.database, "t": f"{self.prefix}{generation}"},
        ).scalar()
        return None if value is None else str(value)

    def _created_here_after_timeout(self, generation: int) -> bool:
        """After a CREATE ON CLUSTER timed out: whether this run created ``generation`` (read on this node).

        Waits up to the lease for this node to run the queued CREATE; raises LockTimeout if it never does.
        """
        deadline = time.monotonic() + max(self.lease, 1.0)
        while (creator := self.creator(generation)) is None:
            if time.monotonic() > deadline:
                raise LockTimeout(
                    f"lock generation {generation} of database {self.config.database!r} was queued ON CLUSTER but "
                    "this node has not created it; check the distributed DDL queue, then retry"
                )
            time.sleep(0.2)
        return creator == quote_string(self.run_id)

    def _try_create(self, generation: int) -> bool:
        check_free_space(self.adapter)
        ddl = lock_ddl(f"{self.prefix}{generation}", self.run_id)
        sql = render_statement(ddl, self.config.database, self.config.topology, guard=False).sql
        try:
            self.adapter.execute(sql, settings=self._ddl_settings())
        except ServerError as exc:
            if exc.code == 57:  # TABLE_ALREADY_EXISTS: another run won this generation
                return False
            if not (exc.code == 159 and self.config.topology.is_cluster):
                raise
            # TIMEOUT_EXCEEDED: a host did not answer in time; it runs the queued CREATE when it is back
            if not self._created_here_after_timeout(generation):
                return False
            self.say(f"lock generation {generation} created on the hosts that answered: {exc}")
        self.generation = generation
        self._insert(self.adapter, "acquired")
        self._last_beat = time.monotonic()
        self._start_heartbeat()
        self._drop_old_generations()
        return True

    def _insert(self, adapter: Adapter, event: str) -> None:
        adapter.execute(
            f"INSERT INTO {self._table(self.generation)} (run_id, host, pid, event) "
            "SELECT {r:String}, {h:String}, {p:UInt32}, {e:String}",
            {"r": self.run_id, "h": self.host, "p": self.pid, "e": event},
            settings=self._write,
        )

    def _drop_old_generations(self) -> None:
        """Drop generations older than the previous one; a DROP a down host has not confirmed stays queued."""
        for old in self.generations():
            if old < self.generation - 1:
                name = f"{self.prefix}{old}"
                sql = render_statement(f"DROP TABLE {name}", self.config.database, self.config.topology, sync=False).sql
                try:
                    self.adapter.execute(sql, settings=self._ddl_settings())
                except ServerError as exc:
                    if not (exc.code == 159 and self.config.topology.is_cluster):
                        raise
                    self.say(f"old lock generation {old} dropped on the hosts that answered: {exc}")

    # -- holding -------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._beat_error = None
        self._thread = threading.Thread(target=self._heartbeat, name="opik-store-lock-heartbeat", daemon=True)
        self._thread.start()

    def _heartbeat(self) -> None:
        conn = open_adapter(self.config.connection)
        try:
            while not self._stop.wait(self.lease / 4):
                try:
                    self._insert(conn, "heartbeat")
                    self._last_beat = time.monotonic()
                except Exception as exc:  # reported by check(); the lease decides
                    self._beat_error = exc
        finally:
            conn.close()

    def check(self) -> None:
        """Fence: raise LockLost unless this run still holds the lock."""
        if time.monotonic() - self._last_beat > self.lease:
            detail = f": {self._beat_error}" if self._beat_error else ""
            raise LockLost(f"the migration lock lease ran out (no heartbeat for {self.lease:.0f} s{detail})")
        if any(g > self.generation for g in self.generations()):
            newer = self.holder()
            who = newer.describe() if newer else "another run"
            raise LockLost(f"the migration lock was taken over by {who}; stopping before the next statement")

    def abandon(self) -> None:
        """Stop heartbeating without releasing, as a killed process would."""
        self._stop.set()
        if self._thread:
            self._thread.join()

    def release(self) -> None:
        """Stop heartbeating and mark this generation released.

        Never raises: it runs while another error may be propagating, and a
        release that fails only leaves a lease to run out.
        """
        self.abandon()
        if self.generation:
            try:
                self._insert(self.adapter, "released")
            except ServerError as exc:
                self.say(f"could not mark the migration lock released ({exc}); it frees itself after the lease")

    def force_release(self) -> Holder | None:
        """Mark the newest generation released, whoever holds it. Returns who held it."""
        current = self.holder()
        if current is not None and not current.released:
            self.generation = current.generation
            self._insert(self.adapter, "released")
        return current
