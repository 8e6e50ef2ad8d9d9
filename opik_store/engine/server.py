"""Checks made on a server before anything is changed on it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from opik_store.engine.adapter import Adapter
from opik_store.errors import ConfigError, UnsupportedServerError

#: The oldest ClickHouse release opik-store supports (the one Opik ships).
MIN_VERSION = (25, 3)


@dataclass(frozen=True)
class ServerInfo:
    version: str


def parse_version(text: str) -> tuple[int, ...]:
    """``'26.9.2.1'`` -> ``(26, 9, 2, 1)``; anything unparseable raises UnsupportedServerError."""
    parts = re.findall(r"\d+", text)
    if len(parts) < 2:
        raise UnsupportedServerError(f"cannot read the server version from {text!r}")
    return tuple(int(p) for p in parts)


def check_version(version: str, minimum: tuple[int, int] = MIN_VERSION) -> None:
    """Refuse servers older than ``minimum`` with a message saying what to do."""
    if parse_version(version)[:2] < minimum:
        need = ".".join(map(str, minimum))
        raise UnsupportedServerError(
            f"ClickHouse {version} is too old: opik-store needs {need} or newer "
            "(TTL, Map, UUIDv7 functions and lightweight DDL it relies on). Upgrade the server."
        )


def server_info(adapter: Adapter) -> ServerInfo:
    return ServerInfo(version=str(adapter.query("SELECT version()").scalar()))


def check_settings(adapter: Adapter, names: Iterable[str]) -> None:
    """Raise ConfigError naming every setting the server does not know."""
    wanted = sorted(set(names))
    if not wanted:
        return
    rows = adapter.query(
        "SELECT name FROM system.settings WHERE name IN (SELECT arrayJoin(splitByChar(',', {names:String})))",
        {"names": ",".join(wanted)},
    )
    known = {r[0] for r in rows.rows}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ConfigError(f"unknown ClickHouse setting(s): {', '.join(unknown)} (not in system.settings)")
