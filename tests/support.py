"""Helpers shared by the tests (read-backs from the engine's system tables)."""

from __future__ import annotations

from pathlib import Path

from opik_store.engine.embedded import EmbeddedAdapter


def table_info(engine: EmbeddedAdapter, database: str, table: str) -> dict[str, str]:
    rows = engine.query(
        "SELECT engine, engine_full, partition_key, sorting_key, create_table_query FROM system.tables "
        "WHERE database = {db:String} AND name = {t:String}",
        {"db": database, "t": table},
    ).dicts()
    return rows[0] if rows else {}


def table_names(engine: EmbeddedAdapter, database: str) -> set[str]:
    """Tables in ``database``, leaving out lock generations and the job-runs table."""
    rows = engine.query(
        "SELECT name FROM system.tables WHERE database = {db:String} "
        "AND NOT match(name, '^opik_store_(lock_|joblock_|job_runs)')",
        {"db": database},
    )
    return {r[0] for r in rows.rows}


def write_revision(folder: Path, rev: str, down: str | None, up: list[str], back: list[str]) -> Path:
    """Write a revision script into ``folder/versions`` (a copy of the migrations folder)."""
    path = folder / "versions" / f"{rev}_test.py"
    path.write_text(
        f'"""Test revision {rev}."""\n'
        f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n"
        f"def upgrade():\n    return {up!r}\n\n\ndef downgrade():\n    return {back!r}\n"
    )
    return path


def create_from_ddl(engine: EmbeddedAdapter, database: str) -> None:
    """Create every ddl/ object in ``database`` directly, as other tooling would (no ledger)."""
    from opik_store import Topology
    from opik_store.schema.ddl import TABLES, ddl
    from opik_store.schema.render import render_statement

    for table in TABLES:
        engine.execute(render_statement(ddl(table), database, Topology()).sql)
