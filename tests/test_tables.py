"""Typed table metadata equals the live schema; statements built with it compile and run; profile-aware reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_sqlalchemy.drivers.base import ClickHouseDialect
from sqlalchemy import Table, func, select
from test_ingest import span

from opik_store import ConfigError, QueryProfiles, ServerError, Store
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.reads import Reader, compile_statement
from opik_store.schema.ddl import TABLES
from opik_store.tables import metadata, table


@pytest.fixture
def migrated(migrated_store: Store) -> Store:
    return migrated_store


def test_tables_equal_the_live_system_columns(migrated: Store, engine: EmbeddedAdapter, database: str) -> None:
    dialect = ClickHouseDialect()
    meta = metadata(database)
    assert sorted(t.name for t in meta.sorted_tables) == sorted(TABLES)
    for name in TABLES:
        live = engine.query(
            "SELECT name, type, default_kind FROM system.columns WHERE database = {db:String} AND table = {t:String} "
            "ORDER BY position",
            {"db": database, "t": name},
        ).rows
        built: Table = meta.tables[f"{database}.{name}"]
        mine = [(c.name, dialect.type_compiler.process(c.type), c.info["default_kind"]) for c in built.columns]
        assert mine == [tuple(r) for r in live], name


def test_a_changed_type_would_be_caught(migrated: Store, engine: EmbeddedAdapter, database: str) -> None:
    """Not vacuous: the comparison sees a column whose live type differs."""
    engine.execute(f"ALTER TABLE `{database}`.retention_rules MODIFY COLUMN note LowCardinality(String)")
    live = engine.query(
        "SELECT type FROM system.columns WHERE database = {db:String} AND table = 'retention_rules' AND name = 'note'",
        {"db": database},
    ).scalar()
    built = table("retention_rules", database).c.note.type
    assert ClickHouseDialect().type_compiler.process(built) != live


def test_statements_built_with_the_tables_compile_bind_and_run(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    with migrated.writer("spans") as writer:
        writer.write([span(i, model="gpt-5" if i % 2 else "claude") for i in range(10)])
    spans = table("spans", database)
    stmt = (
        select(spans.c.model, func.count().label("n"), func.sum(spans.c.total_estimated_cost).label("cost"))
        .where(spans.c.workspace_id == "ws-ingest'; DROP TABLE x --", spans.c.model.in_(["gpt-5", "claude"]))
        .group_by(spans.c.model)
        .order_by(spans.c.model)
    )
    sql, params = compile_statement(stmt)
    assert params["workspace_id_1"] == "ws-ingest'; DROP TABLE x --"
    assert "DROP TABLE" not in sql and "{workspace_id_1:String}" in sql and "{model_1_1:String}" in sql
    with migrated.reader() as reader:
        assert reader.select(stmt).rows == [], "the hostile value is bound, not formatted: it matches nothing"
        ok = (
            select(spans.c.model, func.count().label("n"))
            .where(spans.c.workspace_id == "ws-ingest", spans.c.start_time >= datetime(2026, 1, 1, tzinfo=UTC))
            .group_by(spans.c.model)
            .order_by(spans.c.model)
        )
        assert reader.select(ok).rows == [("claude", 5), ("gpt-5", 5)]


def test_a_map_column_is_read_by_key(migrated: Store) -> None:
    """``spans.c.usage["total_tokens"]`` raised NotImplementedError (clickhouse-sqlalchemy's Map has no ``[]``)."""
    with migrated.writer("spans") as writer:
        writer.write([span(i, usage={"total_tokens": 10 * i, "prompt_tokens": i}) for i in range(1, 5)])
    spans = table("spans", migrated.config.database)
    tokens = spans.c.usage["total_tokens"]
    stmt = select(func.sum(tokens).label("total")).where(spans.c.usage["prompt_tokens"] >= 2)
    sql, params = compile_statement(stmt)
    assert "usage[{param_1:String}]" in sql and params["param_1"] == "total_tokens", sql
    assert "Int" in str(tokens.type.compile(dialect=ClickHouseDialect())), "typed as the Map's values"
    with migrated.reader() as reader:
        assert reader.select(stmt).rows == [(20 + 30 + 40,)]
        hostile = select(func.count()).where(spans.c.usage["x'] OR 1 = 1 --"] > 0)
        assert reader.select(hostile).rows == [(0,)], "the key is bound, never formatted"


def test_unknown_table_is_refused() -> None:
    with pytest.raises(ConfigError, match="owns retention_rules, retention, traces, spans"):
        table("feedback_scores")


def tight_profiles(tmp_path: Path) -> QueryProfiles:
    path = tmp_path / "profiles.toml"
    path.write_text("[profiles.opik_read.settings]\nmax_rows_to_read = 1000\n")
    return QueryProfiles.load(path)


def test_reads_run_with_their_purposes_profile_per_query(tmp_path: Path, migrated: Store) -> None:
    reader = Reader(migrated.adapter, tight_profiles(tmp_path))
    with pytest.raises(ServerError) as info:
        reader.query("SELECT count() FROM numbers({n:UInt64})", {"n": 100_000}, purpose="read")
    assert info.value.code == 158, "the read profile's max_rows_to_read applies"
    assert reader.query("SELECT count() FROM numbers(100000)", purpose="analytics").scalar() == 100_000
    assert migrated.adapter.query("SELECT getSetting('max_rows_to_read')").scalar() == 0, "nothing stays on the session"
    with pytest.raises(ConfigError, match="unknown query purpose 'reporting'"):
        reader.query("SELECT 1", purpose="reporting")


def test_a_trailing_line_comment_does_not_swallow_the_profile(tmp_path: Path, migrated: Store) -> None:
    """The SETTINGS clause was appended on the query's last line: after "-- ..." it was a comment, and the
    query ran without its purpose's limits."""
    reader = Reader(migrated.adapter, tight_profiles(tmp_path))
    with pytest.raises(ServerError) as info:
        reader.query("SELECT count() FROM numbers({n:UInt64}) -- rows of a report\n", {"n": 100_000}, purpose="read")
    assert info.value.code == 158, "the read profile's max_rows_to_read applies"
    sql = "SELECT getSetting('max_rows_to_read') -- which limit?"
    assert reader.query(sql, purpose="read").scalar() == 1000


def test_streaming_a_large_result_block_by_block(migrated: Store) -> None:
    with migrated.reader() as reader:
        blocks = 0
        total = 0
        for block in reader.stream("SELECT number FROM numbers({n:UInt64})", {"n": 1_000_000}, purpose="analytics"):
            blocks += 1
            total += len(block.rows)
            assert len(block.rows) <= 100_000
        assert total == 1_000_000 and blocks >= 10


BY_NAME = """
import json, sys
from opik_store import ServerError, Store
out = {}
with Store.from_url(sys.argv[1], database="probe") as store, store.reader(by_name=True) as reader:
    out["settings"] = reader.settings("read")
    try:
        reader.query("SELECT count() FROM numbers(1500000000)", purpose="read")
    except ServerError as exc:
        out["too many"] = exc.code
    try:
        reader.query("SELECT 1", purpose="analytics")
    except ServerError as exc:
        out["other purpose, same reader"] = exc.code
with Store.from_url(sys.argv[1], database="probe") as store, store.reader(by_name=True) as reader:
    out["analytics"] = reader.query("SELECT getSetting('max_rows_to_read')", purpose="analytics").scalar()
print(json.dumps(out))
"""


def test_reads_by_profile_name_apply_the_servers_profile(tmp_path: Path) -> None:
    """In a fresh engine process whose users.xml carries the shipped profiles (as `profiles apply` or
    render-xml provides on a server). The embedded engine keeps a per-query profile's constraints on its
    session, so a second purpose on the same by-name reader fails with code 452 (README: Backend API)."""
    import json
    import subprocess
    import sys

    from test_profiles import engine_with

    from opik_store.access.model import load_access
    from opik_store.access.users_xml import render_users_xml

    data, config = engine_with(tmp_path, render_users_xml(load_access(), "opik"), "by-name")
    result = subprocess.run(
        [sys.executable, "-c", BY_NAME, f"chdb://{data}?config-file={config}"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {
        "settings": {"profile": "opik_read"},
        "too many": 158,
        "other purpose, same reader": 452,
        "analytics": 10_000_000_000,
    }


def test_a_by_name_profile_the_server_lacks_names_the_next_step(tmp_path: Path) -> None:
    """`reader(by_name=True)` on an engine without the profile failed with a raw THERE_IS_NO_PROFILE."""
    import subprocess
    import sys

    code = (
        "from opik_store import Store\nfrom opik_store.errors import ConfigError\n"
        f"with Store.from_url('chdb:{tmp_path / 'db'}') as store, store.reader(by_name=True) as reader:\n"
        "    try:\n        reader.query('SELECT 1', purpose='read')\n"
        "    except ConfigError as exc:\n        print('CONFIG', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("CONFIG the server has no settings profile") and "profiles apply" in out.stdout
