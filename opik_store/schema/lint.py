"""Destructive-change lint, from each statement's parsed SQL.

A statement is destructive when running it can lose data or reshape a table
under its readers:

* drop table, truncate, drop column, clear column, drop/detach partition or
  part, delete rows (``ALTER ... DELETE``);
* rename table, rename column;
* engine change (``EXCHANGE TABLES``, the way to swap a table for a copy with
  another engine) and sort-key change (``MODIFY ORDER BY``/``PRIMARY KEY``/
  ``SAMPLE BY``);
* type narrowing (``MODIFY COLUMN c T`` where T cannot hold every value of the
  column's previous type).

Narrowing needs the previous type: :class:`ColumnModel` replays the
revisions in order (they are frozen history, so the replay is exact) and
records each column's type as CREATE/ADD/MODIFY/RENAME/DROP change it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlglot.tokenizer_core import Token

from opik_store.engine.quoting import split_top_level
from opik_store.schema.parse import Parsed, matching_paren, parse_statement, top_level_words, word

_COLUMN_STOP = {
    "DEFAULT", "MATERIALIZED", "ALIAS", "EPHEMERAL", "CODEC", "COMMENT", "TTL",
    "NULL", "NOT", "PRIMARY", "PRIMARY KEY", "SETTINGS", "STATISTICS", "FIRST", "AFTER", "REMOVE", "MODIFY",
}  # fmt: skip


def statement_hazards(parsed: Parsed) -> tuple[str, ...]:
    """Hazards visible in the statement alone (everything but type narrowing)."""
    tokens, kind, table = parsed.tokens, parsed.kind, parsed.table
    if kind in {"drop_table", "drop_dictionary", "drop_view"}:
        return (f"drop {kind.split('_')[1]} {table}",)
    if kind == "truncate_table":
        return (f"truncate table {table}",)
    if kind == "rename_table":
        return (f"rename table {table} -> {tokens[parsed.names[1]].text}",)
    if kind == "exchange_tables":
        return (f"engine change: exchange tables {table} and {tokens[parsed.names[1]].text}",)
    if kind != "alter_table":
        return ()
    found: list[str] = []
    for j, verb, noun in top_level_words(tokens, parsed.names[0] + 1):
        target = _action_target(tokens, j + 2)
        if verb == "DROP" and noun == "COLUMN":
            found.append(f"drop column {table}.{target}")
        elif verb == "CLEAR" and noun == "COLUMN":
            found.append(f"clear column {table}.{target}")
        elif verb in {"DROP", "DETACH"} and noun in {"PARTITION", "PART"}:
            found.append(f"{verb.lower()} {noun.lower()} on {table}")
        elif verb == "DELETE" and noun in {"WHERE", "IN"}:
            found.append(f"delete rows from {table}")
        elif verb == "RENAME" and noun == "COLUMN":
            found.append(f"rename column {table}.{target}")
        elif verb == "MODIFY" and noun in {"ORDER BY", "PRIMARY KEY", "SAMPLE"}:
            found.append(f"sort-key change on {table} (MODIFY {noun} ...)")
    return tuple(found)


def _action_target(tokens: list[Token], i: int) -> str:
    if word(tokens, i) == "IF":
        i += 3 if word(tokens, i + 1) == "NOT" else 2
    return tokens[i].text if i < len(tokens) else "?"


@dataclass
class ColumnModel:
    """Column types per table, as the revisions replayed so far leave them."""

    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Per table, the columns a CREATE wrote as MATERIALIZED or ALIAS: computed from other columns, so a
    #: re-layout that drops or retypes one loses no stored value.
    computed: dict[str, set[str]] = field(default_factory=dict)

    def relayout(self, table: str, create: str) -> list[str]:
        """Replay a re-layout of ``table`` into ``create``; return the stored columns it drops and the stored
        types it narrows (the copy casts every kept column to its new type; computed columns are recomputed)."""
        parsed = parse_statement(create)
        computed: set[str] = set()
        new = _create_columns(parsed.tokens, parsed.names[0], computed)
        old = self.tables.get(table, {})
        was_computed = self.computed.get(table, set())
        found = [f"re-layout drops column {table}.{name}" for name in old if name not in new
                 and name not in was_computed]  # fmt: skip
        found += [f"type narrowing {table}.{name}: {old[name]} -> {t}" for name, t in new.items()
                  if old.get(name) and t and name not in computed | was_computed and narrows(old[name], t)]  # fmt: skip
        self.tables[table] = new
        self.computed[table] = computed
        return found

    def apply(self, source: str) -> list[str]:
        """Replay one statement; return the type narrowings it makes."""
        parsed = parse_statement(source)
        tokens, table = parsed.tokens, parsed.table
        if parsed.kind == "create_table":
            if len(parsed.names) > 1:  # CREATE TABLE t AS source
                self.tables.setdefault(table, dict(self.tables.get(tokens[parsed.names[1]].text, {})))
            elif table not in self.tables:
                computed: set[str] = set()
                self.tables[table] = _create_columns(tokens, parsed.names[0], computed)
                self.computed[table] = computed
            return []
        if parsed.kind == "drop_table":
            self.tables.pop(table, None)
            return []
        if parsed.kind == "rename_table":
            self.tables[tokens[parsed.names[1]].text] = self.tables.pop(table, {})
            return []
        if parsed.kind == "exchange_tables":
            other = tokens[parsed.names[1]].text
            self.tables[table], self.tables[other] = self.tables.get(other, {}), self.tables.get(table, {})
            return []
        if parsed.kind != "alter_table":
            return []
        columns = self.tables.setdefault(table, {})
        found: list[str] = []
        for j, verb, noun in top_level_words(tokens, parsed.names[0] + 1):
            if noun != "COLUMN" or verb not in {"ADD", "MODIFY", "DROP", "RENAME"}:
                continue
            k = j + 2
            if word(tokens, k) == "IF":
                k += 3 if word(tokens, k + 1) == "NOT" else 2
            name = tokens[k].text if k < len(tokens) else ""
            if verb == "DROP":
                columns.pop(name, None)
            elif verb == "RENAME" and word(tokens, k + 1) == "TO":
                columns[tokens[k + 2].text] = columns.pop(name, "")
            else:
                new_type = _type_text(parsed.source, tokens, k + 1)
                old_type = columns.get(name)
                if verb == "MODIFY" and new_type and old_type and narrows(old_type, new_type):
                    found.append(f"type narrowing {table}.{name}: {old_type} -> {new_type}")
                if new_type:
                    columns[name] = new_type
        return found


def create_columns(create: str) -> dict[str, str]:
    """Column name -> type of one CREATE TABLE statement's column list (indexes and projections left out)."""
    parsed = parse_statement(create)
    return _create_columns(parsed.tokens, parsed.names[0])


