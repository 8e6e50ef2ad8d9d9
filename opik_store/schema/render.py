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
  ``SYNC`` so a re-created table never meets its own stale replica path;
* on the sharded topology (:func:`render_statements`), a statement on a
  sharded table (``schema/sharding.py``) becomes its shard-local form, plus the
  Distributed table's part where it has one (CREATE, DROP, column changes), and
  every other table is rendered cluster-wide: its Keeper path has no
  ``{shard}`` and its replica name is unique across shards.

The statement is parsed with sqlglot (ClickHouse dialect) to classify and
validate it, and the changes are spliced into the author's text at token
offsets. sqlglot's generator is deliberately not used for output: it rewrites
expressions (``if`` -> ``CASE``, ``INTERVAL 30 DAY`` -> ``INTERVAL '30' DAY``,
``MODIFY COLUMN`` -> ``ALTER COLUMN ... TYPE``), and the rendered SQL must be
the author's SQL, byte for byte, outside the spliced parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot.tokenizer_core import Token

from opik_store.config import Topology
from opik_store.engine.quoting import quote_identifier, quote_string
from opik_store.errors import RenderError
from opik_store.schema.lint import statement_hazards
from opik_store.schema.parse import LEADS, Parsed, excerpt, matching_paren, parse_statement, top_level_words, word
from opik_store.schema.sharding import SHARDED_TABLES, is_sharded_table, local_name

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


def render_statement(
    source: str, database: str, topology: Topology, guard: bool = True, on_cluster: bool = True, sync: bool = True
) -> Rendered:
    """Render ``source`` (one single-node statement) for ``database``/``topology`` as ONE statement.

    With ``guard`` (the default) the statement is made idempotent; with
    ``guard=False`` a CREATE still fails when its table exists, which the
    migration lock relies on. With ``on_cluster=False`` a cluster topology
    renders what one node runs by itself: the same statement (Replicated
    engine, SYNC) without the ``ON CLUSTER`` clause. It exists for running the
    cluster DDL node by node where there is no distributed DDL queue (the
    embedded engine refuses ON CLUSTER, code 392: see tests/test_keeper.py);
    the runner always renders ON CLUSTER. ``sync=False`` leaves ``SYNC`` off a
    cluster DROP: only for tables whose name is never created again (lock
    generations), and understood by servers older than 20.x. Raises RenderError naming the problem when the
    statement is not one of the supported kinds, is already qualified or
    clustered, or does not parse, and when the topology needs more than one
    statement for it (a CREATE, DROP or column change of a sharded table:
    use :func:`render_statements`). On the sharded topology a data-only
    statement on a sharded table (TTL, settings, partitions, mutations)
    renders for its shard-local table.
    """
    rendered = render_statements(source, database, topology, guard, on_cluster, sync)
    if len(rendered) != 1:
        raise RenderError(
            f"on the sharded topology this statement becomes {len(rendered)} statements (shard-local and "
            f"Distributed); render it with render_statements: {excerpt(source)}"
        )
    return rendered[0]


