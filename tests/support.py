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


def in_process(sql: str, cluster: str) -> str:
    """A sharded-topology statement as the embedded engine can run it: no ON CLUSTER (chdb refuses it, 392)
    and the single-node engine instead of ``Replicated*`` (chdb's replicated tables stay read-only).
    Nothing else changes: names, the Distributed engine and its sharding key are the rendered text."""
    import re

    sql = sql.replace(f" ON CLUSTER '{cluster}'", "")
    return re.sub(r"Replicated(\w*MergeTree)\('[^']*', '[^']*'(?:, )?", r"\1(", sql)


def create_sharded_layout(engine: EmbeddedAdapter, database: str, cluster: str) -> None:
    """Create every ddl/ object in ``database`` as the sharded topology over ``cluster`` renders it
    (``traces_local``/``spans_local`` under Distributed ``traces``/``spans``), run in-process."""
    from opik_store import Topology
    from opik_store.schema.ddl import TABLES, ddl
    from opik_store.schema.render import render_statements

    topology = Topology(cluster=cluster, sharded=True)
    engine.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    for table in TABLES:
        for rendered in render_statements(ddl(table), database, topology):
            engine.execute(in_process(rendered.sql, cluster))
