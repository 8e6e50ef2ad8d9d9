"""Where the shipped DDL and migration scripts live, and how operator TOML files are read.

Rules: an installed wheel carries them inside the package
(``opik_store/_data/{ddl,migrations}``); a source checkout or editable install
uses the top-level ``ddl/`` and ``migrations/`` folders. The migrations folder
can be overridden with OPIK_STORE_MIGRATIONS_DIR (a deployment with its own
revisions, or ``opik-store revision`` writing into a checkout).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from opik_store.errors import ConfigError

ENV_MIGRATIONS_DIR = "OPIK_STORE_MIGRATIONS_DIR"
_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder ``name`` (``ddl`` or ``migrations``) shipped with the package."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"cannot find the {name!r} folder next to {_PACKAGE}: is opik-store installed correctly?")


def migrations_dir(override: str | Path | None = None) -> Path:
    """The migrations folder: ``override``, then OPIK_STORE_MIGRATIONS_DIR, then the shipped one."""
    chosen = override or os.environ.get(ENV_MIGRATIONS_DIR)
    if chosen:
        path = Path(chosen).resolve()
        if not (path / "versions").is_dir():
            raise ConfigError(f"migrations folder {path} has no 'versions' subfolder")
        return path
    return data_dir("migrations")


def is_shipped(path: str | Path) -> bool:
    """Whether ``path`` lies inside the installed package (its data is not the operator's to edit)."""
    return Path(path).resolve().is_relative_to(_PACKAGE)


def read_toml(file: Path, what: str) -> dict[str, Any]:
    """The TOML document in ``file``; ConfigError naming the file for a missing, unreadable, non-UTF-8 or bad one."""
    if not file.is_file():
        raise ConfigError(f"{what} {file} does not exist (or is not a file)")
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start}): TOML files are UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
