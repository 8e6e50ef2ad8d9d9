"""Operator experience (issue 9): global options on both sides, the target always shown and never created
by a read-only command, reserved and empty names refused, errors as one line (JSON under --json)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from opik_store.cli import main
from opik_store.cli.common import GLOBAL_OPTIONS
from opik_store.engine.embedded import EmbeddedAdapter


def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _leaf_commands(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


def _invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env)


@pytest.fixture(autouse=True)
def _no_target_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts in an empty folder with no OPIK_STORE_* variable set."""
    for name in [v for v in os.environ if v.startswith("OPIK_STORE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


# -- 1. global options before and after the subcommand ---------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["migrate", "--sql", "--cluster", "opik"],
        ["--cluster", "opik", "migrate", "--sql"],
        ["--cluster", "other", "migrate", "--sql", "--cluster", "opik"],  # after the command wins
    ],
    ids=["after", "before", "after-wins"],
)
def test_global_options_on_either_side_of_the_command(args: list[str]) -> None:
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    assert "CREATE DATABASE IF NOT EXISTS `opik` ON CLUSTER 'opik'" in result.stdout
    assert "'other'" not in result.stdout


def test_option_after_the_command_beats_the_environment() -> None:
    result = _invoke(["migrate", "--sql", "--database", "mine"], env={"OPIK_STORE_DATABASE": "fromenv"})
    assert result.exit_code == 0 and "CREATE DATABASE IF NOT EXISTS `mine`" in result.stdout
    result = _invoke(["migrate", "--sql"], env={"OPIK_STORE_DATABASE": "fromenv"})
    assert result.exit_code == 0 and "CREATE DATABASE IF NOT EXISTS `fromenv`" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "prod.toml", "jobs", "list"],
        ["jobs", "list", "--config", "prod.toml"],
        ["jobs", "--config", "prod.toml", "list"],
    ],
    ids=["before", "after", "between"],
)
def test_config_option_on_either_side(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "prod.toml").write_text('[jobs.apply-retention]\nschedule = "5 4 * * 2"\n')
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    assert "5 4 * * 2" in result.stdout


def test_settings_from_both_sides_are_combined() -> None:
    result = _invoke(["--setting", "bad", "migrate", "--sql", "--setting", "a=1"])
    assert result.exit_code == 2 and "invalid setting 'bad'" in result.output


@pytest.mark.parametrize("command", _leaf_commands(main), ids=" ".join)
def test_every_command_accepts_every_global_option(command: tuple[str, ...]) -> None:
    leaf: click.Command = main
    for name in command:
        assert isinstance(leaf, click.Group)
        leaf = leaf.commands[name]
    flags = {flag for param in leaf.params for flag in getattr(param, "opts", [])}
    assert {spec.flags[0] for spec in GLOBAL_OPTIONS} <= flags


# -- 3. reserved and empty names ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["system", "default", "INFORMATION_SCHEMA", "information_schema", "System"])
def test_reserved_databases_are_refused(name: str) -> None:
    for args in (["--database", name, "migrate"], ["migrate", "--database", name], ["status", "--database", name]):
        result = _invoke(args)
        assert result.exit_code == 2, result.output
        assert f"database name {name!r} is reserved" in result.stderr
    assert not Path(".opik-store").exists()


@pytest.mark.parametrize("flag", ["--database", "--cluster"])
def test_empty_names_are_refused(flag: str) -> None:
    for args in ([flag, "", "migrate"], ["migrate", "--sql", flag, ""]):
        result = _invoke(args)
        assert result.exit_code == 2, result.output
        assert f"{flag[2:]} name must not be empty" in result.stderr
    assert not Path(".opik-store").exists()


# -- 3. read-only commands never create a target --------------------------------------------------

