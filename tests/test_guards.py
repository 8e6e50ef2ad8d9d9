"""Destructive-change lint, checksums, drift check, stamp and cluster pre-flight."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import create_from_ddl, table_names, write_revision

from opik_store import Store, Topology
from opik_store.cli import main
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.migrations.preflight import PreflightError
from opik_store.migrations.runner import RefusedError
from opik_store.schema.ddl import ddl
from opik_store.schema.lint import ColumnModel, narrows
from opik_store.schema.render import render_statement

# -- lint: one test per kind ----------------------------------------------------


def hazards(sql: str) -> tuple[str, ...]:
    return render_statement(sql, "db", Topology()).hazards


def test_lint_drop_table() -> None:
    assert hazards("DROP TABLE spans") == ("drop table spans",)


def test_lint_drop_column() -> None:
    assert hazards("ALTER TABLE spans ADD COLUMN x UInt8, DROP COLUMN IF EXISTS model") == ("drop column spans.model",)


def test_lint_drop_partition() -> None:
    assert hazards("ALTER TABLE spans DROP PARTITION 20260101") == ("drop partition on spans",)
    assert hazards("ALTER TABLE spans DETACH PARTITION 20260101") == ("detach partition on spans",)


def test_lint_truncate() -> None:
    assert hazards("TRUNCATE TABLE spans") == ("truncate table spans",)


def test_lint_engine_change() -> None:
    assert hazards("EXCHANGE TABLES spans AND spans_new") == ("engine change: exchange tables spans and spans_new",)


def test_lint_order_by_change() -> None:
    assert hazards("ALTER TABLE spans MODIFY PRIMARY KEY (workspace_id)") == (
        "sort-key change on spans (MODIFY PRIMARY KEY ...)",
    )
    assert hazards("ALTER TABLE spans MODIFY ORDER BY (workspace_id, project_id, trace_id, parent_span_id, id, x)") == (
        "sort-key change on spans (MODIFY ORDER BY ...)",
    )


def test_lint_rename() -> None:
    assert hazards("RENAME TABLE spans TO spans_old") == ("rename table spans -> spans_old",)
    assert hazards("ALTER TABLE spans RENAME COLUMN model TO llm_model") == ("rename column spans.model",)


def test_lint_delete_and_clear() -> None:
    assert hazards("ALTER TABLE spans DELETE WHERE 1") == ("delete rows from spans",)
    assert hazards("ALTER TABLE spans CLEAR COLUMN model") == ("clear column spans.model",)


def test_lint_type_narrowing_replays_earlier_revisions() -> None:
    model = ColumnModel()
    model.apply(ddl("spans"))
    assert model.tables["spans"]["total_estimated_cost"] == "Decimal(38, 12)"
    assert model.apply("ALTER TABLE spans MODIFY COLUMN total_estimated_cost Decimal(38, 14)") == [
        "type narrowing spans.total_estimated_cost: Decimal(38, 12) -> Decimal(38, 14)"
    ]
    assert model.apply("ALTER TABLE spans MODIFY COLUMN ttft Nullable(Float64) DEFAULT 1") == []  # no type change
    assert model.apply("ALTER TABLE spans MODIFY COLUMN ttft Float32") == [
        "type narrowing spans.ttft: Nullable(Float64) -> Float32"
    ]
    assert model.apply("ALTER TABLE spans ADD COLUMN n UInt32, MODIFY COLUMN n UInt64") == []  # widening
    assert model.apply("ALTER TABLE spans RENAME COLUMN n TO m") == []
    assert model.apply("ALTER TABLE spans MODIFY COLUMN m UInt16") == ["type narrowing spans.m: UInt64 -> UInt16"]
    assert model.apply("ALTER TABLE spans MODIFY COLUMN type Enum8('general' = 1, 'tool' = 2)")[0].startswith(
        "type narrowing spans.type: Enum8('unknown' = 0"
    )


@pytest.mark.parametrize(
    ("old", "new", "narrowing"),
    [
        ("UInt32", "UInt64", False),
        ("UInt32", "Int64", False),
        ("UInt32", "Int32", True),
        ("Int64", "UInt64", True),
        ("Int32", "Float64", False),
        ("Int64", "Float64", True),
        ("Float64", "Float32", True),
        ("Float32", "Float64", False),
        ("Decimal(38, 12)", "Decimal(38, 10)", True),
        ("Decimal(18, 4)", "Decimal(38, 4)", False),
        ("String", "FixedString(36)", True),
        ("FixedString(36)", "String", False),
        ("FixedString(36)", "FixedString(16)", True),
        ("DateTime64(9, 'UTC')", "DateTime64(6, 'UTC')", True),
        ("DateTime", "DateTime64(3)", False),
        ("Nullable(String)", "String", True),
        ("String", "Nullable(String)", False),
        ("String", "LowCardinality(String)", False),
        ("Array(UInt8)", "Array(UInt16)", False),
        ("Map(String, Int64)", "Map(String, Int32)", True),
        ("Enum8('a' = 1)", "Enum8('a' = 1, 'b' = 2)", False),
        ("UUID", "IPv6", True),
    ],
)
def test_narrowing_rules(old: str, new: str, narrowing: bool) -> None:
    assert narrows(old, new) is narrowing


def test_destructive_revision_is_refused_without_flag(
    migrations_copy: Path, engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    write_revision(migrations_copy, "0005", "0004", ["ALTER TABLE spans DROP COLUMN model"], [])
    base = ["--url", engine_url, "--database", database, "--migrations-dir", str(migrations_copy)]
    sql = CliRunner().invoke(main, [*base, "migrate", "--sql"])
    assert "-- DESTRUCTIVE: drop column spans.model" in sql.output
    result = CliRunner().invoke(main, [*base, "migrate"])
    assert (
        result.exit_code == 2 and "--allow-destructive" in result.output and "drop column spans.model" in result.output
    )
    assert table_names(engine, database) == {"opik_store_ledger"}, "a refused run applies nothing, not even 0001"
    status = CliRunner().invoke(main, [*base, "status"])
    assert "0005" in status.output and "DESTRUCTIVE: drop column spans.model" in status.output
    data = json.loads(CliRunner().invoke(main, [*base, "status", "--json"]).stdout)
    assert data["pending"][4]["destructive"] == ["drop column spans.model"]
    result = CliRunner().invoke(main, [*base, "migrate", "--allow-destructive"])
    assert result.exit_code == 0 and "applied 0001, 0002, 0003, 0004, 0005" in result.output
    cols = engine.query(
        "SELECT count() FROM system.columns WHERE database = {d:String} AND table = 'spans' AND name = 'model'",
        {"d": database},
    ).scalar()
    assert cols == 0


# -- checksums ---------------------------------------------------------------------


def test_edited_applied_revision_is_reported_and_refused(migrations_copy: Path, engine_url: str, database: str) -> None:
    path = write_revision(migrations_copy, "0005", "0004", ["ALTER TABLE traces ADD COLUMN c1 UInt8"], [])
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as store:
        store.migrate()
        assert store.status().changed == []
    path.write_text(path.read_text().replace("c1 UInt8", "c1 UInt16"))
    write_revision(migrations_copy, "0006", "0005", ["ALTER TABLE traces ADD COLUMN c2 UInt8"], [])
    base = ["--url", engine_url, "--database", database, "--migrations-dir", str(migrations_copy)]
    status = CliRunner().invoke(main, [*base, "status"])
    assert "WARNING" in status.output and "0005 was edited" in status.output
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as store:
        assert [c.revision for c in store.status().changed] == ["0005"]
        with pytest.raises(RefusedError, match="--allow-changed"):
            store.migrate()
        assert [s.revision.id for s in store.status().pending] == ["0006"]
        assert store.migrate(allow_changed=True).revisions == ["0006"]


# -- check ---------------------------------------------------------------------------


def test_check_is_clean_after_migrate_and_reports_hand_made_changes(
    engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    base = ["--url", engine_url, "--database", database]
    assert CliRunner().invoke(main, [*base, "migrate"]).exit_code == 0
    # a table the store does not own (Opik keeps ~30 in the same database) is not drift
    engine.execute(f"CREATE TABLE `{database}`.experiments (id String) ENGINE = MergeTree ORDER BY id")
    clean = CliRunner().invoke(main, [*base, "check"])
    assert clean.exit_code == 0 and "matches head" in clean.output, clean.output
    engine.execute(f"ALTER TABLE `{database}`.traces ADD COLUMN hand_made String")
    engine.execute(f"ALTER TABLE `{database}`.spans MODIFY TTL toDate(start_time) + INTERVAL 30 DAY")
    engine.execute(f"ALTER TABLE `{database}`.traces MODIFY SETTING ttl_only_drop_parts = 0")
    result = CliRunner().invoke(main, [*base, "check"])
    assert result.exit_code == 3
    assert "traces: column hand_made: expected (none), found String" in result.output
    assert "spans: ttl: expected (none)" in result.output, result.output
    assert "found toDate(start_time) + toIntervalDay(30)" in result.output
    data = json.loads(CliRunner().invoke(main, [*base, "check", "--json"]).stdout)
    assert {(d["table"], d["aspect"]) for d in data} == {
        ("traces", "column hand_made"), ("spans", "ttl"), ("traces", "settings")
    }  # fmt: skip
    leftovers = engine.query("SELECT count() FROM system.databases WHERE startsWith(name, 'opik_store_scratch')")
    assert leftovers.scalar() == 0, "the scratch database is dropped"


# -- stamp ---------------------------------------------------------------------------


def test_stamp_adopts_matching_tables_and_refuses_different_ones(
    engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    engine.execute(f"CREATE DATABASE `{database}`")
    create_from_ddl(engine, database)  # created by other tooling
    engine.execute(f"ALTER TABLE `{database}`.spans DROP COLUMN provider")
    base = ["--url", engine_url, "--database", database]
    refused = CliRunner().invoke(main, [*base, "stamp", "0004"])
    assert refused.exit_code == 2 and "spans: column provider: expected LowCardinality(String)" in refused.output
    assert "Nothing was recorded" in refused.output
    with Store.from_url(engine_url, database=database) as store:
        assert store.status().applied == []
    engine.execute(
        f"ALTER TABLE `{database}`.spans ADD COLUMN provider LowCardinality(String) DEFAULT '' "
        "CODEC(ZSTD(1)) AFTER model"
    )
    ok = CliRunner().invoke(main, [*base, "stamp", "0004"])
    assert ok.exit_code == 0 and "stamped 0001, 0002, 0003, 0004" in ok.output, ok.output
    with Store.from_url(engine_url, database=database) as store:
        assert store.status().up_to_date
        entry = store.history()[-1]
        assert (entry.state, entry.note) == ("applied", "stamped")
        assert store.migrate().revisions == []


def test_stamp_force_records_despite_differences(engine_url: str, engine: EmbeddedAdapter, database: str) -> None:
    engine.execute(f"CREATE DATABASE `{database}`")
    create_from_ddl(engine, database)
    engine.execute(f"DROP TABLE `{database}`.spans")
    result = CliRunner().invoke(main, ["--url", engine_url, "--database", database, "stamp", "0001", "--force"])
    assert result.exit_code == 0
    with Store.from_url(engine_url, database=database) as store:
        assert store.history()[-1].note == "stamped with --force"


# -- cluster pre-flight ----------------------------------------------------------------


def test_preflight_refuses_unreachable_replicas_and_changes_nothing(
    engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    store = Store.from_url(engine_url, database=database, cluster="unreachable")
    with store, pytest.raises(PreflightError) as info:
        store.migrate()
    text = str(info.value)
    assert "127.0.0.1:1" in text and "127.0.0.1:2" in text and "Nothing was changed" in text
    exists = engine.query("SELECT count() FROM system.databases WHERE name = {d:String}", {"d": database})
    assert exists.scalar() == 0


def test_preflight_refuses_an_undefined_cluster(engine_url: str, database: str) -> None:
    result = CliRunner().invoke(main, ["--url", engine_url, "--database", database, "--cluster", "nope", "migrate"])
    assert result.exit_code == 2 and "cluster 'nope' is not defined" in result.output


def test_migrate_refuses_tables_it_did_not_create(engine_url: str, engine: EmbeddedAdapter, database: str) -> None:
    """Opik's own migrations made `traces` here: IF NOT EXISTS must not silently keep it as the store's table."""
    engine.execute(f"CREATE DATABASE `{database}`")
    engine.execute(f"CREATE TABLE `{database}`.traces (id FixedString(36), name String) ENGINE = MergeTree ORDER BY id")
    with Store.from_url(engine_url, database=database) as store:
        with pytest.raises(RefusedError, match=r"already has traces, which revision\(s\) 0001 would create"):
            store.migrate()
        assert store.history() == [], "no revision was recorded"
    assert "spans" not in table_names(engine, database)
    result = CliRunner().invoke(main, ["--url", engine_url, "--database", database, "migrate"])
    assert result.exit_code == 2 and "Nothing was changed" in result.output


def test_foreign_tables_are_refused_after_a_full_downgrade_too(
    engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    """Review finding: a reverted revision counted as 'run here', so tables made afterwards by others slipped in."""
    with Store.from_url(engine_url, database=database) as store:
        store.migrate()
        store.downgrade("base", allow_data_loss=True)
        engine.execute(f"CREATE TABLE `{database}`.traces (id String, name String) ENGINE = MergeTree ORDER BY id")
        with pytest.raises(RefusedError, match="already has traces"):
            store.migrate()