def _create_columns(tokens: list[Token], name_index: int, computed: set[str] | None = None) -> dict[str, str]:
    """Column name -> type of a CREATE TABLE's column list; names written MATERIALIZED or ALIAS are added
    to ``computed`` when given."""
    source_cols: dict[str, str] = {}
    open_index = name_index + 1
    if word(tokens, open_index) != "(":
        return source_cols
    close = matching_paren(tokens, open_index)
    start = open_index + 1
    depth = 0
    for j in range(open_index + 1, close + 1):
        text = tokens[j].text
        if text == "(":
            depth += 1
        elif text == ")" and j != close:
            depth -= 1
        if (text == "," and depth == 0) or j == close:
            if start < j and word(tokens, start) not in {"INDEX", "PROJECTION", "CONSTRAINT"}:
                source_cols[tokens[start].text] = _type_text(None, tokens[:j], start + 1)
                if computed is not None and {word(tokens, k) for k in range(start + 1, j)} & {"MATERIALIZED", "ALIAS"}:
                    computed.add(tokens[start].text)
            start = j + 1
    return source_cols


def _type_text(source: str | None, tokens: list[Token], start: int) -> str:
    """The column type written from token ``start``, up to the first column keyword or action end."""
    parts: list[str] = []
    depth = 0
    for j in range(start, len(tokens)):
        text = tokens[j].text
        if depth == 0 and (text == "," or text.upper() in _COLUMN_STOP):
            break
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        if tokens[j].token_type.name == "STRING":
            text = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        parts.append(text)
    return _normalize_type("".join(p if p in "(),=" else f" {p} " for p in parts))


