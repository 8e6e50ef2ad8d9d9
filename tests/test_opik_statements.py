"""Opik's own statements give the same results on the store's tables as on Opik's tables.

The contract: the store's ``traces``/``spans`` are a drop-in for Opik's backend. Every statement shape
Opik's ``TraceDAO`` and ``SpanDAO`` send (tests/opik_statements.py: 60 templates, 89 statements, rendered
from the DAOs' templates) runs twice in the same engine: against the store's tables (database A:
``Store.migrate()``, or the sharded layout) and against Opik's own table definitions typed from its
changesets (database B: tests/opik_schema.py), each beside the same minimal side tables (feedback
scores, comments, guardrails, experiments, dataset item versions, annotation queues, trace threads).
Both databases first receive the same Opik-shaped rows through Opik's own insert statements (the
Values batch insert, and its JSONEachRow form for the write kits: tests/opik_statements.py:build_seed).

* ``test_read``: a read gives the same result in both: the same column names and types (as the
  engine reports them) and the same rows, in the same order when the statement orders them. Arrays
  inside values compare as multisets: Opik's aggregates (groupArray, ...) have no defined element order.
  The read must return rows (the seed exercises it).
* ``test_write``: a write (batch inserts, the INSERT ... SELECT upserts, updates, deletes with and
  without IN PARTITION, retention deletes) runs in workspaces of its own (its "kits", in databases of
  their own), so the reads never see it; then the kits' rows, the FINAL view of both tables with every
  column Opik's table has (MATERIALIZED helpers included: truncated_input, input_length, duration,
  id_at, ...), must be the same in both, and must have changed. Times the engine takes from its clock
  (``now64()`` in Opik's statements, the column DEFAULTs) compare as "seeded" or "written"; every other
  value exactly. The writes run concurrently (see ``write_all``).

Topologies, a module-level parameter:

* ``single``: ``Store.migrate()`` against Opik's single-node tables.
* ``sharded``: the store's ``--sharded`` layout (support.create_sharded_layout: Distributed
  ``traces``/``spans`` over ``traces_local``/``spans_local``, one shard that is this engine), against
  Opik's tables under the same Distributed wrap. With Opik's wrap flag on, its mutation statements (the
  deletes and retention deletes) name ``traces_local``/``spans_local``; reads and inserts name the
  Distributed tables.
* ``--cluster`` renders ReplicatedReplacingMergeTree and ON CLUSTER; the embedded engine refuses ON
  CLUSTER and keeps replicated tables read-only, so the statements cannot run on that form here, and
  what it changes is exactly what DML never names. ``test_cluster_rendering_matches_opik`` creates the
  cluster rendering in-process (support.in_process) and proves it has Opik's columns, engine and keys.

Negative controls prove the suite can fail: a table whose ``truncated_input``/``truncated_output`` are
the old ``Bool`` flags breaks the truncated reads (code 43), and a table partitioned by
``(class, toMonday(...))`` makes Opik's ``DELETE ... IN PARTITION <yyyymmdd>`` fail with code 248.
``test_finding_a_retried_batch_is_deduplicated`` records the one difference found.

The results are read with the engine's JSONCompact output, names and types included, through the
embedded adapter's connection (``EmbeddedAdapter.query`` keeps the names but drops the types).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from opik_schema import opik_create
from opik_statements import (
    IMAGE_REGEX,
    OPIK_TEMPLATES,
    SIDE_TABLES,
    STATEMENTS,
    T_DELETE_IN_PARTITION,
    Call,
    Kit,
    Seed,
    Statement,
    build_seed,
    parameters,
    render,
    seed_calls,
    uuid7,
    uuid_lower,
    uuid_upper,
    weekly_partitions,
)
from support import create_sharded_layout, in_process

from opik_store import Store, Topology
from opik_store.engine.embedded import EmbeddedAdapter, encode_param, server_error
from opik_store.engine.urls import parse_url
from opik_store.errors import ServerError
from opik_store.schema.ddl import TABLES, ddl
from opik_store.schema.render import render_statement, render_statements

CLUSTER = "shards1"
TOPOLOGIES = ("single", "sharded")
#: The Distributed wrap of Opik's tables in the sharded topology: the store's own sharding keys (one shard,
#: so the key cannot change a result; Opik's changesets for its wrap were not read).
OPIK_DISTRIBUTED = {"traces": "cityHash64(id)", "spans": "cityHash64(trace_id)"}
WRITE_KITS = {s.id: s.kits for s in STATEMENTS if s.writes}
#: Connections the write phase runs statements on at once.
WRITE_WORKERS = 8


# -- running statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One database under test: the store's (A) or Opik's (B)."""

    label: str
    db: str
    sharded: bool

    @property
    def names(self) -> dict[str, str]:
        local = "_local" if self.sharded else ""
        q = f"`{self.db}`"
        return {"traces": f"{q}.traces", "spans": f"{q}.spans", "traces_mutation": f"{q}.traces{local}",
                "spans_mutation": f"{q}.spans{local}", "db": q}  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """What one call gave: the result's (name, type) columns and its rows (JSON text), or the error code."""

    columns: tuple[tuple[str, str], ...] = ()
    rows: tuple[str, ...] = ()
    error: int | None = None
    message: str = ""

    def brief(self) -> str:
        if self.error is not None:
            return f"error {self.error}: {self.message[:300]}"
        return f"{len(self.rows)} rows, columns {list(self.columns)}"


