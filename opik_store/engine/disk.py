"""A full disk and the embedded engine: refuse writes before the disk is full, recover what a full disk left.

Measured on a full tmpfs (chdb, ClickHouse 26.x): CREATE DATABASE, CREATE TABLE, ALTER and RENAME *succeed*
and leave their metadata file empty (0 bytes), a lightweight DELETE leaves an empty ``mutation_N.txt`` (and
hangs). The engine then refuses to start, for every command and every writer, until the file is dealt with
(an empty ``deduplication_logs/deduplication_log_N.txt`` is normal and left alone). Two mechanisms, neither a
list of the store's objects:

* **Guard** (:func:`check_folder_space`): the embedded adapter refuses every statement that writes such a file
  (CREATE, ALTER, RENAME, EXCHANGE, ATTACH, DETACH, DELETE, UPDATE, INSERT, OPTIMIZE, TRUNCATE) while the
  folder's disk has less than :data:`MIN_FREE_BYTES` free, with DiskFullError: nothing is written, so nothing is
  left half-written. Reads and DROP (which frees space) still run.
* **Recovery** (:func:`recover_debris`), when the engine fails to start: every empty file of those kinds is
  debris of a write that never completed (the engine writes each of them whole). It is moved to
  ``<folder>/moved-aside/`` (kept, never deleted) when nothing is lost by it:

  - a mutation entry that was never written is a DELETE/ALTER that never ran (its caller got no answer);
  - a table's metadata file, when no table data folder that no metadata names holds a part (the table behind
    it, just created, held no row);
  - a database's metadata file, when the database's folder holds no table; a database whose folder holds
    tables gets its metadata file written again from the folder's UUID (it says no more than that).

  Anything else is left in place and named: the caller's error tells the operator which file and why.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from opik_store.errors import DiskFullError

_log = logging.getLogger("opik_store")

#: Below this much free space, no statement that writes metadata, mutation entries or parts runs.
MIN_FREE_BYTES = 64 * 1024 * 1024

_WRITES = re.compile(
    r"^\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*"
    r"(CREATE|ALTER|RENAME|EXCHANGE|ATTACH|DETACH|DELETE|UPDATE|INSERT|OPTIMIZE|TRUNCATE)\b",
    re.IGNORECASE | re.DOTALL,
)
_UUID = re.compile(r"UUID\s+'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'", re.IGNORECASE)


def writes_files(sql: str) -> bool:
    """Whether ``sql`` (after leading comments) is a statement that writes a file the engine reads at start."""
    return _WRITES.match(sql) is not None


def free_bytes(folder: str | os.PathLike[str]) -> int:
    """Bytes an unprivileged writer may still use on ``folder``'s file system."""
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def check_folder_space(folder: str | os.PathLike[str], what: str, minimum: int = MIN_FREE_BYTES) -> None:
    """DiskFullError (nothing was run) when ``folder``'s disk has less than ``minimum`` bytes free."""
    free = free_bytes(folder)
    if free < minimum:
        raise DiskFullError(
            f"not enough free disk space for {what} on the embedded database {folder} (the disk is full: "
            f"{free:,} bytes free; opik-store needs at least {minimum // (1024 * 1024)} MiB so that the engine "
            "never writes a file it cannot finish). Nothing was created or run. Free space and run the command "
            "again."
        )


@dataclass
class Recovery:
    """What :func:`recover_debris` did: files moved aside, files rewritten, empty files it left (with why)."""

    moved: list[Path] = field(default_factory=list)
    rewritten: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.moved or self.rewritten)

    def describe_kept(self) -> str:
        return "; ".join(f"{path} ({why})" for path, why in self.kept)


def _empty(paths: list[Path]) -> list[Path]:
    out = []
    for p in paths:
        try:
            if p.is_file() and not p.is_symlink() and p.stat().st_size == 0:
                out.append(p)
        except OSError:
            continue
    return sorted(out)


