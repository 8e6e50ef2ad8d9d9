"""BatchWriter and StreamingWriter: Opik's traces and spans, one columnar INSERT per batch.

Rules a writer keeps:

* **Validate first.** Every item of a ``write`` call is validated before any
  INSERT: column by column (``columnar``), or, as soon as that path meets a
  bad or unusual value, item by item (``records.validate``), which names
  every problem. Both give the same table. In the default ``"all"`` mode one
  bad item raises :class:`ValidationError` listing every problem, and nothing
  of the call is written. In ``"reject"`` mode the valid items are written
  and the bad ones come back in ``WriteResult.rejects``.
* **One INSERT per batch** of at most ``batch_size`` items (1,000 by
  default, Opik's request size), sent as columns: an Arrow table through the
  embedded engine's ``Python(...)`` table function, native-protocol columns
  on a server. Values are never formatted into SQL.
* **Retried batches are stored once.** Each batch carries an
  ``insert_deduplication_token`` derived from its table and content (a
  BLAKE3 hash of its Arrow buffers, :meth:`BatchWriter.token`), reused by
  every retry, so a batch that reached the server before a timeout is
  dropped when sent again. This needs the server to remember tokens: a
  Replicated table does by default; a single-node MergeTree only with the
  table setting ``non_replicated_deduplication_window`` > 0, which revision
  0002 sets on traces and spans.
* **Retries** follow ``engine.retry``: only transient errors, exponential
  backoff with jitter, bounded attempts and time. A batch that still fails
  raises; batches before it in the same call stay written.
* **Settings**: the ingest profile's values (``QueryProfiles.values``) that
  the server knows, plus ``insert_deduplicate = 1`` and the token, on that
  INSERT only.
* **Threads**: a writer owns one connection and serializes its INSERTs with a
  lock, so one writer may be shared by several threads. ``counters`` are
  updated under a lock. A writer starts no thread of its own: the token
  (BLAKE3 of the batch's Arrow buffers) is hashed column by column as the
  columns are built.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import blake3

from opik_store.access.profiles import QueryProfiles
from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_identifier
from opik_store.engine.retry import RetryPolicy, call_with_retries
from opik_store.errors import BufferFullError, ConfigError, OpikStoreError, ServerError, UnstoredItemsError
from opik_store.ingest.columnar import ColumnarValidator
from opik_store.ingest.records import Limits, Problem, TableRules, ValidationError, table_rules, validate

if TYPE_CHECKING:
    import pyarrow

Mode = Literal["all", "reject"]
_log = logging.getLogger("opik_store.ingest")


@dataclass
class Counters:
    """What a writer has done: rows and batches written, retries, failed batches, rejected items."""

    rows: int = 0
    batches: int = 0
    retries: int = 0
    failures: int = 0
    rejected: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {k: getattr(self, k) for k in ("rows", "batches", "retries", "failures", "rejected")}


@dataclass(frozen=True)
class Rejected:
    """An item left out in ``"reject"`` mode: its index in the call, the item and why."""

    index: int
    item: Any
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class WriteResult:
    rows: int
    batches: int
    rejects: tuple[Rejected, ...] = ()


def arrow_type(ctype: str) -> pyarrow.DataType:
    """The Arrow type the engine reads into a column of ClickHouse type ``ctype``."""
    import pyarrow as pa

    if ctype.startswith("LowCardinality("):
        return arrow_type(ctype[15:-1])
    if ctype in ("String", "FixedString(36)") or ctype.startswith("Enum"):
        return pa.string()
    if ctype.startswith("DateTime64(6"):
        return pa.timestamp("us", tz="UTC")
    if ctype == "Array(String)":
        return pa.list_(pa.string())
    if ctype == "Map(String, Int64)":
        return pa.map_(pa.string(), pa.int64())
    if ctype.startswith("Decimal("):
        precision, scale = (int(x) for x in ctype[8:-1].split(","))
        return pa.decimal128(precision, scale)
    simple = {"UInt8": pa.uint8(), "UInt64": pa.uint64(), "Float64": pa.float64()}
    if ctype in simple:
        return simple[ctype]
    raise ConfigError(f"no Arrow type for ClickHouse type {ctype}")


_MISSING_BUFFER = (2**64 - 1).to_bytes(8, "little")  # a length no buffer has


def hash_column(hasher: Any, array: pyarrow.Array) -> None:
    """Feed one Arrow array's buffers, in order, into ``hasher``: each buffer's length (8 bytes), then its bytes.

    A missing buffer counts as a length no buffer has. A validity bitmap of an
    array without nulls counts as missing: whether one was allocated depends
    on how the array was built, not on its values. The lengths keep the
    framing unambiguous: bytes moved from one buffer or column to the next
    change what is hashed.
    """
    buffers = array.buffers()
    if buffers and array.null_count == 0:
        buffers[0] = None
    update = hasher.update
    for buffer in buffers:
        if buffer is None:
            update(_MISSING_BUFFER)
        else:
            update(buffer.size.to_bytes(8, "little"))
            update(buffer)


class PartialWriteError(ServerError):
    """A write whose first ``stored_batches`` batches (``stored_rows`` rows) were stored before one failed.

    Re-sending the same items is safe: a batch that was stored is recognised by
    its deduplication token (or, for rows whose timestamps the writer filled
    in, stored again as a newer version of the same ids, which collapses).
    """

    def __init__(self, cause: ServerError, stored_rows: int, stored_batches: int, total_rows: int) -> None:
        super().__init__(
            cause.code,
            f"{cause.server_message} (after {stored_rows} of {total_rows} rows were stored in {stored_batches} "
            "batch(es); re-sending the same items is safe)",
        )
        self.stored_rows, self.stored_batches = stored_rows, stored_batches


class BatchWriter:
    """Writes traces or spans into ``database`` through one connection (see the module rules)."""

    def __init__(
        self,
        adapter: Adapter,
        database: str,
        table: str,
        *,
        batch_size: int = 1000,
        mode: Mode = "all",
        retry: RetryPolicy | None = None,
        profiles: QueryProfiles | None = None,
        defaults: Mapping[str, Any] | None = None,
        limits: Limits | None = None,
        sleep: Callable[[float], None] = time.sleep,
        close_adapter: bool = False,
    ) -> None:
        """``defaults`` fill fields an item leaves out (e.g. ``{"workspace_id": ...}``)."""
        if not 1 <= batch_size <= 1_000_000:
            raise ConfigError(f"batch_size must be between 1 and 1,000,000, not {batch_size}")
        if mode not in ("all", "reject"):
            raise ConfigError(f"mode must be 'all' or 'reject', not {mode!r}")
        self.adapter = adapter
        self.database = database
        self.table = table
        self.batch_size = batch_size
        self.mode: Mode = mode
        self.retry = retry or RetryPolicy()
        self.limits = limits or Limits()
        self.rules: TableRules = table_rules(table, self.limits, lambda: datetime.now(UTC))
        self.defaults = dict(defaults or {})
        unknown = sorted(map(str, set(self.defaults) - self.rules.known))
        if unknown:  # as for an item's fields: a typo must not silently drop the value
            raise ConfigError(f"defaults name no insertable column of {table}: {', '.join(unknown)}")
        self.counters = Counters()
        self.target = f"{quote_identifier(database, 'database')}.{quote_identifier(table, 'table')}"
        self._types = [arrow_type(c.type) for c in self.rules.columns]
        self._columnar = ColumnarValidator(self.rules, self.limits, self._types)
        self._sleep = sleep
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._close_adapter = close_adapter
        self.settings = self._ingest_settings(profiles or QueryProfiles.load())

    def _ingest_settings(self, profiles: QueryProfiles) -> dict[str, str]:
        """The ingest profile's values the server knows, plus insert_deduplicate = 1; also reads the server's
        ``max_partitions_per_insert_block`` (the profile's value when it sets one) into ``max_partitions``."""
        wanted = profiles.values("ingest")
        known = {
            str(row[0]): str(row[1])
            for row in self.adapter.query(
                "SELECT name, value FROM system.settings WHERE name IN {names:Array(String)}",
                {"names": [*wanted, "max_partitions_per_insert_block"]},
            ).rows
        }
        out = {k: v for k, v in wanted.items() if k in known}
        out["insert_deduplicate"] = "1"
        limit = out.get("max_partitions_per_insert_block", known.get("max_partitions_per_insert_block", "0"))
        self.max_partitions = int(limit) if limit.isdigit() else 0
        return out

    # -- validation --------------------------------------------------------
    def prepare(self, items: Iterable[Any], start: int = 0) -> tuple[list[tuple[Any, ...]], list[Rejected]]:
        """Validate ``items`` (indexes from ``start``) -> (rows, rejects). Writes nothing.

        In ``"all"`` mode any problem raises ValidationError instead.
        """
        rows: list[tuple[Any, ...]] = []
        rejects: list[Rejected] = []
        for index, item in enumerate(items, start):
            row, problems = validate(self.rules, item, index, self.defaults)
            if row is None:
                rejects.append(Rejected(index, item, tuple(problems)))
            else:
                rows.append(row)
        if rejects and self.mode == "all":
            raise ValidationError([p for r in rejects for p in r.problems])
        return rows, rejects

    def prepare_tables(
        self, items: Iterable[Any], tokens: bool = True
    ) -> tuple[list[tuple[pyarrow.Table, str]], list[Rejected]]:
        """Validate ``items`` -> ([(Arrow table, its token)] one per batch of ``batch_size``, rejects).

        Writes nothing. Column by column (``columnar``) when every item is
        valid; otherwise ``prepare`` (item by item) decides, names every
        problem and, in ``"all"`` mode, raises ValidationError. Both give
        equal tables, and equal tables get equal tokens (:meth:`token`).
        ``tokens=False`` (the caller brings its own) leaves every token ''.
        """
        items = items if isinstance(items, list) else list(items)
        batches: list[tuple[pyarrow.Table, str]] = []
        for start in range(0, len(items), self.batch_size):
            hasher = self._hasher() if tokens else None
            table = self._columnar.table(
                items[start : start + self.batch_size],
                self.defaults,
                None if hasher is None else partial(hash_column, hasher),
            )
            if table is None:
                break
            batches.append((table, "" if hasher is None else str(hasher.hexdigest())))
        else:
            return batches, []
        rows, rejects = self.prepare(items)
        step = self.batch_size
        tables = [self._arrow(rows[s : s + step]) for s in range(0, len(rows), step)]
        return [(t, self.token(t) if tokens else "") for t in tables], rejects

    # -- writing -----------------------------------------------------------
    def write(self, items: Iterable[Any], token: str | None = None) -> WriteResult:
        """Validate all ``items``, then write them in batches of ``batch_size``.

        ``token`` (optional, the caller's idempotency key) replaces the
        content-derived deduplication token: batch ``n`` gets
        ``f"{token}:{n}:"`` plus a hash of the items *as given* (before the
        writer fills in timestamps), so a request re-sent with the same key and
        the same items is stored once, even though the timestamps the writer
        fills in differ, while different items under a reused key are stored,
        never dropped as duplicates of the first.
        """
        items = items if isinstance(items, list) else list(items)
        batches, rejects = self.prepare_tables(items, tokens=token is None)
        self.counters.add(rejected=len(rejects))
        if token is not None:
            refused = {r.index for r in rejects}
            valid = [item for i, item in enumerate(items) if i not in refused]
            size = self.batch_size
            # the writer's defaults are part of what the caller sent: other defaults, other content
            digests = [_items_digest([self.defaults, *valid[n * size : (n + 1) * size]]) for n in range(len(batches))]
            batches = [(data, f"{token}:{n}:{digests[n]}") for n, (data, _) in enumerate(batches)]
        total = sum(t.num_rows for t, _ in batches)
        stored = 0
        for n, (data, own) in enumerate(batches):
            done: set[int] = set()
            try:
                self.insert_batch(data, own, done)
            except ServerError as exc:
                part = len(self.stored_rows(data, done)) if done else 0
                if not n and not part:
                    raise
                raise PartialWriteError(exc, stored + part, n, total) from exc
            stored += data.num_rows
        return WriteResult(total, len(batches), tuple(rejects))

    def write_rows(self, rows: Sequence[tuple[Any, ...]], token: str | None = None) -> None:
        """One INSERT of already validated ``rows`` (from ``prepare``), retried on transient errors."""
        if not rows:
            return
        if len(rows) > self.batch_size:
            raise ConfigError(f"a batch holds at most {self.batch_size} rows, not {len(rows)}")
        data = self._arrow(rows)
        self.insert_batch(data, token or self.token(data))

    def insert_batch(self, data: pyarrow.Table, token: str, done: set[int] | None = None) -> None:
        """One validated batch (an Arrow table of this writer's columns), stored once under ``token``.

        A batch whose ids fall in more weeks (partitions) than the server takes in one INSERT
        (``max_partitions_per_insert_block``) is sent as several INSERTs of at most that many weeks each, with
        tokens ``f"{token}:w{i}"``: the server would refuse it whole, every time. ``done`` (optional) holds the
        numbers of the groups already stored: they are skipped, and each group stored now is added, so a caller
        that retries the batch after a failure part-way sends (and counts) only what is missing."""
        done = set() if done is None else done
        groups = self._partition_groups(data)
        if len(groups) == 1:
            if 0 not in done:
                self._insert(data, token)
                done.add(0)
            return
        import pyarrow as pa

        for i, rows in enumerate(groups):
            if i not in done:
                self._insert(data.take(pa.array(rows, type=pa.int64())), f"{token}:w{i}")
                done.add(i)

    def stored_rows(self, data: pyarrow.Table, done: set[int]) -> set[int]:
        """Row numbers of ``data`` in the groups ``done`` names (see :meth:`insert_batch`)."""
        return {n for i, rows in enumerate(self._partition_groups(data)) if i in done for n in rows}

    def _partition_groups(self, data: pyarrow.Table) -> list[list[int]]:
        """Row numbers of ``data`` in groups of at most ``max_partitions`` id weeks (one group when it fits)."""
        limit = self.max_partitions
        if not limit or data.num_rows <= limit:
            return [list(range(data.num_rows))]
        weeks: dict[int, list[int]] = {}
        for n, value in enumerate(data.column("id").to_pylist()):
            weeks.setdefault(_id_week(str(value)), []).append(n)
        if len(weeks) <= limit:
            return [list(range(data.num_rows))]
        keys = sorted(weeks)
        return [sorted(n for k in keys[i : i + limit] for n in weeks[k]) for i in range(0, len(keys), limit)]

    def _insert(self, data: pyarrow.Table, token: str | None) -> None:
        """One INSERT of a validated batch, retried on transient errors; counted."""
        rows = data.num_rows
        settings = {**self.settings, "insert_deduplication_token": token or self.token(data)}

        def on_retry(_message: str) -> None:
            self.counters.add(retries=1)

        with self._lock:
            try:
                call_with_retries(
                    lambda: self.adapter.insert_arrow(self.target, self.rules.names, data, settings),
                    self.retry,
                    f"INSERT of {rows} rows into {self.table}",
                    on_retry=on_retry,
                    sleep=self._sleep,
                    rng=self._rng,
                )
            except OpikStoreError:
                self.counters.add(failures=1)
                raise
        self.counters.add(rows=rows, batches=1)

    def token(self, data: pyarrow.Table) -> str:
        """The batch's deduplication token: BLAKE3 (256 bits, hex) of the target table and each column's buffers.

        The columns' buffers go in in order, each with its length
        (:func:`hash_column`). Equal rows give equal buffers (built from the
        same values by the same types), so a re-sent batch gets the same token,
        and a changed value changes a buffer. BLAKE3 is a cryptographic hash
        like SHA-256 (used before), about 2x faster here over a batch's many
        buffers: ~0.5 ms per 1,000 bench spans (1.7 MB), which ``write`` spends
        column by column as it builds them.
        """
        hasher = self._hasher()
        for column in data.columns:
            for chunk in column.chunks:
                hash_column(hasher, chunk)
        return str(hasher.hexdigest())

    def _hasher(self) -> Any:
        """A BLAKE3 hasher that has taken the target table's name (and a NUL, which no identifier holds)."""
        hasher = blake3.blake3()
        hasher.update(self.target.encode() + b"\x00")
        return hasher

    def _arrow(self, rows: Sequence[tuple[Any, ...]]) -> pyarrow.Table:
        import pyarrow as pa

        arrays = [
            pa.array(list(values), type=t) for values, t in zip(zip(*rows, strict=True), self._types, strict=True)
        ]
        return pa.Table.from_arrays(arrays, names=list(self.rules.names))

    def close(self) -> None:
        """Close the connection if this writer opened it (``Store.writer`` does)."""
        if self._close_adapter:
            self.adapter.close()

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StreamingWriter:
    """A bounded buffer in front of a BatchWriter: an accepted item is stored or handed back, never dropped.

    Rules:

    * ``add`` validates the item at once (``"all"`` mode raises ValidationError
      for it and buffers nothing; ``"reject"`` mode keeps it in ``rejects``).
      An item ``add`` returns from is *accepted*: from then on it is either
      stored or handed back in an :class:`UnstoredItemsError`.
    * Accepted items wait in a bounded buffer (``max_buffered`` items, ten
      batches by default). Every ``batch_size`` items, and every
      ``flush_interval`` seconds for what is there, the open items are sealed
      into a batch; one background thread writes the sealed batches in order.
    * A batch that fails (after the BatchWriter's own retries of transient
      errors) stays at the head of the buffer, unchanged, with the same
      deduplication token, and is tried again every ``retry_interval``
      seconds: a batch the server stored before the failure reached us is
      recognised, not stored twice. Each failure is counted (``failures``) and
      logged, and kept as :attr:`last_error`.
    * **Back-pressure**: when the buffer is full, ``add`` waits up to
      ``add_timeout`` seconds for room, then raises :class:`BufferFullError`
      handing back the item it could not take (the last error is its cause).
    * ``flush`` seals what is open and writes every sealed batch now, in the
      calling thread; if one fails it raises :class:`UnstoredItemsError` with
      every item not stored (they stay buffered and are retried). ``close``
      stops the thread, does the same and closes the BatchWriter; what it
      could not store is handed back in the error, and nothing stays behind.
    * ``counters.rows`` counts stored rows exactly; :attr:`pending` is the
      number of accepted items not stored yet. A process that is killed loses
      what was pending (in memory): an item is durable once a ``flush``
      returned after its ``add``.
    * Safe from several threads: the buffer is guarded by one condition; one
      thread at a time writes, always the head batch.
    """

    def __init__(
        self,
        writer: BatchWriter,
        flush_interval: float = 1.0,
        *,
        max_buffered: int | None = None,
        add_timeout: float = 30.0,
        retry_interval: float | None = None,
    ) -> None:
        if not flush_interval > 0:
            raise ConfigError(f"flush_interval must be positive, not {flush_interval}")
        max_buffered = 10 * writer.batch_size if max_buffered is None else max_buffered
        if max_buffered < writer.batch_size:
            raise ConfigError(f"max_buffered ({max_buffered}) must hold at least one batch ({writer.batch_size})")
        if not add_timeout >= 0:
            raise ConfigError(f"add_timeout must be zero or more seconds, not {add_timeout}")
        retry_interval = flush_interval if retry_interval is None else retry_interval
        if not retry_interval > 0:
            raise ConfigError(f"retry_interval must be positive, not {retry_interval}")
        self.writer = writer
        self.flush_interval = flush_interval
        self.max_buffered = max_buffered
        self.add_timeout = add_timeout
        self.retry_interval = retry_interval
        self.rejects: list[Rejected] = []
        self.last_error: OpikStoreError | None = None
        self._open: list[tuple[Any, tuple[Any, ...]]] = []
        self._sealed: deque[_Batch] = deque()
        self._buffered = 0
        self._seen = 0
        self._closed = False
        self._stopping = False
        self._cond = threading.Condition()
        self._writing = threading.Lock()  # one writer of the head batch at a time
        self._thread = threading.Thread(target=self._run, name="opik-store-flush", daemon=True)
        self._thread.start()

    @property
    def counters(self) -> Counters:
        return self.writer.counters

    @property
    def pending(self) -> int:
        """Accepted items not stored yet (buffered, or in a batch being written)."""
        with self._cond:
            return self._buffered

    # -- the buffer ----------------------------------------------------------
    def _seal(self) -> None:
        """Under the condition: turn the open items into one sealed batch."""
        if self._open:
            self._sealed.append(_Batch(self._open))
            self._open = []
            self._cond.notify_all()

    def _unstored(self) -> list[Any]:
        """Under the condition: every accepted item not stored, oldest first (a batch stored in part gives only
        the items of its groups not stored)."""
        out = []
        for b in self._sealed:
            stored = self.writer.stored_rows(b.data, b.done) if b.done and b.data is not None else set()
            out += [item for n, (item, _) in enumerate(b.entries) if n not in stored]
        return out + [item for item, _ in self._open]

    def _ids(self, items: list[Any]) -> list[str]:
        return [_item_id(item) for item in items]

    def add(self, item: Any) -> None:
        """Validate ``item`` and accept it into the buffer (see the class rules for when it is full)."""
        with self._cond:
            if self._closed:
                raise ConfigError("the StreamingWriter is closed: an item added now would never be written")
            index = self._seen
            self._seen += 1
        rows, rejects = self.writer.prepare([item], start=index)
        if rejects:
            self.writer.counters.add(rejected=1)
            with self._cond:
                self.rejects.extend(rejects)
            return
        with self._cond:
            if not self._cond.wait_for(lambda: self._buffered < self.max_buffered or self._closed, self.add_timeout):
                raise BufferFullError(
                    [item], [_item_id(item)], self.last_error,
                    f"the buffer stayed full ({self.max_buffered:,} items waiting) for {self.add_timeout:g} s",
                )  # fmt: skip
            if self._closed:
                raise ConfigError("the StreamingWriter is closed: an item added now would never be written")
            self._open.append((item, rows[0]))
            self._buffered += 1
            if len(self._open) >= self.writer.batch_size:
                self._seal()

    def add_many(self, items: Iterable[Any]) -> None:
        for item in items:
            self.add(item)

    # -- writing -------------------------------------------------------------
    def _write_head(self) -> bool:
        """Write the head batch once (with the BatchWriter's retries). True when it was stored (or there was
        none); on failure the batch stays at the head and the error is kept, counted and logged."""
        with self._writing:
            with self._cond:
                if not self._sealed:
                    return True
                batch = self._sealed[0]
            if batch.token is None:
                batch.data = self.writer._arrow([row for _, row in batch.entries])
                batch.token = self.writer.token(batch.data)
            assert batch.data is not None
            before = len(self.writer.stored_rows(batch.data, batch.done)) if batch.done else 0
            try:
                self.writer.insert_batch(batch.data, batch.token, batch.done)
            except OpikStoreError as exc:
                self.last_error = exc
                now = len(self.writer.stored_rows(batch.data, batch.done)) if batch.done else 0
                with self._cond:
                    self._buffered -= now - before  # the groups of the batch stored before the failure
                    self._cond.notify_all()
                _log.warning("a batch of %d item(s) was not (wholly) stored and stays buffered: %s",
                             len(batch.entries) - now, exc)  # fmt: skip
                return False
            with self._cond:
                self._sealed.popleft()
                self._buffered -= len(batch.entries) - before
                self._cond.notify_all()
            return True

    def _run(self) -> None:
        """The flush thread: seal the open items every ``flush_interval``; write sealed batches as they come; after
        a failure, wait ``retry_interval`` before trying the head batch again. Ends when ``close`` says so."""
        due = time.monotonic() + self.flush_interval
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or bool(self._sealed), max(0.0, due - time.monotonic()))
                if self._stopping:
                    return
                if time.monotonic() >= due:
                    self._seal()
                    due = time.monotonic() + self.flush_interval
            while not self._write_head():
                with self._cond:  # wait before the next try; close() wakes us
                    if self._cond.wait_for(lambda: self._stopping, timeout=self.retry_interval):
                        return

    def flush(self) -> None:
        """Seal what is buffered and write every sealed batch now; UnstoredItemsError (with every item not stored,
        which stay buffered) when one fails."""
        with self._cond:
            self._seal()
        while True:
            with self._cond:
                if not self._sealed:
                    return
            if not self._write_head():
                with self._cond:
                    items = self._unstored()
                raise UnstoredItemsError(items, self._ids(items), self.last_error, "a batch failed")

    def close(self) -> None:
        """Stop the thread, write the rest, close the BatchWriter. Items that could not be stored are handed back
        in UnstoredItemsError and dropped from this writer (the caller holds them now)."""
        with self._cond:
            self._stopping = True
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        try:
            self.flush()
        except UnstoredItemsError:
            with self._cond:
                self._sealed.clear()
                self._open = []
                self._buffered = 0
            raise
        finally:
            self.writer.close()

    def __enter__(self) -> StreamingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Batch:
    """A sealed batch: its items with their validated rows; its Arrow table and token once first tried."""

    entries: list[tuple[Any, tuple[Any, ...]]]
    data: pyarrow.Table | None = None
    token: str | None = None
    done: set[int] = field(default_factory=set)  # groups (partition weeks) already stored


