"""Items to rows: validation of Opik-shaped traces and spans, column by column.

An item is a mapping with Opik's field names (the REST batch payload of a
trace or span, plus the ``workspace_id`` and ``project_id`` the backend has
resolved) or a typed record (:class:`TraceRecord`, :class:`SpanRecord`). Values
are what a client sends: ``str``, ``datetime``, numbers, lists, mappings, None.

Which columns exist, their types, enum values and defaults come from ``ddl/``
(``schema.columns``); nothing here lists them a second time. The rules:

* Every insertable column of the table may be given; any other field is an
  error (a typo never silently drops data). MATERIALIZED columns cannot be given.
  The one exception is ``project_name``, which Opik's REST payloads carry and
  the backend resolves to ``project_id``: it is ignored (``project_id`` is
  still required).
* Required: ``id``, ``workspace_id``, ``project_id``, ``start_time`` and, for
  spans, ``trace_id``. A missing optional field, or None, stores the column's
  sentinel: epoch ``end_time``, NaN ``ttft``, '' text, the enum's default.
* Ids (``FixedString(36)`` columns) must be UUIDs (``uuid.UUID`` objects or
  hex text with optional dashes, braces or ``urn:uuid:``); they are stored in
  canonical lowercase form. ``parent_span_id`` may be empty.
* Times are ``datetime`` or ISO-8601 text; a time without a zone is UTC.
  ``created_at``/``last_updated_at`` default to the moment of validation
  (``BatchWriter.write``: one moment per batch, ``columnar``).
* ``input``/``output``/``metadata``/``error_info`` (and the ``_slim`` forms)
  take text or any JSON value (stored as compact JSON text, see
  :func:`json_bytes`; NaN and infinity are refused); other text columns take
  text only. Sizes are bounded by :class:`Limits`. Text must be encodable as
  UTF-8 (a lone surrogate is refused).
* Enum columns take one of the DDL's names; ``usage`` maps text to integers
  within Int64; ``total_estimated_cost`` is a non-negative decimal that fits
  ``Decimal(38, 12)``.

Every problem names the item's index, the field and (shortened) the value.
"""

from __future__ import annotations

import json
import marshal
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal, InvalidOperation
from functools import cached_property
from typing import Any

import orjson

from opik_store.errors import ConfigError, OpikStoreError
from opik_store.schema.columns import ColumnDef, columns, enum_values

TABLES = ("traces", "spans")
REQUIRED = {
    "traces": ("id", "workspace_id", "project_id", "start_time"),
    "spans": ("id", "workspace_id", "project_id", "trace_id", "start_time"),
}
IGNORED = frozenset({"project_name"})  # REST-only: resolved by the backend to project_id
JSON_TEXT = frozenset({"input", "output", "metadata", "error_info", "input_slim", "output_slim"})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INT64 = (-(2**63), 2**63 - 1)
_COST_CONTEXT = Context(prec=38)  # Decimal(38, 12): the default 28 digits would fail to quantize 10^16 and up
_MISSING = object()


@dataclass(frozen=True)
class Limits:
    """Size bounds checked before anything is written."""

    max_text_bytes: int = 32 * 1024 * 1024  # input/output/metadata/error_info, UTF-8 bytes
    max_string_chars: int = 10_000  # name, model, thread_id and other short text
    max_tags: int = 1_000
    max_usage_keys: int = 1_000


@dataclass(frozen=True)
class Problem:
    """Why one field of one item cannot be written."""

    index: int
    field: str
    value: str  # a shortened repr, never the whole value
    message: str

    def describe(self) -> str:
        return f"item {self.index}: {self.field}: {self.message} (got {self.value})"


