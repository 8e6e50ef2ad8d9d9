"""The column-by-column path of ``BatchWriter.write`` against the per-item rules it must equal.

``ingest/columnar.py`` never judges an item: for a batch it builds exactly the
table the per-item rules build, or gives up (None) and the per-item rules decide.
These tests feed both paths the same items: ordinary and unusual valid forms
must give equal tables (and equal tokens), and every invalid form must make the
columnar path give up, so errors stay the per-item ones. The JSON encoder is
compared with ``json.dumps`` on every code point, key order, NaN and odd types.
"""

from __future__ import annotations

import enum
import functools
import json
import math
import random
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow
import pytest
from test_ingest import NOW, PROJECT, WS, count, span
from test_retention import uuid7

from opik_store import Store
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.ingest import BatchWriter, SpanRecord, TraceRecord, ValidationError
from opik_store.ingest.columnar import canonical_uuids
from opik_store.ingest.records import json_bytes


@pytest.fixture
def writer(migrated_store: Store) -> BatchWriter:
    return migrated_store.writer("spans")


def values(table: pyarrow.Table) -> dict[str, list[str]]:
    """Each column as the repr of its values (so NaN equals NaN)."""
    return {name: [repr(v) for v in table[name].to_pylist()] for name in table.column_names}


def per_item(writer: BatchWriter, items: list[Any]) -> pyarrow.Table:
    rows, rejects = writer.prepare(items)
    assert not rejects, rejects
    return writer._arrow(rows)


def assert_same(writer: BatchWriter, items: list[Any]) -> None:
    """The columnar path builds a table (it does not give up), equal to the per-item one: values, types, token."""
    table = writer._columnar.table(items, writer.defaults)
    assert table is not None, "valid items must not make the columnar path give up"
    legacy = per_item(writer, items)
    assert table.schema == legacy.schema
    assert values(table) == values(legacy)
    assert writer.token(table) == writer.token(legacy), "equal tables, equal tokens"
    (batch, token), *_ = writer.prepare_tables(items)[0]
    assert token == writer.token(batch), "the token hashed while validating is the token of the table"


def stamped(item: dict[str, Any]) -> dict[str, Any]:
    """Own timestamps: the per-item path fills absent ones per item, the columnar path once per batch."""
    return {**item, "created_at": "2026-11-29T10:00:01.5+00:00", "last_updated_at": NOW}


def test_opik_rest_spans_take_the_columnar_path_and_equal_the_per_item_rows(writer: BatchWriter) -> None:
    items = [stamped(span(i)) for i in range(300)]
    items[5]["end_time"] = "2026-11-29T10:00:02.25Z"
    items[6]["parent_span_id"] = uuid7(NOW, 99)
    items[7]["metadata"] = {"nested": [1, 2.5, None, True, {"ü": '日本語 \u2028 \x00 "q" \\'}], "big": 2**62}
    items[8]["usage"] = None
    items[9]["tags"] = None
    items[10]["total_estimated_cost"] = "12345678901234567890.123456789012"
    items[11]["input"] = "already text"
    items[12]["output"] = None
    items[13]["type"] = None
    items[14]["name"] = None
    assert_same(writer, items)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", uuid7(NOW, 3).upper()),  # canonicalized by the converter
        ("id", uuid.UUID(uuid7(NOW, 4))),
        ("parent_span_id", ""),
        ("start_time", datetime(2026, 11, 29, 10, 0, tzinfo=timezone(timedelta(hours=2)))),
        ("start_time", datetime(2026, 11, 29, 10, 0)),  # naive: UTC
        ("start_time", "2026-11-29 10:00:00"),
        ("start_time", "2026-11-29T10:00:00.1234567+00:00"),
        ("end_time", "2026-11-29T12:00:00-05:30"),
        ("total_estimated_cost", Decimal("1.5")),
        ("total_estimated_cost", 3),
        ("total_estimated_cost", 0.1),
        ("total_estimated_cost", "1e-3"),
        ("total_estimated_cost", "0.0000000000005"),  # rounds to 12 places
        ("total_estimated_cost", "99999999999999999999999999"),  # < 10^26: stored, no longer an error
        ("tags", ("a", "b")),
        ("usage", OrderedDict(prompt_tokens=1)),
        ("input", OrderedDict(b=1, a=2)),
        ("input", {1: "int keys become text", "x": None}),
        ("input", {"tiny": 1e-7, "small": 1.5e-5, "huge": 2**70}),
        ("input", [float(i) / 7 for i in range(50)]),
        ("metadata", ["a", ("tuple", 1)]),
        ("metadata", 5),  # any JSON value
        ("output", "text stays text"),
        ("name", type("Text", (str,), {})("a str subclass")),
        ("ttft", 12),
        ("ttft", 0.5),
        ("is_deleted", True),
        ("truncation_threshold", 0),
        ("source", "sdk"),
    ],
)
def test_unusual_valid_forms_equal_the_per_item_rows(writer: BatchWriter, field: str, value: object) -> None:
    items = [stamped(span(i)) for i in range(4)]
    items[2][field] = value
    assert_same(writer, items)


