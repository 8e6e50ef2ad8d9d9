"""The migration lock: concurrent runs, waiting, leases, take-over, fencing, unlock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import write_revision

from opik_store import Store
from opik_store.cli import main
from opik_store.migrations.lock import Holder, LockLost, LockTimeout, MigrationLock


def _extra_revisions(folder: Path) -> None:
    write_revision(
        folder,
        "0005",
        "0004",
        ["ALTER TABLE traces ADD COLUMN a String DEFAULT ''", "ALTER TABLE spans ADD COLUMN a String DEFAULT ''"],
        ["ALTER TABLE spans DROP COLUMN a", "ALTER TABLE traces DROP COLUMN a"],
    )
    write_revision(
        folder, "0006", "0005", ["ALTER TABLE traces ADD COLUMN b UInt8"], ["ALTER TABLE traces DROP COLUMN b"]
    )


def test_concurrent_runs_apply_each_revision_exactly_once(
    migrations_copy: Path, engine_url: str, database: str
) -> None:
    _extra_revisions(migrations_copy)
    runs = 6
    barrier = threading.Barrier(runs)
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as store:
                barrier.wait()
                applied.append(store.migrate().revisions)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sorted(r for revs in applied for r in revs) == ["0001", "0002", "0003", "0004", "0005", "0006"]
    assert sum(1 for revs in applied if revs) == 1, f"one run does the work, the others find nothing: {applied}"
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as store:
        rows = Counter((e.revision, e.state) for e in store.history())
        assert store.status().up_to_date
    assert rows == {(r, s): 1 for r in ("0001", "0002", "0003", "0004", "0005", "0006") for s in ("started", "applied")}


def _held_lock(store: Store, lease: float) -> MigrationLock:
    migrator = store.migrator()
    migrator._prepare()
    lock = MigrationLock(store.adapter, store.config, lease, lambda _m: None)
    lock.acquire(5)
    return lock


def test_a_live_holder_makes_others_wait_then_time_out_naming_it(engine_url: str, database: str) -> None:
    with Store.from_url(engine_url, database=database) as holder_store:
        lock = _held_lock(holder_store, lease=30)
        try:
            with Store.from_url(engine_url, database=database, lock_timeout=1) as other:
                messages: list[str] = []
                started = time.monotonic()
                with pytest.raises(LockTimeout) as info:
                    other.migrate(progress=messages.append)
                assert time.monotonic() - started >= 1
                text = str(info.value)
                assert f"pid {os.getpid()}" in text and "since" in text and "unlock --force" in text
                assert any("waiting for the migration lock" in m for m in messages)
                assert other.status().pending, "the waiting run changed nothing"
        finally:
            lock.release()
        with Store.from_url(engine_url, database=database, lock_timeout=1) as other:
            assert other.migrate().revisions == ["0001", "0002", "0003", "0004"]


def test_a_holder_that_stops_heartbeating_loses_the_lock_after_its_lease(engine_url: str, database: str) -> None:
    with Store.from_url(engine_url, database=database, lock_lease=1, lock_timeout=20) as store:
        dead = _held_lock(store, lease=1)
        dead.abandon()  # what a killed process leaves: a lock nobody heartbeats
        messages: list[str] = []
        started = time.monotonic()
        assert store.migrate(progress=messages.append).revisions == ["0001", "0002", "0003", "0004"]
        assert time.monotonic() - started >= 0.9, "took over before the lease ran out"
        assert any("taking over the lock" in m for m in messages)
        with pytest.raises(LockLost, match="taken over"):
            dead._last_beat = time.monotonic()  # even with a fresh local heartbeat, the newer generation fences it
            dead.check()


def test_a_slow_holder_is_fenced_before_its_next_statement(engine_url: str, database: str) -> None:
    with Store.from_url(engine_url, database=database, lock_lease=1) as store:
        lock = _held_lock(store, lease=1)
        lock.check()  # holds: fine
        lock.abandon()
        time.sleep(1.2)
        with pytest.raises(LockLost, match="lease ran out"):
            lock.check()


def test_unlock_shows_the_holder_and_force_releases(engine_url: str, database: str) -> None:
    base = ["--url", engine_url, "--database", database]
    with Store.from_url(engine_url, database=database) as store:
        lock = _held_lock(store, lease=600)
        lock.abandon()
    result = CliRunner().invoke(main, [*base, "unlock"])
    assert result.exit_code == 2 and "held by" in result.output and "--force" in result.output
    result = CliRunner().invoke(main, [*base, "--lock-timeout", "1", "migrate"])
    assert result.exit_code == 4 and "being migrated by" in result.output
    result = CliRunner().invoke(main, [*base, "unlock", "--force"])
    assert result.exit_code == 0 and "released" in result.output
    assert "free" in CliRunner().invoke(main, [*base, "unlock"]).output
    result = CliRunner().invoke(main, [*base, "--lock-timeout", "1", "migrate"])
    assert result.exit_code == 0 and "applied 0001, 0002, 0003, 0004" in result.output


KILLABLE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from opik_store import Store

    url, marker = sys.argv[1], Path(sys.argv[2])

    def pause(revision, index):
        if (revision, index) == ("0001", 1):
            marker.write_text("paused")
            time.sleep(600)

    with Store.from_url(url, lock_lease=600) as store:
        store.migrate(after_statement=pause)
    """
)