READ_ONLY = [
    ["status"],
    ["history"],
    ["unlock"],
    ["check"],
    ["jobs", "history"],
    ["system-tables", "report"],
    ["retention", "plan"],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_read_only_commands_do_not_create_the_embedded_directory(command: list[str]) -> None:
    result = _invoke(command)
    assert result.exit_code == 5, result.output
    assert "no embedded database at" in result.stderr and "nothing was created" in result.stderr
    assert not Path(".opik-store").exists()
    assert result.stdout == ""


@pytest.mark.parametrize("command", [c for c in READ_ONLY if c != ["system-tables", "report"]], ids=" ".join)
def test_read_only_commands_do_not_create_the_database(
    command: list[str], engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    result = _invoke(["--url", engine_url, *command, "--database", database])
    assert result.exit_code == 5, result.output
    assert f"database {database!r} does not exist" in result.stderr
    assert not engine.query("SELECT count() FROM system.databases WHERE name = {d:String}", {"d": database}).scalar()


def test_missing_database_under_json_is_a_json_error(engine_url: str, database: str) -> None:
    result = _invoke(["--url", engine_url, "--database", database, "status", "--json"])
    assert result.exit_code == 5
    data = json.loads(result.stdout)
    assert data["exit_code"] == 5 and f"database {database!r} does not exist" in data["error"]


def test_system_tables_report_reads_an_existing_engine_without_a_database(engine_url: str, database: str) -> None:
    result = _invoke(["--url", engine_url, "--database", database, "system-tables", "report", "--json"])
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout), list)


# -- 3. the target is always printed --------------------------------------------------------------


def test_every_command_that_connects_prints_its_target(engine_url: str, database: str) -> None:
    base = ["--url", "clickhouse://ops:s3cret@127.0.0.1:1/", "--cluster", "opik"]
    result = _invoke([*base, "--database", database, "migrate", "--sql"])
    assert f"target: database {database!r} on clickhouse://ops:***@127.0.0.1:1/ (cluster 'opik')" in result.stderr
    assert "s3cret" not in result.output
    assert _invoke(["--url", engine_url, "--database", database, "migrate"]).exit_code == 0
    for command in (["status"], ["history"], ["check"], ["unlock"], ["jobs", "history"], ["retention", "plan"]):
        result = _invoke([*command, "--url", engine_url, "--database", database, "--json"])
        assert result.exit_code == 0, (command, result.output)
        assert f"target: database {database!r} on chdb://" in result.stderr, command
        json.loads(result.stdout)  # stdout stays pure JSON


# -- 4. writes in the wrong place -----------------------------------------------------------------


def _shipped_scripts() -> set[str]:
    from opik_store.resources import data_dir

    return {p.name for p in (data_dir("migrations") / "versions").iterdir()}


def test_revision_without_a_folder_is_refused() -> None:
    before = _shipped_scripts()
    result = _invoke(["revision", "-m", "oops"])
    assert result.exit_code == 2 and "--migrations-dir" in result.stderr, result.output
    assert _shipped_scripts() == before


def test_revision_into_the_installed_package_is_refused() -> None:
    from opik_store.resources import data_dir, is_shipped

    if not is_shipped(data_dir("migrations")):  # CI installs the wheel: this runs there
        pytest.skip("an editable install: the shipped migrations are the checkout's own folder, written on purpose")
    before = _shipped_scripts()
    result = _invoke(["--migrations-dir", str(data_dir("migrations")), "revision", "-m", "oops"])
    assert result.exit_code == 2 and "shipped inside the installed opik-store package" in result.stderr
    assert _shipped_scripts() == before


@pytest.mark.parametrize("rev_id", ["../../x", "a/b", "..", "a b", "x.py", ""])
def test_revision_id_must_be_plain(rev_id: str, migrations_copy: Path, tmp_path: Path) -> None:
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = _invoke(["revision", "--migrations-dir", str(migrations_copy), "-m", "x", "--rev-id", rev_id])
    assert result.exit_code == 2 and "must be 1-64 letters, digits or underscores" in result.stderr, result.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_migrate_from_without_sql_is_refused(engine_url: str, engine: EmbeddedAdapter, database: str) -> None:
    result = _invoke(["--url", engine_url, "--database", database, "migrate", "--from", "0001"])
    assert result.exit_code == 2 and "--from only applies with --sql" in result.stderr
    assert not engine.query("SELECT count() FROM system.databases WHERE name = {d:String}", {"d": database}).scalar()