def test_records_absent_fields_and_defaults_equal_the_per_item_rows(migrated_store: Store) -> None:
    store = migrated_store
    spans = store.writer("spans", defaults={"workspace_id": WS, "environment": "prod"})
    assert_same(spans, [{k: v for k, v in stamped(span(i)).items() if k != "workspace_id"} for i in range(3)])
    assert_same(spans, [SpanRecord(**stamped(span(i))) for i in range(3)])
    traces = store.writer("traces")
    records = [
        TraceRecord(uuid7(NOW, i), WS, PROJECT, NOW, name="run", created_at=NOW, last_updated_at=NOW) for i in range(3)
    ]
    assert_same(traces, records)
    assert_same(traces, [{k: v for k, v in vars(r).items() if v is not None} for r in records])


def test_defaulted_moments_are_one_moment_per_batch(writer: BatchWriter) -> None:
    table = writer._columnar.table([span(i) for i in range(50)], {})
    assert table is not None
    moments = set(table["created_at"].to_pylist()) | set(table["last_updated_at"].to_pylist())
    assert len(moments) == 1 and abs(moments.pop() - datetime.now(UTC)) < timedelta(minutes=1)


@dataclass
class Point:
    x: int


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


INVALID: list[tuple[str, object]] = [
    ("id", "0190c1f0-0000-7000-8000-00000000abcg"),
    ("id", "0190c1f0-0000-7000-8000-00000000abc"),
    ("id", "0190c1f0+0000-7000-8000-00000000abcd"),
    ("id", "0190c1f0-0000-7000-8000-00000000abcd "),
    ("id", 7),
    ("trace_id", ""),
    ("trace_id", None),
    ("parent_span_id", "x" * 36),
    ("workspace_id", ""),
    ("workspace_id", b"bytes are not text"),
    ("name", b"bytes"),
    ("name", "x" * 10_001),
    ("model", 5),
    ("type", "LLM"),
    ("type", "robot"),
    ("type", 3),
    ("start_time", "2025-02-29T00:00:00+00:00"),
    ("start_time", "2026-04-31T00:00:00Z"),
    ("start_time", "1899-12-31T23:59:59+00:00"),
    ("start_time", "1900-01-01T00:30:00+01:00"),  # 1899 in UTC
    ("start_time", "2300-01-01T00:00:00Z"),
    ("start_time", "2026-11-29T24:00:00Z"),
    ("start_time", "2026-11-29T10:00:00+24:00"),
    ("start_time", "yesterday"),
    ("start_time", None),
    ("end_time", 17),
    ("end_time", "2026-13-01T00:00:00Z"),
    ("total_estimated_cost", "-0.5"),
    ("total_estimated_cost", "1e30"),
    ("total_estimated_cost", "100000000000000000000000000"),  # 10^26
    ("total_estimated_cost", "NaN"),
    ("total_estimated_cost", True),
    ("total_estimated_cost", "12,5"),
    ("tags", "prod"),
    ("tags", ["ok", b"bytes"]),
    ("tags", ["ok", 3]),
    ("tags", ["x" * 10_001]),
    ("usage", {"t": True}),
    ("usage", {"t": 2**63}),
    ("usage", {"t": 1.0}),
    ("usage", {1: 1}),
    ("usage", [("t", 1)]),
    ("input", {"x": float("nan")}),
    ("input", [1.0, float("inf")]),
    ("input", {"x": [float("-inf")]}),
    ("input", {"id": uuid.UUID(int=1)}),
    ("input", {"c": Color.RED}),
    ("input", {"at": NOW}),
    ("input", {"p": Point(1)}),
    ("input", {"s": {1, 2}}),
    ("input", {"b": b"bytes"}),
    ("input", {("tuple", "key"): 1}),
    ("metadata", Point(1)),
    ("output", float("nan")),
    ("is_deleted", 7),
    ("ttft", "fast"),
    ("truncation_threshold", -1),
    ("prompt", "an unknown field"),
]


