"""Tokenize and classify one migration statement.

Every statement the store runs or lints passes through :func:`parse_statement`
first: it must be exactly one statement of a supported kind, parse with
sqlglot's ClickHouse dialect, name its tables unqualified, and carry no
``ON CLUSTER`` (the renderer adds it). The token helpers here (``word``,
``top_level_words``, ``matching_paren``) are shared by the renderer and the
lint, which both work on the author's own tokens, never on regenerated SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlglot
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token

from opik_store.errors import RenderError

_DIALECT = sqlglot.Dialect.get_or_raise("clickhouse")

#: Leading keywords -> (kind, guard placed before the first table name).
LEADS = {
    ("CREATE", "TABLE"): ("create_table", "IF NOT EXISTS"),
    ("ALTER", "TABLE"): ("alter_table", ""),
    ("DROP", "TABLE"): ("drop_table", "IF EXISTS"),
    ("TRUNCATE", "TABLE"): ("truncate_table", "IF EXISTS"),
    ("RENAME", "TABLE"): ("rename_table", "IF EXISTS"),
    ("EXCHANGE", "TABLES"): ("exchange_tables", ""),
    ("CREATE", "DICTIONARY"): ("create_dictionary", "IF NOT EXISTS"),
    ("DROP", "DICTIONARY"): ("drop_dictionary", "IF EXISTS"),
    ("CREATE", "VIEW"): ("create_view", "IF NOT EXISTS"),
    ("DROP", "VIEW"): ("drop_view", "IF EXISTS"),
}
SUPPORTED = (
    "CREATE TABLE, ALTER TABLE, DROP TABLE, TRUNCATE TABLE, RENAME TABLE, EXCHANGE TABLES, "
    "CREATE DICTIONARY, DROP DICTIONARY, CREATE VIEW, DROP VIEW"
)


@dataclass(frozen=True)
class Parsed:
    """A statement's tokens and what they say: its kind and where its table names stand."""

    source: str
    tokens: list[Token]
    kind: str
    names: list[int]  # token indexes of the table names, in order
    lead: tuple[str, str]
    has_guard: bool
    cluster_after: int  # token index after which ON CLUSTER goes

    @property
    def table(self) -> str:
        return self.tokens[self.names[0]].text


def parse_statement(source: str) -> Parsed:
    """Tokenize and classify one single-node statement; RenderError when it is not supported."""
    tokens = _tokenize(source)
    _check_syntax(source)
    lead = (word(tokens, 0), word(tokens, 1))
    first_name = 2
    if lead[0] == "TRUNCATE" and lead[1] != "TABLE":
        lead, first_name = ("TRUNCATE", "TABLE"), 1
    if lead not in LEADS:
        raise RenderError(f"unsupported statement (supported: {SUPPORTED}): {excerpt(source)}")
    if any(word(tokens, j) == "ON" and word(tokens, j + 1) == "CLUSTER" for j in range(len(tokens))):
        raise RenderError(f"write statements without ON CLUSTER; it is added for cluster mode: {excerpt(source)}")
    kind = LEADS[lead][0]
    i = first_name
    has_guard = word(tokens, i) == "IF"
    if has_guard:
        i += 3 if word(tokens, i + 1) == "NOT" else 2
    names = [i]
    if kind in {"rename_table", "exchange_tables"}:
        joiner = "TO" if kind == "rename_table" else "AND"
        if word(tokens, i + 1) != joiner or i + 2 >= len(tokens) or i + 3 < len(tokens):
            raise RenderError(f"expected `{lead[0]} {lead[1]} a {joiner} b` (one pair): {excerpt(source)}")
        names.append(i + 2)
    cluster_after = names[-1]
    if kind == "create_table" and word(tokens, i + 1) == "AS" and word(tokens, i + 2) not in {"", "(", "SELECT"}:
        names.append(i + 2)  # CREATE TABLE t AS source: the source is a table in the same database
    for n in names:
        if n >= len(tokens):
            raise RenderError(f"no table name in: {excerpt(source)}")
        if n + 1 < len(tokens) and tokens[n + 1].text == ".":
            raise RenderError(
                f"table names must not be qualified with a database (it is chosen at run time): {excerpt(source)}"
            )
    return Parsed(
        source=source,
        tokens=tokens,
        kind=kind,
        names=names,
        lead=lead,
        has_guard=has_guard,
        cluster_after=cluster_after,
    )


def word(tokens: list[Token], i: int) -> str:
    """The upper-cased text of token ``i`` (one space inside ``ORDER BY``), or '' past either end."""
    return " ".join(tokens[i].text.upper().split()) if 0 <= i < len(tokens) else ""


def top_level_words(tokens: list[Token], start: int) -> Iterator[tuple[int, str, str]]:
    """(index, word, next word) for every token outside parentheses, from ``start``."""
    depth = 0
    for j in range(start, len(tokens)):
        text = tokens[j].text
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif depth == 0:
            yield j, word(tokens, j), word(tokens, j + 1)


def matching_paren(tokens: list[Token], open_index: int) -> int:
    """Index of the ``)`` closing the ``(`` at ``open_index``."""
    depth = 0
    for j in range(open_index, len(tokens)):
        if tokens[j].text == "(":
            depth += 1
        elif tokens[j].text == ")":
            depth -= 1
            if depth == 0:
                return j
    raise RenderError("unbalanced parentheses")


def _tokenize(source: str) -> list[Token]:
    try:
        tokens = list(_DIALECT.tokenize(source))
        # sqlglot swallows the rest of statements it treats as opaque commands
        # (RENAME, EXCHANGE) into one bare string token: tokenize that rest too.
        if len(tokens) == 2 and tokens[1].token_type.name == "STRING":
            offset = tokens[0].end + 1
            if source[offset:].lstrip()[:1] not in {"'", '"'}:
                rest = _DIALECT.tokenize(source[offset:])
                tokens = tokens[:1] + [
                    Token(t.token_type, t.text, t.line, t.col, t.start + offset, t.end + offset, t.comments)
                    for t in rest
                ]
    except TokenError as exc:
        raise RenderError(f"cannot tokenize statement: {exc}: {excerpt(source)}") from None
    while tokens and tokens[-1].text == ";":
        tokens.pop()
    if not tokens:
        raise RenderError("empty statement")
    if any(t.text == ";" for t in tokens):
        raise RenderError(f"one statement per entry, found several: {excerpt(source)}")
    return tokens


def _check_syntax(source: str) -> None:
    """Check the statement with sqlglot's ClickHouse parser.

    Syntax sqlglot does not model (multi-action ALTER, RENAME, EXCHANGE) comes
    back as an opaque Command; such statements are still checked by
    ClickHouse's own parser in the test suite.
    """
    try:
        with _quiet_sqlglot():
            trees = [t for t in sqlglot.parse(source, read="clickhouse") if t is not None]
    except ParseError as exc:
        raise RenderError(f"cannot parse statement: {str(exc).splitlines()[0]}: {excerpt(source)}") from None
    if len(trees) != 1:
        raise RenderError(f"one statement per entry, found {len(trees)}: {excerpt(source)}")


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def excerpt(source: str) -> str:
    flat = " ".join(source.split())
    return flat if len(flat) <= 120 else flat[:117] + "..."