# -- 5. cron weekdays as crontab numbers them; impossible dates refused ---------------------------

WEEK = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("0-7", WEEK),  # was: Sundays only
        ("0-6", WEEK),  # was: refused
        ("*", WEEK),
        ("1-5", WEEK[1:6]),
        ("0", ["Sunday"]),
        ("7", ["Sunday"]),
        ("5-7", ["Sunday", "Friday", "Saturday"]),
        ("*/2", ["Sunday", "Tuesday", "Thursday", "Saturday"]),
        ("1-5/2", ["Monday", "Wednesday", "Friday"]),
        ("mon-fri", WEEK[1:6]),
        ("sat,0", ["Sunday", "Saturday"]),
        ("6/1", ["Sunday", "Saturday"]),  # crontab: 6 through 7
    ],
)
def test_cron_weekdays_fire_on_crontab_days(field: str, days: list[str]) -> None:
    from datetime import UTC, datetime, timedelta

    from opik_store.maintenance.cron import cron_trigger

    trigger = cron_trigger(f"0 3 * * {field}")
    start = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)  # a Sunday
    fired: set[str] = set()
    when = trigger.get_next_fire_time(None, start)
    while when is not None and when < start + timedelta(days=7):
        fired.add(when.strftime("%A"))
        when = trigger.get_next_fire_time(when, when + timedelta(seconds=1))
    assert sorted(fired, key=WEEK.index) == sorted(days, key=WEEK.index)