@pytest.mark.parametrize(("field", "value"), INVALID)
def test_every_invalid_form_makes_the_columnar_path_give_up_and_errors_stay_per_item(
    writer: BatchWriter, field: str, value: object
) -> None:
    items = [stamped(span(i)) for i in range(5)]
    items[3][field] = value
    if value is None:
        del items[3][field]
    assert writer._columnar.table(items, writer.defaults) is None
    with pytest.raises(ValidationError) as info:
        writer.write(items)
    (problem,) = info.value.problems
    assert (problem.index, problem.field) == (3, field), problem
    rejecting = BatchWriter(writer.adapter, writer.database, "spans", mode="reject")
    _, rejects = rejecting.prepare(items)
    assert [r.problems for r in rejects] == [info.value.problems], "the same problems as the per-item rules"


def test_enum_members_are_judged_as_json_dumps_judges_them(writer: BatchWriter) -> None:
    """IntEnum is an int to json.dumps (stored as 3); orjson must not be the one deciding."""
    items = [stamped(span(0, input={"level": Level.HIGH}))]
    assert_same(writer, items)
    assert writer.prepare(items)[0][0][writer.rules.names.index("input")] == '{"level":3}'


def test_a_large_write_stores_what_the_per_item_rules_would(
    writer: BatchWriter, engine: EmbeddedAdapter, database: str
) -> None:
    rng = random.Random(5)
    items = [stamped(span(i, usage={"prompt_tokens": rng.randint(0, 10**12)})) for i in range(2500)]
    result = writer.write(items)
    assert (result.rows, result.batches) == (2500, 3) and count(engine, database) == 2500


def test_json_bytes_is_json_dumps_for_every_code_point_key_order_and_number() -> None:
    def dumps(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert json_bytes(text).decode() == dumps(text), "escapes and non-ASCII text"
    assert json_bytes({"k": text}).decode() == dumps({"k": text})
    ordered = {"z": 1, "a": [True, False, None], "m": {"y": -(2**63), "b": 2**64 - 1, "c": 2**64}, "": ""}
    assert json_bytes(ordered).decode() == dumps(ordered), "key order, 64-bit and larger integers"
    rng = random.Random(7)
    floats = [rng.uniform(-1, 1) * 10.0 ** rng.randint(-300, 300) for _ in range(20_000)]
    floats += [0.0, -0.0, 0.1, 1e16, 1e-4, 5e-324, 1.7976931348623157e308, 1e22, 123456789.123]
    for f in floats:
        got, want = json_bytes([f]).decode(), dumps([f])
        exponent = math.floor(math.log10(abs(f))) if f else 0
        if -9 <= exponent <= -5:  # the documented spelling difference: the same number
            assert json.loads(got) == json.loads(want) == [f]
        else:
            assert got == want, f
    for odd in (OrderedDict(a=1), {1: "x", 2.5: "y", None: "z", False: 0}, Level.HIGH, type("S", (str,), {})("s")):
        assert json_bytes(odd).decode() == dumps(odd)
    for bad in (float("nan"), [float("inf")], {"u": uuid.UUID(int=1)}, Color.RED, NOW, Point(1), {1, 2}, b"x"):
        with pytest.raises((TypeError, ValueError)) as got_error:
            json_bytes(bad)
        with pytest.raises((TypeError, ValueError)) as want_error:
            dumps(bad)
        assert str(got_error.value) == str(want_error.value)


def test_canonical_uuids_is_the_regex() -> None:
    good = [str(uuid.UUID(int=random.Random(i).getrandbits(128))) for i in range(200)]
    assert canonical_uuids(good)
    base = good[0]
    for bad in [base.upper(), base[:-1], base + "0", base.replace("-", "0", 1), "-" * 36, base[:8] + "g" + base[9:]]:
        assert not canonical_uuids([*good, bad]), bad
    assert not canonical_uuids(["é" * 36])
    moved = base[:8] + base[9] + "-" + base[10:]
    assert not canonical_uuids([moved])


def test_the_token_changes_with_any_value_is_stable_on_retry_and_needs_no_thread(migrated_store: Store) -> None:
    """The BLAKE3 token over the Arrow buffers: one value changed anywhere changes it; a re-sent batch keeps it."""
    store = migrated_store
    writer = store.writer("spans")
    items = [stamped(span(i, input={"text": "x" * 1000})) for i in range(500)]
    threads = threading.active_count()
    (_, token), *_ = writer.prepare_tables(items)[0]
    assert len(token) == 64 and token == writer.prepare_tables([dict(item) for item in items])[0][0][1]
    changes = [("input", {"text": "x" * 999 + "y"}), ("name", "llm call 0 "), ("usage", {"prompt_tokens": 11}),
               ("tags", ["b"]), ("end_time", "2026-11-29T10:00:00.123457Z"), ("total_estimated_cost", "0.5"),
               ("parent_span_id", uuid7(NOW, 3)), ("ttft", 1.5)]  # fmt: skip
    tokens = {token}
    for field, value in changes:
        changed = [*items[:-1], {**items[-1], field: value}]
        tokens.add(writer.prepare_tables(changed)[0][0][1])
    assert len(tokens) == len(changes) + 1, "every changed value gives a new token"
    assert threading.active_count() == threads, "the writer hashes in line, on no thread of its own"
    writer.close()


_EMPTY: Any = []
UNENCODABLE: list[tuple[str, object]] = [
    ("name", "lone \ud800 surrogate"),
    ("input", "lone \udfff surrogate"),
    ("tags", ["ok", "\ud83d"]),
    ("usage", {"tokens\ud800": 1}),
    ("usage", {"t": 10**5000}),  # no repr (4,300 digits at most), so the problem's value is shortened otherwise
    ("input", {"x": 10**5000}),
    ("start_time", "0001-01-01T00:00:00+01:00"),  # before datetime's range in UTC
    ("end_time", datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-2)))),  # after it
    ("ttft", 10**400),  # beyond Float64
    ("total_estimated_cost", "99999999999999999999999999.9999999999999"),  # rounds up to 10^26
    ("total_estimated_cost", 10**5000),
    ("metadata", functools.reduce(lambda inner, _: [inner], range(100_000), _EMPTY)),  # RecursionError in json.dumps
]


