"""The opik-store command line, in-process (CliRunner) and as the installed script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from support import table_names

from opik_store.cli import main
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.resources import data_dir


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        out.append((*prefix, name))
        if isinstance(command, click.Group):
            out += _commands(command, (*prefix, name))
    return out


COMMANDS = _commands(main)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_explains_itself_with_an_example(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output, f"{' '.join(command)} --help has no example"


def test_command_list_is_complete() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"migrate", "check", "stamp", "unlock", "retention apply", "system-tables prune", "jobs run",
            "scheduler", "profiles plan"} <= names  # fmt: skip


def test_ddl_runs_with_the_configured_settings(engine_url: str, engine: EmbeddedAdapter, database: str) -> None:
    marker = f"opik-store-ddl-{database}"
    result = CliRunner().invoke(
        main, ["--url", engine_url, "--database", database, "--setting", f"log_comment={marker}", "migrate"]
    )
    assert result.exit_code == 0, result.output
    engine.execute("SYSTEM FLUSH LOGS")
    rows = engine.query(
        "SELECT query_kind, Settings['alter_sync'] FROM system.query_log WHERE log_comment = {m:String} "
        "AND type = 'QueryFinish' AND query LIKE 'CREATE TABLE%'",
        {"m": marker},
    ).rows
    assert len(rows) >= 5, rows  # ledger, retention_rules, traces, spans, ...
    assert all(kind == "Create" and sync == "1" for kind, sync in rows), rows


def test_top_level_help_names_environment_variables() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for var in ("OPIK_STORE_URL", "OPIK_STORE_DATABASE", "OPIK_STORE_CLUSTER"):
        assert var in result.output


def test_sql_prints_cluster_statements_without_connecting(engine: EmbeddedAdapter) -> None:
    # a URL nobody listens on proves no connection is made
    result = CliRunner().invoke(
        main, ["--url", "clickhouse://u:pw@127.0.0.1:1/", "--cluster", "opik", "migrate", "--sql"]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', "
        "last_updated_at, is_deleted)" in out
    )
    assert "CREATE TABLE IF NOT EXISTS `opik`.`spans` ON CLUSTER 'opik'" in out
    assert "CREATE DATABASE IF NOT EXISTS `opik` ON CLUSTER 'opik'" in out
    statements = [s.strip() for s in out.split(";\n") if s.strip() and not s.strip().startswith("--")]
    for chunk in statements:
        sql = "\n".join(line for line in chunk.splitlines() if not line.startswith("--"))
        assert engine.query("SELECT formatQuery({q:String})", {"q": sql}).scalar()


def test_sql_range_and_json() -> None:
    result = CliRunner().invoke(main, ["--url", "chdb:///nonexistent", "migrate", "--sql", "--from", "0001"])
    out = result.output
    assert result.exit_code == 0 and "MODIFY SETTING" in out
    assert not any(line.startswith("CREATE TABLE") for line in out.splitlines()), "0001 is not in the range"
    assert "-- opik-store: relayout traces" in out, "0004's re-layout shows as comments only"
    result = CliRunner().invoke(main, ["--url", "chdb:///nonexistent", "migrate", "--sql", "--json"])
    data = json.loads(result.stdout)
    assert [r["revision"] for r in data["revisions"]] == ["0001", "0002", "0003", "0004"]
    assert not Path("/nonexistent").exists()


def test_migrate_status_history_downgrade(engine_url: str, engine: EmbeddedAdapter, database: str) -> None:
    base = ["--url", engine_url, "--database", database]
    run = CliRunner().invoke
    result = run(main, [*base, "migrate", "--dry-run"])
    assert result.exit_code == 0 and "would apply 4 revision(s)" in result.output
    assert table_names(engine, database) == set()

    result = run(main, [*base, "migrate"])
    assert result.exit_code == 0 and "applied 0001, 0002, 0003, 0004" in result.output
    result = run(main, [*base, "migrate"])
    assert result.exit_code == 0 and "up to date at 0004; nothing to apply" in result.output

    status = json.loads(run(main, [*base, "status", "--json"]).stdout)
    assert status["current"] == ["0004"] and status["pending"] == [] and status["up_to_date"]
    history = json.loads(run(main, [*base, "history", "--json"]).stdout)
    assert [h["state"] for h in history] == ["started", "applied"] * 4
    assert "applied" in run(main, [*base, "history"]).output

    result = run(main, [*base, "downgrade", "base"])
    assert result.exit_code == 2 and "--yes" in result.output
    assert {"traces", "spans"} <= table_names(engine, database)
    result = run(main, [*base, "downgrade", "base", "--yes"])
    assert result.exit_code == 0 and "reverted 0004, 0003, 0002, 0001" in result.output
    assert "traces" not in table_names(engine, database)


def test_bad_input_exits_2_with_a_clear_message() -> None:
    result = CliRunner().invoke(main, ["--url", "ftp://x", "status"])
    assert result.exit_code == 2 and "unsupported URL scheme" in result.output
    result = CliRunner().invoke(main, ["--url", "chdb:///x", "--setting", "novalue", "migrate", "--sql"])
    assert result.exit_code == 2 and "expected name=value" in result.output


def test_revision_creates_a_numbered_script_that_runs(
    migrations_copy: Path, engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    run = CliRunner().invoke
    result = run(main, ["--migrations-dir", str(migrations_copy), "revision", "-m", "add note to traces"])
    assert result.exit_code == 0, result.output
    created = Path(result.output.split("created ", 1)[1].strip())
    assert created.parent == migrations_copy / "versions" and created.name.startswith("0005_add_note_to_traces")
    text = created.read_text()
    assert "revision = '0005'" in text and "down_revision = '0004'" in text
    created.write_text(
        text.replace('# "ALTER TABLE traces ADD', '"ALTER TABLE traces ADD').replace(
            '# "ALTER TABLE traces DROP', '"ALTER TABLE traces DROP'
        )
    )
    base = ["--url", engine_url, "--database", database, "--migrations-dir", str(migrations_copy)]
    result = run(main, [*base, "migrate"])
    assert result.exit_code == 0 and "applied 0001, 0002, 0003, 0004, 0005" in result.output
    cols = engine.query(
        "SELECT name FROM system.columns WHERE database = {d:String} AND table = 'traces' AND name = 'example'",
        {"d": database},
    ).rows
    assert cols == [("example",)]


def test_the_migrations_folder_is_remembered_in_the_ledger_or_said_exactly(
    migrations_copy: Path, engine_url: str, engine: EmbeddedAdapter, database: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """--migrations-dir had to be repeated on every command: without it migrate said "migrated by a newer
    version" and check always reported drift (it compared with the shipped ddl/)."""
    from support import write_revision

    write_revision(migrations_copy, "0005", "0004", ["ALTER TABLE traces ADD COLUMN note String DEFAULT ''"],
                   ["ALTER TABLE traces DROP COLUMN note"])  # fmt: skip
    run = CliRunner().invoke
    monkeypatch.chdir(tmp_path)
    base = ["--url", engine_url, "--database", database]
    assert run(main, [*base, "--migrations-dir", str(migrations_copy), "migrate"]).exit_code == 0
    # later commands name no folder: the ledger's is used
    status = run(main, [*base, "status"])
    assert status.exit_code == 0 and "pending:   none" in status.output, status.output
    assert f"revisions: {migrations_copy.resolve()} (recorded in the ledger)" in status.output, status.output
    assert run(main, [*base, "migrate"]).exit_code == 0
    check = run(main, [*base, "check"])
    assert check.exit_code == 0 and "matches head" in check.output, check.output
    doc = json.loads(run(main, [*base, "status", "--json"]).stdout)
    assert doc["revisions"] == {"folder": str(migrations_copy.resolve()), "recorded_in_ledger": True}, doc
    # the configuration file names it (relative to the file), and so does the environment
    moved = tmp_path / "elsewhere"
    migrations_copy.rename(moved)
    missing = run(main, [*base, "migrate"])
    assert missing.exit_code == 2 and str(migrations_copy.resolve()) in missing.output, missing.output
    assert "its ledger records the folder" in missing.output and "--migrations-dir" in missing.output
    (tmp_path / "opik-store.toml").write_text('[migrations]\ndir = "elsewhere"\n')
    assert run(main, [*base, "migrate"]).exit_code == 0
    (tmp_path / "opik-store.toml").unlink()
    monkeypatch.setenv("OPIK_STORE_MIGRATIONS_DIR", str(moved))
    assert run(main, [*base, "check"]).exit_code == 0
    monkeypatch.delenv("OPIK_STORE_MIGRATIONS_DIR")
    # a folder named that lacks what the ledger applied: what differs, exactly (the folder that applied it)
    shipped = run(main, [*base, "--migrations-dir", str(data_dir("migrations")), "migrate"])
    assert shipped.exit_code == 2 and "revision(s) 0005 that" in shipped.output, shipped.output
    assert str(migrations_copy.resolve()) in shipped.output
    assert "newer version" not in shipped.output


