"""Open the adapter a parsed URL names (the only module that knows both adapters)."""

from __future__ import annotations

from opik_store.engine.adapter import Adapter
from opik_store.engine.urls import ConnectionSpec


def open_adapter(spec: ConnectionSpec) -> Adapter:
    """Connect according to ``spec``; raises ConfigError/ServerError with masked text."""
    if spec.kind == "embedded":
        from opik_store.engine.embedded import EmbeddedAdapter

        return EmbeddedAdapter(spec)
    from opik_store.engine.native import NativeAdapter

    return NativeAdapter(spec)
