"""Re-layout one live table online: build the new layout beside it, copy, catch up, verify, swap.

The operation (``Relayout``) moves the rows of a live ReplacingMergeTree table
(``source``, e.g. ``traces``) into a new table created from a CREATE statement
(the ``target`` layout) while writers keep writing to ``source``, and swaps the
two names atomically. Rules it keeps:

* **Nothing is destroyed by default.** The new table is created beside the
  live one (``<table>_opik_store_new``); after the swap the original stays,
  whole, as ``<table>_opik_store_backup`` until :meth:`Relayout.drop_backup`
  (which the CLI runs only with ``--yes``) or :meth:`Relayout.rollback`.
  Rows are only ever deleted from a table no writer writes to (the new table
  before the swap, the backup before a rollback swaps it back).
* **Bounded windows of the id's time.** Rows are copied window by window. A
  window is a range of the window column's UUIDv7 text (``id`` for traces,
  ``trace_id`` for spans): UUIDv7 text sorts by its time, so ``[lo, hi)`` on
  the text is a range of time that also uses the sort key. Windows are cut
  from a per-hour histogram so that each holds about ``window_rows`` rows; the
  first is open below and the last open above, so every v7 id, including ids
  minted later or dated far in the future, falls in exactly one. Ids that are
  not v7 (v4, nil, anything else) get one window of their own.
* **Resumable.** Every step appends a row to ``<db>.opik_store_relayout``
  (append-only, like the ledger): the plan (windows and both tables' UUIDs) is
  recorded once, then each window's copy and verification. A killed run
  resumes at the first window not verified; a window whose copy started but
  did not finish is completed with the catch-up insert (only versions the new
  table lacks), never copied twice. Whether the swap happened is read from the
  tables' UUIDs, never assumed, so a kill between the EXCHANGE and the RENAME
  that follows it is recovered too.
* **Catch-up by versions.** A row version is (key, ``last_updated_at``). A
  sync pass inserts every version the source has and the target lacks
  (writes and updates made during the copy), and, on a target no one writes
  to yet, deletes versions the source no longer has (lightweight deletes made
  during the copy). ``is_deleted`` rows are copied as they are; into a layout
  without ``is_deleted`` a deleted newest version becomes a deletion of the
  key's older versions.
* **Verification** of each window: the count of live rows (newest version per
  key, not deleted) and an order-independent checksum (``sum`` of the
  ``cityHash64`` of every copied column of the newest version, wrapping) on
  both sides, computed with the same column conversions. After the swap the
  new table may hold newer writes, so it is compared on the backup's versions
  only: every version of the backup is in the new table with the same content.
* **Swap** is one ``EXCHANGE TABLES`` (atomic; the database must be Atomic),
  after catch-up passes until one finds nothing (or ``sync_passes``). Around
  it, merges of the table being swapped in are stopped and its parts are
  recorded, so that right after it the rows deleted from the old table in
  between (present in those parts, gone from the old table) are marked
  deleted, and the writes that reached the old table in between are copied,
  except for keys deleted from the new table since the swap. Merges restart
  before those copies (lightweight deletes sent meanwhile wait for them); a
  copied write whose id a delete sent since the swap names is deleted again
  after the copy (a delete created just before the copy does not reach the
  part the copy makes). A run killed after merges restarted copies such
  writes even for deleted keys: a write is never lost, and the run says so.
* **Rollback** copies every version written to the new table since the swap
  back into the backup (and applies deletions made since), exchanges the
  names back, and copies the writes of the moment in between: no write made
  after the swap is lost. Columns the old layout does not have are lost with
  it (the rollback report says which).
* **Limits.** ``max_memory_usage`` (per statement) and ``window_rows`` bound
  memory: each statement reads, groups and joins one window.
  ``max_rows_per_second`` paces the copy.

Cluster (one shard of replicas): every DDL is rendered with ON CLUSTER and
``Replicated*`` engines by render.py; the copy runs on the connected replica
and reaches the others through replication. Several shards need one run per
shard against each shard's local tables; that path is designed, not tested
(the embedded engine cannot run a cluster).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from opik_store.config import StoreConfig
from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_identifier, quote_string
from opik_store.errors import DataLossError, OpikStoreError
from opik_store.schema.render import render_statement
from opik_store.schema.shapes import expected_shapes

PROGRESS_TABLE = "opik_store_relayout"
NEW_SUFFIX = "_opik_store_new"
BACKUP_SUFFIX = "_opik_store_backup"
VERSION = "last_updated_at"
DELETED = "is_deleted"
HOUR_MS = 3_600_000

PROGRESS_DDL = f"""
CREATE TABLE {PROGRESS_TABLE}
(
    target      String,
    run_id      String,
    event       LowCardinality(String),
    window      Int32 DEFAULT -1,
    rows        UInt64 DEFAULT 0,
    bytes       UInt64 DEFAULT 0,
    checksum    UInt64 DEFAULT 0,
    detail      String DEFAULT '',
    at          DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = MergeTree
ORDER BY (target, at)
"""

#: Called after each window with the window and the running totals; a test may raise here to kill the run.
WindowHook = Callable[["Window", "Totals"], None]
Say = Callable[[str], None]
#: Called with (table, step) after each step of a cutover ("exchanged", "renamed"); a test may raise to kill there.
StepHook = Callable[[str, str], None]


class RelayoutError(OpikStoreError):
    """The re-layout cannot go on as asked (state, names, verification); nothing further was changed."""


@dataclass(frozen=True)
class Limits:
    """Resource bounds of a re-layout: rows per window, memory per statement, copy pace."""

    window_rows: int = 1_000_000
    max_memory_usage: int = 4 << 30
    max_rows_per_second: float = 0.0  # 0 = unpaced
    sync_passes: int = 5

    def __post_init__(self) -> None:
        if self.window_rows < 1 or self.max_memory_usage < 0 or self.max_rows_per_second < 0:
            raise RelayoutError("window rows must be >= 1; memory and rate limits must be >= 0")

    @property
    def settings(self) -> dict[str, str]:
        return {"max_memory_usage": str(self.max_memory_usage)} if self.max_memory_usage else {}


@dataclass(frozen=True)
class Window:
    """One window: v7 ids with window-column text in [lo, hi) (lo '' = open below, hi '' = open above),
    or (``v7`` False) every id that is not a UUIDv7."""

    index: int
    lo: str = ""
    hi: str = ""
    v7: bool = True
    rows: int = 0  # estimated when planned

    def predicate(self, column: str, suffix: str = "") -> tuple[str, dict[str, Any]]:
        """SQL condition on ``column`` (a quoted column name) and its bound parameters (named ``w_lo``/``w_hi``
        plus ``suffix``, so the conditions of several windows can share one statement)."""
        is_v7 = f"substring({column}, 15, 1) = '7'"
        if not self.v7:
            return f"NOT ({is_v7})", {}
        parts, params = [is_v7], {}
        if self.lo:
            parts.append(f"{column} >= {{w_lo{suffix}:String}}")
            params[f"w_lo{suffix}"] = self.lo
        if self.hi:
            parts.append(f"{column} < {{w_hi{suffix}:String}}")
            params[f"w_hi{suffix}"] = self.hi
        return " AND ".join(parts), params

    def describe(self) -> str:
        if not self.v7:
            return f"window {self.index}: ids that are not UUIDv7"
        lo = _ms_label(self.lo) if self.lo else "-inf"
        hi = _ms_label(self.hi) if self.hi else "+inf"
        return f"window {self.index}: ids from {lo} to {hi}"


def uuid7_prefix(ms: int) -> str:
    """The first 13 characters of a UUIDv7's text for the millisecond ``ms`` ('hhhhhhhh-hhhh')."""
    text = f"{max(ms, 0):012x}"[-12:]
    return f"{text[:8]}-{text[8:]}"


def _ms_label(prefix: str) -> str:
    ms = int(prefix.replace("-", ""), 16)
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, ValueError, OSError):
        return prefix


