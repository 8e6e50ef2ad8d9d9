"""System log tables: report, prune (and nothing else), durable config."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from opik_store import ConfigError, Store
from opik_store.cli import main
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.maintenance.system_tables import RESTART_WARNING, SystemTables, render_config

TODAY = datetime.now(UTC).date()


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def count_before(engine: EmbeddedAdapter, table: str, column: str, cutoff: date, marker: str) -> int:
    where = "query = {m:String}" if table == "query_log" else "operation_name = {m:String}"
    return int(
        engine.query(
            f"SELECT count() FROM system.{table} WHERE {column} < {{c:Date}} AND {where}",
            {"c": cutoff.isoformat(), "m": marker},
        ).scalar()
    )


@pytest.fixture
def seeded(engine: EmbeddedAdapter, database: str) -> Iterator[str]:
    """Old and recent rows in query_log and opentelemetry_span_log, and a user table that looks like a log."""
    marker = f"opik-store-test-{database}"
    engine.execute("SELECT 1 SETTINGS opentelemetry_start_trace_probability = 1")
    engine.execute("SYSTEM FLUSH LOGS")
    logs = ("query_log", "opentelemetry_span_log")
    for log in logs:  # other tests may have set a TTL (prune does): keep this test's old rows until it prunes
        engine.execute(f"SYSTEM STOP TTL MERGES system.{log}")
        full = engine.query(
            "SELECT engine_full FROM system.tables WHERE database = 'system' AND name = {n:String}", {"n": log}
        ).scalar()
        if " TTL " in str(full):
            engine.execute(f"ALTER TABLE system.{log} REMOVE TTL")
    for age in (400, 40, 10, 1):
        when = days_ago(age)
        engine.execute(
            "INSERT INTO system.query_log (type, event_date, event_time, query) "
            "SELECT 'QueryFinish', {d:Date}, toDateTime({d:Date}), {m:String}",
            {"d": when.isoformat(), "m": marker},
        )
        engine.execute(
            "INSERT INTO system.opentelemetry_span_log (trace_id, span_id, operation_name, start_time_us, "
            "finish_time_us, finish_date) SELECT generateUUIDv4(), 1, {m:String}, 0, 0, {d:Date}",
            {"d": when.isoformat(), "m": marker},
        )
    engine.execute(f"CREATE DATABASE `{database}`")
    engine.execute(
        f"CREATE TABLE `{database}`.query_log (event_date Date, query String) "
        "ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) ORDER BY event_date"
    )
    engine.execute(
        f"INSERT INTO `{database}`.query_log SELECT {{d:Date}}, 'user data'", {"d": days_ago(400).isoformat()}
    )
    yield marker
    for log in logs:
        engine.execute(f"SYSTEM START TTL MERGES system.{log}")


def test_report_lists_log_tables_with_sizes_dates_and_ttl(engine_url: str, seeded: str) -> None:
    with Store.from_url(engine_url) as store:
        tables = {t.name: t for t in SystemTables(store.adapter).report()}
    assert {"query_log", "part_log", "opentelemetry_span_log"} <= set(tables)
    assert "user_query_log" not in tables, "System* tables are not logs"
    q = tables["query_log"]
    assert q.rows >= 4 and q.bytes_on_disk > 0 and q.oldest is not None and q.oldest <= days_ago(400)
    assert q.newest is not None and q.newest >= days_ago(1)
    assert tables["opentelemetry_span_log"].date_column == "finish_date"
    result = CliRunner().invoke(main, ["--url", engine_url, "system-tables", "report"])
    assert result.exit_code == 0 and "opentelemetry_span_log" in result.output
    line = next(x for x in result.output.splitlines() if x.startswith("query_log "))
    assert q.oldest.isoformat() in line and q.newest.isoformat() in line, line  # it printed "10 10"


def test_prune_dry_run_then_prune_removes_only_old_log_rows(
    engine_url: str, engine: EmbeddedAdapter, database: str, seeded: str
) -> None:
    keep = 5
    cutoff = days_ago(keep)
    base = ["--url", engine_url, "system-tables", "prune", "--keep-days", str(keep)]
    base += ["--tables", "query_log", "--tables", "opentelemetry_span_log"]
    before = {
        t: count_before(engine, t, c, cutoff, seeded)
        for t, c in (("query_log", "event_date"), ("opentelemetry_span_log", "finish_date"))
    }
    assert before == {"query_log": 3, "opentelemetry_span_log": 3}
    dry = CliRunner().invoke(main, [*base, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)
    assert {a["kind"] for a in planned["actions"]} >= {"drop_partition", "set_ttl"}
    assert count_before(engine, "query_log", "event_date", cutoff, seeded) == 3, "a dry run changes nothing"

    result = CliRunner().invoke(main, base)
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.output and "next server restart" in result.output
    for table, column in (("query_log", "event_date"), ("opentelemetry_span_log", "finish_date")):
        assert count_before(engine, table, column, cutoff, seeded) == 0
    recent = engine.query(
        "SELECT count() FROM system.query_log WHERE query = {m:String} AND event_date >= {c:Date}",
        {"m": seeded, "c": cutoff.isoformat()},
    ).scalar()
    assert recent == 1
    user = engine.query(f"SELECT count() FROM `{database}`.query_log").scalar()
    assert user == 1, "a user table named like a log is never touched"
    ttl = engine.query("SELECT engine_full FROM system.tables WHERE database = 'system' AND name = 'query_log'")
    assert "TTL event_date + toIntervalDay(5)" in ttl.scalar()


@pytest.mark.parametrize("cluster", ["self", "opik"])
def test_prune_on_the_embedded_engine_with_a_cluster_prunes_the_one_engine(
    engine_url: str, engine: EmbeddedAdapter, seeded: str, cluster: str
) -> None:
    """The embedded engine is one node whatever --cluster says (as for profiles and retention): it is pruned in
    place, not refused for a cluster it cannot fan out to ('self': hosts it cannot connect to; 'opik': no such
    cluster in system.clusters)."""
    keep = 5
    cutoff = days_ago(keep)
    assert count_before(engine, "query_log", "event_date", cutoff, seeded) == 3
    base = ["--url", engine_url, "--cluster", cluster, "system-tables", "prune", "--keep-days", str(keep)]
    result = CliRunner().invoke(main, [*base, "--tables", "query_log", "--no-ttl"])
    assert result.exit_code == 0, result.output
    assert count_before(engine, "query_log", "event_date", cutoff, seeded) == 0


def test_prune_refuses_non_log_tables_and_bad_input(engine_url: str) -> None:
    with Store.from_url(engine_url) as store:
        tables = SystemTables(store.adapter)
        for name in ("settings", "user_query_log", "tables"):
            with pytest.raises(ConfigError, match="not a log table"):
                tables.prune(30, [name])
        with pytest.raises(ConfigError, match="at least 1"):
            tables.prune(0)
        with pytest.raises(ConfigError, match="at least 1"):
            tables.prune(-3)
        with pytest.raises(ConfigError, match="at most 10,000"):
            tables.prune(100_000_000)  # was an OverflowError traceback
    cli = CliRunner().invoke(main, ["--url", engine_url, "system-tables", "prune", "--keep-days", "100000000"])
    assert cli.exit_code == 2 and "at most 10,000" in cli.output and "Traceback" not in cli.output, cli.output


def test_a_users_table_named_like_a_log_is_not_pruned(engine_url: str, engine: EmbeddedAdapter) -> None:
    """``system.my_audit_log`` is not the server's: it was pruned (its old rows deleted) like query_log."""
    engine.execute(
        "CREATE TABLE IF NOT EXISTS system.my_audit_log (event_date Date, who String) "
        "ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) ORDER BY event_date"
    )
    try:
        engine.execute("INSERT INTO system.my_audit_log SELECT {d:Date}, 'x'", {"d": days_ago(300).isoformat()})
        with Store.from_url(engine_url) as store:
            tables = SystemTables(store.adapter)
            names = {t.name for t in tables.report()}
            assert "my_audit_log" not in names and "query_log" in names
            assert "my_audit_log" not in {a.table for a in tables.prune(30, dry_run=True).actions}
            with pytest.raises(ConfigError, match="not a log table"):
                tables.prune(30, ["my_audit_log"])
        assert engine.query("SELECT count() FROM system.my_audit_log").scalar() == 1
    finally:
        engine.execute("DROP TABLE IF EXISTS system.my_audit_log SYNC")