@pytest.mark.parametrize(("field", "value"), UNENCODABLE, ids=[f"{f}-{i}" for i, (f, _) in enumerate(UNENCODABLE)])
def test_values_that_cannot_be_stored_or_printed_are_problems_of_their_item_not_crashes(
    writer: BatchWriter, field: str, value: object
) -> None:
    """Each was a raw UnicodeEncodeError, OverflowError, ValueError or InvalidOperation out of ``write``
    (no index or field, and in reject mode the whole call failed)."""
    items = [stamped(span(i)) for i in range(5)]
    items[3][field] = value
    assert writer._columnar.table(items, writer.defaults) is None
    with pytest.raises(ValidationError) as info:
        writer.write(items)
    (problem,) = info.value.problems
    assert (problem.index, problem.field) == (3, field), problem
    rejecting = BatchWriter(writer.adapter, writer.database, "spans", mode="reject")
    result = rejecting.write(items)
    assert result.rows == 4 and [r.index for r in result.rejects] == [3]


@pytest.mark.parametrize(
    "value",
    ["0x90c1f000007000800000000000abcd", "0_90c1f000007000800000000000abcd",
     "\uff10\uff11\uff19\uff10c1f000007000800000000000abcd",  # fullwidth digits
     "0190c1f0uuid:0000-7000-8000-00000000abcd", "0-190c1f0000070008000000000--00abcd"],
)  # fmt: skip
def test_text_that_int_reads_as_hex_but_is_no_uuid_is_refused(writer: BatchWriter, value: str) -> None:
    """uuid.UUID reads the 32 digits with int(hex, 16), which also takes "0x", "_", spaces and non-ASCII
    digits, and drops dashes and "uuid:" anywhere: such text was stored as some other id."""
    items = [stamped(span(i)) for i in range(3)]
    items[1]["trace_id"] = value
    with pytest.raises(ValidationError) as info:
        writer.write(items)
    (problem,) = info.value.problems
    assert (problem.index, problem.field, problem.message) == (1, "trace_id", "not a UUID")