def _kill_a_paused_migration(tmp_path: Path) -> tuple[str, dict[str, str], int]:
    """A migration in a process of its own, paused inside revision 0001 holding the lock (10-minute lease), then
    killed with SIGKILL: (its URL, an environment without OPIK_STORE_*, the dead holder's pid)."""
    url = f"chdb://{tmp_path / 'db'}"
    marker = tmp_path / "paused"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    victim = subprocess.Popen([sys.executable, "-c", KILLABLE, url, str(marker)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert victim.poll() is None, "the migrating process died before pausing"
            assert time.monotonic() < deadline, "the migrating process never reached its pause"
            time.sleep(0.1)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(30)
    return url, env, victim.pid


def test_a_killed_holder_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    """A real SIGKILL mid-migration with a 10-minute lease: a later process on the same host sees the holder's
    pid is gone, takes over without waiting, and finishes the revision."""
    url, env, _ = _kill_a_paused_migration(tmp_path)
    script = Path(sys.executable).parent / "opik-store"
    env |= {"OPIK_STORE_URL": url, "OPIK_STORE_LOCK_LEASE": "600"}
    started = time.monotonic()
    later = subprocess.run(
        [str(script), "--lock-timeout", "60", "migrate"], env=env, capture_output=True, text=True, timeout=180
    )
    assert later.returncode == 0, later.stderr
    assert time.monotonic() - started < 60, "waited for the lease instead of seeing the holder is gone"
    assert "taking over the lock" in later.stderr and "is no longer running on this host" in later.stderr
    assert "revision 0001 was interrupted" in later.stderr
    assert "applied 0001, 0002, 0003, 0004" in later.stdout
    history = subprocess.run([str(script), "history", "--json"], env=env, capture_output=True, text=True, timeout=120)
    states = [(e["revision"], e["state"]) for e in json.loads(history.stdout)]
    assert states == [
        ("0001", "started"),
        ("0001", "started"),
        ("0001", "applied"),
        ("0002", "started"),
        ("0002", "applied"),
        ("0003", "started"),
        ("0003", "applied"),
        ("0004", "started"),
        ("0004", "applied"),
    ]


def test_unlock_releases_a_holder_killed_on_this_host_and_says_so(tmp_path: Path) -> None:
    """unlock after kill -9 of a holder here said "held by pid N; use --force" without noticing it was dead."""
    url, env, victim_pid = _kill_a_paused_migration(tmp_path)
    script = Path(sys.executable).parent / "opik-store"
    env |= {"OPIK_STORE_URL": url}
    done = subprocess.run([str(script), "unlock", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert doc["released"] and doc["holder_dead"] and f"pid {victim_pid}" in doc["holder"], doc
    again = subprocess.run([str(script), "unlock"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "free" in again.stdout, again.stdout + again.stderr


def test_status_tells_a_running_migration_from_an_interrupted_one(engine_url: str, database: str) -> None:
    paused, resume = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def pause(revision: str, index: int) -> None:
        if index == 1:
            paused.set()
            resume.wait(30)

    def run() -> None:
        try:
            with Store.from_url(engine_url, database=database) as store:
                store.migrate(after_statement=pause)
        except BaseException as exc:  # asserted below
            errors.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    try:
        assert paused.wait(30)
        with Store.from_url(engine_url, database=database) as observer:
            status = observer.status()
            assert [e.revision for e in status.in_progress] == ["0001"] and status.interrupted == []
            result = CliRunner().invoke(main, ["--url", engine_url, "--database", database, "status"])
            assert "running:   0001 is being applied" in result.output
    finally:
        resume.set()
        runner.join(60)
    assert not errors


def test_a_generation_that_can_never_be_won_ends_in_an_error_not_a_spin(
    engine_url: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock's own create step always losing (as on a database where it can never succeed) stops in bounded time."""
    with Store.from_url(engine_url, database=database, lock_timeout=1) as store:
        store.migrate()
        lock = MigrationLock(store.adapter, store.config, 5, lambda _m: None)
        monkeypatch.setattr(lock, "_try_create", lambda generation: False)
        started = time.monotonic()
        with pytest.raises(LockTimeout, match="kept existing without showing a holder"):
            lock.acquire(timeout=1)
        assert time.monotonic() - started < 30


def test_the_dead_holder_shortcut_needs_the_full_machine_identity(store: Store) -> None:
    """Hostnames repeat across machines: a bare hostname (no /proc) never lets a live remote lock be taken."""
    store.migrate()
    lock = MigrationLock(store.adapter, store.config, 60, lambda _m: None)
    dead_pid = 2**22 + 12345  # above any pid_max default: no such process here
    remote = Holder(1, "run", lock.host, dead_pid, None, 0, False)
    assert "#" in lock.host and lock.dead_here(remote), "same boot, same PID namespace: known dead at once"
    lock.host = "localhost"
    assert not lock.dead_here(Holder(1, "run", "localhost", dead_pid, None, 0, False)), "only the lease may free it"
    other_boot = Holder(1, "run", lock.host.split("#")[0] + "#another-boot#1", dead_pid, None, 0, False)
    assert not lock.dead_here(other_boot)


SLOW_STATUS = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from opik_store.store import Store
    from opik_store.cli import main

    marker = Path(sys.argv[1])

    def slow(self, *a, **k):  # a command that takes a while, like a long migration
        marker.write_text("busy")
        time.sleep(60)

    Store.check = slow
    sys.argv = ["opik-store", "--url", sys.argv[2], "check"]
    main()
    """
)


@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_an_interrupted_command_says_so_and_how_to_resume(tmp_path: Path, sig: int, code: int, name: str) -> None:
    """Ctrl-C printed click's "Aborted!" with exit 1 (a server error's code); SIGTERM printed nothing at all.
    Now: exit 130 / 143 and one line naming the signal and the command that resumes."""
    url = f"chdb://{tmp_path / 'db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    script = Path(sys.executable).parent / "opik-store"
    assert subprocess.run([str(script), "--url", url, "migrate", "-q"], env=env,
                          capture_output=True, timeout=120).returncode == 0  # fmt: skip
    marker = tmp_path / "busy"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_STATUS, str(marker), url], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert f"interrupted by {name}" in err and "opik-store check" in err and "run the same command again" in err
    assert "Traceback" not in err and "Aborted" not in err