def _item_id(item: Any) -> str:
    """The id an item carries (a mapping's ``id`` or a record's), as text; '' when it has none."""
    value = item.get("id") if isinstance(item, Mapping) else getattr(item, "id", None)
    return "" if value is None else str(value)


_DAY_MS = 86_400_000


def _id_week(value: str) -> int:
    """The Monday-based week (days since 1970-01-01 shifted by 3, over 7) of a UUIDv7 id's time; -1 for any id
    that is not v7 text. Two ids in one table partition (their id's week) get one number; ids the engine dates
    alike (say, far beyond its calendar) may get several, which only splits more."""
    if len(value) != 36 or value[14] != "7":
        return -1
    try:
        ms = int(value[:8] + value[9:13], 16)
    except ValueError:
        return -1
    return (ms // _DAY_MS + 3) // 7


def _items_digest(items: list[Any]) -> str:
    """A BLAKE3 hash (128 bits, hex) of ``items`` as the caller gave them: mappings and records as JSON with
    sorted keys, other values by their text. Equal items give equal digests across processes."""
    hasher = blake3.blake3()
    for item in items:
        plain = asdict(item) if is_dataclass(item) and not isinstance(item, type) else item
        hasher.update(json.dumps(plain, sort_keys=True, default=str).encode() + b"\x1e")
    return str(hasher.hexdigest(16))
