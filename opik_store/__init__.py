"""opik-store: the ClickHouse side of an Opik deployment.

Backend code builds a :class:`Store` from a URL and calls its methods; the
``opik-store`` command is a thin layer over the same API.
"""

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

__version__ = "0.1.0"

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
