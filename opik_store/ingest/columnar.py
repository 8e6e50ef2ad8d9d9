"""Validation column by column: how ``BatchWriter.write`` turns a call's items into Arrow tables.

The rules are the ones in ``records`` (built from ``ddl/``); this module adds
no rule and drops none. It checks them a column at a time, with set
operations over each column's value types and Arrow compute kernels instead
of one Python call per field, because per-item validation costs several
times the INSERT itself.

Rules this path keeps:

* **It never judges an item.** For a batch it either returns the very table
  the per-item rules would give (``records.validate`` per item, then one
  ``pa.array`` per column) or ``None``: "some value is bad, or is of a form
  this path does not take". On ``None`` the writer runs ``records.validate``
  over the whole call, so every error (index, field, value, message, order)
  comes from one place and reads exactly as it always did.
* **Anything out of the ordinary goes through the column's own converter**
  (``records._converter``), value by value: uppercase or braced UUIDs,
  ``datetime`` objects, naive or space-separated times, numbers as costs,
  subclasses of ``str``/``dict``, typed records. Only the common forms have a
  vectorised path, and each is gated so it accepts nothing the converter
  would refuse and stores what the converter would store:

  - ids: ``str`` only, canonical lowercase (:func:`canonical_uuids`);
  - times: ``str`` only, ``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`` (a
    subset of what ``datetime.fromisoformat`` reads, read the same way by
    Arrow's cast; an impossible date makes the cast fail, which sends the
    column to the converter), then the 1900..2299 range on the UTC values;
  - enums and short text: a set of the column's types and values, the longest
    length against ``Limits``;
  - JSON fields: ``str`` as is, None as ''; a ``dict`` or ``list`` through
    ``records.json_bytes``'s own encoder, its check done once for the whole
    column; whatever that check or orjson refuses goes through the converter;
  - tags, usage and costs: exact ``list``/``dict``/``str`` shapes, with the
    same limits, Int64 bounds and Decimal(38, 12) scale.

* Defaulted moments (``created_at``/``last_updated_at`` absent or None) are
  one moment per batch: the moment it is validated.
* A column that no item gives and no default fills holds its sentinel in
  every row; its array is built once per batch size and reused (Arrow arrays
  are immutable).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from itertools import accumulate, chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import orjson

from opik_store.ingest.records import (
    _MISSING,
    IGNORED,
    JSON_TEXT,
    REQUIRED,
    Limits,
    TableRules,
    _Bad,
    as_mapping,
    plain_json,
)
from opik_store.schema.columns import enum_values

if TYPE_CHECKING:
    import pyarrow

NONE = type(None)
_TIME = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?"
    r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
_COST = r"^\d{1,26}(\.\d{1,12})?$"
_LOW, _HIGH = datetime(1900, 1, 1, tzinfo=UTC), datetime(2300, 1, 1, tzinfo=UTC)
_SLICE = 128  # values per marshal check


_HEX_AND_DASH = b"0123456789abcdef-"


def canonical_uuids(ids: Sequence[str]) -> bool:
    """Whether every text in ``ids`` is a canonical lowercase UUID (8-4-4-4-12 hex digits), checked in bulk.

    All 36 characters long, ASCII, nothing but lowercase hex digits and dashes, a dash at 8, 13, 18 and
    23 of each, and four dashes each: the regex ``[0-9a-f]{8}-[0-9a-f]{4}-...-[0-9a-f]{12}``.
    """
    if set(map(len, ids)) != {36}:
        return False
    try:
        joined = "".join(ids).encode("ascii")
    except UnicodeEncodeError:
        return False
    dashes = b"-" * len(ids)
    return (
        not joined.translate(None, _HEX_AND_DASH)
        and joined.count(b"-") == 4 * len(ids)
        and all(joined[at::36] == dashes for at in (8, 13, 18, 23))
    )


class _Slow(Exception):
    """This column (or value) is not of a form the vectorised path takes: use the converter."""


Vector = Callable[[Sequence[Any], datetime], "pyarrow.Array"]  # (column values, the batch's moment) -> array


def _vectors(rules: TableRules, limits: Limits) -> list[Vector | None]:
    """The vectorised path for each column of ``rules`` (None: the converter only); raising _Slow means the same."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def strings(col: Sequence[Any], allowed: frozenset[type]) -> None:
        if not set(map(type, col)) <= allowed:
            raise _Slow

    def uuid_vector(optional: bool) -> Vector:
        def vector(col: Sequence[Any], moment: datetime) -> pyarrow.Array:
            strings(col, frozenset({str, NONE}) if optional else frozenset({str}))
            ids = [v for v in col if v] if optional else col
            if ids and not canonical_uuids(ids):
                raise _Slow
            arr = pa.array(col, pa.string())
            return pc.fill_null(arr, "") if arr.null_count else arr

        return vector

    def time_vector(required: bool, absent: datetime | None) -> Vector:
        """``absent`` fills None; None there means the batch's moment."""
        ts = pa.timestamp("us", tz="UTC")

        def vector(col: Sequence[Any], moment: datetime) -> pyarrow.Array:
            strings(col, frozenset({str}) if required else frozenset({str, NONE}))
            arr = pa.array(col, pa.string())
            if not pc.all(pc.match_substring_regex(arr, _TIME)).as_py():  # nulls are skipped
                raise _Slow
            try:
                out = pc.cast(arr, ts)
            except pa.ArrowInvalid:  # an impossible date: the converter says which
                raise _Slow from None
            bounds = pc.min_max(out)
            if bounds["min"].is_valid and (bounds["min"].as_py() < _LOW or bounds["max"].as_py() >= _HIGH):
                raise _Slow
            if out.null_count:
                out = pc.fill_null(out, pa.scalar(moment if absent is None else absent, ts))
            return out

        return vector

    def enum_vector(allowed: Mapping[str, int], fallback: str) -> Vector:
        ok = frozenset(allowed) | {None}

        def vector(col: Sequence[Any], moment: datetime) -> pyarrow.Array:
            strings(col, frozenset({str, NONE}))
            seen = set(col)
            if not seen <= ok:
                raise _Slow
            return pa.array(col if None not in seen else [fallback if v is None else v for v in col], pa.string())

        return vector

    def text_vector(required: bool) -> Vector:
        def vector(col: Sequence[Any], moment: datetime) -> pyarrow.Array:
            strings(col, frozenset({str}) if required else frozenset({str, NONE}))
            arr = pa.array(col, pa.string())
            if arr.null_count:
                arr = pc.fill_null(arr, "")
            longest = pc.max(pc.utf8_length(arr)).as_py() or 0
            if longest > limits.max_string_chars or (required and pc.min(pc.utf8_length(arr)).as_py() == 0):
                raise _Slow
            return arr

        return vector

    def json_vector(convert: Callable[[Any], Any]) -> Vector:
        plain = frozenset({str, dict, list, NONE})

        def vector(col: Sequence[Any], moment: datetime) -> pyarrow.Array:
            """One growing UTF-8 buffer and its offsets (thousands of live ``bytes`` cost more than encoding)."""
            if not set(map(type, col)) <= plain:
                raise _Slow  # anything else goes through the converter, value by value
            data = bytearray()
            offsets = array("i", [0])
            end = offsets.append
            try:
                for at in range(0, len(col), _SLICE):
                    # json_bytes's check, a slice at a time (one huge marshal output costs more than many), each
                    # slice encoded right after its check, while its values are still in the CPU cache
                    part = col[at : at + _SLICE]
                    dumps = orjson.dumps if plain_json(list(part)) else None
                    for value in part:
                        if value is None:
                            pass
                        elif type(value) is str:
                            data += value.encode()
                        else:
                            try:
                                if dumps is None:
                                    raise TypeError
                                data += dumps(value)
                            except TypeError:  # what orjson refuses: the converter (json.dumps; _Bad if not JSON)
                                data += convert(value).encode()
                        end(len(data))
            except OverflowError:  # past 2 GiB: 32-bit offsets
                raise _Slow from None
            if len(data) > limits.max_text_bytes:  # some value may be too long: the converter says which
                raise _Slow
            return pa.StringArray.from_buffers(len(col), pa.py_buffer(offsets), pa.py_buffer(data))

        return vector

    def tags_vector(col: Sequence[Any], moment: datetime) -> pyarrow.Array:
        strings(col, frozenset({list, NONE}))
        lists = [[] if v is None else v for v in col]
        if max(map(len, lists), default=0) > limits.max_tags:
            raise _Slow
        flat = list(chain.from_iterable(lists))
        strings(flat, frozenset({str}))
        if max(map(len, flat), default=0) > limits.max_string_chars:
            raise _Slow
        return pa.array(lists, pa.list_(pa.string()))

    def usage_vector(col: Sequence[Any], moment: datetime) -> pyarrow.Array:
        strings(col, frozenset({dict, NONE}))
        maps = [{} if v is None else v for v in col] if None in col else col
        sizes = list(map(len, maps))
        if max(sizes, default=0) > limits.max_usage_keys:
            raise _Slow
        keys = list(chain.from_iterable(maps))
        counts = list(chain.from_iterable(map(dict.values, maps)))
        strings(keys, frozenset({str}))
        strings(counts, frozenset({int}))  # exactly int: not bool
        try:
            values = pa.array(counts, pa.int64())
        except (OverflowError, pa.ArrowException):  # beyond Int64
            raise _Slow from None
        offsets = array("i", [0])
        offsets.extend(accumulate(sizes))
        starts = pa.Array.from_buffers(pa.int32(), len(offsets), [None, pa.py_buffer(offsets)])
        return pa.MapArray.from_arrays(starts, pa.array(keys, pa.string()), values)

    def cost_vector(precision: int, scale: int) -> Vector:
        def vector(col: Sequence[Any], moment: datetime) -> pyarrow.Array:
            strings(col, frozenset({str, NONE}))
            arr = pa.array(col, pa.string())
            if not pc.all(pc.match_substring_regex(arr, _COST)).as_py():
                raise _Slow
            out = pc.cast(arr, pa.decimal128(precision, scale))
            return pc.fill_null(out, pa.scalar(0, out.type)) if out.null_count else out

        return vector

    out: list[Vector | None] = []
    required = REQUIRED[rules.table]
    for col, (convert, absent) in zip(rules.columns, rules.converters, strict=True):
        name, ctype = col.name, col.type
        vector: Vector | None = None
        if ctype == "FixedString(36)":
            vector = uuid_vector(optional=name not in required)
        elif ctype.startswith("DateTime64(6"):
            vector = time_vector(name in required, absent)
        elif enum_values(ctype):
            vector = enum_vector(enum_values(ctype), absent)
        elif name in JSON_TEXT:
            vector = json_vector(convert)
        elif ctype in ("String", "LowCardinality(String)"):
            vector = text_vector(name in required)
        elif ctype == "Array(String)":
            vector = tags_vector
        elif ctype == "Map(String, Int64)":
            vector = usage_vector
        elif ctype.startswith("Decimal("):
            precision, scale = (int(x) for x in ctype[8:-1].split(","))
            vector = cost_vector(precision, scale)
        out.append(vector)
    return out