def raw_query(engine: EmbeddedAdapter, sql: str, params: Mapping[str, object]) -> dict[str, Any]:
    """Run ``sql`` with server-side parameters; the engine's JSONCompact document ({} when no result)."""
    encoded = {k: encode_param(v) for k, v in params.items()}
    try:
        result = engine._conn.query(sql, "JSONCompact", params=encoded)
    except Exception as exc:  # the engine raises RuntimeError subclasses
        raise server_error(exc, engine.spec) from None
    text = result.bytes()
    return json.loads(text) if text else {}


def _canonical(value: Any) -> Any:
    """``value`` with every array's elements sorted (recursively): aggregates such as groupArray have no
    defined element order in ClickHouse (parallel reads, merges), so a read's arrays compare as multisets."""
    if isinstance(value, list):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def outcome(engine: EmbeddedAdapter, sql: str, call: Call, ordered: bool, canonical: bool = True) -> Outcome:
    """Run one call. Rows keep their order when the statement orders them; array values compare as
    multisets when ``canonical`` (reads), exactly otherwise (the stored arrays of the write snapshots)."""
    try:
        doc = raw_query(engine, sql + call.data, call.params)
    except ServerError as exc:
        return Outcome(error=exc.code, message=exc.server_message)
    columns = tuple((m["name"], m["type"]) for m in doc.get("meta", []))
    rows = [
        json.dumps([_canonical(v) for v in row] if canonical else row, sort_keys=True) for row in doc.get("data", [])
    ]
    return Outcome(columns, tuple(rows if ordered else sorted(rows)))


def run_statement(
    engine: EmbeddedAdapter, target: Target, statement: Statement, calls: Sequence[Call]
) -> list[Outcome]:
    return [
        outcome(engine, render(call.sql or statement.sql, target.names, call.partition), call, statement.ordered)
        for call in calls
    ]


def snapshot(engine: EmbeddedAdapter, target: Target, pair: Pair) -> dict[str, dict[str, list[str]]]:
    """The FINAL view of both tables, every column Opik's table has (MATERIALIZED helpers included), by
    table and workspace: what every newest-version read of Opik sees. Times from the engine's clock read
    "seeded" (the seed's inserts) or "written" (after the seed: Opik's ``now64()``, the column DEFAULTs).
    Every version is not compared: background merges collapse versions at times of their own, differently
    in the two databases."""
    shots: dict[str, dict[str, list[str]]] = {}
    for table, columns in pair.opik_columns.items():
        exprs = ", ".join(
            f"multiIf({c} >= parseDateTime64BestEffort({{since:String}}, 6), 'written', "
            f"{c} >= parseDateTime64BestEffort({{seeding:String}}, 6), 'seeded', toString({c})) AS {c}"
            if c in ("created_at", "last_updated_at") else f"`{c}`"
            for c in columns
        )  # fmt: skip
        sql = f"SELECT {exprs} FROM {target.names[table]} FINAL"
        doc = raw_query(engine, sql, {"since": pair.seeded_at, "seeding": pair.seeding_at})
        assert [m["name"] for m in doc["meta"]] == columns
        by_workspace: dict[str, list[str]] = {}
        for row in doc["data"]:
            by_workspace.setdefault(row[columns.index("workspace_id")], []).append(json.dumps(row))
        shots[table] = by_workspace
    return shots


def kit_rows(shot: dict[str, dict[str, list[str]]], workspaces: Sequence[str]) -> dict[str, list[str]]:
    """The rows of ``workspaces`` in a snapshot, by table, sorted."""
    return {table: sorted(r for ws in workspaces for r in rows.get(ws, [])) for table, rows in shot.items()}


# -- the two databases -------------------------------------------------------------------------------