class ValidationError(OpikStoreError):
    """Items failed validation; nothing of their batch was written. ``problems`` lists each one."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        shown = "; ".join(p.describe() for p in self.problems[:10])
        more = f"; and {len(self.problems) - 10} more" if len(self.problems) > 10 else ""
        super().__init__(f"{len(self.problems)} invalid field(s), nothing written: {shown}{more}")


def shorten(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:  # e.g. an int of more than 4,300 digits (ValueError), inside a container too
        text = f"<a {type(value).__name__} without a repr>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Bad(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def _utf8(text: str) -> str:
    """``text`` if it is valid UTF-8 text (no lone surrogate, which no column can store), else _Bad."""
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise _Bad("not UTF-8 text (a lone surrogate)") from None
    return text


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX_UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
# the text forms uuid.UUID documents; alone it also takes "_", "+", "0x", spaces and non-ASCII digits (int(hex, 16))
_UUID_TEXT = re.compile(rf"(?:urn:uuid:)?(?:\{{{_HEX_UUID}\}}|{_HEX_UUID})")


def _uuid(value: Any, optional: bool) -> str:
    if optional and (value is None or value == ""):
        return ""
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value  # already canonical: the common case, checked without building a UUID
    if not isinstance(value, str | uuid.UUID):
        raise _Bad("expected a UUID string")
    if isinstance(value, str) and not _UUID_TEXT.fullmatch(value):
        raise _Bad("not a UUID")
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise _Bad("not a UUID") from None


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise _Bad("not an ISO-8601 time") from None
    if not isinstance(value, datetime):
        raise _Bad("expected a datetime or ISO-8601 text")
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted past datetime's range by its offset
        raise _Bad("outside DateTime64's range 1900..2299") from None
    if not 1900 <= value.year <= 2299:
        raise _Bad("outside DateTime64's range 1900..2299")
    moment: datetime = value
    return moment


_MARSHAL_VERSION = 4


def nonfinite(packed: bytes) -> bool:
    """Whether ``marshal`` output may hold a NaN or infinite float (False is certain; True may be wrong).

    marshal (version 2 and up) writes a float as b"g" (b"\\xe7" when referenced) and 8 little-endian
    IEEE bytes; NaN and ±inf have every exponent bit set, so their last two bytes are [F0-FF], then 7F or FF.
    """
    for last in (0x7F, 0xFF):
        at = packed.find(last, 8)
        while at >= 0:
            if packed[at - 1] >= 0xF0 and packed[at - 8] in (0x67, 0xE7):
                return True
            at = packed.find(last, at + 1)
    return False


def plain_json(value: Any) -> bool:
    """Whether orjson may encode ``value`` (or a list of such values) for the JSON rule: see :func:`json_bytes`."""
    try:
        packed = marshal.dumps(value, _MARSHAL_VERSION)
    except ValueError:
        return False
    return not nonfinite(packed)


def json_bytes(value: Any) -> bytes:
    """``value`` as compact JSON text in UTF-8; TypeError or ValueError when it is not a JSON value.

    The rule is ``json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)``:
    no NaN or infinity, keys in their order, text unescaped but for ``"``, ``\\`` and control
    characters. orjson writes exactly that, several times faster, for values that hold nothing
    but exact ``dict``, ``list``, ``tuple``, ``str``, ``int``, ``float``, ``bool`` and None with no
    NaN or infinite float: ``marshal`` refuses subclasses and every other type (``Enum``, ``UUID``,
    ``datetime``, dataclasses, which orjson would encode and ``json.dumps`` refuses or encodes
    otherwise), and its IEEE bytes show non-finite floats (orjson writes ``null``). Anything else,
    and whatever orjson refuses (non-text keys, integers beyond 64 bits, sets, bytes), goes through
    ``json.dumps`` itself. The one difference: orjson spells floats with exponents -5 to -9 its
    own way (``1e-7``, ``0.00001``; ``json.dumps``: ``1e-07``, ``1e-05``), the same number.
    """
    if plain_json(value):
        try:
            return orjson.dumps(value)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _json_text(value: Any, limits: Limits) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        if len(value) > limits.max_text_bytes // 4 and len(_utf8(value).encode()) > limits.max_text_bytes:
            raise _Bad(f"longer than {limits.max_text_bytes} bytes")
        return _utf8(value)
    try:
        data = json_bytes(value)
    except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: nested deeper than json.dumps goes
        raise _Bad(f"not JSON-serializable ({exc})") from None
    if len(data) > limits.max_text_bytes:
        raise _Bad(f"longer than {limits.max_text_bytes} bytes")
    return data.decode()


def _short_text(value: Any, limits: Limits) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad("expected text")
    if len(value) > limits.max_string_chars:
        raise _Bad(f"longer than {limits.max_string_chars} characters")
    return _utf8(value)


def _tags(value: Any, limits: Limits) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _Bad("expected a list of text")
    if len(value) > limits.max_tags:
        raise _Bad(f"more than {limits.max_tags} tags")
    for tag in value:
        if not isinstance(tag, str):
            raise _Bad(f"tag {shorten(tag, 40)} is not text")
        if len(tag) > limits.max_string_chars:
            raise _Bad(f"a tag is longer than {limits.max_string_chars} characters")
        _utf8(tag)
    return list(value)


def _usage(value: Any, limits: Limits) -> list[tuple[str, int]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise _Bad("expected a mapping of text to integers")
    if len(value) > limits.max_usage_keys:
        raise _Bad(f"more than {limits.max_usage_keys} keys")
    out = []
    for key, count in value.items():
        if not isinstance(key, str):
            raise _Bad(f"key {shorten(key, 40)} is not text")
        _utf8(key)
        if isinstance(count, bool) or not isinstance(count, int) or not INT64[0] <= count <= INT64[1]:
            raise _Bad(f"value of {key!r} is not an integer within Int64")
        out.append((key, count))
    return out


def _cost(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _Bad("expected a number")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):  # ValueError: an int of more than 4,300 digits
        raise _Bad("not a number") from None
    if number.is_finite() and number >= 0:
        with suppress(InvalidOperation):  # 26 nines and a fraction round up to 10^26: 39 digits
            number = number.quantize(Decimal("1e-12"), context=_COST_CONTEXT)
            if number < Decimal(10) ** 26:
                return number
    raise _Bad("expected a finite number in [0, 10^26)")


def _ttft(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad("expected a number of milliseconds")
    try:
        return float(value)
    except OverflowError:
        raise _Bad("beyond Float64's range") from None


def _uint(value: Any, bits: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        return int(value)
    if not isinstance(value, int) or not 0 <= value < 2**bits:
        raise _Bad(f"expected an integer in [0, 2^{bits})")
    return value


Converter = Callable[[Any], Any]
#: A DEFAULT that is the epoch sentinel (Opik writes it as toDateTime64('1970-01-01 00:00:00', 6, 'UTC')).
_EPOCH_DEFAULT = re.compile(r"toDateTime64\(\s*(0|'1970-01-01 00:00:00(\.0*)?')\s*,")


def _converter(table: str, col: ColumnDef, limits: Limits, now: Callable[[], datetime]) -> tuple[Converter, Any]:
    """The validating converter for one column and the value an absent field stores."""
    name, ctype = col.name, col.type
    required = name in REQUIRED[table]
    if ctype == "FixedString(36)":
        optional = not required
        return (lambda v: _uuid(v, optional)), ("" if optional else _MISSING)
    if ctype.startswith("DateTime64"):
        if required:
            return _time, _MISSING
        if _EPOCH_DEFAULT.match(col.expression):
            return (lambda v: EPOCH if v is None else _time(v)), EPOCH
        return (lambda v: now() if v is None else _time(v)), None  # None: filled with now() per item
    if enum_values(ctype):
        allowed = enum_values(ctype)
        fallback = col.expression.strip("'") if col.kind == "DEFAULT" else next(iter(allowed))

        def enum(v: Any) -> str:
            if v is None:
                return fallback
            if not isinstance(v, str) or v not in allowed:
                raise _Bad(f"expected one of {', '.join(allowed)}")
            return v

        return enum, fallback
    if name in JSON_TEXT:
        return (lambda v: _json_text(v, limits)), ""
    if ctype in ("String", "LowCardinality(String)"):
        if required:

            def nonempty(v: Any) -> str:
                text = _short_text(v, limits)
                if not text:
                    raise _Bad("must not be empty")
                return text

            return nonempty, _MISSING
        return (lambda v: _short_text(v, limits)), ""
    if ctype == "Array(String)":
        return (lambda v: _tags(v, limits)), []
    if ctype == "Map(String, Int64)":
        return (lambda v: _usage(v, limits)), []
    if ctype.startswith("Decimal("):
        return _cost, Decimal(0)
    if ctype == "Float64":
        return _ttft, math.nan
    if name == "is_deleted":  # ReplacingMergeTree's delete column: the server takes 0 or 1 only

        def flag(v: Any) -> int:
            if v is None:
                return 0
            if v not in (0, 1) or not isinstance(v, int):
                raise _Bad("expected true/false or 0/1")
            return int(v)

        return flag, 0
    if ctype in ("UInt8", "UInt64"):
        bits = int(ctype[4:])
        default = int(col.expression) if col.expression.isdigit() else 0
        return (lambda v: _uint(v, bits, default)), default
    raise ConfigError(f"the writer has no rule for {table}.{name} of type {ctype}; add one in ingest/records.py")


@dataclass(frozen=True, eq=False)
class TableRules:
    """Validation rules and column order of one table, built from ddl/."""

    table: str
    columns: tuple[ColumnDef, ...]
    converters: tuple[tuple[Converter, Any], ...]

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @cached_property
    def known(self) -> frozenset[str]:
        return frozenset(self.names)

    @cached_property
    def plan(self) -> tuple[tuple[str, Converter, Any], ...]:
        return tuple((c.name, conv, absent) for c, (conv, absent) in zip(self.columns, self.converters, strict=True))


def table_rules(table: str, limits: Limits, now: Callable[[], datetime]) -> TableRules:
    """The insertable columns of ``table`` and a converter for each; ConfigError for an unknown table."""
    if table not in TABLES:
        raise ConfigError(f"the writer writes {' or '.join(TABLES)}, not {table!r}")
    cols = tuple(c for c in columns(table) if c.insertable)
    return TableRules(table, cols, tuple(_converter(table, c, limits, now) for c in cols))


def as_mapping(item: Any) -> Mapping[str, Any] | None:
    """A mapping for an item: mappings as they are, typed records by their fields (None-valued left out)."""
    if isinstance(item, Mapping):
        return item
    if is_dataclass(item) and not isinstance(item, type):
        return {f.name: getattr(item, f.name) for f in fields(item) if getattr(item, f.name) is not None}
    return None


def validate(
    rules: TableRules, item: Any, index: int, defaults: Mapping[str, Any]
) -> tuple[tuple[Any, ...] | None, list[Problem]]:
    """One item -> (row in ``rules.names`` order, []) or (None, problems). Changes nothing."""
    mapping = as_mapping(item)
    if mapping is None:
        return None, [Problem(index, "(item)", shorten(item), "expected a mapping or a TraceRecord/SpanRecord")]
    known = rules.known
    problems = [
        Problem(index, str(key), shorten(mapping[key]), f"unknown field for {rules.table}")
        for key in mapping
        if key not in known and key not in IGNORED
    ]
    row: list[Any] = []
    get = mapping.get
    for name, convert, absent in rules.plan:
        value = get(name, _MISSING)
        if value is _MISSING:
            value = defaults.get(name, _MISSING)
            if value is _MISSING:
                if absent is _MISSING:
                    problems.append(Problem(index, name, "nothing", "required field is missing"))
                    continue
                value = None
        try:
            row.append(convert(value))
        except _Bad as bad:
            problems.append(Problem(index, name, shorten(value), bad.message))
    return (None, problems) if problems else (tuple(row), [])
