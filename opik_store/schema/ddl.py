"""The canonical table definitions kept in ``ddl/``.

Each ``ddl/<table>.sql`` holds one CREATE TABLE statement in single-node form
with an unqualified table name: the current shape of that table. Revisions are
frozen history and carry their own statements; the test suite proves that
applying every revision yields exactly these definitions, and ``check``
compares a live database against them. See ``ddl/README.md`` for the design.
"""

from __future__ import annotations

from functools import cache

from opik_store.errors import ConfigError
from opik_store.resources import data_dir

#: Objects owned by the store, in creation order (traces and spans read the
#: ``retention`` lookup table in their MATERIALIZED class column).
TABLES = ("retention_rules", "retention", "traces", "spans")


@cache
def ddl(table: str) -> str:
    """The CREATE TABLE statement of ``table`` as written in ``ddl/<table>.sql``."""
    path = data_dir("ddl") / f"{table}.sql"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in data_dir("ddl").glob("*.sql")))
        raise ConfigError(f"no DDL for table {table!r} (known: {known})")
    return path.read_text(encoding="utf-8")
