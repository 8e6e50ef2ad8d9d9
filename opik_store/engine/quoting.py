"""Quoting of identifiers and literals for ClickHouse SQL.

Values that come from users are bound as query parameters wherever ClickHouse
allows it. Identifiers (database, table, cluster names) cannot be bound, so they
are validated and quoted here: any name is accepted except empty names and
names with control characters, and the quoted form can never end the
identifier early.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from opik_store.errors import ConfigError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_name(name: str, what: str) -> str:
    """Return ``name`` if it can be a ClickHouse identifier, else raise ConfigError."""
    if not name:
        raise ConfigError(f"{what} must not be empty")
    if _CONTROL.search(name):
        raise ConfigError(f"{what} {name!r} contains control characters")
    if len(name) > 206:
        raise ConfigError(f"{what} {name!r} is longer than 206 characters")
    return name


def quote_identifier(name: str, what: str = "identifier") -> str:
    """Backquote ``name`` for use as a database/table/column name."""
    check_name(name, what)
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value: str) -> str:
    """Single-quote ``value`` as a ClickHouse string literal.

    Only for values ClickHouse cannot take as a bound parameter (engine
    arguments, ON CLUSTER names, SET values). Rejects control characters.
    """
    if _CONTROL.search(value):
        raise ConfigError(f"value {value!r} contains control characters")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def check_setting_name(name: str) -> str:
    """Return ``name`` if it has the shape of a ClickHouse setting name."""
    if not _SETTING_NAME.match(name):
        raise ConfigError(f"invalid setting name {name!r}: expected letters, digits and underscores")
    return name


def setting_literal(value: str) -> str:
    """Render a setting value: integers and decimals bare, anything else quoted."""
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return value
    return quote_string(value)


def settings_clause(settings: Mapping[str, str]) -> str:
    """`` SETTINGS a = 1, b = 'x'`` for one statement ('' when empty); names checked, values quoted."""
    if not settings:
        return ""
    return " SETTINGS " + ", ".join(
        f"{check_setting_name(name)} = {setting_literal(value)}" for name, value in settings.items()
    )


def top_level(text: str) -> Iterator[tuple[int, str]]:
    """(offset, character) of every character of ``text`` outside quotes and parentheses.

    Quotes are ``'``, ``"`` and backquotes, with backslash escapes inside them;
    the parentheses themselves are not yielded. This is the one scanner the
    DDL helpers share, so they agree on what "top level" means.
    """
    depth, quote, escaped = 0, "", False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "'`\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0:
            yield i, ch


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split ``text`` at ``sep`` outside parentheses and quotes; parts are stripped, empty ones dropped."""
    cuts = [i for i, ch in top_level(text) if ch == sep]
    parts = [text[a + 1 : b] for a, b in zip([-1, *cuts], [*cuts, len(text)], strict=True)]
    return [part.strip() for part in parts if part.strip()]