def _referenced_uuids(folder: Path) -> set[str]:
    """UUIDs named by every non-empty metadata file (databases and tables)."""
    found: set[str] = set()
    metas = [*folder.glob("metadata/*.sql"), *folder.glob("metadata_dropped/*.sql"), *folder.glob("store/*/*/*.sql")]
    for meta in metas:
        try:
            text = meta.read_text(errors="replace")
        except OSError:
            continue
        found.update(m.lower() for m in _UUID.findall(text))
    return found


def _holds_parts(data: Path) -> bool:
    """Whether a table data folder holds a part (any folder but ``detached``, or something in ``detached``)."""
    try:
        for entry in data.iterdir():
            if entry.is_dir() and entry.name != "detached":
                return True
            if entry.is_dir() and any(entry.iterdir()):
                return True
    except OSError:
        return True  # unreadable: assume it holds rows
    return False


def _orphans_with_rows(folder: Path, referenced: set[str]) -> list[Path]:
    """Table data folders (``store/xxx/<uuid>`` holding no metadata) that no metadata file names and that hold
    a part: rows whose table definition may be the empty file."""
    out = []
    for data in folder.glob("store/*/*"):
        if not data.is_dir() or data.name.lower() in referenced or any(data.glob("*.sql")):
            continue
        if _holds_parts(data):
            out.append(data)
    return out


def _move(folder: Path, path: Path, result: Recovery, why: str) -> None:
    aside = folder / "moved-aside" / f"{path.parent.name}-{path.name}.empty"
    try:
        aside.parent.mkdir(exist_ok=True)
        n = 1
        while aside.exists():
            n += 1
            aside = aside.with_name(f"{path.parent.name}-{path.name}.{n}.empty")
        path.rename(aside)
    except OSError as exc:
        result.kept.append((path, f"could not be moved aside: {exc.strerror or exc}"))
        return
    result.moved.append(aside)
    _log.warning("moved aside %s to %s: an empty file left by a write into a full disk (%s)", path, aside, why)


def recover_debris(folder: Path) -> Recovery:
    """Deal with the empty files a full disk left in the embedded ``folder`` (see the module rules)."""
    result = Recovery()
    mutations = _empty(list(folder.glob("store/*/*/mutation_*.txt")))
    databases = _empty(list(folder.glob("metadata/*.sql")))
    tables = _empty(list(folder.glob("store/*/*/*.sql")))
    if not (mutations or databases or tables):
        return result
    for path in mutations:
        _move(folder, path, result, "a mutation that never ran: send that DELETE or ALTER again")
    referenced = _referenced_uuids(folder)
    orphans = _orphans_with_rows(folder, referenced)
    for path in tables:
        if orphans:
            listing = ", ".join(str(o) for o in orphans)
            result.kept.append((path, f"a table's definition; data folders no table names hold rows: {listing}"))
        else:
            _move(folder, path, result, "a table created into a full disk, which held no row")
    for path in databases:
        _recover_database(folder, path, result)
    return result


def _recover_database(folder: Path, path: Path, result: Recovery) -> None:
    """An empty ``metadata/<db>.sql``: moved aside with its empty folder, or rewritten when the folder has tables."""
    link = path.with_suffix("")
    try:
        target = link.resolve() if link.exists() else None
    except OSError:
        target = None
    tables = sorted(target.glob("*.sql")) if target is not None and target.is_dir() else []
    if not tables:
        _move(folder, path, result, "a database created into a full disk, which held no table")
        if link.is_symlink() or link.is_dir():
            aside = folder / "moved-aside" / f"{link.name}.folder"
            try:
                link.rename(aside)
            except OSError as exc:
                result.kept.append((link, f"could not be moved aside: {exc.strerror or exc}"))
        return
    assert target is not None
    if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", target.name):
        result.kept.append((path, f"a database whose folder {target} holds tables but names no UUID"))
        return
    try:
        path.write_text(f"ATTACH DATABASE _ UUID '{target.name}'\nENGINE = Atomic\n")
    except OSError as exc:
        result.kept.append((path, f"could not be written: {exc.strerror or exc}"))
        return
    result.rewritten.append(path)
    _log.warning("rewrote %s (empty, left by a write into a full disk): an Atomic database, UUID %s", path, target.name)