@dataclass
class Pair:
    """The store's database and Opik's, loaded with the same seed (``seeding_at``/``seeded_at``: the
    engine's clock before and after loading)."""

    engine: EmbeddedAdapter
    topology: str
    store: Target
    opik: Target
    seed: Seed
    seeding_at: str
    seeded_at: str
    opik_columns: dict[str, list[str]]

    def kits(self, statement: Statement) -> list[Kit]:
        return self.seed.kits.get(statement.id, [])


def create_store_tables(
    engine: EmbeddedAdapter, engine_url: str, db: str, topology: str, like: str | None = None
) -> None:
    """The store's tables in ``db``: ``Store.migrate()`` (single), the cluster rendering in-process, or the
    sharded layout. ``like``: a database already migrated, whose tables are copied (CREATE TABLE ... AS,
    the same definition) instead of migrating again."""
    if topology == "single" and like is not None:
        engine.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
        for table in ("traces", "spans"):
            engine.execute(f"CREATE TABLE `{db}`.{table} AS `{like}`.{table}")
    elif topology == "single":
        with Store.from_url(engine_url, database=db) as store:
            store.migrate()
    elif topology == "cluster":
        engine.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
        for table in TABLES:
            for rendered in render_statements(ddl(table), db, Topology(cluster=CLUSTER)):
                engine.execute(in_process(rendered.sql, CLUSTER))
    else:
        create_sharded_layout(engine, db, CLUSTER)


def create_opik_tables(engine: EmbeddedAdapter, db: str, sharded: bool) -> None:
    engine.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
    for table in ("traces", "spans"):
        if not sharded:
            engine.execute(opik_create(table, f"`{db}`.{table}"))
            continue
        engine.execute(opik_create(table, f"`{db}`.{table}_local"))
        engine.execute(
            f"CREATE TABLE `{db}`.{table} AS `{db}`.{table}_local "
            f"ENGINE = Distributed('{CLUSTER}', '{db}', '{table}_local', {OPIK_DISTRIBUTED[table]})"
        )


def load(engine: EmbeddedAdapter, target: Target, seed: Seed, created_at_from_id: bool) -> None:
    """The side tables and their rows, then the seed through Opik's own batch inserts; with
    ``created_at_from_id``, created_at then set to each row's id time (Opik's inserts leave it to the
    engine's clock, which differs between the two databases and never falls on the daily windows' day)."""
    for sql in SIDE_TABLES.values():
        engine.execute(render(sql, target.names))
    for table, rows in seed.side.items():
        data = "\n".join(json.dumps(r) for r in rows)
        engine.execute(f"INSERT INTO {target.names['db']}.{table} FORMAT JSONEachRow\n{data}\n")
    for _, call in seed_calls(seed):
        assert call.sql is not None
        engine.execute(render(call.sql, target.names) + call.data, call.params)
    for table in ("traces_mutation", "spans_mutation") if created_at_from_id else ():
        engine.execute(
            f"ALTER TABLE {target.names[table]} UPDATE created_at = UUIDv7ToDateTime(toUUID(id), 'UTC') WHERE 1"
        )


def wait_for_mutations(engine: EmbeddedAdapter, databases: Sequence[str]) -> None:
    deadline = time.monotonic() + 60
    while engine.query(
        "SELECT count() FROM system.mutations WHERE database IN {dbs:Array(String)} AND NOT is_done",
        {"dbs": list(databases)},
    ).scalar():
        assert time.monotonic() < deadline, "the created_at mutations did not finish in 60 s"
        time.sleep(0.05)


def open_pair(
    engine: EmbeddedAdapter, engine_url: str, topology: str, seed: Seed, role: str, like: str | None = None
) -> Pair:
    """The store's tables (A) and Opik's (B) in ``topology``, both loaded with ``seed``."""
    tag = uuid.uuid4().hex[:6]
    store = Target("store", f"t_opik_stmt_{role}_store_{topology}_{tag}", sharded=topology == "sharded")
    opik = Target("opik", f"t_opik_stmt_{role}_opik_{topology}_{tag}", sharded=topology == "sharded")
    seeding_at = engine.query("SELECT toString(now64(6))").scalar()
    pair = Pair(engine, topology, store, opik, seed, seeding_at, "", {})
    try:
        create_store_tables(engine, engine_url, store.db, topology, like)
        create_opik_tables(engine, opik.db, opik.sharded)
        for target in (store, opik):
            load(engine, target, seed, created_at_from_id=role == "read")
        wait_for_mutations(engine, [store.db, opik.db])
    except BaseException:
        drop(engine, store, opik)
        raise
    pair.seeded_at = engine.query("SELECT toString(now64(6))").scalar()
    local = "_local" if opik.sharded else ""
    pair.opik_columns = {
        table: [r[0] for r in engine.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position",
            {"db": opik.db, "t": table + local}).rows]
        for table in ("traces", "spans")
    }  # fmt: skip
    return pair


