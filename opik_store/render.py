"""Render one migration statement for a database and a topology.

A migration author writes each statement once, in single-node form, with
unqualified table names (``CREATE TABLE spans (...) ENGINE =
ReplacingMergeTree(last_updated_at) ...``). This module turns it into the exact
statement to run:

* the table name is qualified with the (quoted) target database;
* every statement is made idempotent: ``IF NOT EXISTS`` / ``IF EXISTS`` on
  CREATE/DROP/TRUNCATE and on column, index and projection actions of ALTER,
  so a re-run after an interruption finishes the job instead of failing;
* in cluster mode, ``ON CLUSTER '<name>'`` follows the table name, MergeTree
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

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
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


@dataclass(frozen=True)
class Rendered:
    """A statement ready to run, with what it does.

    ``kind`` is one of create_table, alter_table, drop_table, truncate_table.
    ``destructive`` marks statements that lose data when run (DROP TABLE,
    TRUNCATE, ALTER ... DROP COLUMN / DROP or DETACH PARTITION, DELETE).
    """

    sql: str
    kind: str
    table: str
    destructive: bool

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def render_statement(source: str, database: str, topology: Topology) -> Rendered:
    """Render ``source`` (one single-node statement) for ``database``/``topology``.

    Raises RenderError naming the problem when the statement is not one of the
    supported kinds, is already qualified or clustered, or does not parse.
    """
    tokens = _tokenize(source)
    _parse(source)
    edits: list[tuple[int, int, str]] = []  # (start, end_exclusive, replacement)
    lead = (_word(tokens, 0), _word(tokens, 1))
    if lead == ("CREATE", "TABLE"):
        kind, guard = "create_table", "IF NOT EXISTS"
    elif lead == ("ALTER", "TABLE"):
        kind, guard = "alter_table", ""
    elif lead == ("DROP", "TABLE"):
        kind, guard = "drop_table", "IF EXISTS"
    elif lead[0] == "TRUNCATE":
        kind, guard = "truncate_table", "IF EXISTS"
    else:
        raise RenderError(
            f"unsupported statement (supported: CREATE TABLE, ALTER TABLE, DROP TABLE, TRUNCATE TABLE): "
            f"{_excerpt(source)}"
        )
    if any(_word(tokens, j) == "ON" and _word(tokens, j + 1) == "CLUSTER" for j in range(len(tokens))):
        raise RenderError(f"write statements without ON CLUSTER; it is added for cluster mode: {_excerpt(source)}")

    # Locate the table name: the first identifier after the leading keywords.
    i = 2 if kind != "truncate_table" else 1
    if _word(tokens, i) == "TABLE":
        i += 1
    has_guard = _word(tokens, i) == "IF"
    if has_guard:
        i += 3 if _word(tokens, i + 1) == "NOT" else 2
    if i >= len(tokens):
        raise RenderError(f"no table name in: {_excerpt(source)}")
    name_tok = tokens[i]
    if i + 1 < len(tokens) and tokens[i + 1].text == ".":
        raise RenderError(
            f"table names must not be qualified with a database (it is chosen at run time): {_excerpt(source)}"
        )
    table = name_tok.text
    if guard and not has_guard:
        edits.append((name_tok.start, name_tok.start, guard + " "))
    qualified = f"{quote_identifier(database, 'database name')}.{quote_identifier(table, 'table name')}"
    suffix = f" ON CLUSTER {quote_string(topology.cluster)}" if topology.cluster else ""
    edits.append((name_tok.start, name_tok.end + 1, qualified + suffix))

    destructive = kind in {"drop_table", "truncate_table"}
    if kind == "alter_table":
        destructive = _alter_edits(tokens, i + 1, edits)
    if kind == "create_table" and topology.cluster:
        _replicate_engine(source, tokens, topology, edits)
    if kind == "drop_table" and topology.cluster and tokens[-1].text.upper() != "SYNC":
        edits.append((tokens[-1].end + 1, tokens[-1].end + 1, " SYNC"))

    first, last = tokens[0].start, tokens[-1].end + 1
    sql = _apply(source, edits, first, last)
    return Rendered(sql=sql, kind=kind, table=table, destructive=destructive)


def _tokenize(source: str) -> list[Token]:
    try:
        tokens = [t for t in _DIALECT.tokenize(source)]
    except TokenError as exc:
        raise RenderError(f"cannot tokenize statement: {exc}: {_excerpt(source)}") from None
    while tokens and tokens[-1].text == ";":
        tokens.pop()
    if not tokens:
        raise RenderError("empty statement")
    if any(t.text == ";" for t in tokens):
        raise RenderError(f"one statement per entry, found several: {_excerpt(source)}")
    return tokens


def _parse(source: str) -> exp.Expr:
    """Check the statement with sqlglot's ClickHouse parser.

    Syntax sqlglot does not model (multi-action ALTER, for one) comes back as an
    opaque Command; such statements are still checked by ClickHouse's own
    parser in the test suite.
    """
    try:
        with _quiet_sqlglot():
            trees = [t for t in sqlglot.parse(source, read="clickhouse") if t is not None]
    except ParseError as exc:
        raise RenderError(f"cannot parse statement: {str(exc).splitlines()[0]}: {_excerpt(source)}") from None
    if len(trees) != 1:
        raise RenderError(f"one statement per entry, found {len(trees)}: {_excerpt(source)}")
    return trees[0]


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _word(tokens: list[Token], i: int) -> str:
    return tokens[i].text.upper() if 0 <= i < len(tokens) else ""


def _alter_edits(tokens: list[Token], start: int, edits: list[tuple[int, int, str]]) -> bool:
    """Add idempotency guards to ALTER actions; return whether any action loses data."""
    depth = 0
    destructive = False
    for j in range(start, len(tokens)):
        text = tokens[j].text
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        if depth:
            continue
        verb, noun = _word(tokens, j), _word(tokens, j + 1)
        if verb in {"DROP", "DETACH"} and noun in {"COLUMN", "PARTITION", "PART"}:
            destructive = True
        if verb == "DELETE" and noun == "WHERE":
            destructive = True
        guard = _ALTER_GUARDS.get((verb, noun))
        if guard and _word(tokens, j + 2) != "IF":
            edits.append((tokens[j + 2].start, tokens[j + 2].start, guard + " "))
    return destructive


def _replicate_engine(source: str, tokens: list[Token], topology: Topology, edits: list[tuple[int, int, str]]) -> None:
    depth = 0
    for j, tok in enumerate(tokens):
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        if depth or tok.text.upper() != "ENGINE":
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
            close = _matching(tokens, k + 1)
            args = source[tokens[k + 1].end + 1 : tokens[close].start].strip()
            end = tokens[close].end + 1
        replicated = [quote_string(topology.replica_path), quote_string(topology.replica_name)]
        if args:
            replicated.append(args)
        edits.append((name_tok.start, end, f"Replicated{engine}({', '.join(replicated)})"))
        return
    raise RenderError("CREATE TABLE without ENGINE: name the engine explicitly")


def _matching(tokens: list[Token], open_index: int) -> int:
    depth = 0
    for j in range(open_index, len(tokens)):
        if tokens[j].text == "(":
            depth += 1
        elif tokens[j].text == ")":
            depth -= 1
            if depth == 0:
                return j
    raise RenderError("unbalanced parentheses in engine clause")


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
