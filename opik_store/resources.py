"""Where the shipped DDL and migration scripts live.

Rules: an installed wheel carries them inside the package
(``opik_store/_data/{ddl,migrations}``); a source checkout or editable install
uses the top-level ``ddl/`` and ``migrations/`` folders. The migrations folder
can be overridden with OPIK_STORE_MIGRATIONS_DIR (a deployment with its own
revisions, or ``opik-store revision`` writing into a checkout).
"""

from __future__ import annotations

import os
from pathlib import Path

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