def cut_windows(histogram: Iterable[tuple[int, int]], window_rows: int, non_v7_rows: int) -> list[Window]:
    """Windows from (hour bucket, rows) pairs sorted by hour: consecutive hours are packed until a window
    holds ``window_rows``; the first window is open below, the last open above; a last window for non-v7 ids.
    An empty table still gets one open v7 window (rows written later must land somewhere)."""
    windows: list[Window] = []
    lo, count = "", 0
    for hour, rows in histogram:
        if count and count + rows > window_rows:
            hi = uuid7_prefix(hour * HOUR_MS)
            windows.append(Window(len(windows), lo, hi, True, count))
            lo, count = hi, 0
        count += rows
    windows.append(Window(len(windows), lo, "", True, count))
    windows.append(Window(len(windows), v7=False, rows=non_v7_rows))
    return windows


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    default_kind: str
    default_expression: str


def read_columns(adapter: Adapter, database: str, table: str) -> list[Column]:
    rows = adapter.query(
        "SELECT name, type, default_kind, default_expression FROM system.columns "
        "WHERE database = {d:String} AND table = {t:String} ORDER BY position",
        {"d": database, "t": table},
    ).rows
    return [Column(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


@dataclass(frozen=True)
class Mapping_:
    """How rows of one table are written into another: the columns both store, and the source expression
    (converted to the destination's type) of each."""

    columns: tuple[str, ...]
    expressions: tuple[str, ...]
    src_deleted: bool
    dst_deleted: bool
    dropped: tuple[str, ...]  # source columns the destination does not store

    def expr(self, name: str) -> str:
        return self.expressions[self.columns.index(name)]


def map_columns(src: list[Column], dst: list[Column], blank_if_malformed: tuple[str, ...] = ()) -> Mapping_:
    """Columns the destination stores itself (not MATERIALIZED/ALIAS) that the source has, each converted:
    the same type as it is; a Nullable source into a non-Nullable column through ``ifNull`` with the
    destination's default (its sentinel: epoch, nan, ...); anything else with CAST (DateTime64(9) into (6)
    truncates, as ClickHouse's CAST does; Int32 into Int64 widens; text longer than a FixedString fails the
    copy, changing nothing). Only the columns named in ``blank_if_malformed``, text into FixedString(N), take
    '' for a value that is not N bytes (the caller states why and counts them: see ``adopt``). Destination
    columns the source lacks take their DEFAULT."""
    by_name = {c.name: c for c in src}
    cols: list[str] = []
    exprs: list[str] = []
    for d in dst:
        s = by_name.get(d.name)
        if d.default_kind not in {"", "DEFAULT"} or s is None or s.default_kind == "ALIAS":
            continue
        q = quote_identifier(d.name)
        fixed = re.fullmatch(r"FixedString\((\d+)\)", d.type)
        if s.type == d.type:
            e = q
        elif fixed and d.name in blank_if_malformed and s.type in ("String", "LowCardinality(String)"):
            e = f"CAST(if(length({q}) = {fixed.group(1)}, {q}, '') AS {d.type})"
        elif s.type.startswith("Nullable(") and not d.type.startswith("Nullable("):
            fallback = d.default_expression or f"defaultValueOfTypeName({quote_string(d.type)})"
            e = f"CAST(ifNull({q}, {fallback}) AS {d.type})"
        else:
            e = f"CAST({q} AS {d.type})"
        cols.append(d.name)
        exprs.append(e)
    stored = {d.name for d in dst if d.default_kind in {"", "DEFAULT"}}
    dropped = tuple(s.name for s in src if s.default_kind in {"", "DEFAULT"} and s.name not in stored)
    return Mapping_(
        tuple(cols),
        tuple(exprs),
        any(c.name == DELETED for c in src),
        any(c.name == DELETED and c.default_kind in {"", "DEFAULT"} for c in dst),
        dropped,
    )


@dataclass
class Totals:
    """Running totals of a copy, for progress lines: rows and bytes done of the estimate, rate and ETA."""

    rows_total: int
    bytes_total: int
    rows_done: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def bytes_done(self) -> int:
        return int(self.bytes_total * self.rows_done / self.rows_total) if self.rows_total else 0

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.rows_done / elapsed if elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        left = max(self.rows_total - self.rows_done, 0)
        return left / self.rate if self.rate > 0 else None

    def describe(self) -> str:
        eta = self.eta_seconds
        return (
            f"{self.rows_done:,}/{self.rows_total:,} rows, ~{self.bytes_done / 1e6:,.1f}/{self.bytes_total / 1e6:,.1f}"
            f" MB, {self.rate:,.0f} rows/s, ETA {'?' if eta is None else f'{eta:,.0f} s'}"
        )


@dataclass(frozen=True)
class Check:
    """One window's verification: live rows and checksum of the newest versions on both sides."""

    window: int
    source_rows: int
    source_sum: int
    target_rows: int
    target_sum: int
    gone: int = 0  # after the swap: live keys of the original the new table no longer has (deleted since)
    stale: int = 0  # after the swap: keys whose newest version in the new table is older or differs
    pending: bool = False  # before the swap: the window's copy has not started yet (not a difference)

    @property
    def ok(self) -> bool:
        if self.stale or self.pending:
            return False
        return (self.source_rows - self.gone, self.source_sum) == (self.target_rows, self.target_sum)


@dataclass(frozen=True)
class RelayoutPlan:
    """What a re-layout of one table will do, with its cost estimate."""

    table: str
    new_table: str
    backup_table: str
    window_column: str
    rows: int
    bytes_on_disk: int
    bytes_uncompressed: int
    windows: list[Window]
    copied_columns: tuple[str, ...]
    dropped_columns: tuple[str, ...]
    state: str

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["windows"] = [asdict(w) for w in self.windows]
        return out


@dataclass(frozen=True)
class State:
    """Where a re-layout stands, read from the progress table and the tables' UUIDs."""

    planned: bool
    windows: list[Window]
    verified: set[int]
    started: set[int]
    swapped: bool
    source_uuid: str
    target_uuid: str
    finished: bool
    origin: str = ""  # who planned it: "adopt" or "revision" (plans recorded before the origin was: "revision")
    target: str | None = None  # the digest of the layout it moves to (None in plans recorded before it was)
    swap_complete: bool = False  # the newest cutover's swap recorded ``swapped``: gap writes copied, verified

    @property
    def name(self) -> str:
        if self.finished:
            return "finished"
        if self.swapped:
            return "swapped"
        if not self.planned:
            return "not started"
        return f"copying ({len(self.verified)}/{len(self.windows)} windows verified)"


class Relayout:
    """Move ``table`` (live) onto the layout of ``target_sql`` (single-node CREATE TABLE of ``table``)."""

    def __init__(
        self,
        adapter: Adapter,
        config: StoreConfig,
        table: str,
        target_sql: str,
        key: tuple[str, ...],
        window_column: str,
        limits: Limits | None = None,
        say: Say | None = None,
        after_window: WindowHook | None = None,
        prerequisites: tuple[str, ...] = (),
        after_step: StepHook | None = None,
        origin: str = "revision",
        blank_if_malformed: tuple[str, ...] = (),
    ) -> None:
        """``blank_if_malformed``: columns whose text that does not fit their FixedString(N) is stored as ''
        (see :func:`map_columns`); none for a revision's re-layout, where such a value fails the copy."""
        self.adapter = adapter
        self.blank_if_malformed = blank_if_malformed
        self.origin = origin  # who runs it: "revision" (migrate) or "adopt"; recorded with the plan
        self.config = config
        self.db = config.database
        self.table = table
        self.new_table = table + NEW_SUFFIX
        self.backup_table = table + BACKUP_SUFFIX
        self.target_sql = target_sql
        self.key = key
        self.window_column = window_column
        self.limits = limits or Limits()
        self.say: Say = say or (lambda _m: None)
        self.after_window = after_window
        self.run_id = uuid.uuid4().hex[:12]
        self._cache: dict[str, Any] = {}
        self.after_step = after_step
        self.prerequisites = prerequisites  # statements the target's CREATE needs first (a lookup it reads)

    @property
    def _target_digest(self) -> str:
        """Names the layout this re-layout moves to, so a different one is not mistaken for it."""
        return hashlib.sha256(" ".join(self.target_sql.split()).encode()).hexdigest()[:16]

    # -- names and SQL helpers ------------------------------------------------------------------
    def q(self, table: str) -> str:
        return f"{quote_identifier(self.db, 'database name')}.{quote_identifier(table, 'table name')}"

    def _ddl(self, sql: str) -> None:
        self._cache.clear()  # names and columns may change
        self.adapter.execute(sql, settings=self.config.ddl_settings)

    def _exists(self, table: str) -> bool:
        return bool(self._uuid(table))

    def _uuid(self, table: str) -> str:
        value = self.adapter.query(
            "SELECT toString(uuid) FROM system.tables WHERE database = {d:String} AND name = {t:String}",
            {"d": self.db, "t": table},
        ).scalar()
        return str(value) if value else ""

    def _record(self, event: str, window: int = -1, rows: int = 0, bytes_: int = 0, checksum: int = 0,
                detail: str = "") -> None:  # fmt: skip
        self.adapter.execute(
            f"INSERT INTO {self.q(PROGRESS_TABLE)} (target, run_id, event, window, rows, bytes, checksum, detail) "
            "VALUES ({t:String}, {r:String}, {e:String}, {w:Int32}, {n:UInt64}, {b:UInt64}, {c:UInt64}, {x:String})",
            {
                "t": self.table,
                "r": self.run_id,
                "e": event,
                "w": window,
                "n": rows,
                "b": bytes_,
                "c": checksum,
                "x": detail,
            },
        )

    def _events(self) -> list[dict[str, Any]]:
        if not self._exists(PROGRESS_TABLE):
            return []
        return self.adapter.query(
            f"SELECT event, window, rows, checksum, detail, at FROM {self.q(PROGRESS_TABLE)} "
            "WHERE target = {t:String} ORDER BY at",
            {"t": self.table},
        ).dicts()

    def state(self) -> State:
        """The re-layout's state: the newest plan, windows verified since it, and the swap read from UUIDs."""
        events = self._events()
        last_plan = max((i for i, e in enumerate(events) if e["event"] == "planned"), default=-1)
        if last_plan < 0:
            live = self._uuid(self.table)
            return State(False, [], set(), set(), False, live, "", False)
        detail = json.loads(events[last_plan]["detail"])
        windows = [Window(**w) for w in detail["windows"]]
        src, tgt = detail["source_uuid"], detail["target_uuid"]
        after = events[last_plan + 1 :]
        # a rollback makes every window stale: only verifications after the newest rollback count
        last_rollback = max((i for i, e in enumerate(after) if e["event"] == "rolled_back"), default=-1)
        recent = after[last_rollback + 1 :]
        verified = {int(e["window"]) for e in recent if e["event"] == "window_verified"}
        started = {int(e["window"]) for e in after if e["event"] == "window_started"}
        live = self._uuid(self.table)
        swapped = live == tgt
        finished = any(e["event"] == "finished" for e in after)
        # a finished plan no longer binds the table: it may since have been dropped and created again
        if live not in {src, tgt} and not finished:
            raise RelayoutError(
                f"{self.db}.{self.table} is neither the original table nor the new one this re-layout recorded "
                f"(UUID {live or 'missing'}; expected {src} or {tgt}): someone replaced it. Nothing was changed."
            )
        cutover = max((i for i, e in enumerate(events) if e["event"] == "cutover"), default=-1)
        complete = cutover >= 0 and any(e["event"] == "swapped" for e in events[cutover + 1 :])
        origin = str(detail.get("origin", "revision"))
        return State(True, windows, verified, started, swapped, src, tgt, finished, origin, detail.get("target"),
                     complete)  # fmt: skip

    # -- planning ---------------------------------------------------------------------------------
    def source_size(self, table: str | None = None) -> tuple[int, int, int]:
        """(rows, bytes on disk, uncompressed bytes) of the active parts of ``table`` (default: the live one)."""
        row = self.adapter.query(
            "SELECT sum(rows), sum(bytes_on_disk), sum(data_uncompressed_bytes) FROM system.parts "
            "WHERE database = {d:String} AND table = {t:String} AND active",
            {"d": self.db, "t": table or self.table},
        ).rows[0]
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    def histogram(self) -> tuple[list[tuple[int, int]], int]:
        """Rows per hour of the window column's UUIDv7 time, and the count of ids that are not v7."""
        col = quote_identifier(self.window_column)
        rows = self.adapter.query(
            f"SELECT substring({col}, 15, 1) = '7' AS v7, "
            f"if(v7, intDiv(reinterpretAsUInt64(reverse(unhex(concat(substring({col}, 1, 8), "
            f"substring({col}, 10, 4))))), {HOUR_MS}), 0) AS hour, count() "
            f"FROM {self.q(self.table)} GROUP BY v7, hour ORDER BY v7, hour",
            settings=self.limits.settings,
        ).rows
        hist = [(int(r[1]), int(r[2])) for r in rows if r[0]]
        non_v7 = sum(int(r[2]) for r in rows if not r[0])
        return hist, non_v7

    def plan(self) -> RelayoutPlan:
        """What the copy will do (windows from the live histogram, or the recorded ones); changes nothing."""
        st = self.state()
        rows, on_disk, raw = self.source_size(self.backup_table if st.swapped else self.table)
        if st.planned:
            windows = st.windows
        else:
            hist, non_v7 = self.histogram()
            windows = cut_windows(hist, self.limits.window_rows, non_v7)
        mapping = self._mapping_from_target_sql() if not st.planned else self.mapping()
        return RelayoutPlan(
            self.table, self.new_table, self.backup_table, self.window_column, rows, on_disk, raw, windows,
            mapping.columns, mapping.dropped, st.name,
        )  # fmt: skip

    def _mapping_from_target_sql(self) -> Mapping_:
        """The column mapping before the new table exists: its columns as the server reports them for
        ``target_sql``, created in a scratch database (after ``prerequisites``) and dropped, as ``check`` does."""
        shapes = expected_shapes(self.adapter, [*self.prerequisites, self.target_sql], dict(self.config.ddl_settings))
        dst = [Column(c[0], c[1], c[2], c[3]) for c in shapes[self.table].columns]
        return map_columns(read_columns(self.adapter, self.db, self.table), dst, self.blank_if_malformed)

    def mapping(self, reverse: bool = False) -> Mapping_:
        """Column mapping original -> new (or new -> original with ``reverse``), from the live tables."""
        key = f"mapping-{reverse}"
        if key not in self._cache:
            self._cache[key] = self._read_mapping(reverse)
        found: Mapping_ = self._cache[key]
        return found

    def _read_mapping(self, reverse: bool) -> Mapping_:
        st_names = self._names()
        original, new = st_names
        src, dst = (new, original) if reverse else (original, new)
        return map_columns(
            read_columns(self.adapter, self.db, src), read_columns(self.adapter, self.db, dst), self.blank_if_malformed
        )

    def _names(self) -> tuple[str, str]:
        """(table holding the original layout, table holding the new layout), by name, now."""
        if "names" not in self._cache:
            self._cache["names"] = self._read_names()
        found: tuple[str, str] = self._cache["names"]
        return found

    def _read_names(self) -> tuple[str, str]:
        st = self.state()
        if not st.planned:
            raise RelayoutError(f"no re-layout of {self.table} has started")
        by_uuid = {self._uuid(n): n for n in (self.table, self.new_table, self.backup_table) if self._exists(n)}
        if st.source_uuid not in by_uuid or st.target_uuid not in by_uuid:
            raise RelayoutError(
                f"the tables of the re-layout of {self.table} are missing (original {st.source_uuid}, "
                f"new {st.target_uuid}); nothing was changed"
            )
        return by_uuid[st.source_uuid], by_uuid[st.target_uuid]

    def refuse_if_another_unfinished(self) -> None:
        """Raise RelayoutError when a re-layout of this table into another layout has started and is not
        finished (rolled back counts as finished only once its backup is gone: see :meth:`drop_backup`)."""
        st = self.state()
        if st.planned and not st.finished and st.target not in (None, self._target_digest):
            raise RelayoutError(
                f"an earlier re-layout of {self.db}.{self.table} into another layout is not finished (its "
                f"original is kept as {self.backup_table}, or its copy is under way); finish it first "
                f"(`opik-store relayout finish {self.table} --yes`). Nothing was changed."
            )

    def _refuse_missing_columns(self, columns: list[Column], table: str) -> None:
        """RelayoutError unless ``table`` stores every key column and the version column, and has the window
        column (the copy, catch-up and checks match rows by them)."""
        if not columns:
            raise RelayoutError(
                f"there is no table {self.db}.{table} to re-lay out: a re-layout moves the rows of a table that "
                "exists (a new table is made by a plain CREATE TABLE). Nothing was changed."
            )
        stored = {c.name for c in columns if c.default_kind in {"", "DEFAULT"}}
        missing = [n for n in (*self.key, VERSION) if n not in stored]
        missing += [] if any(c.name == self.window_column for c in columns) else [self.window_column]
        missing = list(dict.fromkeys(missing))
        if missing:
            raise RelayoutError(
                f"the re-layout of {self.db}.{self.table} names columns {table} does not store: "
                f"{', '.join(missing)} (key, version or window column). Nothing was changed."
            )

    # -- the steps ----------------------------------------------------------------------------------
    def prepare(self) -> State:
        """Create the progress table and the new table, record the plan (once). Idempotent."""
        self._ddl(render_statement(PROGRESS_DDL, self.db, self.config.topology).sql)
        st = self.state()
        if st.planned and not st.finished:
            self.refuse_if_another_unfinished()
            return st
        if self._exists(self.new_table) or self._exists(self.backup_table):
            raise RelayoutError(
                f"{self.db}.{self.new_table} or {self.backup_table} already exists and no re-layout in progress "
                "recorded it: it was not made by this re-layout. Nothing was changed; rename or drop it first."
            )
        create = self.target_sql.replace(f"CREATE TABLE {self.table}", f"CREATE TABLE {self.new_table}", 1)
        if create == self.target_sql:
            raise RelayoutError(f"the target statement does not start with 'CREATE TABLE {self.table}'")
        self._refuse_missing_columns(read_columns(self.adapter, self.db, self.table), self.table)
        hist, non_v7 = self.histogram()
        windows = cut_windows(hist, self.limits.window_rows, non_v7)
        self._ddl(render_statement(create, self.db, self.config.topology, guard=False).sql)
        try:
            self._refuse_missing_columns(read_columns(self.adapter, self.db, self.new_table), self.new_table)
        except RelayoutError:
            # just made, unrecorded; rendered (SYNC on a cluster) so the next prepare's CREATE of this name does not
            # meet the dropped table's replica still registered in Keeper
            self._ddl(render_statement(f"DROP TABLE {self.new_table}", self.db, self.config.topology).sql)
            raise
        detail = {
            "windows": [asdict(w) for w in windows],
            "source_uuid": self._uuid(self.table),
            "target_uuid": self._uuid(self.new_table),
            "target": self._target_digest,
            "origin": self.origin,
        }
        self._record("planned", detail=json.dumps(detail))
        self.say(f"{self.table}: created {self.new_table}; {len(windows)} windows planned")
        return self.state()

    def copy(self) -> State:
        """Copy every window not yet verified (resuming a half-copied one with the catch-up insert)."""
        st = self.prepare()
        if st.swapped:
            return st
        rows, on_disk, _ = self.source_size()
        totals = Totals(rows, on_disk)
        totals.rows_done = sum(w.rows for w in st.windows if w.index in st.verified)
        for window in st.windows:
            if window.index in st.verified:
                continue
            began = time.monotonic()
            if window.index in st.started:
                self.say(f"{self.table}: resuming {window.describe()} (catch-up of what it lacks)")
                copied = self._insert_missing(window, "original")
            else:
                self._record("window_started", window.index)
                copied = self._copy_window(window)
            self._record("window_copied", window.index, rows=copied)
            check = self._settle(window)
            if check.ok:
                self._record("window_verified", window.index, rows=check.target_rows, checksum=check.target_sum)
            totals.rows_done += max(window.rows, copied)
            totals.rows_total = max(totals.rows_total, totals.rows_done)
            self.say(f"{self.table}: {window.describe()}: {copied:,} rows copied"
                     f"{'' if check.ok else ' (differs under writes; caught up before the swap)'}; "
                     f"{totals.describe()}")  # fmt: skip
            if self.after_window:
                self.after_window(window, totals)
            self._pace(copied, began)
        return self.state()

    def _pace(self, rows: int, began: float) -> None:
        if self.limits.max_rows_per_second > 0:
            wait = rows / self.limits.max_rows_per_second - (time.monotonic() - began)
            if wait > 0:
                time.sleep(wait)

    def _copy_window(self, window: Window) -> int:
        """One INSERT ... SELECT of the window's rows, converted; returns the rows written.

        Every version is written as it is (``optimize_on_insert = 0``: the engine does not collapse versions
        within the block), so a faithful copy holds exactly the original's versions and the cheap check of
        :meth:`_same_versions` can pass; merges collapse them later as they do in the original."""
        m = self.mapping()
        original, new = self._names()
        where, params = window.predicate(quote_identifier(self.window_column))
        cols = ", ".join(quote_identifier(c) for c in m.columns)
        before = self._count(new, window)
        self.adapter.execute(
            f"INSERT INTO {self.q(new)} ({cols}) SELECT {', '.join(m.expressions)} FROM {self.q(original)} "
            f"WHERE {where}",
            params,
            settings={**self.limits.settings, "optimize_on_insert": "0"},  # every version, as the original holds
        )
        return self._count(new, window) - before

    def _count(self, table: str, window: Window) -> int:
        where, params = window.predicate(quote_identifier(self.window_column))
        return int(self.adapter.query(f"SELECT count() FROM {self.q(table)} WHERE {where}", params).scalar() or 0)

    def _version_key(self, m: Mapping_ | None) -> str:
        """(key..., last_updated_at) as converted expressions of the source (``m``) or plain columns."""
        names = (*self.key, VERSION)
        if m is None:
            return "(" + ", ".join(quote_identifier(n) for n in names) + ")"
        return "(" + ", ".join(m.expr(n) for n in names) + ")"

    def _not_deleted(self, m: Mapping_, src: str, where: str) -> str:
        """Into a layout without is_deleted: `` AND`` the row is not deleted, nor is its key's newest version in
        ``src`` (an older live version of a deleted key must not come back). Empty otherwise."""
        if not (m.src_deleted and not m.dst_deleted):
            return ""
        flag = quote_identifier(DELETED)
        key = self._keys(m)
        return (f" AND {flag} = 0 AND {key} NOT IN (SELECT {key} FROM {self.q(src)} WHERE {where} GROUP BY {key} "
                f"HAVING argMax({flag}, {m.expr(VERSION)}) = 1)")  # fmt: skip

    def _insert_missing(self, window: Window, source: str) -> int:
        """Insert into the other table every version ``source`` ('original' or 'new') has in ``window`` and the
        other lacks. Into a layout without is_deleted, deleted versions are not inserted. Returns rows inserted."""
        original, new = self._names()
        m = self.mapping(reverse=source == "new")
        src, dst = (original, new) if source == "original" else (new, original)
        where, params = window.predicate(quote_identifier(self.window_column))
        only_live = self._not_deleted(m, src, where)
        cols = ", ".join(quote_identifier(c) for c in m.columns)
        before = self._count(dst, window)
        self.adapter.execute(
            f"INSERT INTO {self.q(dst)} ({cols}) SELECT {', '.join(m.expressions)} FROM {self.q(src)} "
            f"WHERE {where}{only_live} AND {self._version_key(m)} NOT IN "
            f"(SELECT {self._version_key(None)} FROM {self.q(dst)} WHERE {where})",
            params,
            settings=self.limits.settings,
        )
        return self._count(dst, window) - before

    def _delete_extra(self, windows: list[Window], source: str) -> int:
        """On the table ``source`` is copied INTO (which must not be live), delete every version in ``windows``
        that ``source`` no longer has; into a layout without is_deleted, also delete the keys whose newest
        version in ``source`` is deleted. One DELETE covers every window that has such versions (a lightweight
        DELETE is a mutation the server must schedule and wait for: one per pass, not one per window). Returns
        the versions deleted."""
        original, new = self._names()
        m = self.mapping(reverse=source == "new")
        src, dst = (original, new) if source == "original" else (new, original)
        conditions: list[str] = []
        params: dict[str, Any] = {}
        total = 0
        for position, window in enumerate(windows):
            where, bound = window.predicate(quote_identifier(self.window_column), suffix=f"_{position}")
            only_live = f" AND {quote_identifier(DELETED)} = 0" if m.src_deleted and not m.dst_deleted else ""
            gone = (
                f"{self._version_key(None)} NOT IN (SELECT {self._version_key(m)} FROM {self.q(src)} "
                f"WHERE {where}{only_live})"
            )
            if only_live:  # a key whose newest version in ``src`` is deleted goes, whatever versions remain
                key = "(" + ", ".join(m.expr(k) for k in self.key) + ")"
                plain = "(" + ", ".join(quote_identifier(k) for k in self.key) + ")"
                gone = (f"({gone} OR {plain} IN (SELECT {key} FROM {self.q(src)} WHERE {where} GROUP BY {key} "
                        f"HAVING argMax({quote_identifier(DELETED)}, {m.expr(VERSION)}) = 1))")  # fmt: skip
            condition = f"{where} AND {gone}"
            n = int(self.adapter.query(f"SELECT count() FROM {self.q(dst)} WHERE {condition}", bound).scalar() or 0)
            if n:
                conditions.append(f"({condition})")
                params.update(bound)
                total += n
        if conditions:
            # a lightweight DELETE waits for its mutation, which never runs while merges are stopped: ``dst`` is
            # not live and not in a cutover here, so merges a killed run left stopped on it are started again
            self._merges(dst, stop=False)
            self.adapter.execute(
                f"DELETE FROM {self.q(dst)} WHERE {' OR '.join(conditions)}",
                params,
                settings={**self.limits.settings, "lightweight_deletes_sync": "2"},
            )
        return total

    def sync_window(self, window: Window, source: str = "original", live_target: bool = False) -> tuple[int, int]:
        """One catch-up of ``window`` from ``source`` into the other table: (versions inserted, deleted).
        Deletions run only when the receiving table is not live (``live_target`` False)."""
        return self.sync_windows([window], source, live_target)

    def sync_windows(
        self, windows: list[Window], source: str = "original", live_target: bool = False
    ) -> tuple[int, int]:
        """:meth:`sync_window` for several windows: their deletions in one statement, then their inserts."""
        deleted = 0 if live_target else self._delete_extra(windows, source)
        inserted = sum(self._insert_missing(window, source) for window in windows)
        return inserted, deleted

    def _settle(self, window: Window) -> Check:
        """Verify a freshly copied window; on a difference (writes meanwhile), catch up and verify again.

        First the cheap test of :meth:`_same_versions`; only when it cannot tell, the newest-version check."""
        quick = self._same_versions(window)
        if quick is not None:
            return quick
        check = self.verify_window(window)
        for _ in range(self.limits.sync_passes):
            if check.ok:
                break
            self.sync_window(window)
            check = self.verify_window(window)
        return check

    def _same_versions(self, window: Window) -> Check | None:
        """The check of a just-copied window when both tables hold exactly the same versions (count and sum of
        the content hash of every version, no grouping): equal multisets of versions have equal newest versions.
        ``None`` when the sides differ (writes or merges since the copy) or the copy drops deleted versions
        (into a layout without ``is_deleted``); the caller then runs the newest-version check."""
        original, new = self._names()
        m = self.mapping()
        if m.src_deleted and not m.dst_deleted:
            return None
        where, params = window.predicate(quote_identifier(self.window_column))
        plain = ", ".join(quote_identifier(c) for c in m.columns)

        def side(exprs: str, table: str) -> str:
            return f"SELECT count() AS n, sumWithOverflow(cityHash64({exprs})) AS h FROM {self.q(table)} WHERE {where}"

        s_rows, s_sum, t_rows, t_sum = (int(v) for v in self.adapter.query(
            f"SELECT s.n, s.h, t.n, t.h FROM ({side(', '.join(m.expressions), original)}) AS s "
            f"CROSS JOIN ({side(plain, new)}) AS t",
            params,
            self.limits.settings,
        ).rows[0])  # fmt: skip
        if (s_rows, s_sum) != (t_rows, t_sum):
            return None
        return Check(window.index, s_rows, s_sum, t_rows, t_sum)

    def verify_window(self, window: Window, contains: bool = False) -> Check:
        """Live rows and checksum of the newest versions of ``window`` in the original and in the new table.

        Before the swap both sides must be equal. With ``contains`` (after the swap, when the new table takes
        writes, merges away old versions and deletes) each live key of the original is matched with the new
        table's newest version of it: that must be newer, or the same version with the same content of every
        copied column (``stale`` counts keys where it is not). Keys of the original the new table no longer
        has (deleted since the swap) are counted in ``gone``."""
        original, new = self._names()
        m = self.mapping()
        where, params = window.predicate(quote_identifier(self.window_column))
        plain = tuple(quote_identifier(c) for c in m.columns)
        src = self._newest_sql(original, m.expressions, m.columns, m.src_deleted, where)
        dst = self._newest_sql(new, plain, m.columns, m.dst_deleted, where)
        run = self.adapter.query
        if not contains:
            s = run(f"SELECT count(), sumWithOverflow(nh) FROM ({src}) WHERE nd = 0", params, self.limits.settings)
            t = run(f"SELECT count(), sumWithOverflow(nh) FROM ({dst}) WHERE nd = 0", params, self.limits.settings)
            a, b = s.rows[0], t.rows[0]
            return Check(window.index, int(a[0]), int(a[1]), int(b[0]), int(b[1]))
        keys = ", ".join(f"k{i}" for i in range(len(self.key)))
        row = run(
            f"SELECT (SELECT count() FROM ({src}) WHERE nd = 0), count(), "
            "countIf(t.nv < s.nv OR (t.nv = s.nv AND t.nh != s.nh)) "
            f"FROM ({src}) AS s INNER JOIN ({dst}) AS t USING ({keys}) WHERE s.nd = 0",
            params,
            self.limits.settings,
        ).rows[0]
        live, matched, stale = int(row[0]), int(row[1]), int(row[2])
        return Check(window.index, live, 0, live - stale - (live - matched), 0, live - matched, stale)

    def _newest_sql(self, table: str, exprs: tuple[str, ...], names: tuple[str, ...], has_deleted: bool,
                    where: str) -> str:  # fmt: skip
        """Per key (k0, k1, ...): the newest version ``nv``, its content hash ``nh`` and deleted flag ``nd``
        (ties between versions broken by the hash, the same way on both sides)."""
        keys = ", ".join(f"{exprs[names.index(k)]} AS k{i}" for i, k in enumerate(self.key))
        groups = ", ".join(f"k{i}" for i in range(len(self.key)))
        version = exprs[names.index(VERSION)]
        deleted = quote_identifier(DELETED) if has_deleted else "toUInt8(0)"
        return (
            f"SELECT {groups}, max(v) AS nv, argMax(h, (v, h)) AS nh, argMax(d, (v, h)) AS nd "
            f"FROM (SELECT {keys}, {version} AS v, cityHash64({', '.join(exprs)}) AS h, {deleted} AS d "
            f"FROM {self.q(table)} WHERE {where}) GROUP BY {groups}"
        )

    def verify(self) -> list[Check]:
        """Verify every window (``contains`` mode once swapped)."""
        st = self.state()
        if not st.planned:
            raise RelayoutError(f"no re-layout of {self.table} has started: nothing to verify")
        checks = []
        for w in st.windows:
            check = self.verify_window(w, contains=st.swapped)
            if not st.swapped and w.index not in st.started and w.index not in st.verified:
                check = dataclasses.replace(check, pending=True)
            checks.append(check)
        return checks

    def swap(self) -> State:
        """Catch up until a pass finds nothing (or ``sync_passes``), then cut over (see :meth:`_cutover`).

        A finished earlier re-layout of the table (backup dropped) does not count: this one starts afresh."""
        st = self.state()
        if st.finished:
            st = self.prepare()
        else:
            self.refuse_if_another_unfinished()  # swapped into another layout: this one must not pass for done
        if st.planned and not st.swapped and self._exists(self.new_table):
            self._merges(self.new_table, stop=False)  # a run killed before its EXCHANGE left them stopped
        if not st.swapped:
            st = self.copy()
            for attempt in range(1, self.limits.sync_passes + 1):
                changed = sum(self.sync_windows(st.windows))
                self.say(f"{self.table}: catch-up pass {attempt}: {changed:,} versions")
                if not changed:
                    break
            self._cutover(st, forward=True)
            self.say(f"{self.table}: swapped: {self.table} is the new layout")
        st = self.state()
        self._finish_rename(st)
        self._after_exchange(st, forward=True)
        bad = [c for c in self.verify() if not c.ok]
        if bad:
            raise RelayoutError(
                f"{self.table}: after the swap, windows {[c.window for c in bad]} of the backup differ from the "
                f"new table; nothing was dropped. {self._after_failed_check()}"
            )
        self._record("swapped")
        return self.state()

    def _after_failed_check(self) -> str:
        """What the operator can do about a failed check after the swap, for the command that ran it."""
        if self.origin == "adopt":
            return "Run `opik-store adopt verify` for details, or roll back."
        return f"The original is kept as {self.backup_table}; `opik-store migrate` checks it again."

    def _merges(self, table: str, stop: bool) -> None:
        verb = "STOP" if stop else "START"
        self.adapter.execute(f"SYSTEM {verb} MERGES{self.config.topology.on_cluster} {self.q(table)}")

    def _cutover(self, st: State, forward: bool) -> None:
        """Stop merges on the table about to become live, record its parts, EXCHANGE.

        Merges stay stopped until :meth:`_after_exchange`, so the parts recorded here still name exactly the
        rows the table held before the EXCHANGE (a merge or a mutation would rename them; lightweight deletes
        others send meanwhile wait, which also keeps them from racing the catch-up)."""
        incoming = self.new_table if forward else self.backup_table
        self._merges(incoming, stop=True)
        parts = [str(r[0]) for r in self.adapter.query(
            "SELECT name FROM system.parts WHERE database = {d:String} AND table = {t:String} AND active",
            {"d": self.db, "t": incoming},
        ).rows]  # fmt: skip
        self._record("cutover", detail=json.dumps({"forward": forward, "parts": parts}))
        self._step("exchanging")
        self._ddl(f"EXCHANGE TABLES {self.q(self.table)} AND {self.q(incoming)}{self.config.topology.on_cluster}")
        self._step("exchanged")

    def _step(self, name: str) -> None:
        if self.after_step:
            self.after_step(self.table, name)

    def _after_exchange(self, st: State, forward: bool) -> None:
        """Right after an EXCHANGE: mark as deleted the rows deleted from the outgoing table since the last
        catch-up, start merges again, then copy the writes the outgoing table got in that time.

        A gap write of a key the live table held at the EXCHANGE (in its recorded parts) is copied only if the
        key is still there once the deletes sent to the live table meanwhile have run (merges restarted,
        mutations waited for): a delete made after the swap is never undone by an older write. Idempotent; a
        resumed run redoes it from the recorded parts, unless merges had restarted (then the parts are stale:
        no deletions are inferred and every gap write is copied)."""
        events = self._events()
        last = max((i for i, e in enumerate(events) if e["event"] == "cutover"), default=-1)
        after = {e["event"] for e in events[last + 1 :]} if last >= 0 else set()
        if {"swapped", "rolled_back"} & after:
            return  # done after this cutover already: its parts are merged since, and must not be read again
        detail: dict[str, Any] = json.loads(events[last]["detail"]) if last >= 0 else {"forward": forward}
        parts: list[str] = list(detail.get("parts", [])) if detail["forward"] == forward else []
        restarted = "merges_started" in after  # killed after merges restarted: the recorded parts are stale
        source = "original" if forward else "new"
        original, new = self._names()
        outgoing = original if forward else new
        try:
            self._wait_for_writers(self.table)
            self._wait_for_mutations(outgoing)
            gone = [self._gap_deletions(w, source, parts) for w in st.windows] if parts and not restarted else []
            pending = [(w, self._gap_writes(w, source, parts)) for w in st.windows]
        finally:
            self._merges(self.table, stop=False)
            self._record("merges_started")
        self._wait_for_mutations(self.table)
        if last >= 0:
            pending = [(w, (v, e + self._deleted_since(events[last]["at"], w, source, v))) for w, (v, e) in pending]
        if restarted and any(v for _, (v, _) in pending):
            self.say(
                f"{self.table}: the previous run stopped after merges restarted: versions written during the "
                "EXCHANGE are copied even for keys deleted since (no write is lost; check such deletes)"
            )
        self._step("copying_gap_writes")
        for w, (versions, existed) in pending:
            if restarted:  # a key deleted since the swap cannot be told from a new one: keep the write
                existed = []
            if versions:
                self._insert_gap_writes(w, source, versions, existed)
                if last >= 0:
                    self._redelete_gap_writes(events[last]["at"], w, source, versions)
        for lost in gone:
            lost()

    def _keys(self, m: Mapping_ | None) -> str:
        if m is None:
            return "(" + ", ".join(quote_identifier(k) for k in self.key) + ")"
        return "(" + ", ".join(m.expr(k) for k in self.key) + ")"

    def _gap_writes(self, window: Window, source: str, parts: list[str]) -> tuple[list[int], list[int]]:
        """(hashes of the versions ``source`` has and the live table lacks, hashes of their keys that the live
        table held at the EXCHANGE), read while merges are stopped."""
        original, new = self._names()
        frozen, live = (original, new) if source == "original" else (new, original)
        m = self.mapping(reverse=source == "new")
        where, params = window.predicate(quote_identifier(self.window_column))
        only_live = self._not_deleted(m, frozen, where)
        rows = self.adapter.query(
            f"SELECT cityHash64{self._version_key(m)}, cityHash64{self._keys(m)}, "
            f"{self._keys(m)} IN (SELECT {self._keys(None)} FROM {self.q(live)} WHERE {where} "
            f"AND _part IN {{parts:Array(String)}}) FROM {self.q(frozen)} WHERE {where}{only_live} AND "
            f"{self._version_key(m)} NOT IN (SELECT {self._version_key(None)} FROM {self.q(live)} WHERE {where})",
            {**params, "parts": parts},
            settings=self.limits.settings,
        ).rows
        return [int(r[0]) for r in rows], [int(r[1]) for r in rows if r[2]]

    def _insert_gap_writes(self, window: Window, source: str, versions: list[int], existed: list[int]) -> None:
        original, new = self._names()
        frozen, live = (original, new) if source == "original" else (new, original)
        m = self.mapping(reverse=source == "new")
        where, params = window.predicate(quote_identifier(self.window_column))
        cols = ", ".join(quote_identifier(c) for c in m.columns)
        self.adapter.execute(
            f"INSERT INTO {self.q(live)} ({cols}) SELECT {', '.join(m.expressions)} FROM {self.q(frozen)} "
            f"WHERE {where} AND cityHash64{self._version_key(m)} IN {{vs:Array(UInt64)}} AND "
            f"({self._keys(m)} IN (SELECT {self._keys(None)} FROM {self.q(live)} WHERE {where}) "
            f"OR cityHash64{self._keys(m)} NOT IN {{ks:Array(UInt64)}})",
            {**params, "vs": versions, "ks": existed},
            settings=self.limits.settings,
        )
        self.say(f"{self.table}: copied {len(versions)} version(s) written during the EXCHANGE")

    def _deleted_since(self, since: Any, window: Window, source: str, versions: list[int]) -> list[int]:
        """Key hashes among the gap writes ``versions`` whose id a delete sent to the live table since the
        cutover names (Opik deletes by id): such a key is treated as held at the swap, so its gap write is
        copied only if the key is still there. A key written just before the swap and deleted just after it
        stays deleted."""
        return [key for _, key in self._named_by_deletes(since, window, source, versions)]

    def _named_by_deletes(self, since: Any, window: Window, source: str, versions: list[int]) -> list[tuple[str, int]]:
        """(id, key hash) of the gap writes ``versions`` whose id a mutation of the live table created since
        ``since`` (one second of slack) names."""
        if not versions:
            return []
        original, new = self._names()
        frozen, live = (original, new) if source == "original" else (new, original)
        commands = [str(r[0]) for r in self.adapter.query(
            "SELECT command FROM system.mutations WHERE database = {d:String} AND table = {t:String} "
            "AND create_time >= toStartOfSecond({at:DateTime64(6, 'UTC')}) - 1",
            {"d": self.db, "t": live, "at": since},
        ).rows]  # fmt: skip
        if not commands:
            return []
        m = self.mapping(reverse=source == "new")
        where, params = window.predicate(quote_identifier(self.window_column))
        rows = self.adapter.query(
            f"SELECT DISTINCT toString(id), cityHash64{self._keys(m)} FROM {self.q(frozen)} WHERE {where} "
            f"AND cityHash64{self._version_key(m)} IN {{vs:Array(UInt64)}}",
            {**params, "vs": versions},
        ).rows
        named = [(str(r[0]).rstrip(chr(0)), int(r[1])) for r in rows]
        return [(i, key) for i, key in named if any(i in c for c in commands)]

    def _redelete_gap_writes(self, since: Any, window: Window, source: str, versions: list[int]) -> None:
        """After the gap writes ``versions`` were copied: delete those of them whose id a delete sent to the live
        table since the cutover names. Such a delete was created before the copy or after it; one created before
        it applies only to the parts it saw, so the older write copied after it would outlive it (a delete made
        after the swap undone). Only the copied versions go (newer writes of the key are the writer's own);
        when the delete came after the copy, it removed them already and this deletes nothing."""
        self._wait_for_mutations(self.table)
        named = self._named_by_deletes(since, window, source, versions)
        if not named:
            return
        where, params = window.predicate(quote_identifier(self.window_column))
        self.adapter.execute(
            f"DELETE FROM {self.q(self.table)} WHERE {where} AND id IN {{ids:Array(String)}} "
            f"AND cityHash64{self._version_key(None)} IN {{vs:Array(UInt64)}}",
            {**params, "ids": sorted({i for i, _ in named}), "vs": versions},
            settings={**self.limits.settings, "lightweight_deletes_sync": "2"},
        )

    def _wait_for_writers(self, live: str, timeout: float = 120.0, grace: float = 5.0) -> None:
        """Wait (bounded) until every write that may have resolved this table's name to the outgoing table before
        the EXCHANGE has finished, so the catch-up after it sees its rows and deletions.

        Called after the EXCHANGE: the writes naming the table in this database that are running now are the
        only ones that can have reached the outgoing table (any later one resolves the name to ``live``); their
        query ids are taken once. An INSERT among them is waited for. A DELETE among them may instead be one
        sent to ``live``, blocked because its merges (and so its mutations) are stopped until the catch-up is
        done; waiting for it would never end. Every such DELETE holds one unfinished mutation of ``live``, so
        the wait ends once no INSERT is left and the DELETEs still running are no more than those mutations.
        For the first ``grace`` seconds only the mutations already there at the snapshot count, so a DELETE
        sent to ``live`` later cannot stand in for one still working on the outgoing table; after it, every
        unfinished mutation of ``live`` counts (a snapshot DELETE that registered on ``live`` after the
        snapshot would otherwise be waited for until the timeout)."""
        running = self.adapter.query(
            "SELECT query_id FROM system.processes WHERE query_kind IN ('Insert', 'Delete', 'Alter') "
            "AND position(query, {t:String}) > 0 "
            "AND (current_database = {d:String} OR position(query, {d:String}) > 0)",
            {"t": self.table, "d": self.db},
        ).rows
        ids = [str(r[0]) for r in running]
        if not ids:
            return
        pending = ("SELECT groupArray(mutation_id) FROM system.mutations WHERE database = {d:String} "
                   "AND table = {l:String} AND NOT is_done")  # fmt: skip
        at_snapshot = set(self.adapter.query(pending, {"d": self.db, "l": live}).scalar() or [])
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            row = self.adapter.query(
                "SELECT countIf(query_kind = 'Insert'), countIf(query_kind != 'Insert') "
                "FROM system.processes WHERE query_id IN {ids:Array(String)}",
                {"ids": ids},
            ).rows[0]
            inserts, deletes = int(row[0]), int(row[1])
            now_pending = set(self.adapter.query(pending, {"d": self.db, "l": live}).scalar() or [])
            blocked = len(now_pending if time.monotonic() - began > grace else now_pending & at_snapshot)
            if not inserts and deletes <= blocked:
                return
            time.sleep(0.05)
        raise RelayoutError(f"writes to {self.db}.{self.table} that began before the EXCHANGE did not finish within "
                            f"{timeout:.0f} s; run the same command again to finish the cutover")  # fmt: skip

    def _wait_for_mutations(self, table: str, timeout: float = 120.0) -> None:
        """Wait (bounded) until the deletes others sent to ``table`` while its merges were stopped have run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = self.adapter.query(
                "SELECT count() FROM system.mutations WHERE database = {d:String} AND table = {t:String} "
                "AND NOT is_done",
                {"d": self.db, "t": table},
            ).scalar()
            if not left:
                return
            time.sleep(0.1)
        raise RelayoutError(f"deletes sent to {self.db}.{table} did not finish within {timeout:.0f} s; "
                            "run the same command again to finish the cutover")  # fmt: skip

    def _gap_deletions(self, window: Window, source: str, parts: list[str]) -> Callable[[], None]:
        """Rows the live table held before the EXCHANGE (in ``parts``) whose key the outgoing table (``source``)
        no longer has: deleted there after the last catch-up. Returns the action that deletes them in the live
        table: a newer ``is_deleted`` version where it has the column (an insert, which works while merges are
        stopped), else a lightweight delete of those versions only (run after merges start again; writes
        made since have newer versions and are kept)."""
        original, new = self._names()
        live, frozen = (new, original) if source == "original" else (original, new)
        m = self.mapping(reverse=source == "new")
        where, params = window.predicate(quote_identifier(self.window_column))
        key = "(" + ", ".join(quote_identifier(k) for k in self.key) + ")"
        frozen_key = "(" + ", ".join(m.expr(k) for k in self.key) + ")"
        cols = [c for c in read_columns(self.adapter, self.db, live) if c.default_kind in {"", "DEFAULT"}]
        has_deleted = any(c.name == DELETED for c in cols)
        live_only = f" AND {quote_identifier(DELETED)} = 0" if has_deleted else ""
        chosen = (f"FROM {self.q(live)} WHERE {where} AND _part IN {{parts:Array(String)}}{live_only} AND {key} NOT IN "
                  f"(SELECT {frozen_key} FROM {self.q(frozen)} WHERE {where})")  # fmt: skip
        bound = {**params, "parts": parts}
        if has_deleted:
            names = ", ".join(quote_identifier(c.name) for c in cols)
            exprs = ", ".join(
                f"{quote_identifier(VERSION)} + toIntervalMicrosecond(1)" if c.name == VERSION
                else "toUInt8(1)" if c.name == DELETED else quote_identifier(c.name)
                for c in cols
            )  # fmt: skip
            self.adapter.execute(
                f"INSERT INTO {self.q(live)} ({names}) SELECT {exprs} {chosen} "
                f"ORDER BY {quote_identifier(VERSION)} DESC LIMIT 1 BY {key}",
                bound,
                settings=self.limits.settings,
            )
            return lambda: None
        version_key = self._version_key(None)
        rows = self.adapter.query(f"SELECT DISTINCT id, cityHash64{version_key} {chosen}", bound).rows
        if not rows:
            return lambda: None
        ids, hashes = [str(r[0]) for r in rows], [int(r[1]) for r in rows]
        self.say(f"{self.table}: {len(rows)} version(s) deleted from {frozen} during the EXCHANGE: deleting them")

        def delete() -> None:
            self.adapter.execute(
                f"DELETE FROM {self.q(live)} WHERE {where} AND id IN {{ids:Array(String)}} "
                f"AND cityHash64{version_key} IN {{hs:Array(UInt64)}}",
                {**params, "ids": ids, "hs": hashes},
                settings={**self.limits.settings, "lightweight_deletes_sync": "2"},
            )

        return delete

    def _finish_rename(self, st: State) -> None:
        """After an EXCHANGE (either way), give the table that left the live name its resting name."""
        if st.swapped and self._uuid(self.new_table) == st.source_uuid:
            self._ddl(f"RENAME TABLE {self.q(self.new_table)} TO {self.q(self.backup_table)}"
                      f"{self.config.topology.on_cluster}")  # fmt: skip
            self._step("renamed")
        elif not st.swapped and self._uuid(self.backup_table) == st.target_uuid:
            self._ddl(f"RENAME TABLE {self.q(self.backup_table)} TO {self.q(self.new_table)}"
                      f"{self.config.topology.on_cluster}")  # fmt: skip
            self._step("renamed")

    def lossy_rollback(self) -> dict[str, int]:
        """Per column, the rows of the new table whose value the conversion back into the original layout would
        change (a CAST into a narrower type: usage Map(String, Int64) into Int32, say); empty when none would,
        or before the swap. NULL sentinels and columns the original lacks are not counted (see the README)."""
        if not self.state().swapped:
            return {}
        original, new = self._names()
        m = self.mapping(reverse=True)
        types = {c.name: c.type for c in read_columns(self.adapter, self.db, new)}
        old_types = {c.name: c.type for c in read_columns(self.adapter, self.db, original)}
        checks = [
            (name, f"countIf(cityHash64(CAST({expr} AS {types[name]})) != cityHash64({quote_identifier(name)}))")
            for name, expr in zip(m.columns, m.expressions, strict=True)
            if expr.startswith("CAST(") and not expr.startswith("CAST(ifNull(")
        ]
        # an Enum cast into an Enum keeps the number even when the original's Enum has no such element (it would
        # hold a value no read of it can show), so the round trip above cannot see it: compare the numbers
        for name in m.columns:
            values = _enum_values(old_types.get(name, ""))
            if values and types[name] != old_types[name] and _enum_values(types[name]):
                listed = ", ".join(str(v) for v in sorted(values))
                checks.append((name, f"countIf(toInt16({quote_identifier(name)}) NOT IN ({listed}))"))
        if not checks:
            return {}
        row = self.adapter.query(f"SELECT {', '.join(c for _, c in checks)} FROM {self.q(new)}",
                                 settings=self.limits.settings).rows[0]  # fmt: skip
        return {name: int(n) for (name, _), n in zip(checks, row, strict=True) if int(n)}

    def rollback(self, values_checked: bool = False) -> State:
        """Put the original back under the live name with every write made since the swap.

        Before the swap this changes nothing (the live table is still the original; the new table stays for a
        later run or for dropping). Refused (RelayoutError, nothing changed) when a value written since would
        not fit the original's type (:meth:`lossy_rollback`, a scan of the whole live table, skipped when the
        caller has just run it: ``values_checked``)."""
        st = self.state()
        if not st.planned:
            raise RelayoutError(f"no re-layout of {self.table} has started: nothing to roll back")
        if st.finished:
            raise RelayoutError(f"the re-layout of {self.table} was finished (backup dropped): nothing to roll back")
        lossy = {} if values_checked else self.lossy_rollback()
        if lossy:
            listing = ", ".join(f"{self.table}.{c} in {n:,} rows" for c, n in lossy.items())
            raise RelayoutError(f"rolling back would change values that do not fit the original layout's types "
                                f"({listing}); nothing was changed. The new layout stays live.")  # fmt: skip
        if st.swapped and self._exists(self.backup_table):
            self._merges(self.backup_table, stop=False)  # a rollback killed before its EXCHANGE left them stopped
        if st.swapped:
            self._finish_rename(st)
            # the backup is not live: copy back writes AND deletions made since the swap
            self.sync_windows(st.windows, "new", live_target=False)
            self._cutover(st, forward=False)
            st = self.state()
            self._finish_rename(st)
            self._after_exchange(st, forward=False)
        elif self._uuid(self.backup_table) == st.target_uuid:  # killed between the EXCHANGE back and the rest
            self._finish_rename(st)
            self._after_exchange(st, forward=False)
        self._record("rolled_back")
        return self.state()

    def backup_is_empty(self) -> bool:
        """Whether the swapped re-layout keeps an original that holds no row (on any replica it reads)."""
        st = self.state()
        if not (st.swapped and st.swap_complete) or not self._exists(self.backup_table):
            return False
        return int(self.adapter.query(f"SELECT count() FROM {self.q(self.backup_table)}").scalar()) == 0

    def drop_backup(self) -> None:
        """Drop the backup (the original layout) of a swapped re-layout and record it finished."""
        st = self.state()
        if not st.swapped:
            raise RelayoutError(f"{self.table} is not swapped yet: there is no backup to drop")
        self._finish_rename(st)
        suffix = " SYNC" if self.config.topology.is_cluster else ""
        self._ddl(f"DROP TABLE IF EXISTS {self.q(self.backup_table)}{self.config.topology.on_cluster}{suffix}")
        self._record("finished")


def _enum_values(type_: str) -> set[int]:
    """The numbers of a plain ``Enum8(...)``/``Enum16(...)`` type's elements; empty for any other type."""
    if not re.fullmatch(r"Enum(8|16)\(.*\)", type_, re.DOTALL):
        return set()
    return {int(v) for v in re.findall(r"'(?:[^'\\]|\\.)*'\s*=\s*(-?\d+)", type_)}


def kept_backups(adapter: Adapter, config: StoreConfig) -> list[str]:
    """Tables whose newest re-layout has swapped and still keeps the original as ``<table>_opik_store_backup``."""
    exists = adapter.query(
        "SELECT count() FROM system.tables WHERE database = {d:String} AND name = {t:String}",
        {"d": config.database, "t": PROGRESS_TABLE},
    ).scalar()
    if not exists:
        return []
    q = f"{quote_identifier(config.database, 'database name')}.{quote_identifier(PROGRESS_TABLE)}"
    tables = [str(r[0]) for r in adapter.query(f"SELECT DISTINCT target FROM {q} ORDER BY target").rows]
    return [t for t in tables if _keeps_original(Relayout(adapter, config, t, "", (), "id").state())]


def _keeps_original(st: State) -> bool:
    """A revision's re-layout whose swap completed and whose original is still kept."""
    return st.planned and st.swapped and st.swap_complete and not st.finished and st.origin != "adopt"


def finish(adapter: Adapter, config: StoreConfig, table: str, yes: bool, dry_run: bool = False) -> str:
    """Drop the original a swapped re-layout of ``table`` kept; returns what it did (or would do), or "" when
    the table keeps no original (finishing twice is a no-op).

    Refuses (DataLossError) without ``yes``, and (RelayoutError) when ``table`` does not exist or its swap
    stopped after the EXCHANGE before it completed (writes of that moment may be only in the original); nothing is
    dropped then."""
    job = Relayout(adapter, config, table, "", (), "id")
    if not job._exists(table):
        raise RelayoutError(f"{config.database}.{table} does not exist: nothing to finish")
    st = job.state()
    if st.planned and not st.finished and st.origin == "adopt":
        raise RelayoutError(
            f"{config.database}.{table} is being adopted: its original is `opik-store adopt`'s to keep or drop "
            "(`opik-store adopt finish --yes`, or `adopt rollback`). Nothing was dropped."
        )
    if st.planned and st.swapped and not st.finished and not st.swap_complete:
        raise RelayoutError(
            f"the swap of {config.database}.{table} did not complete (stopped after its EXCHANGE, before the writes "
            "made meanwhile were copied and the copy verified): run `opik-store migrate` (or `opik-store adopt run` "
            "for an adoption) again to complete it first. Nothing was dropped."
        )
    if not _keeps_original(st):
        return ""
    action = f"drop {job.backup_table} (the layout {table} had before its re-layout)"
    if dry_run:
        return action
    if not yes:
        raise DataLossError(f"this would {action}; it cannot be undone. Re-run with --yes to confirm.")
    job.drop_backup()
    return action