def drop(engine: EmbeddedAdapter, *targets: Target) -> None:
    for target in targets:
        engine.execute(f"DROP DATABASE IF EXISTS `{target.db}` SYNC")


@pytest.fixture(scope="module", params=TOPOLOGIES)
def topology(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture(scope="module")
def pair(topology: str, engine: EmbeddedAdapter, engine_url: str) -> Iterator[Pair]:
    """The read set in the store's tables and in Opik's."""
    seed = build_seed(datetime.now(UTC), {})
    pair = None
    try:
        pair = open_pair(engine, engine_url, topology, seed, "read")
        yield pair
    finally:
        if pair is not None:
            drop(engine, pair.store, pair.opik)


@dataclass(frozen=True)
class Written:
    """A write statement's results: its calls' outcomes and its kits' FINAL rows before and after."""

    store: list[Outcome]
    opik: list[Outcome]
    before: dict[str, dict[str, list[str]]]  # database label -> table -> rows
    after: dict[str, dict[str, list[str]]]


def write_all(engine_url: str, pair: Pair) -> dict[str, Written]:
    """Every write statement, each in its own kit workspaces, all at once.

    Deletes are mutations, and the engine works through a mutation part by part with a scheduling pause
    between parts (about 0.1 s each here): one statement after the other would take minutes. The
    statements touch disjoint workspaces, so they run concurrently, the longest first, each side (the
    store's tables, Opik's) on a connection of its own (the engine applies the pending mutations of a
    part together); each statement still runs its calls in order. The snapshots are taken before the
    first and after the last statement, and split by kit workspace.
    """
    local = threading.local()
    opened: list[EmbeddedAdapter] = []
    lock = threading.Lock()

    def connection() -> EmbeddedAdapter:
        adapter: EmbeddedAdapter | None = getattr(local, "adapter", None)
        if adapter is None:
            adapter = local.adapter = EmbeddedAdapter(parse_url(engine_url))
            with lock:
                opened.append(adapter)
        return adapter

    writes = [s for s in STATEMENTS if s.writes]
    calls = {s.id: s.calls(pair.seed, pair.kits(s)) for s in writes}
    tasks = sorted(
        ((s, t) for s in writes for t in (pair.store, pair.opik)),
        key=lambda task: (-len(calls[task[0].id]) - 10 * (task[0].group in ("delete", "retention")), task[0].id),
    )

    def run(task: tuple[Statement, Target]) -> list[Outcome]:
        statement, target = task
        return run_statement(connection(), target, statement, calls[statement.id])

    before = {t.label: snapshot(pair.engine, t, pair) for t in (pair.store, pair.opik)}
    try:
        with ThreadPoolExecutor(max_workers=WRITE_WORKERS) as pool:
            done = dict(zip([(s.id, t.label) for s, t in tasks], pool.map(run, tasks), strict=True))
    finally:
        for adapter in opened:
            adapter.close()
    after = {t.label: snapshot(pair.engine, t, pair) for t in (pair.store, pair.opik)}
    results = {}
    for s in writes:
        workspaces = [kit.workspace_id for kit in pair.kits(s)]
        results[s.id] = Written(
            done[s.id, "store"], done[s.id, "opik"],
            {label: kit_rows(shot, workspaces) for label, shot in before.items()},
            {label: kit_rows(shot, workspaces) for label, shot in after.items()},
        )  # fmt: skip
    return results


@pytest.fixture(scope="module")
def written(topology: str, pair: Pair, engine: EmbeddedAdapter, engine_url: str) -> Iterator[dict[str, Written]]:
    """The write kits in the store's tables and in Opik's (databases of their own, so the deletes' mutations
    work through few parts; the single-node store tables copied from the read set's migrated ones), and
    every write statement's results."""
    seed = build_seed(datetime.now(UTC), WRITE_KITS, read_set=False)
    kits = None
    try:
        kits = open_pair(engine, engine_url, topology, seed, "write", like=pair.store.db)
        yield write_all(engine_url, kits)
    finally:
        if kits is not None:
            drop(engine, kits.store, kits.opik)


# -- the contract ------------------------------------------------------------------------------------


def _differences(store: Sequence[Outcome], opik: Sequence[Outcome]) -> str:
    """What differs, column by column for rows that differ (paired in order)."""
    lines = []
    for i, (a, b) in enumerate(zip(store, opik, strict=True)):
        if a == b:
            continue
        lines.append(f"call {i}: store {a.brief()}\n        opik  {b.brief()}")
        if a.columns != b.columns:
            lines.append(f"  columns differ: {sorted(set(a.columns) ^ set(b.columns))}")
        only_a = list((Counter(a.rows) - Counter(b.rows)).elements())
        only_b = list((Counter(b.rows) - Counter(a.rows)).elements())
        names = [c[0] for c in b.columns or a.columns]
        for row_a, row_b in list(zip(only_a, only_b, strict=False))[:3]:
            va, vb = json.loads(row_a), json.loads(row_b)
            for name, x, y in zip(names or range(len(va)), va, vb, strict=False):
                if x != y:
                    pad = " " * (10 + len(str(name)))
                    lines.append(f"  column {name}: store {json.dumps(x)[:400]}\n{pad}opik  {json.dumps(y)[:400]}")
        for row in only_a[len(only_b) :][:3]:
            lines.append(f"  store only: {row[:600]}")
        for row in only_b[len(only_a) :][:3]:
            lines.append(f"  opik only:  {row[:600]}")
        if not only_a and not only_b and a.rows != b.rows:
            lines.append("  same rows, different order")
    return "\n".join(lines)


READS = [s for s in STATEMENTS if not s.writes]
WRITES = [s for s in STATEMENTS if s.writes]


@pytest.mark.parametrize("statement", READS, ids=lambda s: s.id)
def test_read(pair: Pair, statement: Statement) -> None:
    """Opik's read gives the same result (names, types, rows) on the store's tables as on Opik's own."""
    calls = statement.calls(pair.seed, [])
    store = run_statement(pair.engine, pair.store, statement, calls)
    opik = run_statement(pair.engine, pair.opik, statement, calls)
    if statement.engine_gap is not None:
        assert all(o.error is not None and statement.engine_gap in o.message for o in store + opik), [
            o.brief() for o in store + opik
        ]
        return
    assert [o.error for o in opik] == [None] * len(opik), f"Opik's own table rejects it: {opik[0].brief()}"
    assert store == opik, f"{statement.id} differs ({pair.topology}):\n{_differences(store, opik)}"
    assert any(o.rows for o in opik), f"{statement.id} returns no rows: the seed does not exercise it"


@pytest.mark.parametrize("statement", WRITES, ids=lambda s: s.id)
def test_write(written: dict[str, Written], topology: str, statement: Statement) -> None:
    """Opik's write leaves the same rows (FINAL view, every column) in the store's tables as in Opik's."""
    result = written[statement.id]
    assert result.before["store"] == result.before["opik"], "the kit differs between the two databases"
    if statement.engine_gap is not None:
        outcomes = result.store + result.opik
        assert all(o.error is not None and statement.engine_gap in o.message for o in outcomes), [
            o.brief() for o in outcomes
        ]
        return
    opik = result.opik
    assert [o.error for o in opik] == [None] * len(opik), f"Opik's own table rejects it: {opik[0].brief()}"
    assert result.store == opik, f"{statement.id} differs ({topology}):\n{_differences(result.store, opik)}"
    for table in result.after["opik"]:
        store_rows, opik_rows = result.after["store"][table], result.after["opik"][table]
        assert store_rows == opik_rows, f"{statement.id} leaves different {table} rows ({topology}):\n" + _differences(
            [Outcome(rows=tuple(store_rows))], [Outcome(rows=tuple(opik_rows))]
        )
    assert result.after["opik"] != result.before["opik"], (
        f"{statement.id} changed nothing: the kit does not exercise it"
    )


@dataclass(frozen=True)
class Shape:
    """Everything Opik's statements can see of a table: its columns (name, type, default, codec, in order),
    its engine with arguments, partition, sort and primary keys, and its table settings."""

    columns: list[tuple[Any, ...]]
    engine: str  # engine_full without SETTINGS
    keys: tuple[Any, ...]
    settings: set[str]


def table_shape(engine: EmbeddedAdapter, db: str, table: str) -> Shape:
    columns = engine.query(
        "SELECT name, type, default_kind, default_expression, compression_codec FROM system.columns "
        "WHERE database = {db:String} AND table = {t:String} ORDER BY position",
        {"db": db, "t": table},
    ).rows
    rows = engine.query(
        "SELECT engine_full, partition_key, sorting_key, primary_key FROM system.tables "
        "WHERE database = {db:String} AND name = {t:String}",
        {"db": db, "t": table},
    ).rows
    assert columns and rows, f"no table {db}.{table}"
    full, *keys = rows[0]
    engine_part, _, settings = full.partition(" SETTINGS ")
    return Shape(columns, engine_part, tuple(keys), set(settings.split(", ")))


def assert_same_shape(store: Shape, opik: Shape, what: str) -> None:
    assert store.columns == opik.columns, f"{what}: columns differ"
    assert (store.engine, store.keys) == (opik.engine, opik.keys), f"{what}: engine or keys differ"
    # Opik's table settings are all kept; the store may add its own (a deduplication window, see
    # test_finding_a_retried_batch_is_deduplicated), which no statement names.
    assert opik.settings <= store.settings, f"{what}: Opik's settings {sorted(opik.settings - store.settings)} missing"


def test_tables_match_opik(pair: Pair) -> None:
    """The store's tables in this topology are Opik's (columns, engine, keys, settings)."""
    local = "_local" if pair.store.sharded else ""
    for table in ("traces", "spans"):
        assert_same_shape(
            table_shape(pair.engine, pair.store.db, table + local),
            table_shape(pair.engine, pair.opik.db, table + local),
            f"{table}{local} in the {pair.topology} topology",
        )


def test_seed_round_trips(pair: Pair) -> None:
    """The values bound through Opik's inserts come back unchanged from the store's tables (the comparison
    with Opik's tables alone would not see a value both mangle the same way): hostile text, Int64 usage
    past 2^31, a payload above the truncation threshold, NULL-bound optional values as their sentinels."""
    seed = pair.seed
    traces = {
        r[0]: r[1:]
        for r in pair.engine.query(
            f"SELECT id, tags, name, input, end_time, ttft, visibility_mode, truncation_threshold, source, "
            f"environment, error_info FROM {pair.store.names['traces']} FINAL"
        ).rows
    }
    a3 = seed.trace("tA3")
    assert traces[a3.id][:2] == (list(a3.tags), a3.name)
    assert traces[seed["tA1"]][2] == seed.trace("tA1").input and len(traces[seed["tA1"]][2]) > 10001
    end_time, ttft, visibility, threshold, source, environment, error_info = traces[seed["tA6"]][3:]
    assert end_time.year == 1970 and ttft is None  # the epoch and NaN sentinels (NaN reads back as null)
    assert (visibility, threshold, source, environment, error_info) == ("hidden", 10001, "playground", "", "")
    usage = pair.engine.query(
        f"SELECT usage['prompt_tokens'] FROM {pair.store.names['spans']} FINAL WHERE id = {{id:String}}",
        {"id": seed["sA2"]},
    ).scalar()
    assert usage == 5_000_000_000


def test_weekly_partitions_are_the_tables_partitions(pair: Pair) -> None:
    """The ``IN PARTITION`` values computed as Opik's WeeklyPartitions does are the partitions the rows are
    in (so a partition-scoped delete names the rows' own partition), for every seeded row and for an id in
    2200 (whose week comes with the legacy 32-bit wrap's week, a partition no row is in)."""
    for table in ("traces_mutation", "spans_mutation"):
        rows = pair.engine.query(f"SELECT DISTINCT id, _partition_id FROM {pair.opik.names[table]}").rows
        assert rows
        for id_, partition in rows:
            assert weekly_partitions(id_) == frozenset({int(partition)}), (id_, partition)
    far = uuid7(datetime(2200, 1, 11, tzinfo=UTC), 1)
    week = pair.engine.query(
        "SELECT toYYYYMMDD(toDate32(UUIDv7ToDateTime(toUUID({id:String}), 'UTC')) - "
        "toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({id:String}), 'UTC'), 1)))",
        {"id": far},
    ).scalar()
    assert weekly_partitions(far) == frozenset({week, 20631203}) and week == 22000106


def test_cluster_rendering_matches_opik(engine: EmbeddedAdapter, engine_url: str, drop_after: list[Target]) -> None:
    """``--cluster``: the store's tables as the cluster topology renders them (ReplicatedReplacingMergeTree,
    ON CLUSTER), run in-process (support.in_process: the replicated engine's single-node form, no ON
    CLUSTER), are Opik's tables column for column, with its keys. DML never names ON CLUSTER or the
    replication path, so the statements run on these exactly as on the single-node tables above."""
    tag = uuid.uuid4().hex[:6]
    store = Target("store", f"t_opik_stmt_cluster_{tag}", sharded=False)
    opik = Target("opik", f"t_opik_stmt_cluster_ref_{tag}", sharded=False)
    drop_after.extend([store, opik])
    rendered = [
        r.sql for t in ("traces", "spans") for r in render_statements(ddl(t), store.db, Topology(cluster=CLUSTER))
    ]
    assert all(f"ON CLUSTER '{CLUSTER}'" in sql and "ReplicatedReplacingMergeTree(" in sql for sql in rendered)
    create_store_tables(engine, engine_url, store.db, "cluster")
    create_opik_tables(engine, opik.db, sharded=False)
    for table in ("traces", "spans"):
        assert_same_shape(table_shape(engine, store.db, table), table_shape(engine, opik.db, table), table)


def test_catalogue_covers_every_template() -> None:
    """Every complete statement of both DAOs is in the catalogue, and every call binds each of the
    statement's parameters (a PATCH binds the update's whole set of values, each template variant using
    those its flags select, as Opik's DAOs do)."""
    covered = {(s.dao, s.template) for s in STATEMENTS}
    expected = {(dao, name) for dao, names in OPIK_TEMPLATES.items() for name in names}
    assert covered == expected, f"missing {sorted(expected - covered)}, unknown {sorted(covered - expected)}"
    assert len({s.id for s in STATEMENTS}) == len(STATEMENTS), "statement ids must be unique"
    seed = build_seed(datetime.now(UTC), WRITE_KITS)
    for statement in STATEMENTS:
        for call in statement.calls(seed, seed.kits.get(statement.id, [])):
            sql = call.sql or statement.sql
            assert parameters(sql) <= set(call.params), (statement.id, parameters(sql) - set(call.params))
            assert ("{partition}" in sql) == (call.partition is not None), statement.id


# -- negative controls: the suite fails on tables that are not Opik's --------------------------------

OLD_TRUNCATED = (
    "truncated_input Bool MATERIALIZED length(input) >= truncation_threshold,\n"
    "    truncated_output Bool MATERIALIZED length(output) >= truncation_threshold,"
)


def _store_ddl(db: str, table: str) -> str:
    return render_statement(ddl(table), db, Topology()).sql


def _broken_pair(engine: EmbeddedAdapter, edit: Any) -> tuple[Target, Target, Seed]:
    """Opik's tables (B) and a copy of the store's tables altered by ``edit`` (A), both loaded with the read
    set."""
    tag = uuid.uuid4().hex[:6]
    broken = Target("store", f"t_opik_stmt_broken_{tag}", sharded=False)
    opik = Target("opik", f"t_opik_stmt_ref_{tag}", sharded=False)
    seed = build_seed(datetime.now(UTC), {})
    engine.execute(f"CREATE DATABASE `{broken.db}`")
    for table in ("traces", "spans"):
        engine.execute(edit(_store_ddl(broken.db, table)))
    create_opik_tables(engine, opik.db, sharded=False)
    for target in (broken, opik):
        load(engine, target, seed, created_at_from_id=False)
    return broken, opik, seed


@pytest.fixture
def drop_after(engine: EmbeddedAdapter) -> Iterator[list[Target]]:
    targets: list[Target] = []
    yield targets
    for target in targets:
        engine.execute(f"DROP DATABASE IF EXISTS `{target.db}` SYNC")


def test_control_bool_truncation_flags_break_the_truncated_reads(
    engine: EmbeddedAdapter, drop_after: list[Target]
) -> None:
    """With ``truncated_input``/``truncated_output`` as the old ``Bool MATERIALIZED length(...) >=
    truncation_threshold``, Opik's truncated reads (``replaceRegexpAll(truncated_input, ...)``) fail or
    return something else than on Opik's table: the comparison catches a table that is not Opik's."""

    def edit(sql: str) -> str:
        pattern = r"truncated_input\s+String\s+MATERIALIZED .*\n\s*truncated_output\s+String\s+MATERIALIZED .*,"
        new, n = re.subn(pattern, OLD_TRUNCATED, sql)
        assert n == 1, "the store's DDL no longer has the truncated_* columns this control rewrites"
        return new

    broken, opik, seed = _broken_pair(engine, edit)
    drop_after.extend([broken, opik])
    types = engine.query(
        "SELECT table, name, type FROM system.columns WHERE database = {db:String} AND name LIKE 'truncated_%'",
        {"db": broken.db},
    ).rows
    assert {t[2] for t in types} == {"Bool"}
    truncated = [s for s in STATEMENTS if f"replaceRegexpAll(t.truncated_input, '{IMAGE_REGEX}'" in s.sql
                 or f"replaceRegexpAll(s.truncated_input, '{IMAGE_REGEX}'" in s.sql]  # fmt: skip
    assert len(truncated) == 4
    for statement in truncated:
        calls = statement.calls(seed, [])
        got = run_statement(engine, broken, statement, calls)
        want = run_statement(engine, opik, statement, calls)
        assert want[0].error is None and want[0].rows
        assert got != want, f"{statement.id} cannot tell Bool truncation flags from Opik's truncated text"
        assert got[0].error == 43, got[0].brief()  # ILLEGAL_TYPE_OF_ARGUMENT: replaceRegexpAll(Bool, ...)


def test_control_class_partition_key_rejects_in_partition_deletes(
    engine: EmbeddedAdapter, drop_after: list[Target]
) -> None:
    """A table partitioned by ``(class, toMonday(...))`` (a retention class beside the week, as the store
    once had) cannot run Opik's ``DELETE ... IN PARTITION <yyyymmdd>``: the engine rejects the one-value
    partition with code 248 (INVALID_PARTITION_VALUE) before reading any row, where Opik's own table takes
    it (test_write runs the same statements on Opik's tables, with rows, and compares what they delete)."""

    def edit(sql: str) -> str:
        sql = sql.replace("    is_deleted ", "    retention_days UInt16 MATERIALIZED 30,\n    is_deleted ", 1)
        new, n = re.subn(r"PARTITION BY .*\n", "PARTITION BY (retention_days, toMonday(id_at))\n", sql)
        assert n == 1
        return new

    tag = uuid.uuid4().hex[:6]
    broken = Target("store", f"t_opik_stmt_broken_{tag}", sharded=False)
    opik = Target("opik", f"t_opik_stmt_ref_{tag}", sharded=False)
    drop_after.extend([broken, opik])
    engine.execute(f"CREATE DATABASE `{broken.db}`")
    for table in ("traces", "spans"):
        engine.execute(edit(_store_ddl(broken.db, table)))
    create_opik_tables(engine, opik.db, sharded=False)
    statements = [s for s in STATEMENTS if s.template.startswith("DELETE_BY") and "IN PARTITION" in s.sql]
    assert {s.sql for s in statements} >= {T_DELETE_IN_PARTITION}
    seed = build_seed(datetime.now(UTC), {s.id: s.kits for s in statements}, read_set=False)
    for statement in statements:
        calls = statement.calls(seed, seed.kits[statement.id])
        # one statement per partition: this week, (traces) six weeks ago, and 2200's week with its 32-bit wrap
        assert len(calls) >= 3 and 22000106 in [c.partition for c in calls] and 20631203 in [c.partition for c in calls]
        want = run_statement(engine, opik, statement, calls)
        assert [o.error for o in want] == [None] * len(calls), [o.brief() for o in want]
        got = run_statement(engine, broken, statement, calls)
        assert [o.error for o in got] == [248] * len(calls), [o.brief() for o in got]


def test_finding_a_retried_batch_is_deduplicated(engine: EmbeddedAdapter, drop_after: list[Target]) -> None:
    """A recorded difference (not a failure of the contract's reads): the same Values batch sent twice
    (Opik retries a failed batch insert with the same bound values) is kept once by the store's tables,
    whose single-node form carries ``non_replicated_deduplication_window`` (revision 0002), and twice by
    Opik's table in the single-node form tests/opik_schema.py gives it, until a merge collapses the copies
    (same key, same version). Every newest-version read (LIMIT 1 BY, FINAL, argMax) is the same either way;
    a raw ``count()`` such as Opik's COUNT_FOR_RETENTION differs in between. Opik's changesets create
    ReplicatedReplacingMergeTree tables, which deduplicate a retried block in the same way (the engine
    here keeps replicated tables read-only, so that form cannot run in-process). Merges are stopped so the
    in-between state is the one compared."""
    tag = uuid.uuid4().hex[:6]
    store = Target("store", f"t_opik_stmt_retry_store_{tag}", sharded=False)
    opik = Target("opik", f"t_opik_stmt_retry_opik_{tag}", sharded=False)
    drop_after.extend([store, opik])
    engine.execute(f"CREATE DATABASE `{store.db}`")
    for table in ("traces", "spans"):
        engine.execute(_store_ddl(store.db, table))
    create_opik_tables(engine, opik.db, sharded=False)
    insert = next(s for s in STATEMENTS if s.id == "TraceDAO.BATCH_INSERT[values]")
    count = next(s for s in STATEMENTS if s.id == "TraceDAO.COUNT_FOR_RETENTION")
    seed = build_seed(datetime.now(UTC), {insert.id: 1}, read_set=False)
    kit = seed.kits[insert.id][0]
    window = Call({"workspace_ids": [kit.workspace_id], "lower_bound": uuid_lower(seed.ago(days=1)),
                   "cutoff_id": uuid_upper(seed.now)})  # fmt: skip
    counts = {}
    for target in (store, opik):
        engine.execute(f"SYSTEM STOP MERGES {target.names['traces']}")
        calls = insert.calls(seed, [kit])
        assert run_statement(engine, target, insert, calls + calls) == [Outcome(), Outcome()]
        raw = run_statement(engine, target, count, [window])[0].rows
        final = engine.query(f"SELECT count() FROM {target.names['traces']} FINAL").scalar()
        counts[target.label] = (raw, final)
    assert counts == {"store": (("[2]",), 2), "opik": (("[4]",), 2)}
