"""The columns of each ``ddl/`` table, read from the DDL text itself.

This is the one place other parts (typed table metadata, the batch writer's
validation) learn column names, types, enum values and which columns a client
may write. Nothing here is a second hand-kept list: every answer is parsed from
``ddl/<table>.sql``, and tests/test_tables.py proves the result equals the live
``system.columns`` of a migrated database.

Rules kept:

* Columns come in DDL order; INDEX/PROJECTION/CONSTRAINT entries are skipped.
* ``kind`` is the default kind as ClickHouse names it ('' for none, DEFAULT,
  MATERIALIZED, ALIAS, EPHEMERAL); MATERIALIZED and ALIAS columns are not
  insertable.
* The type text is the author's, up to the first top-level DEFAULT,
  MATERIALIZED, ALIAS, EPHEMERAL, CODEC, COMMENT or TTL keyword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from opik_store.engine.quoting import split_top_level, top_level
from opik_store.errors import ConfigError
from opik_store.schema.ddl import ddl

_STOP = ("DEFAULT", "MATERIALIZED", "ALIAS", "EPHEMERAL", "CODEC", "COMMENT", "TTL")
_SKIP = ("INDEX", "PROJECTION", "CONSTRAINT")


@dataclass(frozen=True)
class ColumnDef:
    """One column as written in ddl/."""

    name: str
    type: str
    kind: str  # '', DEFAULT, MATERIALIZED, ALIAS or EPHEMERAL
    expression: str

    @property
    def insertable(self) -> bool:
        return self.kind not in ("MATERIALIZED", "ALIAS")


def _strip_comments(text: str) -> str:
    """Drop whole-line ``--`` comments (ddl/ files carry no comment after code on a line)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def _top_level_keyword(text: str) -> tuple[int, str]:
    """Offset and name of the first stop keyword at depth 0 outside quotes, or (len, '')."""
    for i, _ in top_level(text):
        if i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_"):
            continue
        for word in _STOP:
            end = i + len(word)
            if text[i:end].upper() == word and (end == len(text) or not (text[end].isalnum() or text[end] == "_")):
                return i, word
    return len(text), ""


@cache
def columns(table: str) -> tuple[ColumnDef, ...]:
    """The columns of ddl/<table>.sql, in order; ConfigError when the text has no column list."""
    text = _strip_comments(ddl(table))
    start = text.find("(")
    if start < 0:
        raise ConfigError(f"ddl/{table}.sql has no column list")
    depth, end = 0, -1
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                end = i
                break
    out: list[ColumnDef] = []
    for item in split_top_level(text[start + 1 : end]):
        item = " ".join(item.split())
        head = item.split(" ", 1)[0]
        if head.upper() in _SKIP:
            continue
        name = head.strip("`")
        rest = item[len(head) :].strip()
        at, word = _top_level_keyword(rest)
        ctype = rest[:at].strip()
        kind, expression = "", ""
        if word in ("DEFAULT", "MATERIALIZED", "ALIAS", "EPHEMERAL"):
            after = rest[at + len(word) :].strip()
            stop, _ = _top_level_keyword(after)
            kind, expression = word, after[:stop].strip()
        out.append(ColumnDef(name, ctype, kind, expression))
    return tuple(out)


_ENUM_ITEM = re.compile(r"'((?:[^'\\]|\\.)*)'\s*=\s*(-?\d+)")


def enum_values(type_text: str) -> dict[str, int]:
    """``Enum8('a' = 0, 'b' = 1)`` -> {'a': 0, 'b': 1}; {} for any other type."""
    if not re.match(r"^Enum(8|16)?\(", type_text):
        return {}
    return {
        m.group(1).replace("\\'", "'").replace("\\\\", "\\"): int(m.group(2)) for m in _ENUM_ITEM.finditer(type_text)
    }
