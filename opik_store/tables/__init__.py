"""SQLAlchemy Core ``Table`` objects for every table the store owns, built from ``ddl/``.

Example::

    from sqlalchemy import func, select
    from opik_store.tables import table

    spans = table("spans", database="opik")
    stmt = select(spans.c.model, func.count()).where(spans.c.workspace_id == "acme").group_by(spans.c.model)
    rows = store.reader().select(stmt, purpose="read")

Rules kept:

* The tables are ``schema.ddl.TABLES``, the columns and types those of
  ``ddl/<table>.sql`` (``schema.columns``): there is no second list. The
  types are clickhouse-sqlalchemy's, and each compiles with its dialect to
  exactly the type text ClickHouse reports in ``system.columns``
  (tests/test_tables.py proves it on a migrated database).
* Each column's ``info`` holds ``default_kind`` and ``default_expression`` as
  written; MATERIALIZED and ALIAS columns have ``info["insertable"] = False``.
* Building tables imports SQLAlchemy and clickhouse-sqlalchemy; nothing else
  in opik_store needs them.

May import: ``opik_store.errors``, ``engine``, ``config``, ``schema``.
"""

from __future__ import annotations

import enum
import re
from typing import Any

from clickhouse_sqlalchemy import types
from sqlalchemy import Column, MetaData, Table, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeEngine

from opik_store.engine.quoting import split_top_level
from opik_store.errors import ConfigError
from opik_store.schema.columns import columns, enum_values
from opik_store.schema.ddl import TABLES


class NamedTuple(types.Tuple):  # type: ignore[misc]
    """``Tuple(key String, type String)``: a tuple whose elements have names (clickhouse-sqlalchemy drops them)."""

    __visit_name__ = "named_tuple"

    def __init__(self, fields: list[tuple[str, TypeEngine[Any]]]) -> None:
        super().__init__(*[t for _, t in fields])
        self.fields = fields


@compiles(NamedTuple, "clickhouse")
def _compile_named_tuple(element: NamedTuple, compiler: Any, **kw: Any) -> str:
    return "Tuple(" + ", ".join(f"{name} {compiler.process(t, **kw)}" for name, t in element.fields) + ")"


class MapValue(ColumnElement[Any]):
    """``map[key]``: one value of a Map column, typed as the Map's values; the key is a bound parameter."""

    __visit_name__ = "map_value"
    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy's own declaration is an instance variable)
        ("map_expr", InternalTraversal.dp_clauseelement),
        ("map_key", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, map_expr: ColumnElement[Any], key: Any, map_type: types.Map) -> None:
        self.map_expr = map_expr
        self.map_key = literal(key, type_=map_type.key_type)
        self.type = map_type.value_type

    @property
    def _from_objects(self) -> list[Any]:  # the FROM clause the map column needs
        return list(self.map_expr._from_objects)


@compiles(MapValue)
def _compile_map_value(element: MapValue, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.map_expr, **kw)}[{compiler.process(element.map_key, **kw)}]"


class IndexableMap(types.Map):  # type: ignore[misc]
    """A Map column read by key, as in ClickHouse: ``spans.c.usage["total_tokens"]`` is ``usage[{key}]``
    (clickhouse-sqlalchemy's Map supports no ``[]``; SQLAlchemy raised NotImplementedError)."""

    class comparator_factory(TypeEngine.Comparator[Any]):
        def __getitem__(self, key: Any) -> MapValue:
            return MapValue(self.expr, key, self.type)


_SIMPLE = {
    "String": types.String,
    "Bool": types.Boolean,
    "Date": types.Date,
    "Date32": types.Date32,
    "DateTime": types.DateTime,
    "UUID": types.UUID,
    **{name: getattr(types, name) for name in ("Float32", "Float64")},
    **{f"{s}Int{b}": getattr(types, f"{s}Int{b}") for s in ("", "U") for b in (8, 16, 32, 64, 128, 256)},
}
_CALL = re.compile(r"^(\w+)\((.*)\)$", re.S)


def column_type(text: str) -> TypeEngine[Any]:
    """The clickhouse-sqlalchemy type for ClickHouse type text; ConfigError for a type it cannot express."""
    text = text.strip()
    if text in _SIMPLE:
        return _SIMPLE[text]()  # type: ignore[no-any-return]
    match = _CALL.match(text)
    if not match:
        raise ConfigError(f"no SQLAlchemy type for ClickHouse type {text}")
    name, inner = match.group(1), match.group(2)
    args = split_top_level(inner)
    if name == "Nullable":
        return types.Nullable(column_type(inner))  # type: ignore[no-any-return]
    if name == "LowCardinality":
        return types.LowCardinality(column_type(inner))  # type: ignore[no-any-return]
    if name == "Array":
        return types.Array(column_type(inner))  # type: ignore[no-any-return]
    if name == "Map":
        return IndexableMap(column_type(args[0]), column_type(args[1]))
    if name == "Tuple":
        named = [a.split(" ", 1) for a in args]
        if all(len(n) == 2 and re.fullmatch(r"\w+", n[0]) and n[1][:1].isupper() for n in named):
            return NamedTuple([(n, column_type(t)) for n, t in named])
        return types.Tuple(*[column_type(a) for a in args])  # type: ignore[no-any-return]
    if name == "FixedString":
        return types.String(int(inner))  # type: ignore[no-any-return]
    if name in ("Enum8", "Enum16"):
        values = enum_values(text)
        python_enum = enum.Enum(f"{name}_values", values)  # type: ignore[misc]
        return getattr(types, name)(python_enum)  # type: ignore[no-any-return]
    if name == "DateTime64":
        tz = args[1].strip("'") if len(args) > 1 else None
        return types.DateTime64(int(args[0]), tz)  # type: ignore[no-any-return]
    if name == "DateTime":
        return types.DateTime(args[0].strip("'"))  # type: ignore[no-any-return]
    if name == "Decimal":
        return types.Decimal(int(args[0]), int(args[1]))  # type: ignore[no-any-return]
    raise ConfigError(f"no SQLAlchemy type for ClickHouse type {text}")


def table(name: str, database: str | None = None, metadata: MetaData | None = None) -> Table:
    """The ``Table`` of one owned table, in ``database`` (its SQL schema) when given."""
    if name not in TABLES:
        raise ConfigError(f"the store owns {', '.join(TABLES)}, not {name!r}")
    cols = [
        Column(
            c.name,
            column_type(c.type),
            info={"default_kind": c.kind, "default_expression": c.expression, "insertable": c.insertable},
        )
        for c in columns(name)
    ]
    return Table(name, metadata or MetaData(), *cols, schema=database)


def metadata(database: str | None = None) -> MetaData:
    """A MetaData holding every owned table (``schema.ddl.TABLES``), in ``database`` when given."""
    meta = MetaData()
    for name in TABLES:
        table(name, database, meta)
    return meta