@pytest.mark.parametrize("message", ["handle \\N", 'a """ b', "ends with \\", "tab\there", "\\u12 and \\x"])
def test_revision_with_any_message_writes_a_script_python_reads(migrations_copy: Path, message: str) -> None:
    """``-m 'handle \\N'`` wrote a script Python could not read (the message is its docstring)."""
    import ast

    from opik_store.migrations.revisions import RevisionSet

    result = CliRunner().invoke(main, ["--migrations-dir", str(migrations_copy), "revision", "-m", message])
    assert result.exit_code == 0, result.output
    created = Path(result.output.split("created ", 1)[1].strip())
    doc = ast.get_docstring(ast.parse(created.read_text()))
    assert doc is not None and doc.startswith(message.strip().expandtabs()), doc
    assert "0005" in [r.id for r in RevisionSet(migrations_copy)._ordered]


def test_installed_script_runs_the_readme_command(tmp_path: Path) -> None:
    """`opik-store migrate` in an empty folder creates opik.traces/spans in ./.opik-store; again applies nothing."""
    script = Path(sys.executable).parent / "opik-store"
    if not script.exists():
        pytest.fail(f"the console script {script} is not installed: install the package (README)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    first = subprocess.run([str(script), "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "database 'opik'" in first.stdout and "applied 0001, 0002, 0003, 0004" in first.stdout
    assert (tmp_path / ".opik-store").is_dir()
    second = subprocess.run(
        [str(script), "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0 and "nothing to apply" in second.stdout
    tables = subprocess.run(
        [
            sys.executable,
            "-c",
            "import chdb; c = chdb.connect('file:.opik-store'); "
            "q = \"SELECT name FROM system.tables WHERE database='opik' AND name NOT LIKE 'opik_store_lock%' "
            'ORDER BY name"; '
            "print(c.query(q, 'CSV').bytes().decode())",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tables.stdout.split() == [
        '"opik_store_ledger"',
        '"opik_store_relayout"',
        '"retention"',
        '"retention_rules"',
        '"spans"',
        '"traces"',
    ]


@pytest.mark.parametrize(
    "url",
    [
        "clickhouse://my user:Secret1@127.0.0.1:99999/",  # a user with a space, a port out of range
        "clickhouse://a@b:Secret1@127.0.0.1:99999/",  # a user holding @
        "clickhouse://a/b:Secret1@127.0.0.1:99999/",  # a user holding /
        "clickhouse://u:Sec\nret1@127.0.0.1:99999/",  # a password holding a newline
        "clickhouse:u:Secret1@127.0.0.1:99999/",  # no //
        "clickhouse://u:Secret1@127.0.0.1:9000/?nope=1",  # an unknown parameter
        "clickhoose://u:Secret1@127.0.0.1:9000/",  # an unknown scheme
    ],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_an_invalid_url_never_prints_its_password(url: str, as_json: bool) -> None:
    """Issue 21 item 2: the masking knew only well-formed URLs. One clear line, exit 2, no password."""
    args = ["--url", url, "status", *(["--json"] if as_json else [])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    for secret in ("Secret1", "Sec\nret1", "Sec", "ret1"):
        assert secret not in result.stdout and secret not in result.stderr, (secret, result.output)
    assert "***" in result.output
