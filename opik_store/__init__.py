"""opik-store: the ClickHouse side of an Opik deployment.

Backend code builds a :class:`Store` from a URL and calls its methods; the
``opik-store`` command is a thin layer over the same API.

The public names are imported on first use (PEP 562), so importing a small
part of the package (the command's entry point, which must install its
signal handlers before the ~0.6 s of imports) does not import all of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Each public name and the module it lives in.
_HOMES = {
    "QueryProfiles": "opik_store.access.profiles",
    "StoreConfig": "opik_store.config",
    "Topology": "opik_store.config",
    "ConfigError": "opik_store.errors",
    "DataLossError": "opik_store.errors",
    "OpikStoreError": "opik_store.errors",
    "RenderError": "opik_store.errors",
    "RevisionError": "opik_store.errors",
    "ServerError": "opik_store.errors",
    "UnsupportedServerError": "opik_store.errors",
    "Store": "opik_store.store",
}

if TYPE_CHECKING:
    from opik_store.access.profiles import QueryProfiles
    from opik_store.config import StoreConfig, Topology
    from opik_store.errors import (
        ConfigError,
        DataLossError,
        OpikStoreError,
        RenderError,
        RevisionError,
        ServerError,
        UnsupportedServerError,
    )
    from opik_store.store import Store


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'opik_store' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


__all__ = [
    "ConfigError",
    "DataLossError",
    "OpikStoreError",
    "QueryProfiles",
    "RenderError",
    "RevisionError",
    "ServerError",
    "Store",
    "StoreConfig",
    "Topology",
    "UnsupportedServerError",
    "__version__",
]
