"""Named jobs, their run history, the job lease, and the scheduler."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from opik_store import ConfigError, Store
from opik_store.cli import main
from opik_store.maintenance.config_file import FileConfig, JobConfig
from opik_store.maintenance.cron import cron_trigger
from opik_store.scheduling.jobs import JobRunner
from opik_store.scheduling.scheduler import Scheduler


def test_run_builtin_jobs_and_read_their_history(engine_url: str, database: str) -> None:
    base = ["--url", engine_url, "--database", database]
    assert CliRunner().invoke(main, [*base, "migrate"]).exit_code == 0
    dry = CliRunner().invoke(main, [*base, "jobs", "run", "apply-retention", "--dry-run"])
    assert dry.exit_code == 0 and "would add 1 rule(s)" in dry.output
    assert "no job runs" in CliRunner().invoke(main, [*base, "jobs", "history"]).output, "a dry run records nothing"
    for job in ("apply-retention", "prune-system-tables"):
        result = CliRunner().invoke(main, [*base, "jobs", "run", job])
        assert result.exit_code == 0 and f"{job}: succeeded" in result.output, result.output
    history = json.loads(CliRunner().invoke(main, [*base, "jobs", "history", "--json"]).stdout)
    assert [(h["job"], h["state"]) for h in history] == [
        ("apply-retention", "started"), ("apply-retention", "succeeded"),
        ("prune-system-tables", "started"), ("prune-system-tables", "succeeded"),
    ]  # fmt: skip
    assert "added 1 rule(s)" in history[1]["summary"] and history[1]["duration_ms"] is not None
    listing = CliRunner().invoke(main, [*base, "jobs", "list"])
    assert "apply-retention" in listing.output and "17 3 * * *" in listing.output
    unknown = CliRunner().invoke(main, [*base, "jobs", "run", "vacuum"])
    assert unknown.exit_code == 2 and "unknown job 'vacuum'" in unknown.output


def test_a_run_with_nothing_to_do_takes_no_lease_and_issues_no_ddl(engine_url: str, database: str) -> None:
    """The probe decides without the lease: a no-op run records 'nothing to do' and creates no table (so on a
    cluster no distributed DDL: counted on real nodes in test_cluster.py); health never takes a lease."""
    runner = JobRunner(_factory(engine_url, database), FileConfig())
    with Store.from_url(engine_url, database=database) as store:
        store.migrate()
        first = runner.run("apply-retention")
        assert first.state == "succeeded" and "added 1 rule(s)" in first.summary
        tables = _tables(store, database)
        second = runner.run("apply-retention")
        assert (second.state, second.summary) == ("succeeded", "nothing to do")
        assert _tables(store, database) == tables, "a no-op run created or dropped a table"
        assert runner.run("health").state == "succeeded"
        assert not [t for t in _tables(store, database) if t.startswith("opik_store_joblock_health")]
        states = [(r.job, r.state) for r in runner.history(store)]
    assert states[-3:] == [("apply-retention", "succeeded"), ("health", "started"), ("health", "succeeded")]


def test_a_runs_table_from_before_seq_gets_the_column_and_keeps_its_history(engine_url: str, database: str) -> None:
    """A runs table created by an earlier version (DateTime64 times, no ``seq``) is upgraded in place by the next run
    (ALTER ... ADD COLUMN seq): its rows stay, first, and new runs append after them."""
    from opik_store.scheduling.jobs import RUNS_TABLE

    with Store.from_url(engine_url, database=database) as store:
        store.migrate()
        table = f"`{database}`.{RUNS_TABLE}"
        store.adapter.execute(
            f"CREATE TABLE {table} (run_id UUID, job LowCardinality(String), state Enum8('started' = 1, "
            "'succeeded' = 2, 'failed' = 3, 'skipped' = 4, 'interrupted' = 5), host String, pid UInt32, "
            "started_at DateTime64(6, 'UTC'), finished_at Nullable(DateTime64(6, 'UTC')), duration_ms "
            "Nullable(UInt64), summary String, error String, recorded_at DateTime64(6, 'UTC') DEFAULT now64(6)) "
            "ENGINE = MergeTree ORDER BY (job, recorded_at)"
        )
        store.adapter.execute(
            f"INSERT INTO {table} (run_id, job, state, host, pid, started_at, finished_at, duration_ms, summary, "
            "error) SELECT generateUUIDv4(), 'health', 'succeeded', 'old-host', 1, now64(6) - 60, now64(6) - 59, "
            "1000, 'from before seq', ''"
        )
        runner = JobRunner(_factory(engine_url, database), FileConfig())
        assert runner.run("prune-system-tables").state == "succeeded"
        history = runner.history(store)
        columns = store.adapter.query(
            "SELECT name FROM system.columns WHERE database = {d:String} AND table = {t:String}",
            {"d": database, "t": RUNS_TABLE},
        ).rows
    assert ("seq",) in [tuple(map(str, c)) for c in columns]
    assert (history[0].job, history[0].state, history[0].summary) == ("health", "succeeded", "from before seq")
    assert [r.job for r in history[1:]] and {r.job for r in history[1:]} == {"prune-system-tables"}


def _tables(store: Store, database: str) -> set[str]:
    rows = store.adapter.query("SELECT name FROM system.tables WHERE database = {d:String}", {"d": database}).rows
    return {str(r[0]) for r in rows} - {"opik_store_health"}


def _factory(engine_url: str, database: str) -> Callable[[], Store]:
    return lambda: Store.from_url(engine_url, database=database)


def test_a_failing_job_is_recorded_with_its_error(engine_url: str, database: str) -> None:
    def broken(store: Store, config: FileConfig, dry_run: bool) -> str:
        raise RuntimeError("disk on fire")

    runner = JobRunner(_factory(engine_url, database), FileConfig(), {"broken": (broken, "fails")})
    with pytest.raises(RuntimeError, match="disk on fire"):
        runner.run("broken")
    with Store.from_url(engine_url, database=database) as store:
        last = runner.history(store)[-1]
    assert (last.state, last.error) == ("failed", "RuntimeError: disk on fire")


def _slow_runner(engine_url: str, database: str, seconds: float, started: list[float]) -> JobRunner:
    def slow(store: Store, config: FileConfig, dry_run: bool) -> str:
        started.append(time.monotonic())
        time.sleep(seconds)
        return "slept"

    return JobRunner(_factory(engine_url, database), FileConfig(), {"slow": (slow, "sleeps")}, lease=30)


def test_two_runners_never_run_the_same_job_at_once(engine_url: str, database: str) -> None:
    started: list[float] = []
    runners = [_slow_runner(engine_url, database, 1.5, started) for _ in range(2)]
    states: list[str] = []
    threads = [threading.Thread(target=lambda r=r: states.append(r.run("slow").state)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(states) == ["skipped", "succeeded"]
    with Store.from_url(engine_url, database=database) as store:
        skipped = [r for r in runners[0].history(store) if r.state == "skipped"]
    assert "already running on" in skipped[0].summary


def test_scheduler_runs_on_schedule_never_overlaps_and_stops_gracefully(engine_url: str, database: str) -> None:
    started: list[float] = []
    runner = _slow_runner(engine_url, database, 1.6, started)
    sched = Scheduler(runner, {"slow": JobConfig("slow", "* * * * * *", jitter_seconds=0, misfire_grace_seconds=1)})

    def stop_during_second_run() -> None:
        while len(started) < 2:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # mid-run: the run must finish and be recorded

    killer = threading.Thread(target=stop_during_second_run, daemon=True)
    killer.start()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        sched.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    with Store.from_url(engine_url, database=database) as store:
        runs = runner.history(store, "slow")
    done = [r for r in runs if r.state == "succeeded"]
    assert len(done) >= 2, runs
    assert all(r.finished_at is not None for r in done)
    assert {r.run_id for r in runs if r.state == "started"} == {r.run_id for r in done}, "every run finished"
    spans = sorted((r.started_at, r.finished_at) for r in done)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end is not None and start >= end, "a slow run never overlaps itself"


def test_scheduler_command_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "opik-store.toml"
    config.write_text('[jobs.prune-system-tables]\nschedule = "* * * * * *"\njitter_seconds = 0\n'
                      '[jobs.apply-retention]\nenabled = false\n')  # fmt: skip
    script = Path(sys.executable).parent / "opik-store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    env |= {"OPIK_STORE_URL": f"chdb://{tmp_path / 'db'}", "OPIK_STORE_CONFIG": str(config)}
    migrated = subprocess.run([str(script), "migrate", "-q"], env=env, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr  # jobs and the scheduler never create the database
    proc = subprocess.Popen(
        [str(script), "scheduler"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    seen = ""
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if "prune-system-tables: succeeded" in line:
            break
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    seen += err
    assert proc.returncode == 0, seen
    assert "received SIGTERM" in seen and "scheduler stopped" in seen
    history = subprocess.run(
        [str(script), "jobs", "history", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    states = {h["state"] for h in json.loads(history.stdout)}
    assert "succeeded" in states and "failed" not in states


def test_cron_weekdays_mean_what_crontab_means() -> None:
    start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday
    sunday = cron_trigger("0 3 * * 0").get_next_fire_time(None, start)
    assert sunday.strftime("%A %H:%M") == "Sunday 03:00"
    weekday = cron_trigger("30 2 * * 1-5").get_next_fire_time(None, start)
    assert weekday.strftime("%A %H:%M") == "Monday 02:30"
    assert cron_trigger("*/5 * * * * *").get_next_fire_time(None, start).second % 5 == 0
    assert cron_trigger("0 12 * * *").get_next_fire_time(None, start) == start, "a time equal to now fires now"
    for bad in ("* * *", "61 * * * *", "0 3 * * 9", "0 3 * * 5-1", "0 3 * * */0", "0 3 * * xyz", "0 0 30 2 *"):
        with pytest.raises(ConfigError):
            cron_trigger(bad)


def test_a_line_naming_a_day_of_month_and_a_weekday_fires_on_either_as_crontab_does() -> None:
    """``0 0 1 * 1`` fired only on Mondays that are the 1st (APScheduler's AND); crontab fires on either."""
    start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday
    trigger = cron_trigger("0 0 1 * 1")
    fired, last = [], None
    for _ in range(5):
        last = trigger.get_next_fire_time(last, start)
        fired.append(last.strftime("%a %d %b"))
    assert fired == ["Mon 30 Nov", "Tue 01 Dec", "Mon 07 Dec", "Mon 14 Dec", "Mon 21 Dec"]
    weekend = cron_trigger("0 6 13 * fri,sat")  # the 13th, or any Friday or Saturday
    nxt = weekend.get_next_fire_time(None, datetime(2026, 12, 12, 7, 0, tzinfo=UTC))  # Saturday 12th, 07:00
    assert nxt.strftime("%a %d %H:%M") == "Sun 13 06:00"


JOBS_DIR = Path(__file__).resolve().parents[1] / "jobs"


def test_shipped_schedules_name_real_jobs_and_valid_cron() -> None:
    from opik_store.scheduling.jobs import BUILTIN_JOBS

    lines = [line.split() for line in (JOBS_DIR / "crontab").read_text().splitlines() if line and line[0].isdigit()]
    assert len(lines) == 3
    for fields in lines:
        cron_trigger(" ".join(fields[:5]))
        job = fields[fields.index("run") + 1]
        assert job in BUILTIN_JOBS
    k8s = (JOBS_DIR / "kubernetes" / "cronjobs.yaml").read_text()
    for name in BUILTIN_JOBS:
        assert f'args: ["jobs", "run", "{name}"]' in k8s
        service = (JOBS_DIR / "systemd" / f"opik-store-{name}.service").read_text()
        assert f"ExecStart=/usr/local/bin/opik-store jobs run {name}" in service
        timer = (JOBS_DIR / "systemd" / f"opik-store-{name}.timer").read_text()
        assert f"Unit=opik-store-{name}.service" in timer and "OnCalendar=" in timer
    for schedule in [line for line in k8s.splitlines() if "schedule:" in line]:
        cron_trigger(schedule.split('"')[1])


def test_systemd_units_pass_systemd_analyze() -> None:
    import shutil

    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed here; the units are checked textually above")
    units = sorted(str(p) for p in (JOBS_DIR / "systemd").iterdir())
    result = subprocess.run([tool, "verify", "--man=no", *units], capture_output=True, text=True, timeout=60)
    problems = [
        line for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable" not in line  # the binary is not installed on this machine
    ]  # fmt: skip
    assert problems == [], problems


KILLED_JOB = """
import json, os, signal, sys, time
from opik_store import Store
from opik_store.maintenance.config_file import FileConfig
from opik_store.scheduling.jobs import JobRunner

def hang(store, config, dry_run):
    os.kill(os.getpid(), signal.SIGKILL)  # killed mid-run: no outcome is ever recorded

def fine(store, config, dry_run):
    return "ran"

url, phase = sys.argv[1], sys.argv[2]
if phase == "setup":
    with Store.from_url(url, database="jobs") as store:
        store.migrate()
lease_free = frozenset({"hang"}) if sys.argv[3] == "lease-free" else frozenset()
runner = JobRunner(lambda: Store.from_url(url, database="jobs", lock_lease=600), FileConfig(),
                   {"hang": (hang if phase == "setup" else fine, "")}, lease_free=lease_free)
started = time.monotonic()
record = runner.run("hang")
with Store.from_url(url, database="jobs") as store:
    rows = [(r.state, r.pid == record.pid) for r in runner.history(store)]
print(json.dumps({"state": record.state, "seconds": time.monotonic() - started, "rows": rows}))
"""


@pytest.mark.parametrize("kind", ["leased", "lease-free"])
def test_a_killed_run_shows_as_interrupted_and_does_not_block_the_job(tmp_path: Path, kind: str) -> None:
    """SIGKILL inside a job with a 10-minute lease: the next run on this host neither waits nor is skipped. A
    lease-free job (the health snapshot) killed mid-run stayed ``started`` forever; its next run closes it too."""
    url = f"chdb://{tmp_path / 'db'}"
    victim = subprocess.run([sys.executable, "-c", KILLED_JOB, url, "setup", kind], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert victim.returncode == -9, victim.stderr
    later = subprocess.run([sys.executable, "-c", KILLED_JOB, url, "again", kind], capture_output=True, text=True,
                           timeout=120)  # fmt: skip
    assert later.returncode == 0, later.stderr
    got = json.loads(later.stdout.strip().splitlines()[-1])
    assert got["state"] == "succeeded" and got["seconds"] < 30, got
    assert got["rows"] == [["started", False], ["interrupted", True], ["started", True], ["succeeded", True]], got


def test_a_lease_free_run_is_closed_only_when_it_cannot_be_running(store: Store) -> None:
    """Lease-free runs may overlap: a ``started`` run of a live process here stays open; one of a process that is
    gone, or one left ``started`` for over an hour anywhere, is closed as interrupted."""
    import socket
    import uuid

    store.migrate()
    jobs = {"snap": (lambda _s, _c, _d: "ok", "")}
    runner = JobRunner(lambda: Store(store.config), FileConfig(), jobs, lease_free=frozenset({"snap"}))
    runner.ensure_table(store)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    runs = {"live": (socket.gethostname(), os.getpid(), 0), "dead": (socket.gethostname(), gone.pid, 0),
            "old elsewhere": ("another-host", 1, 7200), "recent elsewhere": ("another-host", 1, 5)}  # fmt: skip
    ids = {}
    for label, (host, pid, age) in runs.items():
        ids[label] = str(uuid.uuid4())
        store.adapter.execute(
            f"INSERT INTO `{store.config.database}`.opik_store_job_runs (run_id, job, state, host, pid, started_at) "
            "VALUES ({r:UUID}, 'snap', 'started', {h:String}, {p:UInt32}, now() - {a:UInt32})",
            {"r": ids[label], "h": host, "p": pid, "a": age},
        )
    assert runner.run("snap").state == "succeeded"
    closed = {r.run_id for r in runner.history(store) if r.state == "interrupted"}
    assert closed == {ids["dead"], ids["old elsewhere"]}, {k: v in closed for k, v in ids.items()}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("misfire_grace_seconds", "0", "between 1 and 86,400 seconds (a run that could not start"),
        ("misfire_grace_seconds", "1e6", "write 1000000, not 1000000.0"),
        ("misfire_grace_seconds", "100000", "between 1 and 86,400 seconds"),
        ("jitter_seconds", "-1", "between 0 and 3,600 seconds (the scheduler delays each run"),
        ("jitter_seconds", '"60"', "must be a whole number of seconds, got '60'"),
    ],
)
def test_job_seconds_are_checked_with_texts_that_fit_them(key: str, value: str, message: str) -> None:
    """misfire_grace_seconds = 0 said "0 would delete everything"; 1e6 was capped with "about 27 years"."""
    import tomllib

    from opik_store.maintenance.config_file import parse_config

    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(f"[jobs.health]\n{key} = {value}\n"))
    assert (
        message in str(info.value) and "delete everything" not in str(info.value) and "27 years" not in str(info.value)
    )
