"""The batch writer on the real engine: validation, one columnar INSERT per batch, deduplicated retries,
transient-error retries, reject mode, streaming from several threads, counters."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow
import pytest
from test_retention import uuid7

from opik_store import ConfigError, ServerError, Store
from opik_store.engine.adapter import Adapter, Rows
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.engine.retry import RetryPolicy
from opik_store.ingest import BatchWriter, PartialWriteError, SpanRecord, StreamingWriter, TraceRecord, ValidationError
from opik_store.schema.columns import columns

PROJECT = "0190c1f0-0000-7000-8000-00000000abcd"
WS = "ws-ingest"
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


@pytest.fixture
def migrated(migrated_store: Store) -> Store:
    return migrated_store


def span(i: int, trace: str | None = None, **over: Any) -> dict[str, Any]:
    """An Opik REST-shaped span: ISO text times, JSON objects for input/output, usage counts."""
    item: dict[str, Any] = {
        "id": uuid7(NOW + timedelta(milliseconds=i), 10_000 + i),
        "trace_id": trace or uuid7(NOW, 7),
        "project_id": PROJECT,
        "workspace_id": WS,
        "name": f"llm call {i}",
        "type": "llm",
        "start_time": "2026-11-29T10:00:00.123456Z",
        "end_time": None,
        "input": {"messages": [{"role": "user", "content": f"question {i}"}]},
        "output": {"answer": "Paris"},
        "metadata": {},
        "model": "gpt-5",
        "provider": "openai",
        "total_estimated_cost": "0.000125",
        "tags": ["prod"],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5_000_000_000},
    }
    item.update(over)
    return item


def count(engine: EmbeddedAdapter, database: str, table: str = "spans") -> int:
    return int(engine.query(f"SELECT count() FROM `{database}`.{table}").scalar())


def test_writer_stores_opik_shaped_spans_and_traces_with_sentinels(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    with migrated.writer("spans") as writer:
        result = writer.write([span(i) for i in range(3)])
    assert (result.rows, result.batches, result.rejects) == (3, 1, ())
    row = engine.query(
        f"SELECT id, usage, total_estimated_cost, end_time, isNaN(ttft) AS nan_ttft, input, start_time, type, "
        f"source FROM `{database}`.spans ORDER BY id LIMIT 1"
    ).dicts()[0]
    assert row["usage"] == {"prompt_tokens": 12, "completion_tokens": 5_000_000_000}
    assert row["end_time"].year == 1970 and row["nan_ttft"] == 1 and row["source"] == "unknown"
    assert row["input"] == '{"messages":[{"role":"user","content":"question 0"}]}'
    assert row["start_time"] == datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=UTC)
    assert float(row["total_estimated_cost"]) == pytest.approx(0.000125)

    trace = TraceRecord(
        id=uuid7(NOW, 7).upper(),
        workspace_id=WS,
        project_id=PROJECT,
        start_time=NOW,
        name="run",
        source="sdk",
        error_info={"exception_type": "ValueError", "message": "bad"},
        tags=["a", "b"],
        ttft=12.5,
    )
    with migrated.writer("traces") as writer:
        assert writer.write([trace]).rows == 1
    got = engine.query(f"SELECT id, error_info, source, ttft, tags, visibility_mode FROM `{database}`.traces").dicts()
    assert got == [
        {
            "id": uuid7(NOW, 7),
            "error_info": '{"exception_type":"ValueError","message":"bad"}',
            "source": "sdk",
            "ttft": 12.5,
            "tags": ["a", "b"],
            "visibility_mode": "default",
        }
    ], "ids are stored in canonical lowercase form; JSON values as compact text"


def test_a_bad_item_rejects_its_whole_batch_and_names_index_field_value(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    items = [span(0), span(1, id="not-a-uuid"), span(2, type="robot"), span(3, usage={"t": 2**63}), span(4)]
    del items[4]["start_time"]
    items.append({**span(5), "prompt": "typo field", "project_name": "resolved by the backend: ignored"})
    with migrated.writer("spans") as writer, pytest.raises(ValidationError) as info:
        writer.write(items)
    found = {(p.index, p.field) for p in info.value.problems}
    assert found == {(1, "id"), (2, "type"), (3, "usage"), (4, "start_time"), (5, "prompt")}
    text = str(info.value)
    assert "item 1: id: not a UUID (got 'not-a-uuid')" in text and "expected one of unknown, general" in text
    assert count(engine, database) == 0, "nothing of the batch is written"
    assert writer.counters.snapshot()["rows"] == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("trace_id", None, "required field is missing"),
        ("start_time", "yesterday", "not an ISO-8601 time"),
        ("start_time", 17, "expected a datetime"),
        ("tags", "prod", "expected a list of text"),
        ("tags", ["ok", 3], "is not text"),
        ("total_estimated_cost", -1, "[0, 10^26)"),
        ("name", "x" * 10_001, "longer than 10000 characters"),
        ("input", {"x": float("nan")}, "not JSON-serializable"),
        ("workspace_id", "", "must not be empty"),
        ("is_deleted", 7, "expected true/false or 0/1"),
        ("truncation_threshold", -1, "[0, 2^64)"),
    ],
)
def test_each_rule_rejects_with_a_specific_message(migrated: Store, field: str, value: object, message: str) -> None:
    item = span(0)
    item[field] = value
    if value is None:
        del item[field]
    with migrated.writer("spans") as writer, pytest.raises(ValidationError) as info:
        writer.write([item])
    (problem,) = info.value.problems
    assert (problem.index, problem.field) == (0, field) and message in problem.message, problem


def test_reject_mode_writes_the_rest_and_returns_the_rejects(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    items = [span(i) for i in range(5)]
    items[2]["parent_span_id"] = "x" * 40
    with migrated.writer("spans", mode="reject") as writer:
        result = writer.write(items)
    assert result.rows == 4 and [r.index for r in result.rejects] == [2]
    assert result.rejects[0].problems[0].field == "parent_span_id" and result.rejects[0].item is items[2]
    assert count(engine, database) == 4 and writer.counters.snapshot()["rejected"] == 1


class Recording:
    """The real adapter, recording every INSERT it is asked for; optionally failing after (or before) it runs."""

    def __init__(
        self, inner: Adapter, fail_after: int = 0, fail_before: int = 0, code: int = 209, fail_call: int = 0
    ) -> None:
        self.inner, self.spec = inner, inner.spec
        self.fail_after, self.fail_before, self.code, self.fail_call = fail_after, fail_before, code, fail_call
        self.inserts: list[tuple[int, dict[str, str]]] = []

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> Rows:
        return self.inner.query(sql, params, settings)

    def execute(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> None:
        self.inner.execute(sql, params, settings)

    def stream(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> Iterator[Rows]:
        return self.inner.stream(sql, params, settings)

    def insert_arrow(
        self, target: str, columns: Sequence[str], data: pyarrow.Table, settings: Mapping[str, str]
    ) -> None:
        self.inserts.append((data.num_rows, dict(settings)))
        if self.fail_call and len(self.inserts) >= self.fail_call:
            raise ServerError(self.code, "simulated: the server refused this batch")
        if self.fail_before:
            self.fail_before -= 1
            raise ServerError(self.code, "simulated: connection refused before sending")
        self.inner.insert_arrow(target, columns, data, settings)
        if self.fail_after:
            self.fail_after -= 1  # the rows are stored, but the client never hears so
            raise ServerError(self.code, "simulated: timeout while reading the server's answer")

    def close(self) -> None:
        self.inner.close()


def test_one_insert_per_batch_of_at_most_batch_size(migrated: Store, engine: EmbeddedAdapter, database: str) -> None:
    rec = Recording(migrated.adapter)
    writer = BatchWriter(rec, database, "spans", batch_size=1000)
    result = writer.write([span(i) for i in range(2500)])
    assert [n for n, _ in rec.inserts] == [1000, 1000, 500] and result.batches == 3
    assert count(engine, database) == 2500
    settings = rec.inserts[0][1]
    assert settings["insert_deduplicate"] == "1" and len(settings["insert_deduplication_token"]) == 64
    assert settings["async_insert"] == "1" and settings["wait_for_async_insert"] == "1", "the ingest profile's values"
    assert len({s["insert_deduplication_token"] for _, s in rec.inserts}) == 3, "one token per batch"
    assert writer.counters.snapshot() == {"rows": 2500, "batches": 3, "retries": 0, "failures": 0, "rejected": 0}


def test_a_batch_retried_after_a_timeout_is_stored_once(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """On the shipped schema as migrated (revision 0002 keeps the single-node deduplication window)."""
    rec = Recording(migrated.adapter, fail_after=2)
    writer = BatchWriter(rec, database, "spans", retry=RetryPolicy(attempts=4), sleep=lambda _s: None)
    items = [span(i, trace=uuid7(NOW - timedelta(days=i % 3), i % 3)) for i in range(300)]  # three partitions
    writer.write(items)
    assert len(rec.inserts) == 3, "the batch was sent three times: two timeouts after the server stored it"
    assert len({s["insert_deduplication_token"] for _, s in rec.inserts}) == 1, "every retry sends the same token"
    assert count(engine, database) == 300, "stored once"
    assert writer.counters.snapshot()["retries"] == 2
    # A caller re-sending the same request: same content (its own timestamps) -> same token -> stored once.
    again = [dict(item, created_at=NOW, last_updated_at=NOW) for item in items]
    writer.write(again)
    writer.write(again)
    assert count(engine, database) == 600, "the first re-send is new content (timestamps given), the second is not"


def test_without_the_dedup_window_the_same_retry_stores_twice(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """The control: the token alone does nothing on a single-node table without the window (as after 0001)."""
    engine.execute(f"ALTER TABLE `{database}`.spans MODIFY SETTING non_replicated_deduplication_window = 0")
    rec = Recording(migrated.adapter, fail_after=1)
    writer = BatchWriter(rec, database, "spans", sleep=lambda _s: None)
    writer.write([span(i) for i in range(10)])
    assert count(engine, database) == 20


def test_transient_errors_are_retried_and_others_fail_at_once(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    rec = Recording(migrated.adapter, fail_before=2, code=210)
    delays: list[float] = []
    writer = BatchWriter(rec, database, "spans", retry=RetryPolicy(attempts=3), sleep=delays.append)
    writer.write([span(0)])
    assert count(engine, database) == 1 and len(delays) == 2 and writer.counters.snapshot()["retries"] == 2

    hopeless = Recording(migrated.adapter, fail_before=5, code=210)
    writer = BatchWriter(hopeless, database, "spans", retry=RetryPolicy(attempts=3), sleep=lambda _s: None)
    with pytest.raises(ServerError):
        writer.write([span(1)])
    assert len(hopeless.inserts) == 3 and writer.counters.snapshot()["failures"] == 1

    refused = Recording(migrated.adapter, fail_before=1, code=60)  # UNKNOWN_TABLE: not transient
    writer = BatchWriter(refused, database, "spans", sleep=lambda _s: None)
    with pytest.raises(ServerError):
        writer.write([span(2)])
    assert len(refused.inserts) == 1 and count(engine, database) == 1


def test_streaming_from_several_threads_flushes_by_size_and_interval(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    rec = Recording(migrated.adapter)
    writer = BatchWriter(rec, database, "spans", batch_size=100)
    with StreamingWriter(writer, flush_interval=0.2) as stream:

        def produce(t: int) -> None:
            for i in range(250):
                stream.add(SpanRecord(**span(t * 1000 + i)))

        threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(n <= 100 for n, _ in rec.inserts), "the buffer never exceeds batch_size"
        stream.add(span(9999))
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while count(engine, database) < 1001 and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
        assert count(engine, database) == 1001, "the interval flushed the last item without close()"
    assert writer.counters.snapshot()["rows"] == 1001
    ids = engine.query(f"SELECT uniqExact(id) FROM `{database}`.spans").scalar()
    assert int(ids) == 1001


def test_typed_records_have_exactly_the_writable_columns() -> None:
    from dataclasses import fields

    for record, table in ((TraceRecord, "traces"), (SpanRecord, "spans")):
        assert {f.name for f in fields(record)} == {c.name for c in columns(table) if c.insertable}


def test_decimal_and_datetime_values_are_accepted_as_is(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    with migrated.writer("spans") as writer:
        writer.write([span(0, total_estimated_cost=Decimal("1.5"), end_time=NOW + timedelta(seconds=2))])
    row = engine.query(f"SELECT duration, total_estimated_cost FROM `{database}`.spans").dicts()[0]
    assert row["duration"] == pytest.approx(2000 - 0.123456 * 1000, rel=1e-6)


def test_costs_up_to_ten_to_the_26_are_stored_exactly(migrated: Store, engine: EmbeddedAdapter, database: str) -> None:
    """Decimal(38, 12): 26 integer digits. The default 28-digit context used to fail from 10^16 up."""
    with migrated.writer("spans") as writer:
        writer.write([span(0, total_estimated_cost="12345678901234567890.5")])
        writer.write([span(1, total_estimated_cost=Decimal("99999999999999999999999999.999999999999"))])
    got = engine.query(f"SELECT toString(total_estimated_cost) FROM `{database}`.spans ORDER BY name").rows
    assert [r[0] for r in got] == ["12345678901234567890.5", "99999999999999999999999999.999999999999"]


def test_a_caller_token_makes_a_resent_request_idempotent(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """Items without their own timestamps differ on every call; the caller's idempotency key still dedups."""
    rec = Recording(migrated.adapter)
    writer = BatchWriter(rec, database, "spans", batch_size=2)
    items = [span(i) for i in range(3)]
    writer.write(items, token="request-42")
    content_hashes = writer._hasher
    writer._hasher = None  # type: ignore[assignment,method-assign]  # with the caller's key, no batch is hashed
    writer.write(items, token="request-42")
    writer._hasher = content_hashes  # type: ignore[method-assign]
    tokens = [s["insert_deduplication_token"] for _, s in rec.inserts]
    assert [t.rsplit(":", 1)[0] for t in tokens] == ["request-42:0", "request-42:1"] * 2
    assert tokens[:2] == tokens[2:], "the same items under the same key: the same tokens"
    assert count(engine, database) == 3
    writer.write(items)
    assert count(engine, database) == 6, "without the key, the defaulted timestamps make the content new"


