"""A full disk: read-only commands still answer, nothing reports fake drift, and the database opens afterwards.

The embedded database lives on a small tmpfs that the test fills completely.
Mounting needs root (CI runs as root); elsewhere the test skips and says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def test_an_empty_metadata_file_of_an_own_table_is_moved_aside(tmp_path: Path) -> None:
    """What a table created into a full disk leaves: the engine would refuse to start; opik-store recovers."""
    url = f"chdb:{tmp_path / 'db'}"
    assert run(url, "migrate", "-q").returncode == 0
    empty = _database_folder(tmp_path / "db") / "opik_store_lock_7.sql"
    empty.write_text("")
    status = run(url, "status")
    assert status.returncode == 0 and "up to date" in status.stdout, status.stderr
    assert "moved aside" in status.stderr and not empty.exists()
    assert [m.name for m in (tmp_path / "db" / "moved-aside").iterdir()] == [f"{empty.parent.name}-{empty.name}.empty"]


def test_an_empty_metadata_file_of_another_table_is_left_alone(tmp_path: Path) -> None:
    url = f"chdb:{tmp_path / 'db'}"
    assert run(url, "migrate", "-q").returncode == 0
    foreign = _database_folder(tmp_path / "db") / "someone_elses.sql"
    foreign.write_text("")
    status = run(url, "status")
    assert status.returncode != 0 and foreign.exists() and "Traceback" not in status.stderr
    assert "someone_elses.sql" in status.stderr and "another embedded database open" not in status.stderr