def test_rotated_leftovers_only_with_the_flag(engine_url: str, engine: EmbeddedAdapter) -> None:
    engine.execute(
        "CREATE TABLE IF NOT EXISTS system.query_log_7 (event_date Date, query String) "
        "ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) ORDER BY event_date"
    )
    try:
        engine.execute("INSERT INTO system.query_log_7 SELECT {d:Date}, 'x'", {"d": days_ago(300).isoformat()})
        with Store.from_url(engine_url) as store:
            tables = SystemTables(store.adapter)
            assert any(t.name == "query_log_7" and t.rotated for t in tables.report())
            report = tables.prune(30, set_ttl=False, dry_run=True)
            assert "query_log_7" not in {a.table for a in report.actions}
            with pytest.raises(ConfigError, match="--include-rotated"):
                tables.prune(30, ["query_log_7"])
            tables.prune(30, ["query_log_7"], include_rotated=True, set_ttl=False)
        assert engine.query("SELECT count() FROM system.query_log_7").scalar() == 0
    finally:
        engine.execute("DROP TABLE IF EXISTS system.query_log_7 SYNC")


LOADER = textwrap.dedent(
    """
    import json, sys, chdb
    conn = chdb.connect(f"file:{sys.argv[1]}?config-file={sys.argv[2]}")
    conn.query("SELECT 1 SETTINGS opentelemetry_start_trace_probability = 1")
    conn.query("CREATE TABLE IF NOT EXISTS default.t (x UInt8) ENGINE = MergeTree ORDER BY x")
    conn.query("INSERT INTO default.t VALUES (1)")
    conn.query("SYSTEM FLUSH LOGS")
    rows = conn.query(
        "SELECT name, engine_full FROM system.tables WHERE database = 'system' AND name IN "
        "('query_log', 'part_log', 'opentelemetry_span_log')", "JSONEachRow").bytes().decode().splitlines()
    print(json.dumps({json.loads(r)["name"]: json.loads(r)["engine_full"] for r in rows}))
    """
)


