"""Render one migration statement for a database and a topology.

A migration author writes each statement once, in single-node form, with
unqualified table names (``CREATE TABLE spans (...) ENGINE =
ReplacingMergeTree(last_updated_at) ...``). This module turns it into the exact
statement to run:

* table names are qualified with the (quoted) target database;
* every statement is made idempotent: ``IF NOT EXISTS`` / ``IF EXISTS`` on
  CREATE/DROP/TRUNCATE/RENAME and on column, index and projection actions of
  ALTER, so a re-run after an interruption finishes the job instead of failing
  (EXCHANGE TABLES cannot be, and says so);
* in cluster mode, ``ON CLUSTER '<name>'`` follows the table name(s), MergeTree
  family engines become their ``Replicated*`` form with the configured path
  and replica name (the author's engine arguments are kept), and DROP gets
  ``SYNC`` so a re-created table never meets its own stale replica path.

The statement is parsed with sqlglot (ClickHouse dialect) to classify and
validate it, and the changes are spliced into the author's text at token
offsets. sqlglot's generator is deliberately not used for output: it rewrites
expressions (``if`` -> ``CASE``, ``INTERVAL 30 DAY`` -> ``INTERVAL '30' DAY``,
``MODIFY COLUMN`` -> ``ALTER COLUMN ... TYPE``), and the rendered SQL must be
the author's SQL, byte for byte, outside the spliced parts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlglot
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token

from opik_store.config import Topology
from opik_store.errors import RenderError
from opik_store.quoting import quote_identifier, quote_string

_DIALECT = sqlglot.Dialect.get_or_raise("clickhouse")

#: ALTER actions made idempotent, and the guard each one takes.
_ALTER_GUARDS = {
    ("ADD", "COLUMN"): "IF NOT EXISTS",
    ("ADD", "INDEX"): "IF NOT EXISTS",
    ("ADD", "PROJECTION"): "IF NOT EXISTS",
    ("ADD", "CONSTRAINT"): "IF NOT EXISTS",
    ("DROP", "COLUMN"): "IF EXISTS",
    ("DROP", "INDEX"): "IF EXISTS",
    ("DROP", "PROJECTION"): "IF EXISTS",
    ("DROP", "CONSTRAINT"): "IF EXISTS",
    ("MODIFY", "COLUMN"): "IF EXISTS",
    ("RENAME", "COLUMN"): "IF EXISTS",
    ("CLEAR", "COLUMN"): "IF EXISTS",
    ("COMMENT", "COLUMN"): "IF EXISTS",
}

#: Leading keywords -> (kind, guard placed before the first table name).
_LEADS = {
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
class Rendered:
    """A statement ready to run, with what it does.

    ``kind`` is one of create_table, alter_table, drop_table, truncate_table,
    rename_table, exchange_tables, create_dictionary, drop_dictionary,
    create_view, drop_view. ``hazards`` names every way the statement
    can lose or reshape data (see lint.py); ``idempotent`` is False for the
    statements that must not run twice (EXCHANGE TABLES swaps back).
    """

    sql: str
    kind: str
    table: str
    hazards: tuple[str, ...] = ()
    idempotent: bool = True

    @property
    def destructive(self) -> bool:
        return bool(self.hazards)


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
    if lead not in _LEADS:
        raise RenderError(f"unsupported statement (supported: {SUPPORTED}): {_excerpt(source)}")
    if any(word(tokens, j) == "ON" and word(tokens, j + 1) == "CLUSTER" for j in range(len(tokens))):
        raise RenderError(f"write statements without ON CLUSTER; it is added for cluster mode: {_excerpt(source)}")
    kind = _LEADS[lead][0]
    i = first_name
    has_guard = word(tokens, i) == "IF"
    if has_guard:
        i += 3 if word(tokens, i + 1) == "NOT" else 2
    names = [i]
    if kind in {"rename_table", "exchange_tables"}:
        joiner = "TO" if kind == "rename_table" else "AND"
        if word(tokens, i + 1) != joiner or i + 2 >= len(tokens) or i + 3 < len(tokens):
            raise RenderError(f"expected `{lead[0]} {lead[1]} a {joiner} b` (one pair): {_excerpt(source)}")
        names.append(i + 2)
    cluster_after = names[-1]
    if kind == "create_table" and word(tokens, i + 1) == "AS" and word(tokens, i + 2) not in {"", "(", "SELECT"}:
        names.append(i + 2)  # CREATE TABLE t AS source: the source is a table in the same database
    for n in names:
        if n >= len(tokens):
            raise RenderError(f"no table name in: {_excerpt(source)}")
        if n + 1 < len(tokens) and tokens[n + 1].text == ".":
            raise RenderError(
                f"table names must not be qualified with a database (it is chosen at run time): {_excerpt(source)}"
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


def render_statement(source: str, database: str, topology: Topology, guard: bool = True) -> Rendered:
    """Render ``source`` (one single-node statement) for ``database``/``topology``.

    With ``guard`` (the default) the statement is made idempotent; with
    ``guard=False`` a CREATE still fails when its table exists, which the
    migration lock relies on. Raises RenderError naming the problem when the
    statement is not one of the supported kinds, is already qualified or
    clustered, or does not parse.
    """
    from opik_store.lint import statement_hazards

    parsed = parse_statement(source)
    tokens, kind = parsed.tokens, parsed.kind
    edits: list[tuple[int, int, str]] = []  # (start, end_exclusive, replacement)
    first = tokens[parsed.names[0]]
    guard_text = _LEADS[parsed.lead][1]
    if guard and guard_text and not parsed.has_guard:
        edits.append((first.start, first.start, guard_text + " "))
    db = quote_identifier(database, "database name")
    for n in parsed.names:
        tok = tokens[n]
        edits.append((tok.start, tok.end + 1, f"{db}.{quote_identifier(tok.text, 'table name')}"))
    if topology.cluster:
        after = tokens[parsed.cluster_after]
        edits.append((after.end + 1, after.end + 1, topology.on_cluster))
    if kind == "alter_table" and guard:
        for j, verb, noun in top_level_words(tokens, parsed.names[0] + 1):
            action_guard = _ALTER_GUARDS.get((verb, noun))
            if action_guard and word(tokens, j + 2) != "IF" and j + 2 < len(tokens):
                edits.append((tokens[j + 2].start, tokens[j + 2].start, action_guard + " "))
    if kind == "create_table" and topology.cluster:
        _replicate_engine(source, tokens, topology, edits, copies_source=len(parsed.names) > 1)
    _qualify_dictionaries(tokens, database, edits)
    if kind == "create_view":
        _qualify_sources(tokens, parsed.names[0] + 1, database, edits)
    if kind == "drop_table" and topology.cluster and tokens[-1].text.upper() != "SYNC":
        edits.append((tokens[-1].end + 1, tokens[-1].end + 1, " SYNC"))

    sql = _apply(source, edits, tokens[0].start, tokens[-1].end + 1)
    return Rendered(
        sql=sql,
        kind=kind,
        table=parsed.table,
        hazards=statement_hazards(parsed),
        idempotent=kind != "exchange_tables",
    )


def _qualify_dictionaries(tokens: list[Token], database: str, edits: list[tuple[int, int, str]]) -> None:
    """``dictGet*('name', ...)`` -> ``dictGet*('<database>.name', ...)``: ClickHouse resolves an
    unqualified dictionary name in a column expression against the session's database, not the table's."""
    for j, tok in enumerate(tokens[:-2]):
        if not tok.text.lower().startswith(("dictget", "dicthas")) or tokens[j + 1].text != "(":
            continue
        arg = tokens[j + 2]
        if arg.token_type.name == "STRING" and "." not in arg.text:
            edits.append((arg.start, arg.end + 1, quote_string(f"{database}.{arg.text}")))


def _qualify_sources(tokens: list[Token], start: int, database: str, edits: list[tuple[int, int, str]]) -> None:
    """Qualify unqualified table names after FROM/JOIN in a view's query.

    ``FROM`` inside a function call (``EXTRACT(DAY FROM t)``, ``trim(BOTH ' ' FROM s)``)
    is not a table source: only the top level and subquery parentheses count.
    """
    stack: list[bool] = []  # per open parenthesis: is it a subquery?
    db = quote_identifier(database, "database name")
    for j in range(start, len(tokens)):
        text = tokens[j].text
        if text == "(":
            stack.append(word(tokens, j + 1) in {"SELECT", "WITH"})
            continue
        if text == ")":
            if stack:
                stack.pop()
            continue
        if stack and not stack[-1]:
            continue
        current = word(tokens, j)
        if current != "FROM" and not current.endswith("JOIN"):
            continue
        name = tokens[j + 1] if j + 1 < len(tokens) else None
        if name is None or name.token_type.name not in {"VAR", "IDENTIFIER"}:
            continue
        if word(tokens, j + 2) in {".", "("}:
            continue
        edits.append((name.start, name.end + 1, f"{db}.{quote_identifier(name.text, 'table name')}"))


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
        raise RenderError(f"cannot tokenize statement: {exc}: {_excerpt(source)}") from None
    while tokens and tokens[-1].text == ";":
        tokens.pop()
    if not tokens:
        raise RenderError("empty statement")
    if any(t.text == ";" for t in tokens):
        raise RenderError(f"one statement per entry, found several: {_excerpt(source)}")
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
        raise RenderError(f"cannot parse statement: {str(exc).splitlines()[0]}: {_excerpt(source)}") from None
    if len(trees) != 1:
        raise RenderError(f"one statement per entry, found {len(trees)}: {_excerpt(source)}")


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _replicate_engine(
    source: str, tokens: list[Token], topology: Topology, edits: list[tuple[int, int, str]], copies_source: bool
) -> None:
    for j, current, _ in top_level_words(tokens, 0):
        if current != "ENGINE":
            continue
        k = j + 1 if tokens[j + 1].text != "=" else j + 2
        name_tok = tokens[k]
        engine = name_tok.text
        if engine.startswith("Replicated"):
            raise RenderError(f"write the single-node engine ({engine[10:]}); Replicated is added for cluster mode")
        if not engine.endswith("MergeTree"):
            return  # Memory, Distributed, Null, ...: the same on every topology
        args, end = "", name_tok.end + 1
        if k + 1 < len(tokens) and tokens[k + 1].text == "(":
            close = matching_paren(tokens, k + 1)
            args = source[tokens[k + 1].end + 1 : tokens[close].start].strip()
            end = tokens[close].end + 1
        replicated = [quote_string(topology.replica_path), quote_string(topology.replica_name)]
        if args:
            replicated.append(args)
        edits.append((name_tok.start, end, f"Replicated{engine}({', '.join(replicated)})"))
        return
    if not copies_source:  # CREATE TABLE t AS source copies the source's (replicated) engine
        raise RenderError("CREATE TABLE without ENGINE: name the engine explicitly")


def _apply(source: str, edits: list[tuple[int, int, str]], first: int, last: int) -> str:
    out: list[str] = []
    pos = first
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1])):
        out.append(source[pos:start])
        out.append(text)
        pos = max(pos, end)
    out.append(source[pos:last])
    return "".join(out)


def _excerpt(source: str) -> str:
    flat = " ".join(source.split())
    return flat if len(flat) <= 120 else flat[:117] + "..."
