"""A full disk: read-only commands still answer, nothing reports fake drift, and the database opens afterwards.

The embedded database lives on a small tmpfs that the test fills completely.
Mounting needs root (CI runs as root); elsewhere the test skips and says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import write_revision

from opik_store.resources import data_dir

SCRIPT = Path(sys.executable).parent / "opik-store"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def run(url: str, *args: str, migrations: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    extra = ["--migrations-dir", str(migrations)] if migrations else []
    return subprocess.run(
        [str(SCRIPT), "--url", url, *extra, *args], env=env, capture_output=True, text=True, timeout=300
    )


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 20))
        except OSError:
            pass
    return filler


def test_a_full_disk_is_reported_as_such_and_leaves_the_database_usable(small_disk: Path, tmp_path: Path) -> None:
    url = f"chdb:{small_disk / 'db'}"
    assert run(url, "migrate", "-q").returncode == 0
    migrations = tmp_path / "migrations"
    shutil.copytree(data_dir("migrations"), migrations)
    write_revision(migrations, "0005", "0004", ["ALTER TABLE traces ADD COLUMN note String DEFAULT ''"],
                   ["ALTER TABLE traces DROP COLUMN note"])  # fmt: skip
    filler = fill(small_disk)

    status = run(url, "status")
    assert status.returncode == 0 and "up to date" in status.stdout, status.stderr
    check = run(url, "check")
    assert check.returncode == 1, (check.returncode, check.stdout, check.stderr)  # a server error, not drift (3)
    assert "disk is full" in check.stderr and "difference" not in check.stdout
    plan = run(url, "retention", "plan")
    assert plan.returncode == 0 and "rules to add" in plan.stdout, plan.stderr  # it only reads: a full disk is fine
    noop = run(url, "migrate")
    assert noop.returncode == 0 and "nothing to apply" in noop.stdout, noop.stderr  # writes nothing
    pending = run(url, "migrate", migrations=migrations)
    assert pending.returncode == 1 and "not enough free disk space" in pending.stderr, pending.stderr
    assert "Nothing was created" in pending.stderr and "Traceback" not in pending.stderr
    assert not [m for m in small_disk.rglob("*.sql") if m.stat().st_size == 0], "no half-written metadata"

    filler.unlink()
    assert run(url, "check").returncode == 0, "after the disk is freed the schema is judged again, and matches"
    done = run(url, "migrate", migrations=migrations)
    assert done.returncode == 0, done.stderr
    after = run(url, "status", migrations=migrations)
    assert after.returncode == 0 and "up to date" in after.stdout, after.stdout + after.stderr


def _database_folder(root: Path) -> Path:
    return (root / "metadata" / "opik").resolve()


def _empty_files(root: Path) -> list[Path]:
    """Files a write into a full disk leaves empty and the engine cannot start with."""
    found = [*root.glob("metadata/*.sql"), *root.glob("store/*/*/*.sql"), *root.glob("store/*/*/mutation_*.txt")]
    return [f for f in found if f.is_file() and f.stat().st_size == 0]


def _writer(url: str, n: int) -> subprocess.CompletedProcess[str]:
    """Write ``n`` traces through the library's writer in a process of its own; prints the stored count."""
    code = textwrap.dedent(f"""
        import sys
        from opik_store import Store
        from opik_store.errors import OpikStoreError
        items = [{{"id": "0193a8c5-6a3e-7c4f-9a51-%012d" % i, "workspace_id": "w",
                  "project_id": "0193a8c5-6a3e-7c4f-9a51-000000000000",
                  "start_time": "2026-11-29T10:00:00Z"}} for i in range({n})]
        with Store.from_url({url!r}, database="opik") as store:
            try:
                with store.writer("traces") as w:
                    w.write(items)
            except OpikStoreError as exc:
                print(exc, file=sys.stderr)
                sys.exit(1)
            print(store.adapter.query("SELECT uniqExact(id) FROM opik.traces").scalar())
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_every_command_on_a_full_disk_refuses_whole_and_all_work_once_space_is_freed(small_disk: Path) -> None:
    """Every job (from the job registry), migrate into a new database, adoption and the writer, on a full disk:
    each refuses (or only reads), none leaves an empty file behind, and once space is freed every one runs and
    no row is lost. (A full disk used to leave a 0-byte opik_store_job_runs.sql or metadata/opik2.sql, and
    then nothing could open the database.)"""
    from opik_store.scheduling.jobs import BUILTIN_JOBS

    url = f"chdb:{small_disk / 'db'}"
    assert run(url, "migrate", "-q").returncode == 0
    assert _writer(url, 50).stdout.strip() == "50"
    filler = fill(small_disk)
    commands = [
        *(["jobs", "run", job] for job in sorted(BUILTIN_JOBS)),
        ["--database", "opik2", "migrate"],
        ["retention", "apply"],
        ["adopt", "run"],
    ]
    for args in commands:
        done = run(url, *args)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        assert not _empty_files(small_disk / "db"), (args, "left an empty file", _empty_files(small_disk / "db"))
    wrote = _writer(url, 60)
    assert wrote.returncode == 1 and "not enough free disk space" in wrote.stderr, wrote.stderr
    assert not _empty_files(small_disk / "db")

    filler.unlink()
    for args in commands:
        done = run(url, *args)
        assert done.returncode in (0, 4) and "Traceback" not in done.stderr, (args, done.returncode, done.stderr)
    assert _writer(url, 60).stdout.strip() == "60", "the 50 rows are still there, and 10 more were written"


@pytest.mark.parametrize("what", ["a table", "a database", "a mutation"])
def test_the_empty_file_a_full_disk_left_is_moved_aside_and_every_command_opens(tmp_path: Path, what: str) -> None:
    """What a write that got past the guard into a full disk leaves (another process filled the disk in
    between): an empty metadata file of a new table or database, an empty mutation entry. The engine would not
    start; the store moves the file aside (kept) and every command and the writer open the database."""
    root = tmp_path / "db"
    url = f"chdb:{root}"
    assert run(url, "migrate", "-q").returncode == 0
    assert _writer(url, 40).stdout.strip() == "40"
    if what == "a table":
        empty = _database_folder(root) / "opik_store_job_runs.sql"  # a control table no command has made yet
        empty.write_text("")
    elif what == "a database":
        empty = root / "metadata" / "opik2.sql"
        empty.write_text("")
    else:
        data = next(p for p in root.glob("store/*/*") if (p / "format_version.txt").exists() and any(p.glob("all_*")))
        empty = data / "mutation_99.txt"
        empty.write_text("")
    status = run(url, "status")
    assert status.returncode == 0 and "up to date" in status.stdout, status.stderr
    assert "moved aside" in status.stderr and not empty.exists()
    assert [m.name for m in (root / "moved-aside").iterdir()] == [f"{empty.parent.name}-{empty.name}.empty"]
    for args in (["jobs", "run", "health"], ["--database", "opik2", "migrate", "-q"], ["check"]):
        done = run(url, *args)
        assert done.returncode == 0, (args, done.stderr)
    assert _writer(url, 45).stdout.strip() == "45", "no row lost; the writer writes"


def test_an_empty_database_file_over_tables_is_written_again(tmp_path: Path) -> None:
    """A database whose metadata file is empty but whose folder holds its tables: the file is written again
    from the folder's UUID, and every row is still there."""
    root = tmp_path / "db"
    url = f"chdb:{root}"
    assert run(url, "migrate", "-q").returncode == 0
    assert _writer(url, 30).stdout.strip() == "30"
    (root / "metadata" / "opik.sql").write_text("")
    status = run(url, "status")
    assert status.returncode == 0 and "up to date" in status.stdout and "rewrote" in status.stderr, status.stderr
    assert _writer(url, 30).stdout.strip() == "30"


def test_an_empty_table_file_with_rows_behind_it_is_left_and_named(tmp_path: Path) -> None:
    """An empty metadata file while a data folder no table names holds rows: that may be the table's definition,
    so nothing is moved; the error names the file and the folder."""
    root = tmp_path / "db"
    url = f"chdb:{root}"
    assert run(url, "migrate", "-q").returncode == 0
    assert _writer(url, 30).stdout.strip() == "30"
    traces = _database_folder(root) / "traces.sql"
    traces.write_text("")
    status = run(url, "status")
    assert status.returncode != 0 and traces.exists() and "Traceback" not in status.stderr
    assert "traces.sql" in status.stderr and "hold rows" in status.stderr, status.stderr
    assert not (root / "moved-aside").exists()