def render_statements(
    source: str, database: str, topology: Topology, guard: bool = True, on_cluster: bool = True, sync: bool = True
) -> list[Rendered]:
    """Render ``source`` for ``database``/``topology``: one statement, or several on the sharded topology.

    On the sharded topology, for a table of ``SHARDED_TABLES``:

    * CREATE TABLE ``t`` -> the author's CREATE as ``t_local`` (Replicated, on
      the replica path with ``{shard}``), then ``CREATE TABLE t AS t_local
      ENGINE = Distributed(cluster, database, t_local, <sharding key>)``;
    * DROP TABLE ``t`` -> the Distributed table, then ``t_local``;
    * ALTER TABLE ``t`` with column actions (ADD, DROP, MODIFY, RENAME,
      COMMENT COLUMN) -> ``t_local`` then ``t`` (``t`` then ``t_local`` when
      a column is dropped); an ALTER mixing those with other actions is
      refused (write two statements); any other ALTER, and TRUNCATE -> ``t_local`` only;
    * RENAME and EXCHANGE are refused, and so is ``CREATE TABLE t AS other``.

    Every other table (and every table off the sharded topology) renders as
    :func:`render_statement` describes, cluster-wide on the sharded topology.
    """
    parsed = parse_statement(source)
    names = [parsed.tokens[n].text for n in parsed.names]
    sharded = [name for name in names if is_sharded_table(name, topology)]
    if not sharded:
        path, replica = topology.cluster_wide_path, topology.cluster_wide_replica
        return [_render(parsed, database, topology, guard, {}, path, replica, on_cluster, sync)]
    table = parsed.table
    if parsed.kind not in {"create_table", "drop_table", "alter_table", "truncate_table"} or len(parsed.names) > 1:
        raise RenderError(
            f"{parsed.lead[0]} {parsed.lead[1]} of the sharded table {sharded[0]} is not supported on the sharded "
            f"topology (its rows live in {local_name(sharded[0])} on every shard): {excerpt(source)}"
        )
    local = {table: local_name(table)}
    path, replica = topology.replica_path, topology.replica_name
    if parsed.kind == "truncate_table":
        return [_render(parsed, database, topology, guard, local, path, replica, on_cluster, sync)]
    if parsed.kind == "create_table":
        shard_local = _render(parsed, database, topology, guard, local, path, replica, on_cluster, sync)
        return [shard_local, _distributed(table, database, topology, guard, shard_local.hazards, on_cluster)]
    if parsed.kind == "drop_table":
        dist = _render(parsed, database, topology, guard, {}, path, replica, on_cluster, sync)
        return [dist, _render(parsed, database, topology, guard, local, path, replica, on_cluster, sync)]
    columns, dropping = _column_actions(parsed)
    shard_local = _render(parsed, database, topology, guard, local, path, replica, on_cluster, sync)
    if not columns:
        return [shard_local]
    dist = _render(parsed, database, topology, guard, {}, path, replica, on_cluster, sync)
    return [dist, shard_local] if dropping else [shard_local, dist]


#: ALTER actions on columns that a Distributed table mirrors (CLEAR and MATERIALIZE touch data only).
_MIRRORED = frozenset({"ADD", "DROP", "MODIFY", "RENAME", "COMMENT"})
_ALTER_VERBS = frozenset(
    {"ADD", "DROP", "MODIFY", "RENAME", "CLEAR", "COMMENT", "MATERIALIZE", "DELETE", "UPDATE", "ATTACH", "DETACH",
     "FREEZE", "UNFREEZE", "MOVE", "REPLACE", "FETCH", "APPLY", "REMOVE", "RESET"}
)  # fmt: skip


def _column_actions(parsed: Parsed) -> tuple[bool, bool]:
    """(whether the ALTER changes columns the Distributed table must mirror, whether it drops one).

    RenderError when it mixes such column actions with other actions: each
    kind goes to different tables on the sharded topology.
    """
    tokens = parsed.tokens
    kinds: list[bool] = []
    dropping = False
    expect_action = True
    for j, current, following in top_level_words(tokens, parsed.names[0] + 1):
        if expect_action and current in _ALTER_VERBS:
            mirrored = current in _MIRRORED and following == "COLUMN"
            kinds.append(mirrored)
            dropping = dropping or (mirrored and current == "DROP")
            expect_action = False
        if tokens[j].text == ",":
            expect_action = True
    if any(kinds) and not all(kinds):
        raise RenderError(
            "on the sharded topology an ALTER must change columns only, or leave columns alone: column changes "
            "reach the Distributed table and its shard-local table, other actions the shard-local table only. "
            f"Write them as two statements: {excerpt(parsed.source)}"
        )
    return bool(kinds) and all(kinds), dropping