def test_streaming_reports_bad_items_at_once_and_background_failures_later(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    writer = BatchWriter(Recording(migrated.adapter), database, "spans", batch_size=10)
    stream = StreamingWriter(writer, flush_interval=60)
    stream.add(span(0))
    with pytest.raises(ValidationError, match="item 1: type"):
        stream.add(span(1, type="robot"))
    stream.add(span(2))
    stream.close()
    assert count(engine, database) == 2, "the bad item was refused alone; the buffer was kept"

    rejecting = BatchWriter(migrated.adapter, database, "spans", batch_size=10, mode="reject")
    with StreamingWriter(rejecting, flush_interval=60) as stream:
        stream.add(span(3, id="nope"))
        stream.add(span(4))
    assert [r.index for r in stream.rejects] == [0] and count(engine, database) == 3

    failing = Recording(migrated.adapter, fail_before=1, code=60)  # not transient: the first try fails
    stream = StreamingWriter(BatchWriter(failing, database, "spans", batch_size=10), flush_interval=0.1)
    stream.add(span(5))
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while not failing.inserts and datetime.now(UTC) < deadline:
        threading.Event().wait(0.05)
    stream.add(span(6))  # a background failure does not refuse new items: the failed batch stays buffered
    stream.close()
    assert stream.counters.snapshot()["failures"] == 1 and stream.last_error is not None
    assert count(engine, database) == 5, "the failed batch was tried again and stored, then span 6"
    tokens = [s["insert_deduplication_token"] for _, s in failing.inserts]
    assert tokens[0] == tokens[1], "the retried batch is the same batch, under the same token"


def test_an_item_added_after_close_is_refused_not_left_in_the_buffer(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """close writes the last batch; an add after it was buffered, never written, and no error said so."""
    stream = StreamingWriter(BatchWriter(migrated.adapter, database, "spans", batch_size=10), flush_interval=60)
    stream.add(span(0))
    stream.close()
    with pytest.raises(ConfigError, match="closed"):
        stream.add(span(1))
    assert count(engine, database) == 1


def test_defaults_naming_no_column_are_refused(migrated: Store, database: str) -> None:
    """A typo in ``defaults`` ("enviroment") silently stored '' instead: the rule for an item's fields."""
    with pytest.raises(ConfigError, match="enviroment"):
        BatchWriter(migrated.adapter, database, "spans", defaults={"workspace_id": WS, "enviroment": "prod"})
    with pytest.raises(ConfigError, match="duration"):  # MATERIALIZED: not insertable
        BatchWriter(migrated.adapter, database, "traces", defaults={"duration": 1.0})


def test_a_write_failing_part_way_says_what_was_stored(migrated: Store, engine: EmbeddedAdapter, database: str) -> None:
    rec = Recording(migrated.adapter, fail_call=3, code=60)
    writer = BatchWriter(rec, database, "spans", batch_size=100, sleep=lambda _s: None)
    items = [span(i) for i in range(250)]
    with pytest.raises(PartialWriteError, match="after 200 of 250 rows were stored in 2 batch") as info:
        writer.write(items)
    assert (info.value.stored_rows, info.value.code, count(engine, database)) == (200, 60, 200)
    BatchWriter(migrated.adapter, database, "spans", batch_size=100).write(items)  # re-sending the same items
    final = engine.query(f"SELECT count(), uniqExact(id) FROM `{database}`.spans FINAL").rows[0]
    assert tuple(final) == (250, 250), "re-sent rows are newer versions of the same ids: nothing doubles"


def test_a_batch_spanning_more_weeks_than_one_insert_takes_is_split_by_week(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """Spans whose ids fall in 130 different weeks (partitions): the engine refuses such an INSERT whole
    (TOO_MANY_PARTS, max_partitions_per_insert_block = 100), every time. The writer sends it as INSERTs of at
    most 100 weeks each; re-sending the batch stores nothing twice."""
    stamp = {"created_at": "2026-11-29T10:00:00Z", "last_updated_at": "2026-11-29T10:00:00Z"}  # same content
    items = [span(i, id=uuid7(NOW - timedelta(weeks=i), 500 + i), **stamp) for i in range(130)]
    unsplit = Recording(migrated.adapter)
    writer = BatchWriter(unsplit, database, "spans", sleep=lambda _s: None)
    assert writer.max_partitions == 100
    writer.max_partitions = 0  # the engine's answer to the whole batch: refused, and not retried
    with pytest.raises(ServerError) as refused:
        writer.write(items)
    assert refused.value.code == 252 and len(unsplit.inserts) == 1, "a block over the limit is not transient"
    assert count(engine, database) == 0
    rec = Recording(migrated.adapter)
    split = BatchWriter(rec, database, "spans")
    assert split.write(items).rows == 130
    assert [n for n, _ in rec.inserts] == [100, 30]
    tokens = [s["insert_deduplication_token"] for _, s in rec.inserts]
    assert tokens[0].endswith(":w0") and tokens[1].endswith(":w1") and tokens[0][:-3] == tokens[1][:-3]
    split.write(items)
    assert count(engine, database) == 130 and split.counters.snapshot()["rows"] == 260


def test_a_reused_caller_token_with_other_items_stores_them(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """The same idempotency key with different items: the second request was dropped as a duplicate while its
    result said it was stored. The key now dedups only the same items."""
    writer = BatchWriter(migrated.adapter, database, "spans", batch_size=2)
    first, other = [span(i) for i in range(3)], [span(i) for i in range(10, 13)]
    assert writer.write(first, token="request-7").rows == 3
    assert writer.write(other, token="request-7").rows == 3
    assert count(engine, database) == 6, "the second request's items are stored"
    writer.write(first, token="request-7")
    assert count(engine, database) == 6, "the same items under the same key: stored once"
    items = [{k: v for k, v in span(i).items() if k != "workspace_id"} for i in range(20, 23)]
    for ws in ("wsA", "wsB"):  # the same items, other writer defaults: other content
        BatchWriter(migrated.adapter, database, "spans", defaults={"workspace_id": ws}).write(items, token="r-8")
    stored = engine.query(f"SELECT workspace_id, count() FROM `{database}`.spans WHERE workspace_id LIKE 'ws_' "
                          "GROUP BY workspace_id ORDER BY workspace_id").rows  # fmt: skip
    assert [tuple(r) for r in stored] == [("wsA", 3), ("wsB", 3)]
