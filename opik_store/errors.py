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


class UnstoredItemsError(OpikStoreError):
    """Items a writer accepted but could not store, handed back to the caller.

    ``items`` are the items exactly as they were given (oldest first), ``ids``
    their ids; ``cause`` is the last error the server gave (None when there
    was none, e.g. a buffer full of items not tried yet). The message names
    the count and the first ids; nothing is lost as long as the caller keeps
    ``items``.
    """

    def __init__(self, items: list[object], ids: list[str], cause: BaseException | None, reason: str) -> None:
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5:,} more" if len(ids) > 5 else "")
        last = f"; last error: {cause}" if cause is not None else ""
        super().__init__(
            f"{len(items):,} accepted item(s) were not stored ({reason}{last}); they are handed back in the "
            f"error's .items (ids: {shown}): send them again once the server takes writes"
        )
        self.items, self.ids, self.cause = items, ids, cause


class BufferFullError(UnstoredItemsError):
    """A streaming writer's buffer stayed full for its whole ``add_timeout``: the item was not taken."""
