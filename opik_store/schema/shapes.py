"""Reading table shapes from a server and comparing them.

A shape is everything ``check`` and ``stamp`` compare: columns (name, type,
default, codec, in order), engine and its arguments, partition key, sorting
and primary key, TTL, table settings and skip indexes — all as ClickHouse
itself reports them in ``system.tables``/``columns``/``data_skipping_indices``.

The expected shapes are never computed by opik-store: the statements are run
in a scratch database on the same server (single-node form), the server
reports their shapes, and the scratch database is dropped. Both sides of a
comparison are therefore normalized by the same ClickHouse.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opik_store.config import Topology
from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_identifier, quote_string, split_top_level, top_level
from opik_store.errors import ServerError
from opik_store.schema.render import render_statement
from opik_store.schema.sharding import SHARDED_TABLES, is_sharded_table, local_name, storage_table

INTERNAL_PREFIX = "opik_store_"
_CLAUSES = ("PARTITION BY", "PRIMARY KEY", "ORDER BY", "SAMPLE BY", "TTL", "SETTINGS")


@dataclass(frozen=True)
class TableShape:
    """One table as the server describes it."""

    name: str
    engine: str  # without the Replicated prefix
    replicated: bool
    engine_args: str  # without the replication path and replica name
    partition_key: str
    sorting_key: str
    primary_key: str
    ttl: str
    settings: str
    columns: tuple[tuple[str, str, str, str, str], ...]  # name, type, default kind, default expr, codec
    indexes: tuple[tuple[str, str, str, int], ...]  # name, type, expression, granularity


@dataclass(frozen=True)
class Difference:
    """One way a live table differs from what it should be."""

    table: str
    aspect: str
    expected: str
    actual: str

    def describe(self) -> str:
        return f"{self.table}: {self.aspect}: expected {self.expected or '(none)'}, found {self.actual or '(none)'}"

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_shapes(adapter: Adapter, database: str, names: Iterable[str] | None = None) -> dict[str, TableShape]:
    """Shapes of the tables in ``database`` (all but opik-store's own, or just ``names``)."""
    wanted = set(names) if names is not None else None
    tables = adapter.query(
        "SELECT name, engine, engine_full, partition_key, sorting_key, primary_key FROM system.tables "
        "WHERE database = {db:String} AND NOT is_temporary ORDER BY name",
        {"db": database},
    ).rows
    columns: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for table, name, ctype, kind, expr, codec in adapter.query(
        "SELECT table, name, type, default_kind, default_expression, compression_codec FROM system.columns "
        "WHERE database = {db:String} ORDER BY table, position",
        {"db": database},
    ).rows:
        columns.setdefault(table, []).append((name, ctype, kind, expr, codec))
    indexes: dict[str, list[tuple[str, str, str, int]]] = {}
    for table, name, itype, expr, gran in adapter.query(
        "SELECT table, name, type_full, expr, granularity FROM system.data_skipping_indices "
        "WHERE database = {db:String} ORDER BY table, name",
        {"db": database},
    ).rows:
        indexes.setdefault(table, []).append((name, itype, expr, int(gran)))

    escaped = quote_string(database)[1:-1]  # how the server spells the name inside a string literal

    def local(text: str) -> str:
        # expressions name dictionaries and Join tables as 'db.name'; compare them independently of the database
        # (a name holding ' or \\ is escaped in the literal: both spellings are replaced)
        return text.replace(f"'{escaped}.", "'{database}.").replace(f"'{database}.", "'{database}.")

    out = {}
    blank = []
    for name, engine, engine_full, partition_key, sorting_key, primary_key in tables:
        if name.startswith(INTERNAL_PREFIX) and wanted is None:
            continue
        if wanted is not None and name not in wanted:
            continue
        if not engine_full and str(engine).endswith("MergeTree"):
            blank.append(str(name))  # a MergeTree always has a definition: its metadata could not be written
        base, args, clauses = split_engine_full(engine_full)
        replicated = engine.startswith("Replicated") and engine != "Replicated"
        if replicated:
            base = base[len("Replicated") :]
            args = ", ".join(split_top_level(args)[2:])
        out[name] = TableShape(
            name=name,
            engine=base,
            replicated=replicated,
            engine_args=args,
            partition_key=local(partition_key),
            sorting_key=local(sorting_key),
            primary_key=local(primary_key),
            ttl=local(clauses.get("TTL", "")),
            settings=clauses.get("SETTINGS", ""),
            columns=tuple((n, t, k, local(e), c) for n, t, k, e, c in columns.get(name, [])),
            indexes=tuple((n, t, local(e), g) for n, t, e, g in indexes.get(name, [])),
        )
    if blank:
        free = ", ".join(
            f"{d}: {int(f):,} bytes free" for d, f in adapter.query("SELECT name, free_space FROM system.disks").rows
        )
        raise ServerError(
            0,
            f"the server returned no definition for {', '.join(blank)} in {database!r}, so their shape cannot be "
            f"judged (this happens when the disk is full: {free}). Nothing was compared; free space and retry.",
        )
    return out


def split_engine_full(text: str) -> tuple[str, str, dict[str, str]]:
    """``Engine(args) PARTITION BY x ORDER BY y TTL z SETTINGS s`` -> (Engine, args, {clause: text})."""
    positions: list[tuple[int, str]] = []
    for i, _ in top_level(text):
        if text[i - 1 : i] == " ":
            clause = next((c for c in _CLAUSES if text.startswith(c + " ", i)), None)
            if clause:
                positions.append((i, clause))
    head_end = positions[0][0] if positions else len(text)
    head = text[:head_end].strip()
    name, _, rest = head.partition("(")
    args = rest[:-1] if rest.endswith(")") else rest
    clauses = {}
    for n, (pos, clause) in enumerate(positions):
        end = positions[n + 1][0] if n + 1 < len(positions) else len(text)
        clauses[clause] = text[pos + len(clause) : end].strip()
    return name.strip(), args.strip(), clauses


def expected_shapes(adapter: Adapter, statements: Iterable[str], settings: dict[str, str]) -> dict[str, TableShape]:
    """Run single-node ``statements`` in a scratch database on this server; return its table shapes."""
    scratch = f"{INTERNAL_PREFIX}scratch_{uuid.uuid4().hex[:12]}"
    adapter.execute(f"CREATE DATABASE {quote_identifier(scratch)}", settings=settings)
    try:
        for source in statements:
            adapter.execute(render_statement(source, scratch, Topology()).sql, settings=settings)
        return read_shapes(adapter, scratch)
    finally:
        adapter.execute(f"DROP DATABASE IF EXISTS {quote_identifier(scratch)} SYNC", settings=settings)


def compare(expected: dict[str, TableShape], live: dict[str, TableShape], cluster: bool) -> list[Difference]:
    """Every difference between the expected tables and their live counterparts.

    Only the expected tables are compared: other tables in the database
    (Opik's own, say) are not the store's to judge.
    """
    diffs: list[Difference] = []
    for name in sorted(expected):
        want, have = expected[name], live.get(name)
        if have is None:
            diffs.append(Difference(name, "table", "present", "missing"))
            continue
        if have.replicated != (cluster and want.engine.endswith("MergeTree")):  # Join, Memory: never replicated
            diffs.append(
                Difference(name, "replication", "Replicated engine" if cluster else "plain engine",
                           ("Replicated" if have.replicated else "") + have.engine)
            )  # fmt: skip
        for aspect in ("engine", "engine_args", "partition_key", "sorting_key", "primary_key", "ttl", "settings"):
            a, b = getattr(want, aspect), getattr(have, aspect)
            if a != b:
                diffs.append(Difference(name, aspect.replace("_", " "), a, b))
        diffs.extend(_compare_columns(name, want, have))
        want_idx, have_idx = {i[0]: i for i in want.indexes}, {i[0]: i for i in have.indexes}
        for idx in sorted(set(want_idx) | set(have_idx)):
            if want_idx.get(idx) != have_idx.get(idx):
                diffs.append(Difference(name, f"index {idx}", _index(want_idx.get(idx)), _index(have_idx.get(idx))))
    return diffs


def _compare_columns(name: str, want: TableShape, have: TableShape) -> list[Difference]:
    diffs = []
    want_cols, have_cols = {c[0]: c for c in want.columns}, {c[0]: c for c in have.columns}
    for col in [c[0] for c in want.columns] + [c[0] for c in have.columns if c[0] not in want_cols]:
        a, b = want_cols.get(col), have_cols.get(col)
        if a is None or b is None or a != b:
            diffs.append(Difference(name, f"column {col}", _column(a), _column(b)))
    order_want = [c for c in (c[0] for c in want.columns) if c in have_cols]
    order_have = [c for c in (c[0] for c in have.columns) if c in want_cols]
    if order_want != order_have:
        diffs.append(Difference(name, "column order", ", ".join(order_want), ", ".join(order_have)))
    return diffs


def _column(col: tuple[str, str, str, str, str] | None) -> str:
    if col is None:
        return ""
    _, ctype, kind, expr, codec = col
    text = ctype
    if kind:
        text += f" {kind} {expr}"
    if codec:
        text += f" {codec}"
    return text


def _index(idx: tuple[str, str, str, int] | None) -> str:
    return "" if idx is None else f"{idx[2]} TYPE {idx[1]} GRANULARITY {idx[3]}"


def compare_topology(
    expected: dict[str, TableShape], live: dict[str, TableShape], topology: Topology, database: str
) -> list[Difference]:
    """:func:`compare` for ``topology``; ``live`` holds every live table by its own name.

    On the sharded topology a sharded table's shape is judged on its
    shard-local table (on the node connected to), and the table of the
    author's name must be a Distributed table over it, with the documented
    sharding key and the same columns.
    """
    stored = {name: storage_table(name, topology) for name in expected}
    diffs = compare(expected, {n: live[s] for n, s in stored.items() if s in live}, topology.is_cluster)
    for name in sorted(n for n in expected if is_sharded_table(n, topology)):
        have = live.get(name)
        quoted = (quote_string(topology.cluster or ""), quote_string(database), quote_string(local_name(name)))
        args = f"{', '.join(quoted)}, {SHARDED_TABLES[name]}"  # as the renderer writes them
        if have is None:
            diffs.append(Difference(name, "table", f"Distributed({args})", "missing"))
            continue
        if (have.engine, have.engine_args) != ("Distributed", args):
            diffs.append(Difference(name, "engine", f"Distributed({args})", f"{have.engine}({have.engine_args})"))
        diffs.extend(_compare_columns(name, expected[name], have))
    return diffs