def _normalize_type(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s*([(),])\s*", r"\1", text)
    return text.replace(",", ", ")


# -- type widths ---------------------------------------------------------------

_INT = re.compile(r"(U?)Int(\d+)$")
_DECIMAL_WIDTH = {"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}
_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 20, 128: 39, 256: 78}


def _split(type_text: str) -> tuple[str, list[str]]:
    """``Decimal(38, 12)`` -> ("Decimal", ["38", "12"]); nested arguments stay whole."""
    match = re.fullmatch(r"(\w+)(?:\((.*)\))?", type_text.strip())
    if not match:
        return type_text.strip(), []
    name, inner = match.group(1), match.group(2)
    return name, [] if inner is None else split_top_level(inner)


def _decimal(name: str, args: list[str]) -> tuple[int, int] | None:
    if name == "Decimal" and args:
        return int(args[0]), int(args[1]) if len(args) > 1 else 0
    if name in _DECIMAL_WIDTH and args:
        return _DECIMAL_WIDTH[name], int(args[0])
    return None


def narrows(old: str, new: str) -> bool:
    """True unless every value of type ``old`` is representable in type ``new``.

    Unknown pairs count as narrowing: the lint errs toward asking for
    ``--allow-destructive``.
    """
    if _normalize_type(old) == _normalize_type(new):
        return False
    old_name, old_args = _split(old)
    new_name, new_args = _split(new)
    if old_name == "LowCardinality":
        return narrows(old_args[0], new)
    if new_name == "LowCardinality":
        return narrows(old, new_args[0])
    if old_name == "Nullable":
        return new_name != "Nullable" or narrows(old_args[0], new_args[0])
    if new_name == "Nullable":
        return narrows(old, new_args[0])
    if new_name == "String":
        return old_name in {"Array", "Map", "Tuple"}
    old_int, new_int = _INT.fullmatch(old_name), _INT.fullmatch(new_name)
    if old_int and new_int:
        old_signed, old_bits = old_int.group(1) == "", int(old_int.group(2))
        new_signed, new_bits = new_int.group(1) == "", int(new_int.group(2))
        if old_signed and not new_signed:
            return True
        return new_bits < old_bits or (new_bits == old_bits and old_signed != new_signed)
    if old_int:
        bits = int(old_int.group(2))
        if new_name == "Float64":
            return bits > 32
        if new_name == "Float32":
            return bits > 16
        dec = _decimal(new_name, new_args)
        return dec is None or dec[0] - dec[1] < _INT_DIGITS.get(bits, 99)
    if old_name == "Float32" and new_name == "Float64":
        return False
    old_dec, new_dec = _decimal(old_name, old_args), _decimal(new_name, new_args)
    if old_dec and new_dec:
        return new_dec[1] < old_dec[1] or new_dec[0] - new_dec[1] < old_dec[0] - old_dec[1]
    if old_name == "FixedString" and new_name == "FixedString":
        return int(new_args[0]) < int(old_args[0])
    if old_name in {"Date", "DateTime"} and new_name in {"DateTime", "DateTime64"} and old_name != new_name:
        return False
    if old_name == "DateTime64" and new_name == "DateTime64":
        return int(new_args[0]) < int(old_args[0])
    if old_name in {"Enum8", "Enum16"} and new_name in {"Enum8", "Enum16"}:
        return not set(_enum_values(old_args)) <= set(_enum_values(new_args))
    if old_name == new_name and old_name in {"Array", "Map", "Tuple"} and len(old_args) == len(new_args):
        return any(narrows(a, b) for a, b in zip(old_args, new_args, strict=True))
    return True


def _enum_values(args: list[str]) -> list[tuple[str, int]]:
    out = []
    for arg in args:
        match = re.fullmatch(r"'((?:[^'\\]|\\.)*)'\s*=\s*(-?\d+)", arg.strip())
        if match:
            out.append((match.group(1), int(match.group(2))))
    return out
