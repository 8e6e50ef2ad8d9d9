"""Client-side binding of ``{name:Type}`` query parameters, for servers that cannot bind them.

ClickHouse binds ``{name:Type}`` parameters itself since protocol revision
54459 (22.x); the native adapter sends them to such servers. An older server
(the 18.16 of the cluster test harness) reads the placeholder as a syntax
error, so for it the adapter binds here instead, with the same SQL text.

Rules :func:`bind` keeps:

* Each placeholder outside string literals, quoted identifiers and comments
  becomes ``CAST(<literal> AS <Type>)``: the value keeps the type the
  placeholder declares, exactly as server-side binding would give it.
* The literal comes from the caller's ``escape`` (the driver's own escaping of
  strings, numbers, NULL, lists and UUIDs); a value is never spliced as SQL
  text, so a hostile value stays data. Datetimes are rendered here in UTC
  (with microseconds for DateTime64), since the driver would render them in
  the server's timezone without microseconds.
* A placeholder without a value, or an unterminated placeholder, literal or
  comment, is a ValueError: nothing is sent. Values no placeholder names are
  ignored, as the server ignores them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

_NAME = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:")


def _skip_quoted(sql: str, i: int) -> int:
    """Index just past the quoted token starting at ``sql[i]`` (backslash escapes and doubled quotes)."""
    quote = sql[i]
    j = i + 1
    while j < len(sql):
        ch = sql[j]
        if ch == "\\":
            j += 2
            continue
        if ch == quote:
            if j + 1 < len(sql) and sql[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    raise ValueError(f"unterminated {quote} literal in query")


def _placeholder_end(sql: str, i: int) -> int:
    """Index of the ``}`` closing the placeholder whose type starts at ``sql[i]`` (quotes inside skipped)."""
    j = i
    while j < len(sql):
        ch = sql[j]
        if ch in "'\"`":
            j = _skip_quoted(sql, j)
            continue
        if ch == "}":
            return j
        j += 1
    raise ValueError("unterminated {name:Type} placeholder in query")


def _literal(value: Any, ctype: str, escape: Callable[[Any], Any]) -> str:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        text = moment.strftime("%Y-%m-%d %H:%M:%S.%f" if "DateTime64" in ctype else "%Y-%m-%d %H:%M:%S")
        value = text
    return str(escape(value))


def bind(sql: str, params: Mapping[str, Any], escape: Callable[[Any], Any]) -> str:
    """``sql`` with every ``{name:Type}`` placeholder replaced by ``CAST(<escaped value> AS Type)``."""
    out: list[str] = []
    i = start = 0
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"`":
            i = _skip_quoted(sql, i)
        elif sql.startswith("--", i):
            nl = sql.find("\n", i)
            i = len(sql) if nl < 0 else nl + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated comment in query")
            i = end + 2
        elif ch == "{" and (m := _NAME.match(sql, i)):
            name = m.group(1)
            end = _placeholder_end(sql, m.end())
            ctype = sql[m.end() : end].strip()
            if name not in params:
                raise ValueError(f"query parameter {name!r} has no value")
            out.append(sql[start:i])
            out.append(f"CAST({_literal(params[name], ctype, escape)} AS {ctype})")
            i = start = end + 1
        else:
            i += 1
    out.append(sql[start:])
    return "".join(out)
