"""Helpers shared by the tests (read-backs from the engine's system tables)."""

from __future__ import annotations

from opik_store.adapters.embedded import EmbeddedAdapter


def table_info(engine: EmbeddedAdapter, database: str, table: str) -> dict[str, str]:
    rows = engine.query(
        "SELECT engine, engine_full, partition_key, sorting_key, create_table_query FROM system.tables "
        "WHERE database = {db:String} AND name = {t:String}",
        {"db": database, "t": table},
    ).dicts()
    return rows[0] if rows else {}


def table_names(engine: EmbeddedAdapter, database: str) -> set[str]:
    rows = engine.query("SELECT name FROM system.tables WHERE database = {db:String}", {"db": database})
    return {r[0] for r in rows.rows}