def test_rendered_config_gives_log_tables_its_ttl(tmp_path: Path) -> None:
    text = render_config(7, ["query_log", "part_log", "opentelemetry_span_log"])
    ET.fromstring(text)  # well-formed
    assert "<ttl>" not in text.split("<opentelemetry_span_log>")[1].split("</opentelemetry_span_log>")[0]
    config = tmp_path / "logs.xml"
    config.write_text(text)
    result = subprocess.run(
        [sys.executable, "-c", LOADER, str(tmp_path / "db"), str(config)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    engines = json.loads(result.stdout.strip().splitlines()[-1])
    assert "TTL event_date + toIntervalDay(7)" in engines["query_log"]
    assert "TTL event_date + toIntervalDay(7)" in engines["part_log"]
    assert "TTL finish_date + toIntervalDay(7)" in engines["opentelemetry_span_log"]


def test_render_config_cli_follows_the_server_and_validates(engine_url: str, tmp_path: Path) -> None:
    out = tmp_path / "x.xml"
    result = CliRunner().invoke(
        main, ["--url", engine_url, "system-tables", "render-config", "--keep-days", "9", "--output", str(out)]
    )
    assert result.exit_code == 0
    sections = {child.tag for child in ET.fromstring(out.read_text())}
    assert {"query_log", "part_log", "opentelemetry_span_log"} <= sections
    assert "trace_log" not in sections, "a log the server does not have is not switched on"
    bad = CliRunner().invoke(main, ["system-tables", "render-config", "--offline", "--keep-days", "-1"])
    assert bad.exit_code == 2 and "between 1 and 10,000" in bad.output
    assert RESTART_WARNING.startswith("a TTL set with ALTER")


@pytest.mark.parametrize(
    "args",
    [
        ["system-tables", "render-config", "--offline", "--keep-days", "9"],
        ["profiles", "render-xml"],
    ],
)
def test_output_into_a_missing_folder_is_one_clear_line(engine_url: str, tmp_path: Path, args: list[str]) -> None:
    """``--output /etc/clickhouse-server/...`` (the --help examples) on a machine without that folder printed a
    Python traceback."""
    out = tmp_path / "no" / "such" / "folder" / "x.xml"
    result = CliRunner().invoke(main, ["--url", engine_url, *args, "--output", str(out)])
    assert result.exit_code == 2, result.output
    assert "does not exist" in result.output and "mkdir -p" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not out.parent.exists()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    result = CliRunner().invoke(main, ["--url", engine_url, *args, "--output", str(a_file / "x.xml")])
    assert result.exit_code == 2 and "is a file, not a folder" in result.output, result.output
