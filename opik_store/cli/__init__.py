"""The ``opik-store`` command line: a thin layer over the Python API.

``app`` holds the top-level group and its global options; one module per
command group (``migrate``, ``retention``, ``system_tables``, ``jobs``,
``profiles``); ``common`` is the one place for options, target reporting,
output format and error handling; ``entry`` is the console script, which
installs its signal handlers before importing the rest. ``main`` is imported
on first use, so importing ``entry`` stays light.

May import everything; nothing imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opik_store.cli.app import main


def __getattr__(name: str) -> Any:
    if name == "main":
        from opik_store.cli.app import main

        return main
    raise AttributeError(f"module 'opik_store.cli' has no attribute {name!r}")


__all__ = ["main"]
