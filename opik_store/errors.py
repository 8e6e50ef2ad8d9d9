"""Exceptions raised by opik-store.

Every error carries a message meant for an operator: it names what was wrong
and, where possible, what to do. No message ever contains a password.
"""

from __future__ import annotations


class OpikStoreError(Exception):
    """Base class of every error opik-store raises on purpose."""


class ConfigError(OpikStoreError):
    """Configuration given by the user (URL, names, settings) is invalid."""


class RenderError(OpikStoreError):
    """A migration statement cannot be rendered for the chosen topology."""


class RevisionError(OpikStoreError):
    """The revision scripts or the requested revision are inconsistent."""


class ServerError(OpikStoreError):
    """The ClickHouse server (or the embedded engine) rejected a query.

    ``code`` is ClickHouse's numeric error code (0 when unknown).
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"ClickHouse error {code}: {message}" if code else message)
        self.code = code
        self.server_message = message


class UnsupportedServerError(OpikStoreError):
    """The server is too old or lacks a feature opik-store relies on."""


class DataLossError(OpikStoreError):
    """An operation would drop data and was not explicitly confirmed."""


class MissingTargetError(OpikStoreError):
    """A read-only operation found no database (or no embedded directory) to read; nothing was created."""


class DiskFullError(OpikStoreError):
    """The server's disk is (nearly) full: nothing was created, so nothing can be left half-written."""