class ColumnarValidator:
    """Builds one batch's Arrow table column by column, or says to fall back (see the module rules)."""

    def __init__(self, rules: TableRules, limits: Limits, types: Sequence[pyarrow.DataType]) -> None:
        self.rules = rules
        self.types = list(types)
        self.vectors = _vectors(rules, limits)
        self.allowed = rules.known | IGNORED
        # name -> (rows, array) of a column no item gives and no default fills: the same every batch of that size
        self._constant: dict[str, tuple[int, pyarrow.Array]] = {}

    def table(
        self,
        items: Sequence[Any],
        defaults: Mapping[str, Any],
        on_column: Callable[[pyarrow.Array], None] | None = None,
    ) -> pyarrow.Table | None:
        """The batch's table, equal to the per-item path's; None when an item may be invalid.

        ``on_column`` sees each column's array as soon as it is built, in order (the writer starts
        hashing it for the deduplication token while the next one is validated).
        """
        import pyarrow as pa

        moment = datetime.now(UTC)  # created_at/last_updated_at when absent
        maps: list[Mapping[str, Any]]
        if set(map(type, items)) <= {dict}:
            maps = list(items)
        else:
            found = [as_mapping(item) for item in items]
            if any(m is None for m in found):
                return None
            maps = [m for m in found if m is not None]
        count = len(maps)
        if not count:
            return None
        columns: dict[str, Sequence[Any]] = {}
        first = maps[0]
        present = [name for name in self.rules.names if name in first]
        seen: set[str] = set(present)
        if len(present) > 1 and len(first) == len(present) and set(map(len, maps)) == {len(present)}:
            # Items of one shape (the usual case): each has as many fields as the first, all of them known. If
            # each also has every field of the first, none has another: one C call per item, then zip.
            with suppress(KeyError):
                columns = dict(zip(present, zip(*map(itemgetter(*present), maps), strict=True), strict=True))
        if not columns:
            seen = set().union(*maps)
            if not seen <= self.allowed:
                return None  # an unknown field
        arrays: list[pyarrow.Array] = []
        for (name, convert, absent), vector, kind in zip(self.rules.plan, self.vectors, self.types, strict=True):
            fill = defaults.get(name, _MISSING if absent is _MISSING else None)
            try:
                if name not in seen:
                    if fill is _MISSING:
                        return None
                    cached = self._constant.get(name) if fill is None and absent is not None else None
                    if cached is not None and cached[0] == count:
                        arrays.append(cached[1])
                    else:
                        value = moment if fill is None and absent is None else convert(fill)
                        arrays.append(pa.repeat(pa.scalar(value, kind), count))
                        if fill is None and absent is not None:
                            self._constant[name] = (count, arrays[-1])
                    if on_column is not None:
                        on_column(arrays[-1])
                    continue
                col = columns.get(name) or [m.get(name, fill) for m in maps]
                built = None
                if vector is not None:
                    # anything a vector cannot take (even Arrow refusing a value) goes to the converter
                    with suppress(_Slow, pa.ArrowException, UnicodeError, OverflowError, ValueError, TypeError):
                        built = vector(col, moment)
                if built is None:
                    if fill is _MISSING and any(v is _MISSING for v in col):
                        return None
                    built = pa.array([convert(v) for v in col], kind)
            except _Bad:
                return None
            arrays.append(built)
            if on_column is not None:
                on_column(built)
        return pa.Table.from_arrays(arrays, names=list(self.rules.names))
