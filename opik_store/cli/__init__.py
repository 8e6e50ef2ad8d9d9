"""The ``opik-store`` command line: a thin layer over the Python API.

``app`` holds the top-level group and its global options; one module per
command group (``migrate``, ``retention``, ``system_tables``, ``jobs``,
``profiles``); ``common`` is the one place for options, target reporting,
output format and error handling.

May import everything; nothing imports it.
"""

from opik_store.cli.app import main

__all__ = ["main"]