def _distributed(
    table: str, database: str, topology: Topology, guard: bool, hazards: tuple[str, ...], on_cluster: bool = True
) -> Rendered:
    """``CREATE TABLE t AS t_local ENGINE = Distributed(...)``: the sharded table under the author's name."""
    assert topology.cluster is not None
    db = quote_identifier(database, "database name")
    args = ", ".join(
        [quote_string(topology.cluster), quote_string(database), quote_string(local_name(table)), SHARDED_TABLES[table]]
    )
    sql = (
        f"CREATE TABLE {'IF NOT EXISTS ' if guard else ''}{db}.{quote_identifier(table, 'table name')}"
        f"{topology.on_cluster if on_cluster else ''} AS {db}.{quote_identifier(local_name(table), 'table name')} "
        f"ENGINE = Distributed({args})"
    )
    return Rendered(sql=sql, kind="create_table", table=table, hazards=hazards)


def _render(
    parsed: Parsed,
    database: str,
    topology: Topology,
    guard: bool,
    rename: dict[str, str],
    replica_path: str,
    replica_name: str,
    on_cluster: bool = True,
    sync: bool = True,
) -> Rendered:
    """One rendered statement; ``rename`` maps the author's table names to the ones to run against."""
    source = parsed.source
    tokens, kind = parsed.tokens, parsed.kind
    edits: list[tuple[int, int, str]] = []  # (start, end_exclusive, replacement)
    first = tokens[parsed.names[0]]
    guard_text = LEADS[parsed.lead][1]
    if guard and guard_text and not parsed.has_guard:
        edits.append((first.start, first.start, guard_text + " "))
    db = quote_identifier(database, "database name")
    for n in parsed.names:
        tok = tokens[n]
        name = rename.get(tok.text, tok.text)
        edits.append((tok.start, tok.end + 1, f"{db}.{quote_identifier(name, 'table name')}"))
    if topology.cluster and on_cluster:
        after = tokens[parsed.cluster_after]
        edits.append((after.end + 1, after.end + 1, topology.on_cluster))
    if kind == "alter_table" and guard:
        for j, verb, noun in top_level_words(tokens, parsed.names[0] + 1):
            action_guard = _ALTER_GUARDS.get((verb, noun))
            if action_guard and word(tokens, j + 2) != "IF" and j + 2 < len(tokens):
                edits.append((tokens[j + 2].start, tokens[j + 2].start, action_guard + " "))
    if kind == "create_table" and topology.cluster:
        _replicate_engine(source, tokens, (replica_path, replica_name), edits, copies_source=len(parsed.names) > 1)
    _qualify_lookups(tokens, database, edits)
    if kind == "create_view":
        _qualify_sources(tokens, parsed.names[0] + 1, database, edits)
    if kind == "drop_table" and topology.cluster and sync and tokens[-1].text.upper() != "SYNC":
        edits.append((tokens[-1].end + 1, tokens[-1].end + 1, " SYNC"))

    sql = _apply(source, edits, tokens[0].start, tokens[-1].end + 1)
    return Rendered(
        sql=sql,
        kind=kind,
        table=rename.get(parsed.table, parsed.table),
        hazards=statement_hazards(parsed),
        idempotent=kind != "exchange_tables",
    )


def _qualify_lookups(tokens: list[Token], database: str, edits: list[tuple[int, int, str]]) -> None:
    """``dictGet*('name', ...)`` / ``joinGet*('name', ...)`` -> ``...('<database>.name', ...)``: ClickHouse
    resolves an unqualified dictionary or Join-table name in a column expression against the session's
    database, not the table's."""
    for j, tok in enumerate(tokens[:-2]):
        if not tok.text.lower().startswith(("dictget", "dicthas", "joinget")) or tokens[j + 1].text != "(":
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


def _replicate_engine(
    source: str, tokens: list[Token], replica: tuple[str, str], edits: list[tuple[int, int, str]], copies_source: bool
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
        replicated = [quote_string(replica[0]), quote_string(replica[1])]
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