@pytest.mark.parametrize("schedule", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 11 *"])
def test_a_schedule_that_never_fires_is_refused_in_one_line(schedule: str, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(f'[jobs.apply-retention]\nschedule = "{schedule}"\n')
    result = _invoke(["--config", "c.toml", "jobs", "list"])
    assert result.exit_code == 2 and "never fires" in result.stderr and "Traceback" not in result.output


# -- 5. malformed configuration: every problem at once, never a traceback -------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("retention = 5", "[retention]: must be a table"),
        ("jobs = 3", "[jobs]: must be a table"),
        ("system_tables = []", "[system_tables]: must be a table"),
        ("[retention]\nclasses = 3", "[retention.classes]: must be a table"),
        ('[retention]\nworkspaces = "x"', "[retention.workspaces]: must be an array of tables"),
        ("[retention]\nworkspaces = [1]", "[retention.workspaces]: must be an array of tables"),
        ("[retention]\nprojects = {a = 1}", "[retention.projects]: must be an array of tables"),
        ("[jobs]\napply-retention = 5", "[jobs.apply-retention]: must be a table"),
        ("[system_tables]\ntables = [1]", "tables[] must be a non-empty string"),
        ('[[retention.workspaces]]\nworkspace = "a"\nclass = 3', "unknown class 3"),
    ],
)
def test_malformed_configuration_is_one_clear_error(text: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(text + "\n")
    result = _invoke(["jobs", "list", "--config", "c.toml"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: c.toml: ") and message in result.stderr
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_non_utf8_configuration_is_named(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_bytes(b"\xff\xfe[retention]\n")
    result = _invoke(["--config", "c.toml", "jobs", "list", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "error": "c.toml: not UTF-8 text (byte 0): TOML files are UTF-8",
        "exit_code": 2,
    }


def test_configuration_lists_every_problem_at_once(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        '[retention]\ndefault_days = "x"\n[system_tables]\nkeep_days = 0\n'
        '[jobs.apply-retention]\nschedule = "0 0 31 2 *"\n[jobs.vacuum]\n'
    )
    result = _invoke(["--config", "c.toml", "jobs", "list"])
    assert result.exit_code == 2
    for problem in (
        "default_days must be a whole number",
        "keep_days must be at least 1",
        "never fires",
        "unknown job",
    ):
        assert problem in result.stderr, problem


# -- 5. hostile passwords never leak; unreachable hosts and bad paths are one line ----------------

HOSTILE = ["Zq1@Zq2#Zq3/Zq4?Zq5 Zq6", "Zq1 Zq2", "Zq1/Zq2@Zq3", "Zq1%Zq2:Zq3", "Zq1?Zq2#Zq3@"]
FAILING = [
    ["status"],
    ["migrate"],
    ["check", "--json"],
    ["unlock"],
    ["jobs", "run", "apply-retention"],
    ["retention", "plan", "--json"],
    ["system-tables", "report"],
    ["profiles", "plan"],
]


@pytest.mark.parametrize("password", HOSTILE)
def test_hostile_passwords_never_appear(password: str) -> None:
    urls = [
        f"clickhouse://ops:{password}@127.0.0.1:1/",  # nobody listens: connection refused
        f"clickhouse://ops:{password}@127.0.0.1:notaport/",
        f"clickhouse://ops:{password}@127.0.0.1:9000/?compress=1",
        f"clickhouse://ops:{password}@/",
    ]
    for url in urls:
        for command in FAILING:
            result = _invoke(["--url", url, "--retries", "1", *command])
            assert result.exit_code in (1, 2), (url, command, result.output)
            assert "Zq" not in result.output, (url, command, result.output)
            assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
            lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
            assert len(lines) == (0 if "--json" in command else 1), result.output
            if "--json" in command:
                assert set(json.loads(result.stdout)) == {"error", "exit_code"}


def test_unreachable_host_is_one_line_without_the_drivers_traceback() -> None:
    script = Path(sys.executable).parent / "opik-store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    done = subprocess.run(
        [str(script), "--url", "clickhouse://ops:Zq9@127.0.0.1:1/", "--retries", "1", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Zq9" not in done.stderr, done.stderr
    assert [line for line in done.stderr.splitlines() if not line.startswith("target:")] == [
        "error: ClickHouse error 210: clickhouse://ops:***@127.0.0.1:1/: Code: 210. Connection refused (127.0.0.1:1)"
    ]
    verbose = subprocess.run(
        [str(script), "--url", "clickhouse://ops:Zq9@127.0.0.1:1/", "--retries", "1", "status", "-v"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verbose.returncode == 1 and "clickhouse_driver" in verbose.stderr and "Zq9" not in verbose.stderr


@pytest.mark.parametrize("path", ["/proc/nope/x", "/dev/null", "/etc/hostname/x"])
def test_an_unusable_embedded_path_is_one_line(path: str) -> None:
    result = _invoke(["--url", f"chdb://{path}", "migrate"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"error: cannot use {path} as the embedded database folder" in result.stderr


# -- 6. a no-op migrate takes no lock and writes nothing -------------------------------------------


def test_up_to_date_migrate_takes_no_lock_and_writes_nothing(
    engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    from datetime import UTC, datetime

    from opik_store.store import Store

    with Store.from_url(engine_url, database=database) as store:
        store.migrate()
    tables_before = engine.query(
        "SELECT name FROM system.tables WHERE database = {d:String} ORDER BY name", {"d": database}
    ).rows
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with Store.from_url(engine_url, database=database) as store:
        assert store.migrate().steps == []
        assert len(store.history()) == 8  # started + applied of 0001-0004, from the first run only
    engine.execute("SYSTEM FLUSH LOGS")
    cli_since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    result = _invoke(["--url", engine_url, "--database", database, "migrate"])
    assert result.exit_code == 0 and "up to date at 0004; nothing to apply" in result.stdout
    engine.execute("SYSTEM FLUSH LOGS")
    reads = engine.query(
        "SELECT query FROM system.query_log WHERE type = 'QueryFinish' AND position(query, {d:String}) > 0 "
        "AND event_time_microseconds >= toDateTime64({t:String}, 6, 'UTC') AND query NOT LIKE '%query_log%'",
        {"d": database, "t": cli_since},
    ).rows
    # which revisions: the ledger's columns and the folder its newest row records (the rows it holds too, so
    # nothing else is asked about what the database is); the layout matches the topology; the ledger's columns
    # and rows (the status)
    assert len(reads) == 5, reads
    writes = engine.query(
        "SELECT query_kind, query FROM system.query_log WHERE has(databases, {d:String}) "
        "AND event_time_microseconds >= toDateTime64({t:String}, 6, 'UTC') AND type = 'QueryFinish' "
        "AND query_kind NOT IN ('Select', 'Set', 'Show', 'Describe', 'Explain', 'System')",
        {"d": database, "t": since},
    ).rows
    assert writes == [], writes
    tables_after = engine.query(
        "SELECT name FROM system.tables WHERE database = {d:String} ORDER BY name", {"d": database}
    ).rows
    assert tables_after == tables_before  # no new lock generation


def test_migrate_with_something_to_do_still_takes_the_lock(
    engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    result = _invoke(["--url", engine_url, "--database", database, "migrate"])
    assert result.exit_code == 0 and "applied 0001" in result.stdout
    locks = engine.query(
        "SELECT count() FROM system.tables WHERE database = {d:String} AND name LIKE 'opik_store_lock%'",
        {"d": database},
    ).scalar()
    assert locks >= 1


# -- 6. deployment files make the target explicit ------------------------------------------------

JOBS_DIR = Path(__file__).resolve().parents[1] / "jobs"


def _cron_commands() -> list[str]:
    lines = [line for line in (JOBS_DIR / "crontab").read_text().splitlines() if line[:1].isdigit()]
    return [line.split(None, 5)[5] for line in lines]


def _run_cron_command(command: str, env_file: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run a crontab command the way cron does (sh, a bare environment), with a stand-in opik-store."""
    command = command.replace("/etc/opik-store/env", str(env_file)).replace("/var/log/opik-store.log", "/dev/stdout")
    return subprocess.run(
        ["/bin/sh", "-c", command],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_crontab_exports_the_env_file_and_stops_without_a_url(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "opik-store"
    fake.write_text('#!/bin/sh\necho "url=$OPIK_STORE_URL db=$OPIK_STORE_DATABASE args=$*"\n')
    fake.chmod(0o755)
    env_file = tmp_path / "env"
    env_file.write_text("OPIK_STORE_URL=clickhouse://ops:pw@ch:9000/\nOPIK_STORE_DATABASE=opik_prod\n")
    from opik_store.scheduling.jobs import BUILTIN_JOBS

    commands = _cron_commands()
    assert len(commands) == len(BUILTIN_JOBS)
    for command in commands:
        done = _run_cron_command(command, env_file, bin_dir)
        assert done.returncode == 0, done.stderr
        assert "url=clickhouse://ops:pw@ch:9000/ db=opik_prod args=jobs run " in done.stdout
    # the old form (`. file && opik-store ...`) sets the variables without exporting them: this test catches it
    old = commands[0].replace("set -a && ", "").replace("set +a && ", "")
    assert "url= db=" in _run_cron_command(old, env_file, bin_dir).stdout
    env_file.write_text("OPIK_STORE_DATABASE=opik_prod\n")
    missing = _run_cron_command(commands[0], env_file, bin_dir)
    assert missing.returncode != 0 and "OPIK_STORE_URL" in missing.stderr and "url=" not in missing.stdout


def test_systemd_and_kubernetes_load_the_same_keys() -> None:
    for service in sorted((JOBS_DIR / "systemd").glob("*.service")):
        assert "EnvironmentFile=/etc/opik-store/env" in service.read_text()  # plain KEY=VALUE lines
    k8s = (JOBS_DIR / "kubernetes" / "cronjobs.yaml").read_text()
    from opik_store.scheduling.jobs import BUILTIN_JOBS

    assert k8s.count("secretRef:") == len(BUILTIN_JOBS) and "name: opik-store\n" in k8s


def test_jobs_never_create_a_database(engine_url: str, engine: EmbeddedAdapter, database: str) -> None:
    result = _invoke(["--url", engine_url, "--database", database, "jobs", "run", "apply-retention"])
    assert result.exit_code == 5 and f"database {database!r} does not exist" in result.stderr
    result = _invoke(["jobs", "run", "prune-system-tables"])  # no URL: the embedded default is not created
    assert result.exit_code == 5 and not Path(".opik-store").exists()
    result = _invoke(["scheduler"])
    assert result.exit_code == 5 and not Path(".opik-store").exists()
    assert not engine.query("SELECT count() FROM system.databases WHERE name = {d:String}", {"d": database}).scalar()


# -- 5. --json everywhere: results, opik-store errors and click's own usage errors ----------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "--json", "--bogus"], "No such option '--bogus'"),
        (["history", "--json", "--limit", "x"], "Invalid value for '--limit'"),
        (["stamp", "--json"], "Missing argument 'REVISION'"),
    ],
)
def test_usage_errors_under_json_are_json(args: list[str], message: str) -> None:
    result = _invoke(args)
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["exit_code"] == 2 and message in data["error"]


def test_unlock_json(engine_url: str, database: str) -> None:
    from test_lock import _held_lock

    from opik_store.store import Store

    base = ["--url", engine_url, "--database", database]
    with Store.from_url(engine_url, database=database) as store:
        _held_lock(store, lease=600).abandon()
    held = _invoke([*base, "unlock", "--json"])
    assert held.exit_code == 2
    data = json.loads(held.stdout)
    assert data["held"] is True and data["released"] is False and "pid" in data["holder"]
    released = json.loads(_invoke([*base, "unlock", "--force", "--json"]).stdout)
    assert released["held"] is True and released["released"] is True
    free = _invoke([*base, "unlock", "--json"])
    expected = {"held": False, "holder": None, "released": False, "holder_dead": False}
    assert free.exit_code == 0 and json.loads(free.stdout) == expected


def test_profiles_check_json(tmp_path: Path, engine_url: str) -> None:
    (tmp_path / "access.toml").write_text(
        '[users.opik_app]\npassword_sha256 = "' + "ab" * 32 + '"\nroles = ["opik_backend"]\n'
    )
    result = _invoke(["--url", engine_url, "profiles", "check", "--profiles", "access.toml", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and "opik_read" in data["profiles"]
    assert data["users"] == {"opik_app": {"password_from": "sha256 given", "roles": ["opik_backend"]}}
    (tmp_path / "access.toml").write_text('[users.opik_backend]\npassword_sha256 = "zz"\n')
    bad = _invoke(["--url", engine_url, "profiles", "check", "--profiles", "access.toml", "--json"])
    assert bad.exit_code == 2
    error = json.loads(bad.stdout)["error"]
    assert "cannot share the name 'opik_backend'" in error and "64 hex digits" in error  # every problem at once


def test_server_errors_carry_a_hint(engine_url: str, engine: EmbeddedAdapter, database: str) -> None:
    result = _invoke(["--url", engine_url, "--database", database, "profiles", "plan"])
    assert result.exit_code == 1 and "access management" in result.stderr, result.output
    engine.execute(f"CREATE DATABASE `{database}`")  # a database opik-store never migrated
    result = _invoke(["--url", engine_url, "--database", database, "retention", "plan"])
    assert result.exit_code == 1 and "has `opik-store migrate` run on this database?" in result.stderr, result.output
    result = _invoke(["--url", engine_url, "--database", database + "_x", "retention", "apply"])
    assert result.exit_code == 5 and "does not exist" in result.stderr


@pytest.mark.parametrize(
    ("text", "messages"),
    [
        ("users = 3", ["[users]: must be a table, got a number"]),
        ("roles = []", ["[roles]: must be a table, got an array"]),
        ('quotas = "x"', ["[quotas]: must be a table, got a string"]),
        ("profiles = 5", ["[profiles]: must be a table, got a number"]),
        ("purposes = 1", ["[purposes]: must be a table"]),
        ("[profiles.opik_read]\nsettings = 4", ["[profiles.opik_read].settings: must be a table"]),
        ('[profiles.p]\nconstraints = 1\ninherit = "x"', ["constraints: must be a table", "inherit must be a list"]),
        ("[quotas.opik_analyst]\nintervals = 5", ["intervals must be an array of tables"]),
        ("[quotas.opik_analyst]\nintervals = [5]", ["interval #1: must be a table"]),
        ("[roles.r]\ngrants = 5\nprofile = 3", ["grants must be a list of strings", "profile must be a profile name"]),
        (
            '[users.bob]\nroles = "x"\nhosts = 5\npassword_file = "missing"',
            [
                "roles must be a list of strings",
                "hosts must be a list of strings",
                "password_file: the file it names does not exist",
            ],
        ),
    ],
)
def test_malformed_access_file_lists_every_problem_without_a_traceback(
    text: str, messages: list[str], tmp_path: Path, engine_url: str
) -> None:
    (tmp_path / "a.toml").write_text(text + "\n")
    result = _invoke(["--url", engine_url, "profiles", "check", "--profiles", "a.toml"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "error: invalid access configuration:" in result.stderr
    for message in messages:
        assert message in result.stderr, (message, result.stderr)


def test_non_utf8_access_file_is_named(tmp_path: Path, engine_url: str) -> None:
    (tmp_path / "a.toml").write_bytes(b"\xff[users]\n")
    result = _invoke(["--url", engine_url, "profiles", "check", "--profiles", "a.toml"])
    assert result.exit_code == 2 and "a.toml: not UTF-8 text" in result.stderr


def test_an_embedded_folder_held_by_another_process_names_the_real_cause(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import chdb, sys, time; c = chdb.connect('file:' + sys.argv[1]); "
         "print('open', flush=True); time.sleep(120)", str(folder)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        script = Path(sys.executable).parent / "opik-store"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
        out = subprocess.run([str(script), "--url", f"chdb:{folder}", "migrate"], env=env, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    finally:
        holder.kill()
        holder.wait(30)
    assert out.returncode == 2, out.stderr
    assert f"is in use by another process (pid {holder.pid})" in out.stderr
    assert "already has another embedded database open" not in out.stderr and "Code: 76" not in out.stderr


def test_a_migrate_that_applies_revisions_checks_the_layout_once(
    engine_url: str, database: str, engine: EmbeddedAdapter
) -> None:
    """The layout check runs before the no-op test (so "up to date" cannot pass a wrong layout) and not again
    under the lock."""
    from datetime import UTC, datetime

    from opik_store.store import Store

    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with Store.from_url(engine_url, database=database) as store:
        assert [s.revision.id for s in store.migrate().steps] == ["0001", "0002", "0003", "0004"]
    engine.execute("SYSTEM FLUSH LOGS")
    checks = engine.query(
        "SELECT count() FROM system.query_log WHERE type = 'QueryFinish' AND position(query, 'spans_local') > 0 "
        "AND position(query, 'system.tables') > 0 AND position(query, {d:String}) > 0 "
        "AND event_time_microseconds >= toDateTime64({t:String}, 6, 'UTC') AND query NOT LIKE '%query_log%'",
        {"d": database, "t": since},
    ).scalar()
    assert checks == 1


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_while_the_command_starts_is_one_line_and_its_exit_code(
    tmp_path: Path, signum: int, code: int
) -> None:
    """Ctrl-C in the first ~0.6 s (the imports) printed Python's traceback: the handlers come first now."""
    script = Path(sys.executable).parent / "opik-store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    outcomes = set()
    # after the interpreter's own start (~50 ms, before any code of ours can run: Python's behaviour there), in
    # the imports (~0.4 s), or on a fast machine just after them
    for delay in (0.2, 0.3, 0.45):
        proc = subprocess.Popen([str(script), "status"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(delay)
        if proc.poll() is not None:  # finished before the signal (a machine faster than this one)
            proc.communicate()
            continue
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == code, (delay, proc.returncode, err)
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("target:")]
        assert len(lines) == 1 and "Traceback" not in err and "interrupted" in lines[0].lower(), (delay, err)
        outcomes.add(lines[0])
    assert outcomes, "every run finished before its signal: nothing was tested"
    assert not (tmp_path / ".opik-store").exists(), "nothing was created"
