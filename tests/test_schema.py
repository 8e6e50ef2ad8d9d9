"""ddl/ is the current shape of every table, and the migrations reproduce it exactly."""

from __future__ import annotations

from support import create_from_ddl

from opik_store import Store
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.resources import data_dir
from opik_store.schema.ddl import TABLES


def _shape(engine: EmbeddedAdapter, database: str) -> dict[str, tuple[str, list[tuple[str, ...]]]]:
    tables = engine.query(
        "SELECT name, create_table_query FROM system.tables "
        "WHERE database = {d:String} AND NOT startsWith(name, {l:String})",
        {"d": database, "l": "opik_store_"},
    ).rows
    out = {}
    for name, create in tables:
        columns = engine.query(
            "SELECT name, type, default_kind, default_expression, compression_codec, position FROM system.columns "
            "WHERE database = {d:String} AND table = {t:String} ORDER BY position",
            {"d": database, "t": name},
        ).rows
        out[name] = (
            create.replace(database, "{db}"),
            [tuple(str(v).replace(database, "{db}") for v in c) for c in columns],
        )
    return out


def test_applying_every_revision_yields_exactly_ddl(store: Store, engine: EmbeddedAdapter, database: str) -> None:
    store.migrate()
    scratch = database + "_ddl"
    engine.execute(f"CREATE DATABASE `{scratch}`")
    try:
        create_from_ddl(engine, scratch)
        assert _shape(engine, database) == _shape(engine, scratch)
    finally:
        engine.execute(f"DROP DATABASE IF EXISTS `{scratch}` SYNC")


def test_every_ddl_file_is_a_known_table() -> None:
    assert sorted(p.stem for p in data_dir("ddl").glob("*.sql")) == sorted(TABLES)
