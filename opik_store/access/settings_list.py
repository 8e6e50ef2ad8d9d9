"""The ClickHouse setting names a profile may use, shipped for installs without an engine to ask.

``profiles check`` and ``profiles render-xml`` validate a profile's setting names (and values) against a
server: the one ``--url`` names, or an in-memory embedded engine. The lean install (``pip install
opik-store``, no chdb) has neither without a URL, so the names are checked against ``settings.txt`` beside
this module: the names of ``system.settings`` of the engine version the package was built with (values are
not checked offline; the command says so). ``tests/test_profiles.py`` compares the list with the engine's
own ``system.settings``.

Refresh it after upgrading chdb: ``python -m opik_store.access.settings_list --refresh``.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

LIST = Path(__file__).with_name("defaults") / "settings.txt"


@cache
def known_settings() -> frozenset[str]:
    """The shipped setting names (comment lines start with ``#``)."""
    lines = LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def engine_settings() -> list[str]:
    """The setting names of the embedded engine installed here (needs chdb), sorted."""
    import chdb

    conn = chdb.connect(":memory:")  # type: ignore[no-untyped-call]
    try:
        text = conn.query("SELECT name FROM system.settings ORDER BY name", "TabSeparated").bytes().decode()
        version = conn.query("SELECT version()", "TabSeparated").bytes().decode().strip()
    finally:
        conn.close()
    return [f"# system.settings of ClickHouse {version} (chdb); refresh: python -m opik_store.access.settings_list "
            "--refresh", *text.split()]  # fmt: skip


def main(argv: list[str]) -> int:
    if argv != ["--refresh"]:
        print("usage: python -m opik_store.access.settings_list --refresh", file=sys.stderr)
        return 2
    lines = engine_settings()
    LIST.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {LIST}: {len(lines) - 1} setting names")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
