"""Opik's trace and span statements, as its backend's DAOs send them, for tests/test_opik_statements.py.

Every SQL statement ``TraceDAO`` and ``SpanDAO`` send to ClickHouse (TraceDAO at comet-ml/opik commit
014f9b85387f6256ec1134a9d253ad6d485520df, SpanDAO at dc55670adc3dc17ea5afaff8eabebe6803c97b38), rendered
for the conditional branches a normal call takes; a template with several important branches (with and
without ``IN PARTITION``, with and without truncation, page / cursor / time window) is here once per
branch. The text is Opik's, token for token, with three mechanical changes:

* Opik's bound ``:name`` parameters are ClickHouse's server-side ``{name:Type}`` (the type is what the
  Java side binds: text for ids and times, arrays for the ``IN :ids`` lists, ``Nullable`` where Opik binds
  NULL for an absent value);
* the table names are placeholders, so the same text runs against the store's database and against
  Opik's own tables: ``{traces}``/``{spans}`` (reads and inserts), ``{traces_mutation}``/
  ``{spans_mutation}`` (Opik's mutation target: ``traces_local``/``spans_local`` when its distributed
  wrap flag is on, else ``traces``/``spans``), ``{db}`` (the database of the side tables);
* ``{partition}`` is the ``IN PARTITION`` value, which Opik inlines (it is never bound): the UTC Monday
  of the id's UUIDv7 time as ``yyyyMMdd``, computed by ``weekly_partitions`` below as Opik's
  ``WeeklyPartitions`` does.

The ``*_filters``/``sort_fields``/``exclude_fields`` bodies come from Opik's FilterQueryBuilder and
SortingQueryBuilder, not from the DAOs, and are left out (their flags unset), as are the
``*_SEARCH_CLAUSE`` fragments on their own (they appear inside the statements that use them).

The module also holds the Opik-shaped rows the suite writes (``build_seed``), the side tables Opik's
statements join (``SIDE_TABLES``), and the parameters of each statement (``Statement.calls``).
"""

# ruff: noqa: E501
# (the SQL is kept as Opik's templates render it, long lines included)

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Dao = Literal["TraceDAO", "SpanDAO"]
Group = Literal[
    "batch",
    "upsert",
    "update",
    "delete",
    "find",
    "window",
    "stats",
    "threads",
    "bytrace",
    "count",
    "lookup",
    "retention",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Opik's ImageUtils.IMAGE_TRUNCATION_REGEX (what the truncated reads replace with "[image]").
IMAGE_REGEX = 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+'
#: Opik's default ``truncation_threshold`` (the column's DEFAULT; bound when the deployment sets one).
TRUNCATION_THRESHOLD = 10001


# -- ids and Opik's WeeklyPartitions ---------------------------------------------------------------


def epoch_ms(at: datetime) -> int:
    return (at - EPOCH) // timedelta(milliseconds=1)


def uuid7(at: datetime, seq: int) -> str:
    """A UUIDv7 whose 48-bit time is ``at`` (ms) and whose random bits are ``seq`` (unique per seed)."""
    value = (epoch_ms(at) << 80) | (0x7 << 76) | ((seq & 0xFFF) << 64) | (0b10 << 62) | (seq & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def uuid_lower(at: datetime) -> str:
    """The smallest UUIDv7 of ``at``'s millisecond (Opik's InstantToUUIDMapper lower bound)."""
    return str(uuid.UUID(int=(epoch_ms(at) << 80) | (0x7 << 76) | (0b10 << 62)))


def uuid_upper(at: datetime) -> str:
    """The largest UUIDv7 of ``at``'s millisecond."""
    return str(uuid.UUID(int=(epoch_ms(at) << 80) | (0x7 << 76) | (0xFFF << 64) | (0b10 << 62) | ((1 << 62) - 1)))


#: WeeklyPartitions.ID_AT_CEILING: ids at or after 2300-01-01 (DateTime64 saturation) have no partition.
ID_AT_CEILING_MS = epoch_ms(datetime(2300, 1, 1, tzinfo=UTC))


def _weekly_partition_of(epoch_second: int) -> int:
    day = (EPOCH + timedelta(seconds=epoch_second)).date()
    monday = day - timedelta(days=day.weekday())
    return monday.year * 10000 + monday.month * 100 + monday.day


def weekly_partitions(id_: str) -> frozenset[int] | None:
    """WeeklyPartitions.partitionsOf: the partition(s) an id's rows can be in, None when underivable.

    A non-v7 id, or one at or after the ceiling, is underivable. An id whose second is past 2^32 also
    yields the week of the legacy 32-bit wrap (rows written while ``id_at`` was a 32-bit DateTime).
    """
    parsed = uuid.UUID(id_)
    if parsed.version != 7:
        return None
    ms = parsed.int >> 80
    if ms >= ID_AT_CEILING_MS:
        return None
    second = ms // 1000
    if second >= 1 << 32:
        return frozenset({_weekly_partition_of(second), _weekly_partition_of(second % (1 << 32))})
    return frozenset({_weekly_partition_of(second)})


def group_by_partition(ids: Iterable[str]) -> dict[int, list[str]] | None:
    """WeeklyPartitions.groupByPartition: partition -> ids; None (one unbounded statement) if any id is underivable."""
    groups: dict[int, list[str]] = {}
    for id_ in ids:
        partitions = weekly_partitions(id_)
        if partitions is None:
            return None
        for partition in partitions:
            groups.setdefault(partition, []).append(id_)
    return dict(sorted(groups.items()))


def weeks_of(ids: Iterable[str]) -> list[int]:
    """WeeklyPartitions.weeksOf: the sorted partitions of ``ids`` (bound as ``:id_weeks``).

    Opik leaves the ``id_weeks`` clause out when an id is underivable; every id of this suite is derivable.
    """
    groups = group_by_partition(ids)
    assert groups is not None, "an underivable id: Opik would render the statement without id_weeks"
    return sorted(groups)


# -- Opik's write-side helpers ---------------------------------------------------------------------


def _slim(node: object) -> object:
    if isinstance(node, str):
        return node[:1000] + "..." if len(node) > 1000 else node
    if isinstance(node, list):
        return [_slim(v) for v in node]
    if isinstance(node, dict):
        return {k: _slim(v) for k, v in node.items()}
    return node


def slim(text: str) -> str:
    """TruncationUtils.createSlimJsonString: the JSON with every leaf string cut to 1000 chars + "..."."""
    if not text:
        return text
    try:
        return json.dumps(_slim(json.loads(text)), separators=(",", ":"))
    except ValueError:
        return text[:1000] + "..." if len(text) > 1000 else text


def timestamp(at: datetime) -> str:
    """A time as Opik binds it (text; parseDateTime64BestEffort or the Values format parses it)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def map_literal(usage: Mapping[str, int]) -> str:
    """A ``Map(String, Int64)`` parameter value in ClickHouse's text form."""
    return "{" + ", ".join(f"{json.dumps(k)}: {v}".replace('"', "'") for k, v in usage.items()) + "}"


# -- the Opik-shaped rows --------------------------------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """One version of a trace, with the values Opik's batch insert binds."""

    key: str
    id: str
    project_id: str
    workspace_id: str
    user: str
    name: str
    start_time: datetime
    end_time: datetime | None
    input: str
    output: str
    metadata: str
    tags: tuple[str, ...]
    last_updated_at: datetime
    error_info: str | None
    thread_id: str
    visibility_mode: str | None
    truncation_threshold: int | None
    ttft: float | None
    source: str | None
    environment: str | None


@dataclass(frozen=True)
class Span:
    """One version of a span, with the values Opik's bulk insert binds."""

    key: str
    id: str
    project_id: str
    workspace_id: str
    trace_id: str
    parent_span_id: str
    user: str
    name: str
    type: str
    start_time: datetime
    end_time: datetime | None
    input: str
    output: str
    metadata: str
    model: str
    provider: str
    total_estimated_cost: str
    total_estimated_cost_version: str
    tags: tuple[str, ...]
    usage: Mapping[str, int]
    last_updated_at: datetime
    error_info: str | None
    truncation_threshold: int | None
    ttft: float | None
    source: str | None
    environment: str | None


#: Text the parameters must carry unchanged: quotes, backslashes, tabs, newlines, ``\N``, SQL.
HOSTILE_TAGS = ("eval", "it's", "back\\slash", "tab\there", "", "new\nline", "\\N", "'); DROP TABLE x; --")
#: A long input (above the 10001 truncation threshold) holding an inline PNG, as SDKs log images.
LONG_INPUT = json.dumps(
    {
        "messages": [{"role": "user", "content": "Describe the capital of France. " + "lorem ipsum " * 900}],
        "image": "data:image/png;base64," + "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ" * 20,
    }
)
#: A long output (15000+ chars) with a base64 PNG (the ``iVBORw0KGgo=`` form) near its end.
LONG_OUTPUT = json.dumps({"answer": "Paris " + "x" * 15000, "chart": "iVBORw0KGgo=AAAANSUhEUgAAAAEAAAAB"})
IMAGE_OUTPUT = json.dumps({"answer": "Paris", "photo": "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsL"})
IMAGE_METADATA = json.dumps(
    {"model": "gpt-4o", "logo": "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQ", "gif": "R0lGODlhAQABAIAAAP"}
)


@dataclass(frozen=True)
class Kit:
    """The rows of one write statement's own workspace: writes never touch what the reads see."""

    workspace_id: str
    user: str
    projects: tuple[str, str]
    traces: Mapping[str, str]  # key -> trace id (t1..t6)
    spans: Mapping[str, str]  # key -> span id (s1..s6)
    trace_project: Mapping[str, str]  # trace id -> project id
    span_trace: Mapping[str, str]  # span id -> trace id
    span_parent: Mapping[str, str]  # span id -> parent span id
    fresh: tuple[str, ...]  # ids no row has yet (for creates)
    fresh_spans: tuple[str, ...]


@dataclass
class Seed:
    """Everything the suite writes before the statements run: Opik-shaped rows of several workspaces,
    projects, threads, spans with parents, versions, long and image-bearing payloads, NULL-bound optional
    values and ids in several weeks (and one in 2200, whose week has a second, 32-bit-wrap partition)."""

    now: datetime
    traces: list[Trace] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    side: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    kits: dict[str, list[Kit]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # read-set key -> id (traces t*, spans s*, projects p*)
    _seq: int = 0

    def next_id(self, at: datetime) -> str:
        self._seq += 1
        return uuid7(at, self._seq)

    def trace(self, key: str) -> Trace:
        """The newest version of read-set trace ``key``."""
        return [t for t in self.traces if t.key == key][-1]

    def span(self, key: str) -> Span:
        return [s for s in self.spans if s.key == key][-1]

    def __getitem__(self, key: str) -> str:
        return self.ids[key]

    @property
    def start_of_today(self) -> datetime:
        return self.now.replace(hour=0, minute=0, second=0, microsecond=0)

    def ago(self, **delta: float) -> datetime:
        return self.now - timedelta(**delta)


def _project_id(seq: int) -> str:
    return uuid7(datetime(2024, 1, 1, tzinfo=UTC), 0xABC000 + seq)


def build_seed(now: datetime, write_kits: Mapping[str, int], read_set: bool = True) -> Seed:
    """The rows of the read set (workspaces ws-alpha and ws-beta, when ``read_set``) and
    ``write_kits[statement_id]`` kits (workspaces of their own) for every write statement."""
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    seed = Seed(now=now)
    pa1, pa2, pb1 = _project_id(1), _project_id(2), _project_id(3)
    seed.ids.update(pa1=pa1, pa2=pa2, pb1=pb1)
    ws_a = "ws-alpha"

    def add_trace(key: str, project: str, ws: str, at: datetime, **over: Any) -> Trace:
        trace_id = seed.ids.get(key) or seed.next_id(at)
        seed.ids[key] = trace_id
        base = Trace(
            key=key, id=trace_id, project_id=project, workspace_id=ws, user="alice" if ws == ws_a else "bruno",
            name="agent run", start_time=at, end_time=at + timedelta(milliseconds=2500),
            input=json.dumps({"question": "What is the capital of France?"}), output=json.dumps({"answer": "Paris"}),
            metadata=json.dumps({"model": "gpt-4o"}), tags=("prod", "v2"), last_updated_at=at + timedelta(seconds=3),
            error_info="", thread_id="", visibility_mode="default", truncation_threshold=TRUNCATION_THRESHOLD,
            ttft=float("nan"), source="sdk", environment="production",
        )  # fmt: skip
        trace = replace(base, **over)
        seed.traces.append(trace)
        return trace

    def add_span(key: str, trace: Trace, offset_ms: int, **over: Any) -> Span:
        at = trace.start_time + timedelta(milliseconds=offset_ms)
        span_id = seed.ids.get(key) or seed.next_id(at)
        seed.ids[key] = span_id
        base = Span(
            key=key, id=span_id, project_id=trace.project_id, workspace_id=trace.workspace_id, trace_id=trace.id,
            parent_span_id="", user=trace.user, name="step", type="general", start_time=at,
            end_time=at + timedelta(milliseconds=900), input=json.dumps({"q": "capital?"}),
            output=json.dumps({"a": "Paris"}), metadata="{}", model="", provider="", total_estimated_cost="0",
            total_estimated_cost_version="", tags=(), usage={}, last_updated_at=trace.last_updated_at,
            error_info="", truncation_threshold=TRUNCATION_THRESHOLD, ttft=float("nan"), source="sdk",
            environment="production",
        )  # fmt: skip
        span = replace(base, **over)
        seed.spans.append(span)
        return span

    seed.side = {name: [] for name in SIDE_TABLES}
    if read_set:
        _add_read_set(seed, add_trace, add_span)
    # ---- one kit (workspace) per write statement
    for statement_id, count in write_kits.items():
        seed.kits[statement_id] = [_add_kit(seed, f"w-{_slug(statement_id)}-{i}", add_trace, add_span)
                                   for i in range(count)]  # fmt: skip
    return seed


def _add_read_set(seed: Seed, add_trace: Callable[..., Trace], add_span: Callable[..., Span]) -> None:
    pa1, pa2, pb1 = seed["pa1"], seed["pa2"], seed["pb1"]
    ws_a, ws_b = "ws-alpha", "ws-beta"
    yesterday_noon = seed.start_of_today - timedelta(hours=12)
    # ---- the read set: ws-alpha (projects pa1, pa2) and ws-beta (pb1)
    a1 = add_trace("tA1", pa1, ws_a, seed.ago(hours=1), input=LONG_INPUT, output=IMAGE_OUTPUT, metadata=IMAGE_METADATA,
                   thread_id="thread-1", ttft=120.5)  # fmt: skip
    add_trace("tA2", pa1, ws_a, seed.ago(hours=2), name="draft", output="", end_time=None, ttft=None,
              visibility_mode=None, error_info=None, environment=None, truncation_threshold=None, source=None,
              thread_id="thread-1", tags=())  # fmt: skip
    a3 = add_trace("tA3", pa1, ws_a, yesterday_noon, thread_id="thread-2", source="experiment", tags=HOSTILE_TAGS,
                   name="it's a \"quoted\" name\twith\\escapes",
                   error_info=json.dumps({"exception_type": "ValueError", "message": "boom"}))  # fmt: skip
    a4 = add_trace("tA4", pa1, ws_a, seed.ago(days=8), output=LONG_OUTPUT, environment="")
    add_trace("tA5", pa1, ws_a, seed.ago(days=15), truncation_threshold=50, input=json.dumps({"q": "Paris? " * 12}),
              output=json.dumps({"a": "short"}))  # fmt: skip
    add_trace("tA6", pa1, ws_a, seed.ago(days=40), tags=(), visibility_mode="hidden", source="playground",
              environment=None, end_time=None, ttft=None, error_info=None, truncation_threshold=None)  # fmt: skip
    a7 = add_trace("tA7", pa2, ws_a, seed.ago(hours=3), thread_id="thread-1", source="unknown")
    add_trace("tA8", pa2, ws_a, seed.ago(days=9), thread_id="thread-1", name="Paris trip")
    b1 = add_trace("tB1", pb1, ws_b, yesterday_noon + timedelta(hours=1), thread_id="thread-9")
    add_trace("tB2", pb1, ws_b, seed.ago(days=20), thread_id="thread-9", source="optimization")

    s_a1 = add_span("sA1", a1, 1, name="agent", tags=("root",))
    add_span("sA2", a1, 5, parent_span_id=s_a1.id, name="llm call", type="llm", model="gpt-4o", provider="openai",
             usage={"prompt_tokens": 5_000_000_000, "completion_tokens": 17}, total_estimated_cost="0.012300000000",
             total_estimated_cost_version="1.1", input=LONG_INPUT, output=IMAGE_OUTPUT, ttft=80.25)  # fmt: skip
    add_span("sA3", a1, 9, parent_span_id=s_a1.id, name="search", type="tool", metadata=IMAGE_METADATA)
    a2 = seed.trace("tA2")
    add_span("sA4", a2, 2, name="llm call", type="llm", end_time=None, output="", provider="anthropic",
             model="claude-3", ttft=None, source=None, environment=None, error_info=None,
             truncation_threshold=None)  # fmt: skip
    add_span("sA5", a3, 3, name="llm call", type="llm", provider="openai", model="gpt-4o-mini",
             error_info=json.dumps({"exception_type": "Timeout"}), usage={"prompt_tokens": 12, "completion_tokens": 3},
             total_estimated_cost="0.000020000000", input=LONG_INPUT)  # fmt: skip
    add_span("sA6", a4, 4, name="pii check", type="guardrail", output=LONG_OUTPUT)
    add_span("sA7", a7, 4, name="retrieve", type="tool", provider="pinecone")
    add_span("sB1", b1, 4, name="llm call", type="llm", provider="openai", model="gpt-4o", usage={"prompt_tokens": 7},
             source="experiment")  # fmt: skip

    # second versions (a later last_updated_at): what LIMIT 1 BY id, argMax and FINAL must pick
    add_trace("tA2", pa1, ws_a, seed.ago(hours=2), name="final", output=json.dumps({"answer": "42, see Paris"}),
              thread_id="thread-1", tags=("prod",), last_updated_at=seed.ago(hours=2) + timedelta(seconds=30))  # fmt: skip
    add_span("sA4", a2, 2, name="llm call", type="llm", provider="anthropic", model="claude-3",
             usage={"prompt_tokens": 100, "completion_tokens": 20}, total_estimated_cost="0.004500000000",
             last_updated_at=seed.ago(hours=2) + timedelta(seconds=31))  # fmt: skip

    # ---- side tables (Opik's feedback scores, comments, guardrails, experiments, queues, threads)
    side = seed.side
    t = seed.ids
    old = seed.ago(hours=1)
    side["feedback_scores"] = [
        _score("trace", t["tA1"], pa1, ws_a, "accuracy", "0.9", "good", old + timedelta(seconds=1)),
        _score("trace", t["tA1"], pa1, ws_a, "relevance", "1", "", old + timedelta(seconds=2)),
        _score("trace", t["tA2"], pa1, ws_a, "accuracy", "0.5", "first pass", old + timedelta(seconds=3)),
        _score("trace", t["tA2"], pa1, ws_a, "accuracy", "0.6", "second pass", old + timedelta(minutes=5)),
        _score("trace", t["tA3"], pa1, ws_a, "accuracy", "0.25", "", old + timedelta(seconds=4)),
        _score("span", t["sA2"], pa1, ws_a, "hallucination", "0.1", "none found", old + timedelta(seconds=5)),
        _score("trace", t["tB1"], pb1, ws_b, "accuracy", "0.3", "", old + timedelta(seconds=6)),
    ]
    # A span's scores of one name are one entry each: Opik's span-score aggregation joins them to the spans
    # first, and a join's output order (which arrayStringConcat then freezes into text) is not defined.
    side["authored_feedback_scores"] = [
        {**_score("trace", t["tA1"], pa1, ws_a, "accuracy", "0.7", "ok", old + timedelta(seconds=7)), "author": "alice"},
        {**_score("trace", t["tA1"], pa1, ws_a, "accuracy", "0.8", "", old + timedelta(seconds=8)), "author": "bob",
         "source_queue_id": _project_id(90)},
        {**_score("span", t["sA2"], pa1, ws_a, "helpfulness", "0.2", "", old + timedelta(seconds=9)), "author": "carol"},
        {**_score("trace", t["tA4"], pa1, ws_a, "relevance", "0.4", "", old + timedelta(seconds=10)), "author": "alice"},
    ]  # fmt: skip
    side["comments"] = [
        _comment(_project_id(20), t["tA1"], "trace", pa1, ws_a, "looks right", old),
        _comment(_project_id(21), t["sA2"], "span", pa1, ws_a, "check the token count", old),
    ]
    side["guardrails"] = [
        _guardrail(_project_id(30), t["tA1"], t["sA1"], pa1, ws_a, "pii", "passed", old),
        _guardrail(_project_id(31), t["tA3"], t["sA5"], pa1, ws_a, "toxicity", "failed", old),
    ]
    experiment, dataset = _project_id(40), _project_id(41)
    side["experiments"] = [{"id": experiment, "dataset_id": dataset, "name": "exp-1", "workspace_id": ws_a,
                            "last_updated_at": timestamp(old)}]  # fmt: skip
    side["experiment_items"] = [_experiment_item(_project_id(42), experiment, _project_id(43), t["tA3"], ws_a, old)]
    side["dataset_item_versions"] = [
        {"id": _project_id(43), "dataset_item_id": _project_id(44), "workspace_id": ws_a,
         "last_updated_at": timestamp(old)}
    ]  # fmt: skip
    side["annotation_queues"] = [
        {"id": _project_id(90), "workspace_id": ws_a, "project_id": pa1, "name": "review", "scope": "trace",
         "last_updated_at": timestamp(old)}
    ]  # fmt: skip
    side["annotation_queue_items"] = [
        {"queue_id": _project_id(90), "item_id": t["tA1"], "workspace_id": ws_a, "project_id": pa1,
         "last_updated_at": timestamp(old)}
    ]  # fmt: skip
    side["trace_threads"] = [
        {"id": _project_id(50), "thread_id": "thread-1", "project_id": pa1, "workspace_id": ws_a, "status": "active",
         "source": "sdk", "last_updated_at": timestamp(old)}
    ]  # fmt: skip


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _add_kit(seed: Seed, ws: str, add_trace: Callable[..., Trace], add_span: Callable[..., Span]) -> Kit:
    p1, p2 = seed.next_id(datetime(2024, 2, 1, tzinfo=UTC)), seed.next_id(datetime(2024, 2, 1, tzinfo=UTC))
    far = datetime(2200, 1, 11, tzinfo=UTC)  # WeeklyPartitions' own example: weeks 22000106 and 20631203
    at = {"t1": seed.ago(hours=1), "t2": seed.ago(hours=2), "t3": seed.ago(days=40), "t4": seed.ago(days=41),
          "t5": far, "t6": seed.ago(days=100)}  # fmt: skip
    traces: dict[str, Trace] = {}
    for key, when in at.items():
        project = p2 if key == "t3" else p1
        traces[key] = add_trace(
            f"{ws}:{key}", project, ws, when, thread_id=f"{ws}-thread", input=json.dumps({"k": key})
        )
    traces["t2"] = add_trace(f"{ws}:t2", p1, ws, at["t2"], name="renamed", thread_id=f"{ws}-thread",
                             input=json.dumps({"k": "t2"}), last_updated_at=at["t2"] + timedelta(minutes=1))  # fmt: skip
    spans: dict[str, Span] = {}
    spans["s1"] = add_span(f"{ws}:s1", traces["t1"], 1, name="root")
    spans["s2"] = add_span(f"{ws}:s2", traces["t1"], 2, parent_span_id=spans["s1"].id, type="llm", provider="openai",
                           model="gpt-4o", usage={"prompt_tokens": 10}, total_estimated_cost="0.000100000000")  # fmt: skip
    spans["s3"] = add_span(f"{ws}:s3", traces["t2"], 1, type="tool")
    spans["s3"] = add_span(f"{ws}:s3", traces["t2"], 1, type="tool", name="tool v2",
                           last_updated_at=at["t2"] + timedelta(minutes=2))  # fmt: skip
    spans["s4"] = add_span(f"{ws}:s4", traces["t3"], 1)
    spans["s5"] = add_span(f"{ws}:s5", traces["t4"], 1)
    spans["s6"] = add_span(f"{ws}:s6", traces["t5"], 1)
    experiment = seed.next_id(datetime(2024, 2, 1, tzinfo=UTC))
    seed.side["experiment_items"].append(
        _experiment_item(seed.next_id(at["t4"]), experiment, seed.next_id(at["t4"]), traces["t4"].id, ws, at["t4"])
    )
    fresh = tuple(seed.next_id(seed.ago(minutes=30 - i)) for i in range(3))
    fresh_spans = tuple(seed.next_id(seed.ago(minutes=20 - i)) for i in range(3))
    return Kit(
        workspace_id=ws, user=f"user-{ws}", projects=(p1, p2), traces={k: v.id for k, v in traces.items()},
        spans={k: v.id for k, v in spans.items()}, trace_project={v.id: v.project_id for v in traces.values()},
        span_trace={v.id: v.trace_id for v in spans.values()},
        span_parent={v.id: v.parent_span_id for v in spans.values()}, fresh=fresh, fresh_spans=fresh_spans,
    )  # fmt: skip


def _score(
    kind: str, entity: str, project: str, ws: str, name: str, value: str, reason: str, at: datetime
) -> dict[str, object]:
    return {"entity_type": kind, "entity_id": entity, "project_id": project, "workspace_id": ws, "name": name,
            "category_name": "", "value": value, "reason": reason, "source": "sdk", "created_by": "alice",
            "last_updated_by": "alice", "created_at": timestamp(at), "last_updated_at": timestamp(at)}  # fmt: skip


def _comment(id_: str, entity: str, kind: str, project: str, ws: str, text: str, at: datetime) -> dict[str, object]:
    return {"id": id_, "entity_id": entity, "entity_type": kind, "project_id": project, "workspace_id": ws,
            "text": text, "created_at": timestamp(at), "last_updated_at": timestamp(at), "created_by": "alice",
            "last_updated_by": "alice"}  # fmt: skip


def _guardrail(
    id_: str, entity: str, secondary: str, project: str, ws: str, name: str, result: str, at: datetime
) -> dict[str, object]:
    return {"id": id_, "entity_id": entity, "entity_type": "trace", "secondary_entity_id": secondary,
            "project_id": project, "workspace_id": ws, "name": name, "result": result,
            "last_updated_at": timestamp(at)}  # fmt: skip


def _experiment_item(id_: str, experiment: str, item: str, trace: str, ws: str, at: datetime) -> dict[str, object]:
    return {"id": id_, "experiment_id": experiment, "dataset_item_id": item, "trace_id": trace, "workspace_id": ws,
            "last_updated_at": timestamp(at)}  # fmt: skip


#: The side tables Opik's statements read, minimal (every column a statement touches), typed as Opik types
#: them (FixedString(36) ids, DateTime64(9) times, Decimal64(9) scores) and ReplacingMergeTree where a
#: statement reads them with FINAL or newest-version dedup. ``{db}`` is the database.
SIDE_TABLES: dict[str, str] = {
    "feedback_scores": """
CREATE TABLE {db}.feedback_scores (
    entity_id FixedString(36), entity_type Enum8('unknown' = 0, 'span' = 1, 'trace' = 2, 'thread' = 3),
    project_id FixedString(36), workspace_id String, name String, category_name String DEFAULT '',
    value Decimal64(9), reason String DEFAULT '',
    source Enum8('sdk' = 1, 'ui' = 2, 'online_scoring' = 3),
    created_at DateTime64(9, 'UTC') DEFAULT now64(9), last_updated_at DateTime64(9, 'UTC') DEFAULT now64(9),
    created_by String DEFAULT '', last_updated_by String DEFAULT ''
) ENGINE = ReplacingMergeTree(last_updated_at)
ORDER BY (workspace_id, project_id, entity_type, entity_id, name)""",
    "authored_feedback_scores": """
CREATE TABLE {db}.authored_feedback_scores (
    entity_id FixedString(36), entity_type Enum8('unknown' = 0, 'span' = 1, 'trace' = 2, 'thread' = 3),
    project_id FixedString(36), workspace_id String, name String, category_name String DEFAULT '',
    value Decimal64(9), reason String DEFAULT '',
    source Enum8('sdk' = 1, 'ui' = 2, 'online_scoring' = 3),
    created_at DateTime64(9, 'UTC') DEFAULT now64(9), last_updated_at DateTime64(9, 'UTC') DEFAULT now64(9),
    created_by String DEFAULT '', last_updated_by String DEFAULT '', author String,
    source_queue_id FixedString(36) DEFAULT ''
) ENGINE = ReplacingMergeTree(last_updated_at)
ORDER BY (workspace_id, project_id, entity_type, entity_id, name, author, source_queue_id)""",
    "comments": """
CREATE TABLE {db}.comments (
    id FixedString(36), entity_id FixedString(36), entity_type Enum8('trace' = 1, 'span' = 2, 'thread' = 3),
    project_id FixedString(36), workspace_id String, text String,
    created_at DateTime64(9, 'UTC') DEFAULT now64(9), last_updated_at DateTime64(9, 'UTC') DEFAULT now64(9),
    created_by String DEFAULT '', last_updated_by String DEFAULT '', source_queue_id FixedString(36) DEFAULT ''
) ENGINE = ReplacingMergeTree(last_updated_at)
ORDER BY (workspace_id, project_id, entity_id, id)""",
    "guardrails": """
CREATE TABLE {db}.guardrails (
    id FixedString(36), entity_id FixedString(36), entity_type Enum8('trace' = 1, 'span' = 2),
    secondary_entity_id FixedString(36), project_id FixedString(36), workspace_id String, name String,
    result Enum8('passed' = 0, 'failed' = 1), config String DEFAULT '', details String DEFAULT '',
    created_at DateTime64(9, 'UTC') DEFAULT now64(9), last_updated_at DateTime64(9, 'UTC') DEFAULT now64(9),
    created_by String DEFAULT '', last_updated_by String DEFAULT ''
) ENGINE = ReplacingMergeTree(last_updated_at)
ORDER BY (workspace_id, project_id, entity_type, entity_id, id)""",
    "experiment_items": """
CREATE TABLE {db}.experiment_items (
    id FixedString(36), experiment_id FixedString(36), dataset_item_id FixedString(36), trace_id FixedString(36),
    workspace_id String, created_at DateTime64(9, 'UTC') DEFAULT now64(9),
    last_updated_at DateTime64(9, 'UTC') DEFAULT now64(9), created_by String DEFAULT '',
    last_updated_by String DEFAULT ''
) ENGINE = ReplacingMergeTree(last_updated_at)
ORDER BY (workspace_id, experiment_id, dataset_item_id, trace_id, id)""",
    "experiments": """
CREATE TABLE {db}.experiments (
    id FixedString(36), dataset_id FixedString(36), name String, workspace_id String, metadata String DEFAULT '',
    created_at DateTime64(9, 'UTC') DEFAULT now64(9), last_updated_at DateTime64(9, 'UTC') DEFAULT now64(9)
) ENGINE = ReplacingMergeTree(last_updated_at)
ORDER BY (workspace_id, dataset_id, id)""",
    "dataset_item_versions": """
CREATE TABLE {db}.dataset_item_versions (
    id FixedString(36), dataset_item_id FixedString(36), workspace_id String,
    last_updated_at DateTime64(9, 'UTC') DEFAULT now64(9)
) ENGINE = ReplacingMergeTree(last_updated_at)
ORDER BY (workspace_id, id)""",
    "annotation_queues": """
CREATE TABLE {db}.annotation_queues (
    id FixedString(36), workspace_id String, project_id FixedString(36), name String,
    scope Enum8('trace' = 0, 'thread' = 1), last_updated_at DateTime64(9, 'UTC') DEFAULT now64(9)
) ENGINE = ReplacingMergeTree(last_updated_at)
ORDER BY (workspace_id, project_id, id)""",
    "annotation_queue_items": """
CREATE TABLE {db}.annotation_queue_items (
    queue_id FixedString(36), item_id FixedString(36), workspace_id String, project_id FixedString(36),
    last_updated_at DateTime64(9, 'UTC') DEFAULT now64(9)
) ENGINE = ReplacingMergeTree(last_updated_at)
ORDER BY (workspace_id, project_id, queue_id, item_id)""",
    "trace_threads": """
CREATE TABLE {db}.trace_threads (
    id FixedString(36), thread_id String, project_id FixedString(36), workspace_id String,
    status Enum8('unknown' = 0, 'active' = 1, 'inactive' = 2),
    source Enum8('unknown' = 0, 'sdk' = 1, 'experiment' = 2, 'playground' = 3, 'optimization' = 4, 'evaluator' = 5),
    created_at DateTime64(9, 'UTC') DEFAULT now64(9), last_updated_at DateTime64(9, 'UTC') DEFAULT now64(9)
) ENGINE = ReplacingMergeTree(last_updated_at)
ORDER BY (workspace_id, project_id, thread_id, id)""",
}


# -- the statements, as Opik's templates render them -----------------------------------------------

T_BATCH_INSERT_HEAD = """
INSERT INTO {traces}(
    id,
    project_id,
    workspace_id,
    name,
    start_time,
    end_time,
    input,
    output,
    metadata,
    tags,
    last_updated_at,
    error_info,
    created_by,
    last_updated_by,
    thread_id,
    visibility_mode,
    truncation_threshold,
    input_slim,
    output_slim,
    ttft,
    source,
    environment
)
SETTINGS log_comment = 'batch_insert_traces:workspace-id:user-name:2'
FORMAT Values
"""
T_BATCH_INSERT_ROW = """        (
            {id#:String},
            {project_id#:String},
            {workspace_id:String},
            {name#:String},
            {start_time#:String},
            {end_time#:Nullable(String)},
            {input#:String},
            {output#:String},
            {metadata#:String},
            {tags#:Array(String)},
            {last_updated_at#:String},
            {error_info#:Nullable(String)},
            {user_name:String},
            {user_name:String},
            {thread_id#:String},
            {visibility_mode#:Nullable(String)},
            {truncation_threshold#:Nullable(UInt64)},
            {input_slim#:String},
            {output_slim#:String},
            {ttft#:Nullable(Float64)},
            {source#:Nullable(String)},
            {environment#:Nullable(String)}
        )"""

S_BULK_INSERT_HEAD = """
INSERT INTO {spans}(
    id,
    project_id,
    workspace_id,
    trace_id,
    parent_span_id,
    name,
    type,
    start_time,
    end_time,
    input,
    output,
    metadata,
    model,
    provider,
    total_estimated_cost,
    total_estimated_cost_version,
    tags,
    usage,
    last_updated_at,
    error_info,
    created_by,
    last_updated_by,
    truncation_threshold,
    input_slim,
    output_slim,
    ttft,
    source,
    environment
)
SETTINGS log_comment = 'batch_insert_spans:workspace-id:user-name:2'
FORMAT Values
"""
S_BULK_INSERT_ROW = """        (
            {id#:String},
            {project_id#:String},
            {workspace_id:String},
            {trace_id#:String},
            {parent_span_id#:String},
            {name#:String},
            {type#:String},
            {start_time#:String},
            {end_time#:Nullable(String)},
            {input#:String},
            {output#:String},
            {metadata#:String},
            {model#:String},
            {provider#:String},
            {total_estimated_cost#:Decimal(38, 12)},
            {total_estimated_cost_version#:String},
            {tags#:Array(String)},
            {usage#:Map(String, Int64)},
            {last_updated_at#:String},
            {error_info#:Nullable(String)},
            {created_by#:String},
            {last_updated_by#:String},
            {truncation_threshold#:Nullable(UInt64)},
            {input_slim#:String},
            {output_slim#:String},
            {ttft#:Nullable(Float64)},
            {source#:Nullable(String)},
            {environment#:Nullable(String)}
        )"""

T_INSERT = """
INSERT INTO {traces} (
    id,
    project_id,
    workspace_id,
    name,
    start_time,
    end_time,
    input,
    output,
    metadata,
    tags,
    error_info,
    created_at,
    created_by,
    last_updated_by,
    thread_id,
    visibility_mode,
    truncation_threshold,
    input_slim,
    output_slim,
    ttft,
    source,
    environment
)
SELECT
    new_trace.id as id,
    multiIf(
        LENGTH(CAST(old_trace.project_id AS Nullable(String))) > 0 AND notEquals(old_trace.project_id, new_trace.project_id), leftPad('', 40, '*'),
        LENGTH(CAST(old_trace.project_id AS Nullable(String))) > 0, old_trace.project_id,
        new_trace.project_id
    ) as project_id,
    new_trace.workspace_id as workspace_id,
    multiIf(
        LENGTH(old_trace.name) > 0, old_trace.name,
        new_trace.name
    ) as name,
    multiIf(
        notEquals(old_trace.start_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_trace.start_time >= toDateTime64('1970-01-01 00:00:00.000', 9), old_trace.start_time,
        new_trace.start_time
    ) as start_time,
    multiIf(
        notEquals(old_trace.end_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_trace.end_time >= toDateTime64('1970-01-01 00:00:00.000', 9), old_trace.end_time,
        new_trace.end_time
    ) as end_time,
    multiIf(
        LENGTH(old_trace.input) > 0, old_trace.input,
        new_trace.input
    ) as input,
    multiIf(
        LENGTH(old_trace.output) > 0, old_trace.output,
        new_trace.output
    ) as output,
    multiIf(
        LENGTH(old_trace.metadata) > 0, old_trace.metadata,
        new_trace.metadata
    ) as metadata,
    multiIf(
        notEmpty(old_trace.tags), old_trace.tags,
        new_trace.tags
    ) as tags,
    multiIf(
        LENGTH(old_trace.error_info) > 0, old_trace.error_info,
        new_trace.error_info
    ) as error_info,
    multiIf(
        notEquals(old_trace.created_at, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_trace.created_at >= toDateTime64('1970-01-01 00:00:00.000', 9), old_trace.created_at,
        new_trace.created_at
    ) as created_at,
    multiIf(
        LENGTH(old_trace.created_by) > 0, old_trace.created_by,
        new_trace.created_by
    ) as created_by,
    new_trace.last_updated_by as last_updated_by,
    multiIf(
        LENGTH(old_trace.thread_id) > 0, old_trace.thread_id,
        new_trace.thread_id
    ) as thread_id,
    multiIf(
        notEquals(old_trace.visibility_mode, 'unknown'), old_trace.visibility_mode,
        new_trace.visibility_mode
    ) as visibility_mode,
    new_trace.truncation_threshold as truncation_threshold,
    multiIf(
        notEmpty(old_trace.input) AND notEmpty(old_trace.input_slim), old_trace.input_slim,
        new_trace.input_slim
    ) as input_slim,
    multiIf(
        notEmpty(old_trace.output) AND notEmpty(old_trace.output_slim), old_trace.output_slim,
        new_trace.output_slim
    ) as output_slim,
    multiIf(
        old_trace.id != '' AND NOT isNaN(old_trace.ttft), old_trace.ttft,
        new_trace.ttft
    ) as ttft,
    multiIf(
        notEquals(old_trace.source, 'unknown'), old_trace.source,
        new_trace.source
    ) as source,
    multiIf(
        notEmpty(old_trace.environment), old_trace.environment,
        new_trace.environment
    ) as environment
FROM (
    SELECT
        {id:String} as id,
        {project_id:String} as project_id,
        {workspace_id:String} as workspace_id,
        {name:String} as name,
        parseDateTime64BestEffort({start_time:String}, 9) as start_time,
        parseDateTime64BestEffort({end_time:Nullable(String)}, 9) as end_time,
        {input:String} as input,
        {output:String} as output,
        {metadata:String} as metadata,
        {tags:Array(String)} as tags,
        {error_info:Nullable(String)} as error_info,
        now64(9) as created_at,
        {user_name:String} as created_by,
        {user_name:String} as last_updated_by,
        {thread_id:String} as thread_id,
        if({visibility_mode:Nullable(String)} IS NULL, 'default', {visibility_mode:Nullable(String)}) as visibility_mode,
        {truncation_threshold:Nullable(UInt64)} as truncation_threshold,
        {input_slim:String} as input_slim,
        {output_slim:String} as output_slim,
        {ttft:Nullable(Float64)} as ttft,
        {source:Nullable(String)} as source,
        {environment:Nullable(String)} as environment
) as new_trace
LEFT JOIN (
    SELECT
        *, truncated_input, truncated_output
    FROM {traces}
    WHERE id = {id:String}
    AND workspace_id = {workspace_id:String}
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1
) as old_trace
ON new_trace.id = old_trace.id
SETTINGS log_comment = 'insert_trace:workspace-id:user-name:'
;
"""

T_INSERT_UPDATE = """
INSERT INTO {traces} (
    id, project_id, workspace_id, name, start_time, end_time, input, output, metadata, tags, error_info, created_at, created_by, last_updated_by, thread_id, visibility_mode, truncation_threshold, input_slim, output_slim, ttft, source, environment
)
SELECT
    new_trace.id as id,
    multiIf(
        LENGTH(CAST(old_trace.project_id AS Nullable(String))) > 0 AND notEquals(old_trace.project_id, new_trace.project_id), leftPad('', 40, '*'),
        LENGTH(CAST(old_trace.project_id AS Nullable(String))) > 0, old_trace.project_id,
        new_trace.project_id
    ) as project_id,
    new_trace.workspace_id as workspace_id,
    multiIf(
        LENGTH(new_trace.name) > 0, new_trace.name,
        LENGTH(old_trace.name) > 0, old_trace.name,
        new_trace.name
    ) as name,
    multiIf(
        notEquals(old_trace.start_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_trace.start_time >= toDateTime64('1970-01-01 00:00:00.000', 9), old_trace.start_time,
        new_trace.start_time
    ) as start_time,
    multiIf(
        notEquals(new_trace.end_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND new_trace.end_time >= toDateTime64('1970-01-01 00:00:00.000', 9), new_trace.end_time,
        notEquals(old_trace.end_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_trace.end_time >= toDateTime64('1970-01-01 00:00:00.000', 9), old_trace.end_time,
        new_trace.end_time
    ) as end_time,
    multiIf(
        LENGTH(new_trace.input) > 0, new_trace.input,
        LENGTH(old_trace.input) > 0, old_trace.input,
        new_trace.input
    ) as input,
    multiIf(
        LENGTH(new_trace.output) > 0, new_trace.output,
        LENGTH(old_trace.output) > 0, old_trace.output,
        new_trace.output
    ) as output,
    multiIf(
        LENGTH(new_trace.metadata) > 0, new_trace.metadata,
        LENGTH(old_trace.metadata) > 0, old_trace.metadata,
        new_trace.metadata
    ) as metadata,
    multiIf(
        notEmpty(new_trace.tags), new_trace.tags,
        notEmpty(old_trace.tags), old_trace.tags,
        new_trace.tags
    ) as tags,
    multiIf(
        LENGTH(new_trace.error_info) > 0, new_trace.error_info,
        LENGTH(old_trace.error_info) > 0, old_trace.error_info,
        new_trace.error_info
    ) as error_info,
    multiIf(
        notEquals(old_trace.created_at, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_trace.created_at >= toDateTime64('1970-01-01 00:00:00.000', 9), old_trace.created_at,
        new_trace.created_at
    ) as created_at,
    multiIf(
        LENGTH(old_trace.created_by) > 0, old_trace.created_by,
        new_trace.created_by
    ) as created_by,
    new_trace.last_updated_by as last_updated_by,
    multiIf(
        LENGTH(old_trace.thread_id) > 0, old_trace.thread_id,
        new_trace.thread_id
    ) as thread_id,
    multiIf(
        notEquals(old_trace.visibility_mode, 'unknown'), old_trace.visibility_mode,
        new_trace.visibility_mode
    ) as visibility_mode,
    new_trace.truncation_threshold as truncation_threshold,
    multiIf(
        notEmpty(new_trace.input_slim), new_trace.input_slim,
        notEmpty(old_trace.input) AND notEmpty(old_trace.input_slim), old_trace.input_slim,
        new_trace.input_slim
    ) as input_slim,
    multiIf(
        notEmpty(new_trace.output_slim), new_trace.output_slim,
        notEmpty(old_trace.output) AND notEmpty(old_trace.output_slim), old_trace.output_slim,
        new_trace.output_slim
    ) as output_slim,
    multiIf(
        NOT isNaN(new_trace.ttft), new_trace.ttft,
        old_trace.id != '' AND NOT isNaN(old_trace.ttft), old_trace.ttft,
        new_trace.ttft
    ) as ttft,
    multiIf(
        notEquals(old_trace.source, 'unknown'), old_trace.source,
        new_trace.source
    ) as source,
    multiIf(
        notEmpty(new_trace.environment), new_trace.environment,
        old_trace.environment
    ) as environment
FROM (
    SELECT
        {id:String} as id,
        {project_id:String} as project_id,
        {workspace_id:String} as workspace_id,
         ''  as name,
        toDateTime64('1970-01-01 00:00:00.000', 9) as start_time,
        parseDateTime64BestEffort({end_time:Nullable(String)}, 9) as end_time,
         ''  as input,
         {output:String}  as output,
         {metadata:String}  as metadata,
         []  as tags,
         ''  as error_info,
        now64(9) as created_at,
        {user_name:String} as created_by,
        {user_name:String} as last_updated_by,
         ''  as thread_id,
         'unknown'  as visibility_mode,
        {truncation_threshold:Nullable(UInt64)} as truncation_threshold,
         ''  as input_slim,
         {output_slim:String}  as output_slim,
        {ttft:Nullable(Float64)} as ttft,
        {source:Nullable(String)} as source,
         ''  as environment
) as new_trace
LEFT JOIN (
    SELECT
        *, truncated_input, truncated_output
    FROM {traces}
    WHERE id = {id:String}
    AND workspace_id = {workspace_id:String}
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1
) as old_trace
ON new_trace.id = old_trace.id
SETTINGS log_comment = 'partial_insert_trace:workspace-id:user-name:'
;
"""

T_INSERT_UPDATE_ALL = """
INSERT INTO {traces} (
    id, project_id, workspace_id, name, start_time, end_time, input, output, metadata, tags, error_info, created_at, created_by, last_updated_by, thread_id, visibility_mode, truncation_threshold, input_slim, output_slim, ttft, source, environment
)
SELECT
    new_trace.id as id,
    multiIf(
        LENGTH(CAST(old_trace.project_id AS Nullable(String))) > 0 AND notEquals(old_trace.project_id, new_trace.project_id), leftPad('', 40, '*'),
        LENGTH(CAST(old_trace.project_id AS Nullable(String))) > 0, old_trace.project_id,
        new_trace.project_id
    ) as project_id,
    new_trace.workspace_id as workspace_id,
    multiIf(
        LENGTH(new_trace.name) > 0, new_trace.name,
        LENGTH(old_trace.name) > 0, old_trace.name,
        new_trace.name
    ) as name,
    multiIf(
        notEquals(old_trace.start_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_trace.start_time >= toDateTime64('1970-01-01 00:00:00.000', 9), old_trace.start_time,
        new_trace.start_time
    ) as start_time,
    multiIf(
        notEquals(new_trace.end_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND new_trace.end_time >= toDateTime64('1970-01-01 00:00:00.000', 9), new_trace.end_time,
        notEquals(old_trace.end_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_trace.end_time >= toDateTime64('1970-01-01 00:00:00.000', 9), old_trace.end_time,
        new_trace.end_time
    ) as end_time,
    multiIf(
        LENGTH(new_trace.input) > 0, new_trace.input,
        LENGTH(old_trace.input) > 0, old_trace.input,
        new_trace.input
    ) as input,
    multiIf(
        LENGTH(new_trace.output) > 0, new_trace.output,
        LENGTH(old_trace.output) > 0, old_trace.output,
        new_trace.output
    ) as output,
    multiIf(
        LENGTH(new_trace.metadata) > 0, new_trace.metadata,
        LENGTH(old_trace.metadata) > 0, old_trace.metadata,
        new_trace.metadata
    ) as metadata,
    multiIf(
        notEmpty(new_trace.tags), new_trace.tags,
        notEmpty(old_trace.tags), old_trace.tags,
        new_trace.tags
    ) as tags,
    multiIf(
        LENGTH(new_trace.error_info) > 0, new_trace.error_info,
        LENGTH(old_trace.error_info) > 0, old_trace.error_info,
        new_trace.error_info
    ) as error_info,
    multiIf(
        notEquals(old_trace.created_at, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_trace.created_at >= toDateTime64('1970-01-01 00:00:00.000', 9), old_trace.created_at,
        new_trace.created_at
    ) as created_at,
    multiIf(
        LENGTH(old_trace.created_by) > 0, old_trace.created_by,
        new_trace.created_by
    ) as created_by,
    new_trace.last_updated_by as last_updated_by,
    multiIf(
        LENGTH(old_trace.thread_id) > 0, old_trace.thread_id,
        new_trace.thread_id
    ) as thread_id,
    multiIf(
        notEquals(old_trace.visibility_mode, 'unknown'), old_trace.visibility_mode,
        new_trace.visibility_mode
    ) as visibility_mode,
    new_trace.truncation_threshold as truncation_threshold,
    multiIf(
        notEmpty(new_trace.input_slim), new_trace.input_slim,
        notEmpty(old_trace.input) AND notEmpty(old_trace.input_slim), old_trace.input_slim,
        new_trace.input_slim
    ) as input_slim,
    multiIf(
        notEmpty(new_trace.output_slim), new_trace.output_slim,
        notEmpty(old_trace.output) AND notEmpty(old_trace.output_slim), old_trace.output_slim,
        new_trace.output_slim
    ) as output_slim,
    multiIf(
        NOT isNaN(new_trace.ttft), new_trace.ttft,
        old_trace.id != '' AND NOT isNaN(old_trace.ttft), old_trace.ttft,
        new_trace.ttft
    ) as ttft,
    multiIf(
        notEquals(old_trace.source, 'unknown'), old_trace.source,
        new_trace.source
    ) as source,
    multiIf(
        notEmpty(new_trace.environment), new_trace.environment,
        old_trace.environment
    ) as environment
FROM (
    SELECT
        {id:String} as id,
        {project_id:String} as project_id,
        {workspace_id:String} as workspace_id,
         {name:String}  as name,
        toDateTime64('1970-01-01 00:00:00.000', 9) as start_time,
        parseDateTime64BestEffort({end_time:Nullable(String)}, 9) as end_time,
         {input:String}  as input,
         {output:String}  as output,
         {metadata:String}  as metadata,
         {tags:Array(String)}  as tags,
         {error_info:Nullable(String)}  as error_info,
        now64(9) as created_at,
        {user_name:String} as created_by,
        {user_name:String} as last_updated_by,
         {thread_id:String}  as thread_id,
         {visibility_mode:Nullable(String)}  as visibility_mode,
        {truncation_threshold:Nullable(UInt64)} as truncation_threshold,
         {input_slim:String}  as input_slim,
         {output_slim:String}  as output_slim,
        {ttft:Nullable(Float64)} as ttft,
        {source:Nullable(String)} as source,
         {environment:Nullable(String)}  as environment
) as new_trace
LEFT JOIN (
    SELECT
        *, truncated_input, truncated_output
    FROM {traces}
    WHERE id = {id:String}
    AND workspace_id = {workspace_id:String}
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1
) as old_trace
ON new_trace.id = old_trace.id
SETTINGS log_comment = 'partial_insert_trace:workspace-id:user-name:'
;
"""

S_INSERT = """
INSERT INTO {spans} (
    id,
    project_id,
    workspace_id,
    trace_id,
    parent_span_id,
    name,
    type,
    start_time,
    end_time,
    input,
    output,
    metadata,
    model,
    provider,
    total_estimated_cost,
    total_estimated_cost_version,
    tags,
    usage,
    error_info,
    created_at,
    created_by,
    last_updated_by,
    truncation_threshold,
    input_slim,
    output_slim,
    ttft,
    source,
    environment
)
SELECT
    new_span.id as id,
    multiIf(
        LENGTH(CAST(old_span.project_id AS Nullable(String))) > 0 AND notEquals(old_span.project_id, new_span.project_id), leftPad('', 40, '*'),
        LENGTH(CAST(old_span.project_id AS Nullable(String))) > 0, old_span.project_id,
        new_span.project_id
    ) as project_id,
    new_span.workspace_id as workspace_id,
    multiIf(
        LENGTH(CAST(old_span.trace_id AS Nullable(String))) > 0 AND notEquals(old_span.trace_id, new_span.trace_id), leftPad('', 40, '*'),
        LENGTH(CAST(old_span.trace_id AS Nullable(String))) > 0, old_span.trace_id,
        new_span.trace_id
    ) as trace_id,
    multiIf(
        LENGTH(CAST(old_span.parent_span_id AS Nullable(String))) > 0 AND notEquals(old_span.parent_span_id, new_span.parent_span_id), CAST(leftPad(new_span.parent_span_id, 40, '*') AS FixedString(19)),
        LENGTH(CAST(old_span.parent_span_id AS Nullable(String))) > 0, old_span.parent_span_id,
        new_span.parent_span_id
    ) as parent_span_id,
    multiIf(
        LENGTH(old_span.name) > 0, old_span.name,
        new_span.name
    ) as name,
    multiIf(
        notEquals(old_span.type, 'unknown'), old_span.type,
        new_span.type
    ) as type,
    multiIf(
        notEquals(old_span.start_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_span.start_time >= toDateTime64('1970-01-01 00:00:00.000', 9), old_span.start_time,
        new_span.start_time
    ) as start_time,
    multiIf(
        notEquals(old_span.end_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_span.end_time >= toDateTime64('1970-01-01 00:00:00.000', 9), old_span.end_time,
        new_span.end_time
    ) as end_time,
    multiIf(
        LENGTH(old_span.input) > 0, old_span.input,
        new_span.input
    ) as input,
    multiIf(
        LENGTH(old_span.output) > 0, old_span.output,
        new_span.output
    ) as output,
    multiIf(
        LENGTH(old_span.metadata) > 0, old_span.metadata,
        new_span.metadata
    ) as metadata,
    multiIf(
        LENGTH(old_span.model) > 0, old_span.model,
        new_span.model
    ) as model,
    multiIf(
        LENGTH(old_span.provider) > 0, old_span.provider,
        new_span.provider
    ) as provider,
    multiIf(
        old_span.total_estimated_cost > 0, old_span.total_estimated_cost,
        new_span.total_estimated_cost
    ) as total_estimated_cost,
    multiIf(
        LENGTH(old_span.total_estimated_cost_version) > 0, old_span.total_estimated_cost_version,
        new_span.total_estimated_cost_version
    ) as total_estimated_cost_version,
    multiIf(
        notEmpty(old_span.tags), old_span.tags,
        new_span.tags
    ) as tags,
    multiIf(
        notEmpty(mapKeys(old_span.usage)), old_span.usage,
        new_span.usage
    ) as usage,
    multiIf(
        LENGTH(old_span.error_info) > 0, old_span.error_info,
        new_span.error_info
    ) as error_info,
    multiIf(
        notEquals(old_span.created_at, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_span.created_at >= toDateTime64('1970-01-01 00:00:00.000', 9), old_span.created_at,
        new_span.created_at
    ) as created_at,
    multiIf(
        LENGTH(old_span.created_by) > 0, old_span.created_by,
        new_span.created_by
    ) as created_by,
    new_span.last_updated_by as last_updated_by,
    new_span.truncation_threshold as truncation_threshold,
    multiIf(
        notEmpty(old_span.input) AND notEmpty(old_span.input_slim), old_span.input_slim,
        new_span.input_slim
    ) as input_slim,
    multiIf(
        notEmpty(old_span.output) AND notEmpty(old_span.output_slim), old_span.output_slim,
        new_span.output_slim
    ) as output_slim,
    multiIf(
        old_span.id != '' AND NOT isNaN(old_span.ttft), old_span.ttft,
        new_span.ttft
    ) as ttft,
    multiIf(
        notEquals(old_span.source, 'unknown'), old_span.source,
        new_span.source
    ) as source,
    multiIf(
        notEmpty(old_span.environment), old_span.environment,
        new_span.environment
    ) as environment
FROM (
    SELECT
        {id:String} as id,
        {project_id:String} as project_id,
        {workspace_id:String} as workspace_id,
        {trace_id:String} as trace_id,
        {parent_span_id:String} as parent_span_id,
        {name:String} as name,
        {type:String} as type,
        parseDateTime64BestEffort({start_time:String}, 9) as start_time,
        parseDateTime64BestEffort({end_time:Nullable(String)}, 9) as end_time,
        {input:String} as input,
        {output:String} as output,
        {metadata:String} as metadata,
        {model:String} as model,
        {provider:String} as provider,
        toDecimal128({total_estimated_cost:Decimal(38, 12)}, 12) as total_estimated_cost,
        {total_estimated_cost_version:String} as total_estimated_cost_version,
        {tags:Array(String)} as tags,
        mapFromArrays({usage_keys:Array(String)}, {usage_values:Array(Int64)}) as usage,
        {error_info:Nullable(String)} as error_info,
        now64(9) as created_at,
        {user_name:String} as created_by,
        {user_name:String} as last_updated_by,
        {truncation_threshold:Nullable(UInt64)} as truncation_threshold,
        {input_slim:String} as input_slim,
        {output_slim:String} as output_slim,
        {ttft:Nullable(Float64)} as ttft,
        {source:Nullable(String)} as source,
        {environment:Nullable(String)} as environment
) as new_span
LEFT JOIN (
    SELECT
        *, truncated_input, truncated_output
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND id = {id:String}
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1
) as old_span
ON new_span.id = old_span.id
SETTINGS log_comment = 'insert_span:workspace-id:user-name:'
;
"""

S_PARTIAL_INSERT = """
INSERT INTO {spans} (
    id, project_id, workspace_id, trace_id, parent_span_id, name, type,
    start_time, end_time, input, output, metadata, model, provider, total_estimated_cost, total_estimated_cost_version, tags, usage, error_info, created_at,
    created_by, last_updated_by, truncation_threshold, input_slim, output_slim, ttft, source, environment
)
SELECT
    new_span.id as id,
    multiIf(
        LENGTH(CAST(old_span.project_id AS Nullable(String))) > 0 AND notEquals(old_span.project_id, new_span.project_id), leftPad('', 40, '*'),
        LENGTH(CAST(old_span.project_id AS Nullable(String))) > 0, old_span.project_id,
        new_span.project_id
    ) as project_id,
    new_span.workspace_id as workspace_id,
    multiIf(
        LENGTH(CAST(old_span.trace_id AS Nullable(String))) > 0 AND notEquals(old_span.trace_id, new_span.trace_id), leftPad('', 40, '*'),
        LENGTH(CAST(old_span.trace_id AS Nullable(String))) > 0, old_span.trace_id,
        new_span.trace_id
    ) as trace_id,
    multiIf(
        LENGTH(CAST(old_span.parent_span_id AS Nullable(String))) > 0 AND notEquals(old_span.parent_span_id, new_span.parent_span_id), leftPad('', 40, '*'),
        LENGTH(CAST(old_span.parent_span_id AS Nullable(String))) > 0, old_span.parent_span_id,
        new_span.parent_span_id
    ) as parent_span_id,
    multiIf(
        LENGTH(new_span.name) > 0, new_span.name,
        LENGTH(old_span.name) > 0, old_span.name,
        new_span.name
    ) as name,
    multiIf(
        notEquals(new_span.type, 'unknown'), new_span.type,
        notEquals(old_span.type, 'unknown'), old_span.type,
        new_span.type
    ) as type,
    multiIf(
        notEquals(old_span.start_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_span.start_time >= toDateTime64('1970-01-01 00:00:00.000', 9), old_span.start_time,
        new_span.start_time
    ) as start_time,
    multiIf(
        notEquals(new_span.end_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND new_span.end_time >= toDateTime64('1970-01-01 00:00:00.000', 9), new_span.end_time,
        notEquals(old_span.end_time, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_span.end_time >= toDateTime64('1970-01-01 00:00:00.000', 9), old_span.end_time,
        new_span.end_time
    ) as end_time,
    multiIf(
        LENGTH(new_span.input) > 0, new_span.input,
        LENGTH(old_span.input) > 0, old_span.input,
        new_span.input
    ) as input,
    multiIf(
        LENGTH(new_span.output) > 0, new_span.output,
        LENGTH(old_span.output) > 0, old_span.output,
        new_span.output
    ) as output,
    multiIf(
        LENGTH(new_span.metadata) > 0, new_span.metadata,
        LENGTH(old_span.metadata) > 0, old_span.metadata,
        new_span.metadata
    ) as metadata,
    multiIf(
        LENGTH(new_span.model) > 0, new_span.model,
        LENGTH(old_span.model) > 0, old_span.model,
        new_span.model
    ) as model,
    multiIf(
        LENGTH(new_span.provider) > 0, new_span.provider,
        LENGTH(old_span.provider) > 0, old_span.provider,
        new_span.provider
    ) as provider,
    multiIf(
        new_span.total_estimated_cost > 0, new_span.total_estimated_cost,
        old_span.total_estimated_cost > 0, old_span.total_estimated_cost,
        new_span.total_estimated_cost
    ) as total_estimated_cost,
    multiIf(
        LENGTH(new_span.total_estimated_cost_version) > 0, new_span.total_estimated_cost_version,
        LENGTH(old_span.total_estimated_cost_version) > 0, old_span.total_estimated_cost_version,
        new_span.total_estimated_cost_version
    ) as total_estimated_cost_version,
    multiIf(
        notEmpty(new_span.tags), new_span.tags,
        notEmpty(old_span.tags), old_span.tags,
        new_span.tags
    ) as tags,
    multiIf(
        notEmpty(mapKeys(new_span.usage)), new_span.usage,
        notEmpty(mapKeys(old_span.usage)), old_span.usage,
        new_span.usage
    ) as usage,
    multiIf(
        LENGTH(new_span.error_info) > 0, new_span.error_info,
        LENGTH(old_span.error_info) > 0, old_span.error_info,
        new_span.error_info
    ) as error_info,
    multiIf(
        notEquals(old_span.created_at, toDateTime64('1970-01-01 00:00:00.000', 9)) AND old_span.created_at >= toDateTime64('1970-01-01 00:00:00.000', 9), old_span.created_at,
        new_span.created_at
    ) as created_at,
    multiIf(
        LENGTH(old_span.created_by) > 0, old_span.created_by,
        new_span.created_by
    ) as created_by,
    new_span.last_updated_by as last_updated_by,
    new_span.truncation_threshold as truncation_threshold,
    multiIf(
        notEmpty(new_span.input_slim), new_span.input_slim,
        notEmpty(old_span.input) AND notEmpty(old_span.input_slim), old_span.input_slim,
        new_span.input_slim
    ) as input_slim,
    multiIf(
        notEmpty(new_span.output_slim), new_span.output_slim,
        notEmpty(old_span.output) AND notEmpty(old_span.output_slim), old_span.output_slim,
        new_span.output_slim
    ) as output_slim,
    multiIf(
        NOT isNaN(new_span.ttft), new_span.ttft,
        old_span.id != '' AND NOT isNaN(old_span.ttft), old_span.ttft,
        new_span.ttft
    ) as ttft,
    multiIf(
        notEquals(old_span.source, 'unknown'), old_span.source,
        new_span.source
    ) as source,
    multiIf(
        notEmpty(new_span.environment), new_span.environment,
        old_span.environment
    ) as environment
FROM (
    SELECT
        {id:String} as id,
        {project_id:String} as project_id,
        {workspace_id:String} as workspace_id,
        {trace_id:String} as trace_id,
        {parent_span_id:String} as parent_span_id,
         ''  as name,
         'unknown'  as type,
        toDateTime64('1970-01-01 00:00:00.000', 9) as start_time,
        parseDateTime64BestEffort({end_time:Nullable(String)}, 9) as end_time,
         ''  as input,
         {output:String}  as output,
         ''  as metadata,
         {model:String}  as model,
         {provider:String}  as provider,
         toDecimal128({total_estimated_cost:Decimal(38, 12)}, 12)  as total_estimated_cost,
         {total_estimated_cost_version:String}  as total_estimated_cost_version,
         []  as tags,
         CAST(({usage_keys:Array(String)}, {usage_values:Array(Int64)}), 'Map(String, Int64)')  as usage,
         ''  as error_info,
        now64(9) as created_at,
        {user_name:String} as created_by,
        {user_name:String} as last_updated_by,
        {truncation_threshold:Nullable(UInt64)} as truncation_threshold,
         ''  as input_slim,
         {output_slim:String}  as output_slim,
        {ttft:Nullable(Float64)} as ttft,
        {source:Nullable(String)} as source,
         ''  as environment
) as new_span
LEFT JOIN (
    SELECT
        *, truncated_input, truncated_output
    FROM {spans}
    WHERE id = {id:String}
    AND workspace_id = {workspace_id:String}
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1
) as old_span
ON new_span.id = old_span.id
SETTINGS log_comment = 'partial_insert_span:workspace-id:user-name:'
;
"""

T_UPDATE = """
INSERT INTO {traces} (
    id, project_id, workspace_id, name, start_time, end_time, input, output, metadata, tags, error_info, created_at, created_by, last_updated_by, thread_id, visibility_mode, truncation_threshold, input_slim, output_slim, ttft, source, environment
)
SELECT
    id,
    project_id,
    workspace_id,
     name  as name,
    start_time,
     parseDateTime64BestEffort({end_time:Nullable(String)}, 9)  as end_time,
     input  as input,
     {output:String}  as output,
     metadata  as metadata,
     tags  as tags,
     error_info  as error_info,
    created_at,
    created_by,
    {user_name:String} as last_updated_by,
     thread_id  as thread_id,
    visibility_mode,
    {truncation_threshold:Nullable(UInt64)} as truncation_threshold,
     input_slim  as input_slim,
     {output_slim:String}  as output_slim,
     ttft  as ttft,
     source  as source,
     environment  as environment
FROM {traces}
WHERE id = {id:String}
AND workspace_id = {workspace_id:String}
ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
LIMIT 1
SETTINGS log_comment = 'update_trace:workspace-id:user-name:'
;
"""

T_UPDATE_ALL = """
INSERT INTO {traces} (
    id, project_id, workspace_id, name, start_time, end_time, input, output, metadata, tags, error_info, created_at, created_by, last_updated_by, thread_id, visibility_mode, truncation_threshold, input_slim, output_slim, ttft, source, environment
)
SELECT
    id,
    project_id,
    workspace_id,
     {name:String}  as name,
    start_time,
     parseDateTime64BestEffort({end_time:Nullable(String)}, 9)  as end_time,
     {input:String}  as input,
     {output:String}  as output,
     {metadata:String}  as metadata,
     {tags:Array(String)}  as tags,
     {error_info:Nullable(String)}  as error_info,
    created_at,
    created_by,
    {user_name:String} as last_updated_by,
     {thread_id:String}  as thread_id,
    visibility_mode,
    {truncation_threshold:Nullable(UInt64)} as truncation_threshold,
     {input_slim:String}  as input_slim,
     {output_slim:String}  as output_slim,
     {ttft:Nullable(Float64)}  as ttft,
     {source:Nullable(String)}  as source,
     {environment:Nullable(String)}  as environment
FROM {traces}
WHERE id = {id:String}
AND workspace_id = {workspace_id:String}
ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
LIMIT 1
SETTINGS log_comment = 'update_trace:workspace-id:user-name:'
;
"""

T_BULK_UPDATE_ADD_TAGS = """
INSERT INTO {traces} (
    id,
    project_id,
    workspace_id,
    name,
    start_time,
    end_time,
    input,
    output,
    metadata,
    tags,
    error_info,
    created_at,
    created_by,
    last_updated_by,
    thread_id,
    visibility_mode,
    truncation_threshold,
    input_slim,
    output_slim,
    ttft,
    source,
    environment
)
SELECT
    t.id,
    t.project_id,
    t.workspace_id,
     t.name  as name,
    t.start_time,
     t.end_time  as end_time,
     t.input  as input,
     t.output  as output,
     t.metadata  as metadata,
if(length(    arrayDistinct(arrayConcat(t.tags, {tags_to_add:Array(String)}))
) > 50, [toString(throwIf(1, 'Tag limit exceeded: maximum 50 tags per item'))],     arrayDistinct(arrayConcat(t.tags, {tags_to_add:Array(String)}))
)    as tags,
     t.error_info  as error_info,
    t.created_at,
    t.created_by,
    {user_name:String} as last_updated_by,
     t.thread_id  as thread_id,
    t.visibility_mode,
    {truncation_threshold:Nullable(UInt64)} as truncation_threshold,
     t.input_slim  as input_slim,
     t.output_slim  as output_slim,
     t.ttft  as ttft,
    t.source,
     t.environment  as environment
FROM {traces} t
WHERE t.id IN {ids:Array(String)} AND t.workspace_id = {workspace_id:String}
ORDER BY (t.workspace_id, t.project_id, t.id) DESC, t.last_updated_at DESC
LIMIT 1 BY t.id
SETTINGS log_comment = 'bulk_update_traces:workspace-id:user-name:', short_circuit_function_evaluation = 'force_enable';
"""

T_BULK_UPDATE_FIELDS = """
INSERT INTO {traces} (
    id,
    project_id,
    workspace_id,
    name,
    start_time,
    end_time,
    input,
    output,
    metadata,
    tags,
    error_info,
    created_at,
    created_by,
    last_updated_by,
    thread_id,
    visibility_mode,
    truncation_threshold,
    input_slim,
    output_slim,
    ttft,
    source,
    environment
)
SELECT
    t.id,
    t.project_id,
    t.workspace_id,
     {name:String}  as name,
    t.start_time,
     parseDateTime64BestEffort({end_time:Nullable(String)}, 9)  as end_time,
     {input:String}  as input,
     {output:String}  as output,
     {metadata:String}  as metadata,
    arrayFilter(x -> NOT has({tags_to_remove:Array(String)}, x), t.tags)
    as tags,
     {error_info:Nullable(String)}  as error_info,
    t.created_at,
    t.created_by,
    {user_name:String} as last_updated_by,
     {thread_id:String}  as thread_id,
    t.visibility_mode,
    {truncation_threshold:Nullable(UInt64)} as truncation_threshold,
     {input_slim:String}  as input_slim,
     {output_slim:String}  as output_slim,
     {ttft:Nullable(Float64)}  as ttft,
    t.source,
     {environment:Nullable(String)}  as environment
FROM {traces} t
WHERE t.id IN {ids:Array(String)} AND t.workspace_id = {workspace_id:String}
ORDER BY (t.workspace_id, t.project_id, t.id) DESC, t.last_updated_at DESC
LIMIT 1 BY t.id
SETTINGS log_comment = 'bulk_update_traces:workspace-id:user-name:', short_circuit_function_evaluation = 'force_enable';
"""

S_UPDATE = """
INSERT INTO {spans} (
    id,
    project_id,
    workspace_id,
    trace_id,
    parent_span_id,
    name,
    type,
    start_time,
    end_time,
    input,
    output,
    metadata,
    model,
    provider,
    total_estimated_cost,
    total_estimated_cost_version,
    tags,
    usage,
    error_info,
    created_at,
    created_by,
    last_updated_by,
    truncation_threshold,
    input_slim,
    output_slim,
    ttft,
    source,
    environment
)
SELECT
    id,
    project_id,
    workspace_id,
    trace_id,
    parent_span_id,
     name  as name,
     type  as type,
    start_time,
     parseDateTime64BestEffort({end_time:Nullable(String)}, 9)  as end_time,
     input  as input,
     {output:String}  as output,
     metadata  as metadata,
     {model:String}  as model,
     {provider:String}  as provider,
     toDecimal128({total_estimated_cost:Decimal(38, 12)}, 12)  as total_estimated_cost,
     {total_estimated_cost_version:String}  as total_estimated_cost_version,
     tags  as tags,
     CAST(({usage_keys:Array(String)}, {usage_values:Array(Int64)}), 'Map(String, Int64)')  as usage,
     error_info  as error_info,
    created_at,
    created_by,
    {user_name:String} as last_updated_by,
    {truncation_threshold:Nullable(UInt64)},
     input_slim  as input_slim,
     {output_slim:String}  as output_slim,
     ttft  as ttft,
     source  as source,
     environment  as environment
FROM {spans}
WHERE id = {id:String}
AND workspace_id = {workspace_id:String}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
LIMIT 1
SETTINGS log_comment = 'update_span:workspace-id:user-name:'
;
"""

S_UPDATE_ALL = """
INSERT INTO {spans} (
    id,
    project_id,
    workspace_id,
    trace_id,
    parent_span_id,
    name,
    type,
    start_time,
    end_time,
    input,
    output,
    metadata,
    model,
    provider,
    total_estimated_cost,
    total_estimated_cost_version,
    tags,
    usage,
    error_info,
    created_at,
    created_by,
    last_updated_by,
    truncation_threshold,
    input_slim,
    output_slim,
    ttft,
    source,
    environment
)
SELECT
    id,
    project_id,
    workspace_id,
    trace_id,
    parent_span_id,
     {name:String}  as name,
     {type:String}  as type,
    start_time,
     parseDateTime64BestEffort({end_time:Nullable(String)}, 9)  as end_time,
     {input:String}  as input,
     {output:String}  as output,
     {metadata:String}  as metadata,
     {model:String}  as model,
     {provider:String}  as provider,
     toDecimal128({total_estimated_cost:Decimal(38, 12)}, 12)  as total_estimated_cost,
     {total_estimated_cost_version:String}  as total_estimated_cost_version,
     {tags:Array(String)}  as tags,
     CAST(({usage_keys:Array(String)}, {usage_values:Array(Int64)}), 'Map(String, Int64)')  as usage,
     {error_info:Nullable(String)}  as error_info,
    created_at,
    created_by,
    {user_name:String} as last_updated_by,
    {truncation_threshold:Nullable(UInt64)},
     {input_slim:String}  as input_slim,
     {output_slim:String}  as output_slim,
     {ttft:Nullable(Float64)}  as ttft,
     {source:Nullable(String)}  as source,
     {environment:Nullable(String)}  as environment
FROM {spans}
WHERE id = {id:String}
AND workspace_id = {workspace_id:String}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
LIMIT 1
SETTINGS log_comment = 'update_span:workspace-id:user-name:'
;
"""

S_BULK_UPDATE_ADD_TAGS = """
INSERT INTO {spans} (
    id,
    project_id,
    workspace_id,
    trace_id,
    parent_span_id,
    name,
    type,
    start_time,
    end_time,
    input,
    output,
    metadata,
    model,
    provider,
    total_estimated_cost,
    total_estimated_cost_version,
    tags,
    usage,
    error_info,
    created_at,
    created_by,
    last_updated_by,
    truncation_threshold,
    input_slim,
    output_slim,
    ttft,
    source,
    environment
)
SELECT
    s.id,
    s.project_id,
    s.workspace_id,
    s.trace_id,
    s.parent_span_id,
     s.name  as name,
     s.type  as type,
    s.start_time,
     s.end_time  as end_time,
     s.input  as input,
     s.output  as output,
     s.metadata  as metadata,
     s.model  as model,
     s.provider  as provider,
     s.total_estimated_cost  as total_estimated_cost,
     s.total_estimated_cost_version  as total_estimated_cost_version,
if(length(    arrayDistinct(arrayConcat(s.tags, {tags_to_add:Array(String)}))
) > 50, [toString(throwIf(1, 'Tag limit exceeded: maximum 50 tags per item'))],     arrayDistinct(arrayConcat(s.tags, {tags_to_add:Array(String)}))
)    as tags,
     s.usage  as usage,
     s.error_info  as error_info,
    s.created_at,
    s.created_by,
    {user_name:String} as last_updated_by,
    {truncation_threshold:Nullable(UInt64)},
     s.input_slim  as input_slim,
     s.output_slim  as output_slim,
     s.ttft  as ttft,
    s.source,
     s.environment  as environment
FROM {spans} s
WHERE s.id IN {ids:Array(String)} AND s.workspace_id = {workspace_id:String}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
ORDER BY (s.workspace_id, s.project_id, s.trace_id, s.id) DESC, s.last_updated_at DESC
LIMIT 1 BY s.id
SETTINGS log_comment = 'bulk_update_spans:workspace-id:user-name:', short_circuit_function_evaluation = 'force_enable'
;
"""

S_BULK_UPDATE_MERGE_TAGS = """
INSERT INTO {spans} (
    id,
    project_id,
    workspace_id,
    trace_id,
    parent_span_id,
    name,
    type,
    start_time,
    end_time,
    input,
    output,
    metadata,
    model,
    provider,
    total_estimated_cost,
    total_estimated_cost_version,
    tags,
    usage,
    error_info,
    created_at,
    created_by,
    last_updated_by,
    truncation_threshold,
    input_slim,
    output_slim,
    ttft,
    source,
    environment
)
SELECT
    s.id,
    s.project_id,
    s.workspace_id,
    s.trace_id,
    s.parent_span_id,
     {name:String}  as name,
     s.type  as type,
    s.start_time,
     s.end_time  as end_time,
     s.input  as input,
     s.output  as output,
     {metadata:String}  as metadata,
     s.model  as model,
     s.provider  as provider,
     s.total_estimated_cost  as total_estimated_cost,
     s.total_estimated_cost_version  as total_estimated_cost_version,
if(length(    arrayDistinct(arrayConcat(s.tags, {tags:Array(String)}))
) > 50, [toString(throwIf(1, 'Tag limit exceeded: maximum 50 tags per item'))],     arrayDistinct(arrayConcat(s.tags, {tags:Array(String)}))
)    as tags,
     s.usage  as usage,
     s.error_info  as error_info,
    s.created_at,
    s.created_by,
    {user_name:String} as last_updated_by,
    {truncation_threshold:Nullable(UInt64)},
     s.input_slim  as input_slim,
     s.output_slim  as output_slim,
     s.ttft  as ttft,
    s.source,
     s.environment  as environment
FROM {spans} s
WHERE s.id IN {ids:Array(String)} AND s.workspace_id = {workspace_id:String}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
ORDER BY (s.workspace_id, s.project_id, s.trace_id, s.id) DESC, s.last_updated_at DESC
LIMIT 1 BY s.id
SETTINGS log_comment = 'bulk_update_spans:workspace-id:user-name:', short_circuit_function_evaluation = 'force_enable'
;
"""

T_DELETE_IN_PARTITION = """
DELETE FROM {traces_mutation}
IN PARTITION {partition}
WHERE workspace_id = {workspace_id:String}
AND (project_id, id) IN arrayZip({project_ids:Array(String)}, {trace_ids:Array(String)})
SETTINGS log_comment = 'delete_traces:workspace-id:user-name:pairs_size=2'
;
"""

T_DELETE = """
DELETE FROM {traces_mutation}
WHERE workspace_id = {workspace_id:String}
AND (project_id, id) IN arrayZip({project_ids:Array(String)}, {trace_ids:Array(String)})
SETTINGS log_comment = 'delete_traces:workspace-id:user-name:pairs_size=2'
;
"""

S_DELETE_IN_PARTITION = """
DELETE FROM {spans_mutation}
IN PARTITION {partition}
WHERE id IN {ids:Array(String)}
AND workspace_id = {workspace_id:String}
AND project_id = {project_id:String}
SETTINGS log_comment = 'delete_spans_by_ids:workspace-id:user-name:ids_size=2'
;
"""

S_DELETE = """
DELETE FROM {spans_mutation}
WHERE id IN {ids:Array(String)}
AND workspace_id = {workspace_id:String}
AND project_id = {project_id:String}
SETTINGS log_comment = 'delete_spans_by_ids:workspace-id:user-name:ids_size=2'
;
"""

T_SELECT_BY_ID = """
WITH target_spans AS (
    SELECT id, trace_id, type
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {target_project_ids:Array(String)}
    AND trace_id IN {ids:Array(String)}
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, id
),
feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
           feedback_scores.last_updated_by AS author,
           CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'trace'
        AND workspace_id = {workspace_id:String}
        AND project_id IN {target_project_ids:Array(String)}
        AND entity_id IN {ids:Array(String)}
        UNION ALL
        SELECT
            workspace_id,
            project_id,
            entity_id,
            name,
            category_name,
            value,
            reason,
            source,
            created_by,
            last_updated_by,
            created_at,
            last_updated_at,
            author,
            source_queue_id
       FROM {db}.authored_feedback_scores
       WHERE entity_type = 'trace'
         AND workspace_id = {workspace_id:String}
         AND project_id IN {target_project_ids:Array(String)}
         AND entity_id IN {ids:Array(String)}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
 ),
 feedback_scores_grouped AS (
     SELECT
         workspace_id,
         project_id,
         entity_id,
         name,
         groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
     FROM feedback_scores_deduped
     GROUP BY workspace_id, project_id, entity_id, name
 ), feedback_scores_final AS (
     SELECT
         workspace_id,
         project_id,
         entity_id,
         name,
         arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
         IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
         IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
         entries[1].4 AS source,
         mapFromArrays(
                 arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
                 arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
         ) AS value_by_author,
         arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
         arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
         arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
         arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
     FROM feedback_scores_grouped
), span_feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           trace_id,
           span_id,
           span_type,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT fs.workspace_id,
               fs.project_id,
               s.trace_id,
               s.id AS span_id,
               s.type AS span_type,
               fs.name,
               fs.category_name,
               fs.value,
               fs.reason,
               fs.source,
               fs.created_by,
               fs.last_updated_by,
               fs.created_at,
               fs.last_updated_at,
               fs.last_updated_by AS author,
               CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores AS fs
        INNER JOIN target_spans s ON fs.entity_id = s.id
        WHERE fs.entity_type = 'span'
        AND fs.workspace_id = {workspace_id:String}
        AND fs.project_id IN {target_project_ids:Array(String)}
        UNION ALL
        SELECT afs.workspace_id,
               afs.project_id,
               s.trace_id,
               s.id AS span_id,
               s.type AS span_type,
               afs.name,
               afs.category_name,
               afs.value,
               afs.reason,
               afs.source,
               afs.created_by,
               afs.last_updated_by,
               afs.created_at,
               afs.last_updated_at,
               afs.author,
               afs.source_queue_id
        FROM {db}.authored_feedback_scores AS afs
        INNER JOIN target_spans s ON afs.entity_id = s.id
        WHERE afs.entity_type = 'span'
        AND afs.workspace_id = {workspace_id:String}
        AND afs.project_id IN {target_project_ids:Array(String)}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, span_id, name, author, source_queue_id
), span_feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, span_type, span_id, source_queue_id)) AS entries
    FROM span_feedback_scores_deduped
    GROUP BY workspace_id, project_id, trace_id, name
), span_feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1,
            entries[1].2,
            arrayStringConcat(
                arrayFilter(x -> x != '' AND x != '<no reason>', arrayMap(e -> e.2, entries)),
                ', '
            )
        ) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> concat(e.5, if(e.12 = '', '', concat('_', toString(e.12))), if(e.11 IS NULL OR e.11 = '', '', concat('_', toString(e.11)))), entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, e.10, e.11, e.12, e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM span_feedback_scores_grouped
), spans_deduped AS (
    SELECT
        trace_id,
        id,
        type,
        usage,
        total_estimated_cost,
        provider
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {target_project_ids:Array(String)}
    AND trace_id IN {ids:Array(String)}
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, id
), spans_agg AS (
    SELECT
        trace_id,
        sumMap(usage) as usage,
        sum(total_estimated_cost) as total_estimated_cost,
        count(id) AS span_count,
        toInt64(countIf(type = 'llm')) AS llm_span_count,
        countIf(type = 'tool') > 0 AS has_tool_spans,
        arraySort(groupUniqArrayIf(provider, provider != '')) as providers
    FROM spans_deduped
    GROUP BY trace_id
), experiments_agg AS (
    SELECT
        ei.trace_id,
        if(div.id != '', div.dataset_item_id, ei.dataset_item_id) AS experiment_dataset_item_id,
        e.id AS experiment_id,
        e.name AS experiment_name,
        e.dataset_id AS experiment_dataset_id
    FROM (
        SELECT DISTINCT experiment_id, trace_id, dataset_item_id
        FROM {db}.experiment_items
        WHERE workspace_id = {workspace_id:String}
        AND trace_id IN {ids:Array(String)}
    ) ei
    LEFT JOIN (
        SELECT id, dataset_item_id
        FROM {db}.dataset_item_versions
        WHERE workspace_id = {workspace_id:String}
        AND id IN (
            SELECT dataset_item_id FROM {db}.experiment_items
            WHERE workspace_id = {workspace_id:String} AND trace_id IN {ids:Array(String)}
        )
    ) div ON div.id = ei.dataset_item_id
    INNER JOIN (
        SELECT id, name, dataset_id
        FROM {db}.experiments
        WHERE workspace_id = {workspace_id:String}
        ORDER BY (workspace_id, dataset_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY id
    ) e ON ei.experiment_id = e.id
    ORDER BY trace_id, experiment_id DESC
    LIMIT 1 BY trace_id
)
, trace_scope_queues AS (
    SELECT id, name
    FROM {db}.annotation_queues
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {target_project_ids:Array(String)}
    AND scope = 'trace'
    ORDER BY id DESC, last_updated_at DESC
    LIMIT 1 BY id
), trace_annotation_queues AS (
    SELECT trace_id,
           groupArray(tuple(id, name)) AS annotation_queues
    FROM (
        SELECT DISTINCT aqi.queue_id as id, aq.name as name, aqi.item_id as trace_id
        FROM (
            SELECT queue_id, item_id
            FROM {db}.annotation_queue_items
            WHERE workspace_id = {workspace_id:String}
            AND project_id IN {target_project_ids:Array(String)}
            AND queue_id IN (SELECT id FROM trace_scope_queues)
            AND item_id IN {ids:Array(String)}
        ) AS aqi
        JOIN trace_scope_queues AS aq ON aq.id = aqi.queue_id
    ) AS queues_with_trace_id
    GROUP BY trace_id
)
SELECT
    t.*,
    t.id as id,
    t.project_id as project_id,
    s.usage as usage,
    s.total_estimated_cost as total_estimated_cost,
    s.span_count AS span_count,
    s.llm_span_count AS llm_span_count,
    s.has_tool_spans AS has_tool_spans,
    s.providers as providers,
    c.comments as comments,
    fs.feedback_scores_list as feedback_scores_list,
    sfs.span_feedback_scores_list as span_feedback_scores_list,
    gr.guardrails as guardrails_validations,
    eaag.experiment_id as experiment_id,
    eaag.experiment_name as experiment_name,
    eaag.experiment_dataset_id as experiment_dataset_id,
    eaag.experiment_dataset_item_id as experiment_dataset_item_id
    , taq.annotation_queues as annotation_queues
FROM (
    SELECT
        *,
        duration
    FROM {traces}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {target_project_ids:Array(String)}
    AND id IN {ids:Array(String)}
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
) AS t
LEFT JOIN spans_agg s ON t.id = s.trace_id
LEFT JOIN experiments_agg eaag ON eaag.trace_id = t.id
LEFT JOIN trace_annotation_queues taq ON taq.trace_id = t.id
LEFT JOIN (
    SELECT
        entity_id,
        groupUniqArrayArray(comments_array) as comments
    FROM (
        SELECT
            entity_id,
            groupArray(tuple(*)) AS comments_array
        FROM (
            SELECT
                id,
                text,
                created_at,
                last_updated_at,
                created_by,
                last_updated_by,
                source_queue_id,
                entity_id
            FROM {db}.comments
            WHERE workspace_id = {workspace_id:String}
            AND project_id IN {target_project_ids:Array(String)}
            AND entity_id IN {ids:Array(String)}
            ORDER BY (workspace_id, project_id, entity_id, id) DESC, last_updated_at DESC
            LIMIT 1 BY id
        )
        GROUP BY entity_id
    )
    GROUP BY entity_id
) AS c ON t.id = c.entity_id
LEFT JOIN (
    SELECT
        entity_id,
        mapFromArrays(
                groupArray(name),
                groupArray(value)
        ) AS feedback_scores,
        groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS feedback_scores_list
    FROM feedback_scores_final
    GROUP BY workspace_id, project_id, entity_id
) AS fs ON t.id = fs.entity_id
LEFT JOIN (
    SELECT
        trace_id,
        groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS span_feedback_scores_list
    FROM span_feedback_scores_final
    GROUP BY workspace_id, project_id, trace_id
) AS sfs ON t.id = sfs.trace_id
LEFT JOIN (
    SELECT
        entity_id,
        groupArray(tuple(
             entity_id,
             secondary_entity_id,
             project_id,
             name,
             result
        )) as guardrails
    FROM (
        SELECT
            *
        FROM {db}.guardrails
        WHERE entity_type = 'trace'
        AND workspace_id = {workspace_id:String}
        AND entity_id IN {ids:Array(String)}
        ORDER BY (workspace_id, project_id, entity_type, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY entity_id, id
    )
    GROUP BY workspace_id, project_id, entity_type, entity_id
) AS gr ON t.id = gr.entity_id
SETTINGS log_comment = 'find_traces_by_ids:workspace-id::1'
;
"""

T_SELECT_BY_IDS = """
WITH target_spans AS (
    SELECT id, trace_id, type
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {target_project_ids:Array(String)}
    AND trace_id IN {ids:Array(String)}
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, id
),
feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
           feedback_scores.last_updated_by AS author,
           CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'trace'
        AND workspace_id = {workspace_id:String}
        AND project_id IN {target_project_ids:Array(String)}
        AND entity_id IN {ids:Array(String)}
        UNION ALL
        SELECT
            workspace_id,
            project_id,
            entity_id,
            name,
            category_name,
            value,
            reason,
            source,
            created_by,
            last_updated_by,
            created_at,
            last_updated_at,
            author,
            source_queue_id
       FROM {db}.authored_feedback_scores
       WHERE entity_type = 'trace'
         AND workspace_id = {workspace_id:String}
         AND project_id IN {target_project_ids:Array(String)}
         AND entity_id IN {ids:Array(String)}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
 ),
 feedback_scores_grouped AS (
     SELECT
         workspace_id,
         project_id,
         entity_id,
         name,
         groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
     FROM feedback_scores_deduped
     GROUP BY workspace_id, project_id, entity_id, name
 ), feedback_scores_final AS (
     SELECT
         workspace_id,
         project_id,
         entity_id,
         name,
         arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
         IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
         IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
         entries[1].4 AS source,
         mapFromArrays(
                 arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
                 arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
         ) AS value_by_author,
         arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
         arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
         arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
         arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
     FROM feedback_scores_grouped
), span_feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           trace_id,
           span_id,
           span_type,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT fs.workspace_id,
               fs.project_id,
               s.trace_id,
               s.id AS span_id,
               s.type AS span_type,
               fs.name,
               fs.category_name,
               fs.value,
               fs.reason,
               fs.source,
               fs.created_by,
               fs.last_updated_by,
               fs.created_at,
               fs.last_updated_at,
               fs.last_updated_by AS author,
               CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores AS fs
        INNER JOIN target_spans s ON fs.entity_id = s.id
        WHERE fs.entity_type = 'span'
        AND fs.workspace_id = {workspace_id:String}
        AND fs.project_id IN {target_project_ids:Array(String)}
        UNION ALL
        SELECT afs.workspace_id,
               afs.project_id,
               s.trace_id,
               s.id AS span_id,
               s.type AS span_type,
               afs.name,
               afs.category_name,
               afs.value,
               afs.reason,
               afs.source,
               afs.created_by,
               afs.last_updated_by,
               afs.created_at,
               afs.last_updated_at,
               afs.author,
               afs.source_queue_id
        FROM {db}.authored_feedback_scores AS afs
        INNER JOIN target_spans s ON afs.entity_id = s.id
        WHERE afs.entity_type = 'span'
        AND afs.workspace_id = {workspace_id:String}
        AND afs.project_id IN {target_project_ids:Array(String)}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, span_id, name, author, source_queue_id
), span_feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, span_type, span_id, source_queue_id)) AS entries
    FROM span_feedback_scores_deduped
    GROUP BY workspace_id, project_id, trace_id, name
), span_feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1,
            entries[1].2,
            arrayStringConcat(
                arrayFilter(x -> x != '' AND x != '<no reason>', arrayMap(e -> e.2, entries)),
                ', '
            )
        ) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> concat(e.5, if(e.12 = '', '', concat('_', toString(e.12))), if(e.11 IS NULL OR e.11 = '', '', concat('_', toString(e.11)))), entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, e.10, e.11, e.12, e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM span_feedback_scores_grouped
), spans_deduped AS (
    SELECT
        trace_id,
        id,
        type,
        usage,
        total_estimated_cost,
        provider
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {target_project_ids:Array(String)}
    AND trace_id IN {ids:Array(String)}
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, id
), spans_agg AS (
    SELECT
        trace_id,
        sumMap(usage) as usage,
        sum(total_estimated_cost) as total_estimated_cost,
        count(id) AS span_count,
        toInt64(countIf(type = 'llm')) AS llm_span_count,
        countIf(type = 'tool') > 0 AS has_tool_spans,
        arraySort(groupUniqArrayIf(provider, provider != '')) as providers
    FROM spans_deduped
    GROUP BY trace_id
), experiments_agg AS (
    SELECT
        ei.trace_id,
        if(div.id != '', div.dataset_item_id, ei.dataset_item_id) AS experiment_dataset_item_id,
        e.id AS experiment_id,
        e.name AS experiment_name,
        e.dataset_id AS experiment_dataset_id
    FROM (
        SELECT DISTINCT experiment_id, trace_id, dataset_item_id
        FROM {db}.experiment_items
        WHERE workspace_id = {workspace_id:String}
        AND trace_id IN {ids:Array(String)}
    ) ei
    LEFT JOIN (
        SELECT id, dataset_item_id
        FROM {db}.dataset_item_versions
        WHERE workspace_id = {workspace_id:String}
        AND id IN (
            SELECT dataset_item_id FROM {db}.experiment_items
            WHERE workspace_id = {workspace_id:String} AND trace_id IN {ids:Array(String)}
        )
    ) div ON div.id = ei.dataset_item_id
    INNER JOIN (
        SELECT id, name, dataset_id
        FROM {db}.experiments
        WHERE workspace_id = {workspace_id:String}
        ORDER BY (workspace_id, dataset_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY id
    ) e ON ei.experiment_id = e.id
    ORDER BY trace_id, experiment_id DESC
    LIMIT 1 BY trace_id
)
SELECT
    t.*,
    t.id as id,
    t.project_id as project_id,
    s.usage as usage,
    s.total_estimated_cost as total_estimated_cost,
    s.span_count AS span_count,
    s.llm_span_count AS llm_span_count,
    s.has_tool_spans AS has_tool_spans,
    s.providers as providers,
    c.comments as comments,
    fs.feedback_scores_list as feedback_scores_list,
    sfs.span_feedback_scores_list as span_feedback_scores_list,
    gr.guardrails as guardrails_validations,
    eaag.experiment_id as experiment_id,
    eaag.experiment_name as experiment_name,
    eaag.experiment_dataset_id as experiment_dataset_id,
    eaag.experiment_dataset_item_id as experiment_dataset_item_id
FROM (
    SELECT
        *,
        duration
    FROM {traces}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {target_project_ids:Array(String)}
    AND id IN {ids:Array(String)}
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
) AS t
LEFT JOIN spans_agg s ON t.id = s.trace_id
LEFT JOIN experiments_agg eaag ON eaag.trace_id = t.id
LEFT JOIN (
    SELECT
        entity_id,
        groupUniqArrayArray(comments_array) as comments
    FROM (
        SELECT
            entity_id,
            groupArray(tuple(*)) AS comments_array
        FROM (
            SELECT
                id,
                text,
                created_at,
                last_updated_at,
                created_by,
                last_updated_by,
                source_queue_id,
                entity_id
            FROM {db}.comments
            WHERE workspace_id = {workspace_id:String}
            AND project_id IN {target_project_ids:Array(String)}
            AND entity_id IN {ids:Array(String)}
            ORDER BY (workspace_id, project_id, entity_id, id) DESC, last_updated_at DESC
            LIMIT 1 BY id
        )
        GROUP BY entity_id
    )
    GROUP BY entity_id
) AS c ON t.id = c.entity_id
LEFT JOIN (
    SELECT
        entity_id,
        mapFromArrays(
                groupArray(name),
                groupArray(value)
        ) AS feedback_scores,
        groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS feedback_scores_list
    FROM feedback_scores_final
    GROUP BY workspace_id, project_id, entity_id
) AS fs ON t.id = fs.entity_id
LEFT JOIN (
    SELECT
        trace_id,
        groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS span_feedback_scores_list
    FROM span_feedback_scores_final
    GROUP BY workspace_id, project_id, trace_id
) AS sfs ON t.id = sfs.trace_id
LEFT JOIN (
    SELECT
        entity_id,
        groupArray(tuple(
             entity_id,
             secondary_entity_id,
             project_id,
             name,
             result
        )) as guardrails
    FROM (
        SELECT
            *
        FROM {db}.guardrails
        WHERE entity_type = 'trace'
        AND workspace_id = {workspace_id:String}
        AND entity_id IN {ids:Array(String)}
        ORDER BY (workspace_id, project_id, entity_type, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY entity_id, id
    )
    GROUP BY workspace_id, project_id, entity_type, entity_id
) AS gr ON t.id = gr.entity_id
SETTINGS log_comment = 'find_traces_by_ids:workspace-id::3'
;
"""

T_FIND_PAGE_TRUNCATED = """
WITH feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author,
               CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author,
               source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
 ),
 feedback_scores_grouped AS (
     SELECT
         workspace_id,
         project_id,
         entity_id,
         name,
         groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
     FROM feedback_scores_deduped
     GROUP BY workspace_id, project_id, entity_id, name
 ), feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM feedback_scores_grouped
)
, feedback_scores_agg AS (
    SELECT
        entity_id,
        mapFromArrays(
            groupArray(name),
            groupArray(value)
    ) AS feedback_scores,
    groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS feedback_scores_list
    FROM feedback_scores_final
    GROUP BY workspace_id, project_id, entity_id
), guardrails_agg AS (
    SELECT
        entity_id,
        groupArray(tuple(
             entity_id,
             secondary_entity_id,
             project_id,
             name,
             result
        )) as guardrails_list,
        if(has(groupArray(result), 'failed'), 'failed', 'passed') as guardrails_result
    FROM (
        SELECT
            *
        FROM {db}.guardrails
        WHERE entity_type = 'trace'
        AND workspace_id = {workspace_id:String}
        AND project_id = {project_id:String}
         AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        ORDER BY (workspace_id, project_id, entity_type, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY entity_id, id
    )
    GROUP BY workspace_id, project_id, entity_type, entity_id
), target_spans AS (
    SELECT DISTINCT id, trace_id
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND trace_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
),
span_feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author,
               CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
          AND entity_id IN (SELECT id FROM target_spans)
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author,
               source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
          AND entity_id IN (SELECT id FROM target_spans)
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
), span_feedback_scores_with_trace_id AS (
    SELECT workspace_id,
           project_id,
           s.trace_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM span_feedback_scores_deduped sfs
    INNER JOIN target_spans s ON sfs.entity_id = s.id
), span_feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
    FROM span_feedback_scores_with_trace_id
    GROUP BY workspace_id, project_id, trace_id, name
), span_feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM span_feedback_scores_grouped
), span_feedback_scores_agg AS (
    SELECT
        trace_id,
        groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS span_feedback_scores_list
    FROM span_feedback_scores_final
    GROUP BY workspace_id, project_id, trace_id
), spans_deduped AS (
    SELECT
        trace_id,
        id,
        type,
        usage,
        total_estimated_cost,
        provider
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND trace_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
), spans_agg AS (
    SELECT
        trace_id,
        sumMap(usage) as usage,
        sum(total_estimated_cost) as total_estimated_cost,
        COUNT(DISTINCT id) as span_count,
        toInt64(countIf(type = 'llm')) as llm_span_count,
        countIf(type = 'tool') > 0 as has_tool_spans,
        arraySort(groupUniqArrayIf(provider, provider != '')) as providers
    FROM spans_deduped
    GROUP BY trace_id
), comments_agg AS (
    SELECT
        entity_id,
        groupArray(tuple(id, text, created_at, last_updated_at, created_by, last_updated_by, source_queue_id)) AS comments_array
    FROM (
        SELECT
            id,
            text,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by,
            source_queue_id,
            entity_id,
            workspace_id,
            project_id
        FROM {db}.comments
        WHERE workspace_id = {workspace_id:String}
        AND project_id = {project_id:String}
         AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        ORDER BY (workspace_id, project_id, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY id
    )
    GROUP BY workspace_id, project_id, entity_id
), trace_scope_queues AS (
    SELECT id, name
    FROM {db}.annotation_queues
    WHERE workspace_id = {workspace_id:String}
      AND project_id = {project_id:String}
      AND scope = 'trace'
    ORDER BY id DESC, last_updated_at DESC
    LIMIT 1 BY id
), trace_annotation_queue_ids AS (
     SELECT trace_id,
            groupArray(id) AS annotation_queue_ids,
            groupArray(tuple(id, name)) AS annotation_queues
     FROM (
        SELECT DISTINCT aqi.queue_id as id, aq.name as name, aqi.item_id as trace_id
        FROM (
            SELECT queue_id, item_id
            FROM {db}.annotation_queue_items
            WHERE workspace_id = {workspace_id:String}
              AND project_id = {project_id:String}
              AND queue_id IN (SELECT id FROM trace_scope_queues)
               AND item_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        ) AS aqi
        JOIN trace_scope_queues AS aq ON aq.id = aqi.queue_id
     ) AS annotation_queue_ids_with_trace_id
     GROUP BY trace_id
)
, experiments_agg AS (
    SELECT DISTINCT
        ei.trace_id,
        if(div.id != '', div.dataset_item_id, ei.dataset_item_id) AS experiment_dataset_item_id,
        e.id AS experiment_id,
        e.name AS experiment_name,
        e.dataset_id AS experiment_dataset_id
    FROM (
        SELECT DISTINCT experiment_id, trace_id, dataset_item_id
        FROM {db}.experiment_items
        WHERE workspace_id = {workspace_id:String}
         AND trace_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    ) ei
    LEFT JOIN (
        SELECT id, dataset_item_id
        FROM {db}.dataset_item_versions
        WHERE workspace_id = {workspace_id:String}
        AND id IN (
            SELECT dataset_item_id FROM {db}.experiment_items
            WHERE workspace_id = {workspace_id:String}
             AND trace_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        )
    ) div ON div.id = ei.dataset_item_id
    INNER JOIN (
        SELECT id, name, dataset_id
        FROM {db}.experiments
        WHERE workspace_id = {workspace_id:String}
        ORDER BY (workspace_id, dataset_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY id
    ) e ON ei.experiment_id = e.id
)
, traces_deduped AS (
    SELECT
        t.* EXCEPT (input_slim, output_slim, input, output, metadata) ,
        input_length,
        output_length,
        duration
    FROM {traces} t
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
     ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
     LIMIT 1 BY id
), page_ids AS (
    SELECT td.id
    FROM traces_deduped td
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT {limit:UInt32} OFFSET {offset:UInt32}
), page_wide AS (
    SELECT
        t.* EXCEPT (input_slim, output_slim),
        truncated_input,truncated_output,
        input_length,
        output_length,
        duration
    FROM {traces} t
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
)
SELECT
      t.*  EXCEPT (input, output, metadata, truncated_input, truncated_output)
      ,  replaceRegexpAll(t.truncated_input, 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+', '"[image]"') as input
      ,  replaceRegexpAll(t.truncated_output, 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+', '"[image]"') as output
      ,  replaceRegexpAll(t.metadata, 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+', '"[image]"') as metadata
      , input_length >= truncation_threshold as input_truncated
      , output_length >= truncation_threshold as output_truncated
      , fsagg.feedback_scores_list as feedback_scores_list
      , fsagg.feedback_scores as feedback_scores
      , sfsagg.span_feedback_scores_list as span_feedback_scores_list
      , s.usage as usage
      , s.total_estimated_cost as total_estimated_cost
      , c.comments_array as comments
      , gagg.guardrails_list as guardrails_validations
      , s.span_count AS span_count
      , s.llm_span_count AS llm_span_count
      , s.has_tool_spans AS has_tool_spans
      , s.providers AS providers
      , eaag.experiment_id, eaag.experiment_name, eaag.experiment_dataset_id, eaag.experiment_dataset_item_id
      , taqi.annotation_queues AS annotation_queues
 FROM page_wide t
 LEFT JOIN feedback_scores_agg fsagg ON fsagg.entity_id = t.id
 LEFT JOIN span_feedback_scores_agg sfsagg ON sfsagg.trace_id = t.id
 LEFT JOIN spans_agg s ON t.id = s.trace_id
 LEFT JOIN comments_agg c ON t.id = c.entity_id
 LEFT JOIN guardrails_agg gagg ON gagg.entity_id = t.id
 LEFT JOIN experiments_agg eaag ON eaag.trace_id = t.id
 LEFT JOIN trace_annotation_queue_ids taqi ON taqi.trace_id = t.id
 ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
SETTINGS log_comment = 'find_traces_by_project_id:workspace-id:user-name:page:1:size:10'
;
"""

T_FIND_STREAM_SEARCH_WINDOW = """
WITH feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author,
               CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author,
               source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
 ),
 feedback_scores_grouped AS (
     SELECT
         workspace_id,
         project_id,
         entity_id,
         name,
         groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
     FROM feedback_scores_deduped
     GROUP BY workspace_id, project_id, entity_id, name
 ), feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM feedback_scores_grouped
)
, feedback_scores_agg AS (
    SELECT
        entity_id,
        mapFromArrays(
            groupArray(name),
            groupArray(value)
    ) AS feedback_scores,
    groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS feedback_scores_list
    FROM feedback_scores_final
    GROUP BY workspace_id, project_id, entity_id
), guardrails_agg AS (
    SELECT
        entity_id,
        groupArray(tuple(
             entity_id,
             secondary_entity_id,
             project_id,
             name,
             result
        )) as guardrails_list,
        if(has(groupArray(result), 'failed'), 'failed', 'passed') as guardrails_result
    FROM (
        SELECT
            *
        FROM {db}.guardrails
        WHERE entity_type = 'trace'
        AND workspace_id = {workspace_id:String}
        AND project_id = {project_id:String}
         AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        ORDER BY (workspace_id, project_id, entity_type, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY entity_id, id
    )
    GROUP BY workspace_id, project_id, entity_type, entity_id
), target_spans AS (
    SELECT DISTINCT id, trace_id
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND trace_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
),
span_feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author,
               CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id >= {uuid_from_time:String}
           AND entity_id <= {uuid_to_time:String}
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author,
               source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id >= {uuid_from_time:String}
           AND entity_id <= {uuid_to_time:String}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
), span_feedback_scores_with_trace_id AS (
    SELECT workspace_id,
           project_id,
           s.trace_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM span_feedback_scores_deduped sfs
    INNER JOIN target_spans s ON sfs.entity_id = s.id
), span_feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
    FROM span_feedback_scores_with_trace_id
    GROUP BY workspace_id, project_id, trace_id, name
), span_feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM span_feedback_scores_grouped
), span_feedback_scores_agg AS (
    SELECT
        trace_id,
        groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS span_feedback_scores_list
    FROM span_feedback_scores_final
    GROUP BY workspace_id, project_id, trace_id
), spans_deduped AS (
    SELECT
        trace_id,
        id,
        type,
        usage,
        total_estimated_cost,
        provider
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND trace_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
), spans_agg AS (
    SELECT
        trace_id,
        sumMap(usage) as usage,
        sum(total_estimated_cost) as total_estimated_cost,
        COUNT(DISTINCT id) as span_count,
        toInt64(countIf(type = 'llm')) as llm_span_count,
        countIf(type = 'tool') > 0 as has_tool_spans,
        arraySort(groupUniqArrayIf(provider, provider != '')) as providers
    FROM spans_deduped
    GROUP BY trace_id
), comments_agg AS (
    SELECT
        entity_id,
        groupArray(tuple(id, text, created_at, last_updated_at, created_by, last_updated_by, source_queue_id)) AS comments_array
    FROM (
        SELECT
            id,
            text,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by,
            source_queue_id,
            entity_id,
            workspace_id,
            project_id
        FROM {db}.comments
        WHERE workspace_id = {workspace_id:String}
        AND project_id = {project_id:String}
         AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        ORDER BY (workspace_id, project_id, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY id
    )
    GROUP BY workspace_id, project_id, entity_id
), trace_scope_queues AS (
    SELECT id, name
    FROM {db}.annotation_queues
    WHERE workspace_id = {workspace_id:String}
      AND project_id = {project_id:String}
      AND scope = 'trace'
    ORDER BY id DESC, last_updated_at DESC
    LIMIT 1 BY id
), trace_annotation_queue_ids AS (
     SELECT trace_id,
            groupArray(id) AS annotation_queue_ids,
            groupArray(tuple(id, name)) AS annotation_queues
     FROM (
        SELECT DISTINCT aqi.queue_id as id, aq.name as name, aqi.item_id as trace_id
        FROM (
            SELECT queue_id, item_id
            FROM {db}.annotation_queue_items
            WHERE workspace_id = {workspace_id:String}
              AND project_id = {project_id:String}
              AND queue_id IN (SELECT id FROM trace_scope_queues)
               AND item_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        ) AS aqi
        JOIN trace_scope_queues AS aq ON aq.id = aqi.queue_id
     ) AS annotation_queue_ids_with_trace_id
     GROUP BY trace_id
)
, experiments_agg AS (
    SELECT DISTINCT
        ei.trace_id,
        if(div.id != '', div.dataset_item_id, ei.dataset_item_id) AS experiment_dataset_item_id,
        e.id AS experiment_id,
        e.name AS experiment_name,
        e.dataset_id AS experiment_dataset_id
    FROM (
        SELECT DISTINCT experiment_id, trace_id, dataset_item_id
        FROM {db}.experiment_items
        WHERE workspace_id = {workspace_id:String}
         AND trace_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    ) ei
    LEFT JOIN (
        SELECT id, dataset_item_id
        FROM {db}.dataset_item_versions
        WHERE workspace_id = {workspace_id:String}
        AND id IN (
            SELECT dataset_item_id FROM {db}.experiment_items
            WHERE workspace_id = {workspace_id:String}
             AND trace_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        )
    ) div ON div.id = ei.dataset_item_id
    INNER JOIN (
        SELECT id, name, dataset_id
        FROM {db}.experiments
        WHERE workspace_id = {workspace_id:String}
        ORDER BY (workspace_id, dataset_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY id
    ) e ON ei.experiment_id = e.id
)
, traces_deduped AS (
    SELECT
        t.* EXCEPT (input_slim, output_slim, input, output, metadata) ,
        input_length,
        output_length,
        duration
    FROM {traces} t
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
     AND id >= {uuid_from_time:String}
        AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            >= (toDate32(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC'), 1)))
     AND id <= {uuid_to_time:String}
        AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            <= (toDate32(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC'), 1)))
     AND (ilike(id, {search_text:String})
OR ilike(name, {search_text:String})
OR ilike(input, {search_text:String})
OR ilike(output, {search_text:String})
OR ilike(metadata, {search_text:String})
OR ilike(error_info, {search_text:String})
OR arrayExists(element -> ilike(element, {search_text:String}), tags)
OR ilike(thread_id, {search_text:String}))
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN (
        SELECT DISTINCT toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
        FROM {traces}
        WHERE workspace_id = {workspace_id:String} AND project_id = {project_id:String}
         AND id >= {uuid_from_time:String}
         AND id <= {uuid_to_time:String}
        )
     ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
     LIMIT 1 BY id
), page_ids AS (
    SELECT td.id
    FROM traces_deduped td
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT {limit:UInt32}
), page_wide AS (
    SELECT
        t.* EXCEPT (input_slim, output_slim),
        input_length,
        output_length,
        duration
    FROM {traces} t
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
     AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
        >= (toDate32(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC'), 1)))
     AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
        <= (toDate32(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC'), 1)))
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
)
SELECT
      t.*  EXCEPT (input, output, metadata)
      ,  t.input as input
      ,  t.output as output
      ,  t.metadata as metadata
      , fsagg.feedback_scores_list as feedback_scores_list
      , fsagg.feedback_scores as feedback_scores
      , sfsagg.span_feedback_scores_list as span_feedback_scores_list
      , s.usage as usage
      , s.total_estimated_cost as total_estimated_cost
      , c.comments_array as comments
      , gagg.guardrails_list as guardrails_validations
      , s.span_count AS span_count
      , s.llm_span_count AS llm_span_count
      , s.has_tool_spans AS has_tool_spans
      , s.providers AS providers
      , eaag.experiment_id, eaag.experiment_name, eaag.experiment_dataset_id, eaag.experiment_dataset_item_id
      , taqi.annotation_queues AS annotation_queues
 FROM page_wide t
 LEFT JOIN feedback_scores_agg fsagg ON fsagg.entity_id = t.id
 LEFT JOIN span_feedback_scores_agg sfsagg ON sfsagg.trace_id = t.id
 LEFT JOIN spans_agg s ON t.id = s.trace_id
 LEFT JOIN comments_agg c ON t.id = c.entity_id
 LEFT JOIN guardrails_agg gagg ON gagg.entity_id = t.id
 LEFT JOIN experiments_agg eaag ON eaag.trace_id = t.id
 LEFT JOIN trace_annotation_queue_ids taqi ON taqi.trace_id = t.id
 ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
SETTINGS log_comment = 'find_trace_stream:workspace-id:user-name:limit:100'
;
"""

T_FIND_STREAM_CURSOR = """
WITH feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author,
               CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author,
               source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
 ),
 feedback_scores_grouped AS (
     SELECT
         workspace_id,
         project_id,
         entity_id,
         name,
         groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
     FROM feedback_scores_deduped
     GROUP BY workspace_id, project_id, entity_id, name
 ), feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM feedback_scores_grouped
)
, feedback_scores_agg AS (
    SELECT
        entity_id,
        mapFromArrays(
            groupArray(name),
            groupArray(value)
    ) AS feedback_scores,
    groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS feedback_scores_list
    FROM feedback_scores_final
    GROUP BY workspace_id, project_id, entity_id
), guardrails_agg AS (
    SELECT
        entity_id,
        groupArray(tuple(
             entity_id,
             secondary_entity_id,
             project_id,
             name,
             result
        )) as guardrails_list,
        if(has(groupArray(result), 'failed'), 'failed', 'passed') as guardrails_result
    FROM (
        SELECT
            *
        FROM {db}.guardrails
        WHERE entity_type = 'trace'
        AND workspace_id = {workspace_id:String}
        AND project_id = {project_id:String}
         AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        ORDER BY (workspace_id, project_id, entity_type, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY entity_id, id
    )
    GROUP BY workspace_id, project_id, entity_type, entity_id
), target_spans AS (
    SELECT DISTINCT id, trace_id
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND trace_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
),
span_feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author,
               CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
          AND entity_id IN (SELECT id FROM target_spans)
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author,
               source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
          AND entity_id IN (SELECT id FROM target_spans)
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
), span_feedback_scores_with_trace_id AS (
    SELECT workspace_id,
           project_id,
           s.trace_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM span_feedback_scores_deduped sfs
    INNER JOIN target_spans s ON sfs.entity_id = s.id
), span_feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
    FROM span_feedback_scores_with_trace_id
    GROUP BY workspace_id, project_id, trace_id, name
), span_feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM span_feedback_scores_grouped
), span_feedback_scores_agg AS (
    SELECT
        trace_id,
        groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS span_feedback_scores_list
    FROM span_feedback_scores_final
    GROUP BY workspace_id, project_id, trace_id
), spans_deduped AS (
    SELECT
        trace_id,
        id,
        type,
        usage,
        total_estimated_cost,
        provider
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND trace_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
), spans_agg AS (
    SELECT
        trace_id,
        sumMap(usage) as usage,
        sum(total_estimated_cost) as total_estimated_cost,
        COUNT(DISTINCT id) as span_count,
        toInt64(countIf(type = 'llm')) as llm_span_count,
        countIf(type = 'tool') > 0 as has_tool_spans,
        arraySort(groupUniqArrayIf(provider, provider != '')) as providers
    FROM spans_deduped
    GROUP BY trace_id
), comments_agg AS (
    SELECT
        entity_id,
        groupArray(tuple(id, text, created_at, last_updated_at, created_by, last_updated_by, source_queue_id)) AS comments_array
    FROM (
        SELECT
            id,
            text,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by,
            source_queue_id,
            entity_id,
            workspace_id,
            project_id
        FROM {db}.comments
        WHERE workspace_id = {workspace_id:String}
        AND project_id = {project_id:String}
         AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        ORDER BY (workspace_id, project_id, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY id
    )
    GROUP BY workspace_id, project_id, entity_id
), trace_scope_queues AS (
    SELECT id, name
    FROM {db}.annotation_queues
    WHERE workspace_id = {workspace_id:String}
      AND project_id = {project_id:String}
      AND scope = 'trace'
    ORDER BY id DESC, last_updated_at DESC
    LIMIT 1 BY id
), trace_annotation_queue_ids AS (
     SELECT trace_id,
            groupArray(id) AS annotation_queue_ids,
            groupArray(tuple(id, name)) AS annotation_queues
     FROM (
        SELECT DISTINCT aqi.queue_id as id, aq.name as name, aqi.item_id as trace_id
        FROM (
            SELECT queue_id, item_id
            FROM {db}.annotation_queue_items
            WHERE workspace_id = {workspace_id:String}
              AND project_id = {project_id:String}
              AND queue_id IN (SELECT id FROM trace_scope_queues)
               AND item_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        ) AS aqi
        JOIN trace_scope_queues AS aq ON aq.id = aqi.queue_id
     ) AS annotation_queue_ids_with_trace_id
     GROUP BY trace_id
)
, experiments_agg AS (
    SELECT DISTINCT
        ei.trace_id,
        if(div.id != '', div.dataset_item_id, ei.dataset_item_id) AS experiment_dataset_item_id,
        e.id AS experiment_id,
        e.name AS experiment_name,
        e.dataset_id AS experiment_dataset_id
    FROM (
        SELECT DISTINCT experiment_id, trace_id, dataset_item_id
        FROM {db}.experiment_items
        WHERE workspace_id = {workspace_id:String}
         AND trace_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    ) ei
    LEFT JOIN (
        SELECT id, dataset_item_id
        FROM {db}.dataset_item_versions
        WHERE workspace_id = {workspace_id:String}
        AND id IN (
            SELECT dataset_item_id FROM {db}.experiment_items
            WHERE workspace_id = {workspace_id:String}
             AND trace_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        )
    ) div ON div.id = ei.dataset_item_id
    INNER JOIN (
        SELECT id, name, dataset_id
        FROM {db}.experiments
        WHERE workspace_id = {workspace_id:String}
        ORDER BY (workspace_id, dataset_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY id
    ) e ON ei.experiment_id = e.id
)
, traces_deduped AS (
    SELECT
        t.* EXCEPT (input_slim, output_slim, input, output, metadata) ,
        input_length,
        output_length,
        duration
    FROM {traces} t
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
     AND id < {last_received_id:String}
        AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            <= (toDate32(UUIDv7ToDateTime(toUUID({last_received_id:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({last_received_id:String}), 'UTC'), 1)))
     ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
     LIMIT 1 BY id
), page_ids AS (
    SELECT td.id
    FROM traces_deduped td
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT {limit:UInt32}
), page_wide AS (
    SELECT
        t.* EXCEPT (input_slim, output_slim),
        truncated_input,truncated_output,
        input_length,
        output_length,
        duration
    FROM {traces} t
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
     AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
        <= (toDate32(UUIDv7ToDateTime(toUUID({last_received_id:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({last_received_id:String}), 'UTC'), 1)))
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
)
SELECT
      t.*  EXCEPT (input, output, metadata, truncated_input, truncated_output)
      ,  replaceRegexpAll(t.truncated_input, 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+', '"[image]"') as input
      ,  replaceRegexpAll(t.truncated_output, 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+', '"[image]"') as output
      ,  replaceRegexpAll(t.metadata, 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+', '"[image]"') as metadata
      , input_length >= truncation_threshold as input_truncated
      , output_length >= truncation_threshold as output_truncated
      , fsagg.feedback_scores_list as feedback_scores_list
      , fsagg.feedback_scores as feedback_scores
      , sfsagg.span_feedback_scores_list as span_feedback_scores_list
      , s.usage as usage
      , s.total_estimated_cost as total_estimated_cost
      , c.comments_array as comments
      , gagg.guardrails_list as guardrails_validations
      , s.span_count AS span_count
      , s.llm_span_count AS llm_span_count
      , s.has_tool_spans AS has_tool_spans
      , s.providers AS providers
      , eaag.experiment_id, eaag.experiment_name, eaag.experiment_dataset_id, eaag.experiment_dataset_item_id
      , taqi.annotation_queues AS annotation_queues
 FROM page_wide t
 LEFT JOIN feedback_scores_agg fsagg ON fsagg.entity_id = t.id
 LEFT JOIN span_feedback_scores_agg sfsagg ON sfsagg.trace_id = t.id
 LEFT JOIN spans_agg s ON t.id = s.trace_id
 LEFT JOIN comments_agg c ON t.id = c.entity_id
 LEFT JOIN guardrails_agg gagg ON gagg.entity_id = t.id
 LEFT JOIN experiments_agg eaag ON eaag.trace_id = t.id
 LEFT JOIN trace_annotation_queue_ids taqi ON taqi.trace_id = t.id
 ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
SETTINGS log_comment = 'find_trace_stream:workspace-id:user-name:limit:2'
;
"""

T_SELECT_PARTIAL_BY_ID = """
SELECT
    project_id,
    start_time
FROM {traces}
WHERE id = {id:String}
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    = (toDate32(UUIDv7ToDateTime(toUUID({id:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({id:String}), 'UTC'), 1)))
AND workspace_id = {workspace_id:String}
ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
LIMIT 1
SETTINGS log_comment = 'get_partial_trace_by_id:workspace-id:user-name:'
;
"""

T_SELECT_DETAILS_BY_ID = """
SELECT DISTINCT
    workspace_id,
    project_id
FROM {traces}
WHERE id = {id:String}
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    = (toDate32(UUIDv7ToDateTime(toUUID({id:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({id:String}), 'UTC'), 1)))
SETTINGS log_comment = 'get_trace_details_by_id:::'
;
"""

T_SELECT_START_TIMES_BY_TRACE_IDS = """
SELECT
    id,
    start_time
FROM {traces}
WHERE id IN {ids:Array(String)}
AND workspace_id = {workspace_id:String}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
ORDER BY id, last_updated_at DESC
LIMIT 1 BY id
SETTINGS log_comment = 'get_start_times_by_trace_ids:workspace-id::3'
;
"""

T_SELECT_LOGGING_SOURCE_IDS = """
SELECT id
FROM (
    SELECT id, argMax(source, last_updated_at) AS source
    FROM {traces}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {project_ids:Array(String)}
    AND id IN {ids:Array(String)}
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
    GROUP BY workspace_id, project_id, id
)
WHERE source IN {sources:Array(String)}
SETTINGS log_comment = 'get_logging_source_ids:workspace-id:user-name:trace_ids_size=3'
;
"""

S_SELECT_BY_IDS = """
WITH feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author
        FROM {db}.feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND entity_id IN {ids:Array(String)}
          AND project_id IN {target_project_ids:Array(String)}
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND entity_id IN {ids:Array(String)}
          AND project_id IN {target_project_ids:Array(String)}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author
), feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at)) AS entries
    FROM feedback_scores_deduped
    GROUP BY workspace_id, project_id, entity_id, name
 ), feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> e.5, entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', '', e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM feedback_scores_grouped
)
SELECT
    s.*,
    s.project_id as project_id,
    groupArray(tuple(
        c.comment_id,
        c.text,
        c.comment_created_at,
        c.comment_last_updated_at,
        c.comment_created_by,
        c.comment_last_updated_by,
        c.source_queue_id
    )) AS comments,
    any(fs.feedback_scores) as feedback_scores_list
FROM (
    SELECT
        *,
        duration
    FROM {spans}
    WHERE id IN {ids:Array(String)}
    AND workspace_id = {workspace_id:String}
    AND project_id IN {target_project_ids:Array(String)}
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, id
) AS s
LEFT JOIN (
    SELECT
        id AS comment_id,
        text,
        created_at AS comment_created_at,
        last_updated_at AS comment_last_updated_at,
        created_by AS comment_created_by,
        last_updated_by AS comment_last_updated_by,
        source_queue_id,
        entity_id
    FROM {db}.comments
    WHERE workspace_id = {workspace_id:String}
    AND entity_id IN {ids:Array(String)}
    AND project_id IN {target_project_ids:Array(String)}
    ORDER BY (workspace_id, project_id, entity_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, id
) AS c ON s.id = c.entity_id
LEFT JOIN (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS feedback_scores
    FROM feedback_scores_final
    GROUP BY workspace_id, project_id, entity_id
) AS fs ON s.id = fs.entity_id
GROUP BY
    s.*
SETTINGS log_comment = 'get_spans_by_ids:workspace-id:user-name:2'
;
"""

S_SELECT_ONLY_SPAN_BY_ID = """
SELECT
    *,
    duration
FROM {spans}
WHERE id = {id:String}
AND project_id = {project_id:String}
AND workspace_id = {workspace_id:String}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
LIMIT 1
SETTINGS log_comment = 'get_only_span_by_id:workspace-id:user-name:'
;
"""

S_SELECT_PARTIAL_BY_ID = """
SELECT
    start_time
FROM {spans}
WHERE workspace_id = {workspace_id:String}
AND id = {id:String}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
LIMIT 1
SETTINGS log_comment = 'get_partial_span_by_id:workspace-id:user-name:'
;
"""

S_FIND_PAGE_TRUNCATED = """
WITH comments_final AS (
  SELECT
       entity_id,
       groupArray(tuple(
           id AS comment_id,
           text,
           created_at AS comment_created_at,
           last_updated_at AS comment_last_updated_at,
           created_by AS comment_created_by,
           last_updated_by AS comment_last_updated_by,
           source_queue_id
       )) as comments
  FROM (
    SELECT
        id,
        text,
        created_at,
        last_updated_at,
        created_by,
        last_updated_by,
        source_queue_id,
        entity_id,
        workspace_id,
        project_id
    FROM {db}.comments
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
     AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    ORDER BY (workspace_id, project_id, entity_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
  )
  GROUP BY workspace_id, project_id, entity_id
), feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author
        FROM {db}.feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author
), feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at)) AS entries
    FROM feedback_scores_deduped
    GROUP BY workspace_id, project_id, entity_id, name
), feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> e.5, entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', '', e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM feedback_scores_grouped
), feedback_scores_agg AS (
    SELECT
        entity_id,
        mapFromArrays(
            groupArray(name),
            groupArray(value)
    ) AS feedback_scores,
    groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS feedback_scores_list
    FROM feedback_scores_final
    GROUP BY workspace_id, project_id, entity_id
)
, spans_deduped AS (
    SELECT
          s.* EXCEPT (input_slim, output_slim, input, output, metadata) ,
          input_length,
          output_length,
          duration
    FROM {spans} s
    WHERE project_id = {project_id:String}
    AND workspace_id = {workspace_id:String}
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
), page_ids AS (
    SELECT sd.id
    FROM spans_deduped sd
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT {limit:UInt32} OFFSET {offset:UInt32}
), page_wide AS (
    SELECT
        s.* EXCEPT (input_slim, output_slim),
        truncated_input,truncated_output,
        input_length,
        output_length,
        duration
    FROM {spans} s
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND id IN (SELECT id FROM page_ids)
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
)
SELECT
    s.*  EXCEPT (input, output, metadata, truncated_input, truncated_output)
    ,  replaceRegexpAll(s.truncated_input, 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+', '"[image]"') as input
    ,  replaceRegexpAll(s.truncated_output, 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+', '"[image]"') as output
    ,  replaceRegexpAll(s.metadata, 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+', '"[image]"') as metadata
    , input_length >= truncation_threshold as input_truncated
    , output_length >= truncation_threshold as output_truncated
    , fsa.feedback_scores_list as feedback_scores_list
    , fsa.feedback_scores as feedback_scores
    , c.comments AS comments
FROM page_wide s
LEFT JOIN comments_final c ON s.id = c.entity_id
LEFT JOIN feedback_scores_agg fsa ON fsa.entity_id = s.id
ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
SETTINGS log_comment = 'find_spans_by_project_id:workspace-id:user-name:'
;
"""

S_FIND_STREAM_SEARCH_WINDOW = """
WITH comments_final AS (
  SELECT
       entity_id,
       groupArray(tuple(
           id AS comment_id,
           text,
           created_at AS comment_created_at,
           last_updated_at AS comment_last_updated_at,
           created_by AS comment_created_by,
           last_updated_by AS comment_last_updated_by,
           source_queue_id
       )) as comments
  FROM (
    SELECT
        id,
        text,
        created_at,
        last_updated_at,
        created_by,
        last_updated_by,
        source_queue_id,
        entity_id,
        workspace_id,
        project_id
    FROM {db}.comments
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
     AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    ORDER BY (workspace_id, project_id, entity_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
  )
  GROUP BY workspace_id, project_id, entity_id
), feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author
        FROM {db}.feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author
), feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at)) AS entries
    FROM feedback_scores_deduped
    GROUP BY workspace_id, project_id, entity_id, name
), feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> e.5, entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', '', e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM feedback_scores_grouped
), feedback_scores_agg AS (
    SELECT
        entity_id,
        mapFromArrays(
            groupArray(name),
            groupArray(value)
    ) AS feedback_scores,
    groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS feedback_scores_list
    FROM feedback_scores_final
    GROUP BY workspace_id, project_id, entity_id
)
, spans_deduped AS (
    SELECT
          s.* EXCEPT (input_slim, output_slim, input, output, metadata) ,
          input_length,
          output_length,
          duration
    FROM {spans} s
    WHERE project_id = {project_id:String}
    AND workspace_id = {workspace_id:String}
     AND id >= {uuid_from_time:String}
        AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            >= (toDate32(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC'), 1)))
     AND id <= {uuid_to_time:String}
        AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            <= (toDate32(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC'), 1)))
     AND trace_id = {trace_id:String}
     AND (ilike(id, {search_text:String})
OR ilike(trace_id, {search_text:String})
OR ilike(name, {search_text:String})
OR ilike(type, {search_text:String})
OR ilike(input, {search_text:String})
OR ilike(output, {search_text:String})
OR ilike(metadata, {search_text:String})
OR arrayExists(element -> ilike(element, {search_text:String}), tags)
OR ilike(model, {search_text:String})
OR ilike(provider, {search_text:String}))
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
), page_ids AS (
    SELECT sd.id
    FROM spans_deduped sd
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT {limit:UInt32}
), page_wide AS (
    SELECT
        s.* EXCEPT (input_slim, output_slim),
        input_length,
        output_length,
        duration
    FROM {spans} s
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND id IN (SELECT id FROM page_ids)
     AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
        >= (toDate32(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC'), 1)))
     AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
        <= (toDate32(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC'), 1)))
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
)
SELECT
    s.*  EXCEPT (input, output, metadata)
    ,  s.input as input
    ,  s.output as output
    ,  s.metadata as metadata
    , fsa.feedback_scores_list as feedback_scores_list
    , fsa.feedback_scores as feedback_scores
    , c.comments AS comments
FROM page_wide s
LEFT JOIN comments_final c ON s.id = c.entity_id
LEFT JOIN feedback_scores_agg fsa ON fsa.entity_id = s.id
ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
SETTINGS log_comment = 'find_span_stream:workspace-id:user-name:'
;
"""

S_FIND_STREAM_CURSOR = """
WITH comments_final AS (
  SELECT
       entity_id,
       groupArray(tuple(
           id AS comment_id,
           text,
           created_at AS comment_created_at,
           last_updated_at AS comment_last_updated_at,
           created_by AS comment_created_by,
           last_updated_by AS comment_last_updated_by,
           source_queue_id
       )) as comments
  FROM (
    SELECT
        id,
        text,
        created_at,
        last_updated_at,
        created_by,
        last_updated_by,
        source_queue_id,
        entity_id,
        workspace_id,
        project_id
    FROM {db}.comments
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
     AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    ORDER BY (workspace_id, project_id, entity_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
  )
  GROUP BY workspace_id, project_id, entity_id
), feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author
        FROM {db}.feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids)))
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author
), feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at)) AS entries
    FROM feedback_scores_deduped
    GROUP BY workspace_id, project_id, entity_id, name
), feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> e.5, entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', '', e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM feedback_scores_grouped
), feedback_scores_agg AS (
    SELECT
        entity_id,
        mapFromArrays(
            groupArray(name),
            groupArray(value)
    ) AS feedback_scores,
    groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS feedback_scores_list
    FROM feedback_scores_final
    GROUP BY workspace_id, project_id, entity_id
)
, spans_deduped AS (
    SELECT
          s.* EXCEPT (input_slim, output_slim, input, output, metadata) ,
          input_length,
          output_length,
          duration
    FROM {spans} s
    WHERE project_id = {project_id:String}
    AND workspace_id = {workspace_id:String}
     AND id < {last_received_span_id:String}
        AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            <= (toDate32(UUIDv7ToDateTime(toUUID({last_received_span_id:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({last_received_span_id:String}), 'UTC'), 1)))
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
), page_ids AS (
    SELECT sd.id
    FROM spans_deduped sd
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT {limit:UInt32}
), page_wide AS (
    SELECT
        s.* EXCEPT (input_slim, output_slim),
        truncated_input,truncated_output,
        input_length,
        output_length,
        duration
    FROM {spans} s
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND id IN (SELECT id FROM page_ids)
     AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
        <= (toDate32(UUIDv7ToDateTime(toUUID({last_received_span_id:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({last_received_span_id:String}), 'UTC'), 1)))
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
)
SELECT
    s.*  EXCEPT (input, output, metadata, truncated_input, truncated_output)
    ,  replaceRegexpAll(s.truncated_input, 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+', '"[image]"') as input
    ,  replaceRegexpAll(s.truncated_output, 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+', '"[image]"') as output
    ,  replaceRegexpAll(s.metadata, 'data:image/[^;]{3,4};base64,[^"]+|/9j/[^"]+|iVBORw0KGgo=[^"]+|R0lGODlh[^"]+|R0lGODdh[^"]+|Qk[^"]+', '"[image]"') as metadata
    , input_length >= truncation_threshold as input_truncated
    , output_length >= truncation_threshold as output_truncated
    , fsa.feedback_scores_list as feedback_scores_list
    , fsa.feedback_scores as feedback_scores
    , c.comments AS comments
FROM page_wide s
LEFT JOIN comments_final c ON s.id = c.entity_id
LEFT JOIN feedback_scores_agg fsa ON fsa.entity_id = s.id
ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
SETTINGS log_comment = 'find_span_stream:workspace-id:user-name:'
;
"""

T_DAILY_COUNT = """
SELECT
     workspace_id,
     project_id,
     COUNT(DISTINCT id) as trace_count
 FROM {traces}
 WHERE created_at BETWEEN toStartOfDay(yesterday()) AND toStartOfDay(today())
 GROUP BY workspace_id, project_id
SETTINGS log_comment = 'count_traces_per_workspace:::'
;
"""

T_DAILY_BI = """
SELECT
     workspace_id,
     created_by AS user,
     project_id,
     COUNT(DISTINCT id) AS trace_count
FROM {traces}
WHERE created_at BETWEEN toStartOfDay(yesterday()) AND toStartOfDay(today())
GROUP BY workspace_id, created_by, project_id
SETTINGS log_comment = 'get_trace_bi_information:::'
;
"""

T_PROJECTS_IN_RANGE = """
SELECT DISTINCT project_id
FROM {traces}
WHERE (workspace_id, project_id) IN arrayZip({workspace_ids:Array(String)}, {project_ids:Array(String)})
AND created_at >= parseDateTime64BestEffort({from_time:String}, 9)
AND created_at < parseDateTime64BestEffort({to_time:String}, 9)
SETTINGS log_comment = 'projects_with_traces_in_range:::3'
;
"""

T_PROJECTS_MIN_IN_RANGE = """
SELECT project_id
FROM {traces}
WHERE (workspace_id, project_id) IN arrayZip({workspace_ids:Array(String)}, {project_ids:Array(String)})
AND created_at >= parseDateTime64BestEffort({from_time:String}, 9)
AND created_at < parseDateTime64BestEffort({to_time:String}, 9)
GROUP BY project_id
HAVING uniq(id) >= {min_traces:UInt64}
SETTINGS log_comment = 'projects_with_min_traces_in_range:::3'
;
"""

S_DAILY_COUNT = """
SELECT
     workspace_id,
     project_id,
     COUNT(DISTINCT id) AS span_count
 FROM {spans}
 WHERE created_at BETWEEN toStartOfDay(yesterday()) AND toStartOfDay(today())
 GROUP BY workspace_id, project_id
SETTINGS log_comment = 'count_spans_per_workspace:::'
;
"""

S_DAILY_COUNT_USER = """
SELECT
     workspace_id,
     project_id,
     created_by AS user,
     COUNT(DISTINCT id) AS span_count
 FROM {spans}
 WHERE created_at BETWEEN toStartOfDay(yesterday()) AND toStartOfDay(today())
 GROUP BY workspace_id, project_id, created_by
SETTINGS log_comment = 'get_span_bi_information:::'
;
"""

T_STATS = """
 WITH
span_weeks AS (
    SELECT DISTINCT toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) AS week
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {project_ids:Array(String)}
),
 spans_data AS (
    SELECT
        id,
        trace_id,
        usage,
        total_estimated_cost,
        type,
        workspace_id,
        project_id
    FROM {spans} FINAL
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {project_ids:Array(String)}
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN (SELECT week FROM span_weeks)
 ), spans_agg AS (
    SELECT
        trace_id,
        sumMap(usage) as usage,
        sum(total_estimated_cost) as total_estimated_cost,
        COUNT(id) as span_count,
        toInt64(countIf(type = 'llm')) as llm_span_count
    FROM spans_data
    GROUP BY workspace_id, project_id, trace_id
), feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT
            workspace_id,
            project_id,
            entity_id,
            name,
            category_name,
            value,
            reason,
            source,
            created_by,
            last_updated_by,
            created_at,
            last_updated_at,
            author,
            source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'trace'
           AND workspace_id = {workspace_id:String}
           AND project_id IN {project_ids:Array(String)}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
 ),
 feedback_scores_grouped AS (
     SELECT
         workspace_id,
         project_id,
         entity_id,
         name,
         groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
     FROM feedback_scores_deduped
     GROUP BY workspace_id, project_id, entity_id, name
), feedback_scores_final AS (
   SELECT
       workspace_id,
       project_id,
       entity_id,
       name,
       arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
       IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
       IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
       entries[1].4 AS source,
       mapFromArrays(
           arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
           arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
       ) AS value_by_author,
       arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
       arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
       arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
       arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
   FROM feedback_scores_grouped
), feedback_scores_agg AS (
    SELECT
        entity_id,
        mapFromArrays(
                groupArray(name),
                groupArray(value)
        ) AS feedback_scores
    FROM feedback_scores_final
    GROUP BY workspace_id, project_id, entity_id
),
guardrails_agg AS (
    SELECT
        entity_id,
        countIf(DISTINCT id, result = 'failed') AS failed_count,
        if(has(groupArray(result), 'failed'), 'failed', 'passed') as guardrails_result
    FROM (
        SELECT
            *
        FROM {db}.guardrails
        WHERE entity_type = 'trace'
        AND workspace_id = {workspace_id:String}
        AND project_id IN {project_ids:Array(String)}
        ORDER BY (workspace_id, project_id, entity_type, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY entity_id, id
    )
    GROUP BY workspace_id, project_id, entity_type, entity_id
), trace_annotation_queue_ids AS (
     SELECT trace_id,
            groupArray(id) AS annotation_queue_ids
     FROM (
        SELECT DISTINCT aq.id as id, aqi.item_id as trace_id
        FROM {db}.annotation_queue_items aqi
        JOIN {db}.annotation_queues aq ON aq.id = aqi.queue_id
        WHERE aq.scope = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id IN {project_ids:Array(String)}
     ) AS annotation_queue_ids_with_trace_id
     GROUP BY trace_id
),
span_feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author,
               source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id IN {project_ids:Array(String)}
          AND entity_id IN (SELECT id FROM spans_data)
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
), span_feedback_scores_with_trace_id AS (
    SELECT workspace_id,
           project_id,
           s.trace_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM span_feedback_scores_deduped sfs
    INNER JOIN spans_data s ON sfs.entity_id = s.id
), span_feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
    FROM span_feedback_scores_with_trace_id
    GROUP BY workspace_id, project_id, trace_id, name
), span_feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM span_feedback_scores_grouped
), span_feedback_scores_agg AS (
    SELECT
        trace_id,
        mapFromArrays(
                groupArray(name),
                groupArray(value)
        ) AS span_feedback_scores,
        groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS span_feedback_scores_list
    FROM span_feedback_scores_final
    GROUP BY workspace_id, project_id, trace_id
)
, trace_final AS (
    SELECT
        workspace_id,
        project_id,
        id,
        thread_id,
        if(input_length > 0, 1, 0) as input_count,
        if(output_length > 0, 1, 0) as output_count,
        if(metadata_length > 0, 1, 0) as metadata_count,
        length(tags) as tags_length,
        duration,
        error_info
    FROM {traces} final
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {project_ids:Array(String)}
)
SELECT
    t.workspace_id as workspace_id,
    t.project_id as project_id,
    countDistinct(t.id) AS trace_count,
    countDistinctIf(t.thread_id, t.thread_id != '') AS thread_count,
    arrayMap(
      v -> toDecimal64(
             greatest(
               least(if(isFinite(v), v, 0),  999999999.999999999),
               -999999999.999999999
             ),
             9
           ),
      quantiles(0.5, 0.9, 0.99)(t.duration)
    ) AS duration,
    sum(input_count) AS input,
    sum(output_count) AS output,
    sum(metadata_count) AS metadata,
    avg(tags_length) AS tags,
    avgMap(s.usage) as usage,
    sumMap(s.usage) as usage_sum,
    avg(s.llm_span_count) AS llm_span_count_avg,
    avg(s.span_count) AS span_count_avg,
    avgIf(s.total_estimated_cost, s.total_estimated_cost > 0) AS total_estimated_cost_,
    toDecimal128(if(isNaN(total_estimated_cost_), 0, total_estimated_cost_), 12) AS total_estimated_cost_avg,
    sumIf(s.total_estimated_cost, s.total_estimated_cost > 0) AS total_estimated_cost_sum_,
    toDecimal128(total_estimated_cost_sum_, 12) AS total_estimated_cost_sum,
    sum(g.failed_count) AS guardrails_failed_count,
    countIf(t.error_info, t.error_info != '') AS error_count
FROM trace_final t
LEFT JOIN spans_agg AS s ON t.id = s.trace_id
LEFT JOIN guardrails_agg as g ON t.id = g.entity_id
GROUP BY t.workspace_id, t.project_id
SETTINGS log_comment = 'get_trace_stats_traces_spans:workspace-id:user-name:'
;
"""

T_STATS_PROJECTS_WINDOW = """
 WITH
span_weeks AS (
    SELECT DISTINCT toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) AS week
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {project_ids:Array(String)}
     AND trace_id >= {uuid_from_time:String}
     AND trace_id <= {uuid_to_time:String}
),
 spans_data AS (
    SELECT
        id,
        trace_id,
        usage,
        total_estimated_cost,
        type,
        workspace_id,
        project_id
    FROM {spans} FINAL
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {project_ids:Array(String)}
     AND trace_id >= {uuid_from_time:String}
     AND trace_id <= {uuid_to_time:String}
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN (SELECT week FROM span_weeks)
 ), spans_agg AS (
    SELECT
        trace_id,
        sumMap(usage) as usage,
        sum(total_estimated_cost) as total_estimated_cost,
        COUNT(id) as span_count,
        toInt64(countIf(type = 'llm')) as llm_span_count
    FROM spans_data
    GROUP BY workspace_id, project_id, trace_id
), feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT
            workspace_id,
            project_id,
            entity_id,
            name,
            category_name,
            value,
            reason,
            source,
            created_by,
            last_updated_by,
            created_at,
            last_updated_at,
            feedback_scores.last_updated_by AS author,
            CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id IN {project_ids:Array(String)}
           AND entity_id >= {uuid_from_time:String}
           AND entity_id <= {uuid_to_time:String}
        UNION ALL
        SELECT
            workspace_id,
            project_id,
            entity_id,
            name,
            category_name,
            value,
            reason,
            source,
            created_by,
            last_updated_by,
            created_at,
            last_updated_at,
            author,
            source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'trace'
           AND workspace_id = {workspace_id:String}
           AND project_id IN {project_ids:Array(String)}
            AND entity_id >= {uuid_from_time:String}
            AND entity_id <= {uuid_to_time:String}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
 ),
 feedback_scores_grouped AS (
     SELECT
         workspace_id,
         project_id,
         entity_id,
         name,
         groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
     FROM feedback_scores_deduped
     GROUP BY workspace_id, project_id, entity_id, name
), feedback_scores_final AS (
   SELECT
       workspace_id,
       project_id,
       entity_id,
       name,
       arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
       IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
       IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
       entries[1].4 AS source,
       mapFromArrays(
           arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
           arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
       ) AS value_by_author,
       arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
       arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
       arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
       arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
   FROM feedback_scores_grouped
), feedback_scores_agg AS (
    SELECT
        entity_id,
        mapFromArrays(
                groupArray(name),
                groupArray(value)
        ) AS feedback_scores
    FROM feedback_scores_final
    GROUP BY workspace_id, project_id, entity_id
),
guardrails_agg AS (
    SELECT
        entity_id,
        countIf(DISTINCT id, result = 'failed') AS failed_count,
        if(has(groupArray(result), 'failed'), 'failed', 'passed') as guardrails_result
    FROM (
        SELECT
            *
        FROM {db}.guardrails
        WHERE entity_type = 'trace'
        AND workspace_id = {workspace_id:String}
        AND project_id IN {project_ids:Array(String)}
         AND entity_id >= {uuid_from_time:String}
         AND entity_id <= {uuid_to_time:String}
        ORDER BY (workspace_id, project_id, entity_type, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY entity_id, id
    )
    GROUP BY workspace_id, project_id, entity_type, entity_id
), trace_annotation_queue_ids AS (
     SELECT trace_id,
            groupArray(id) AS annotation_queue_ids
     FROM (
        SELECT DISTINCT aq.id as id, aqi.item_id as trace_id
        FROM {db}.annotation_queue_items aqi
        JOIN {db}.annotation_queues aq ON aq.id = aqi.queue_id
        WHERE aq.scope = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id IN {project_ids:Array(String)}
           AND aqi.item_id >= {uuid_from_time:String}
           AND aqi.item_id <= {uuid_to_time:String}
     ) AS annotation_queue_ids_with_trace_id
     GROUP BY trace_id
),
span_feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author,
               CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id IN {project_ids:Array(String)}
          AND entity_id IN (SELECT id FROM spans_data)
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author,
               source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id IN {project_ids:Array(String)}
          AND entity_id IN (SELECT id FROM spans_data)
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
), span_feedback_scores_with_trace_id AS (
    SELECT workspace_id,
           project_id,
           s.trace_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM span_feedback_scores_deduped sfs
    INNER JOIN spans_data s ON sfs.entity_id = s.id
), span_feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
    FROM span_feedback_scores_with_trace_id
    GROUP BY workspace_id, project_id, trace_id, name
), span_feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM span_feedback_scores_grouped
), span_feedback_scores_agg AS (
    SELECT
        trace_id,
        mapFromArrays(
                groupArray(name),
                groupArray(value)
        ) AS span_feedback_scores,
        groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS span_feedback_scores_list
    FROM span_feedback_scores_final
    GROUP BY workspace_id, project_id, trace_id
)
, trace_final AS (
    SELECT
        workspace_id,
        project_id,
        id,
        thread_id,
        if(input_length > 0, 1, 0) as input_count,
        if(output_length > 0, 1, 0) as output_count,
        if(metadata_length > 0, 1, 0) as metadata_count,
        length(tags) as tags_length,
        duration,
        error_info
    FROM {traces} final
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {project_ids:Array(String)}
    AND id >= {uuid_from_time:String}
    AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
        >= (toDate32(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC'), 1)))
    AND id <= {uuid_to_time:String}
    AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
        <= (toDate32(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC'), 1)))
)
SELECT
    t.workspace_id as workspace_id,
    t.project_id as project_id,
    countDistinct(t.id) AS trace_count,
    countDistinctIf(t.thread_id, t.thread_id != '') AS thread_count,
    arrayMap(
      v -> toDecimal64(
             greatest(
               least(if(isFinite(v), v, 0),  999999999.999999999),
               -999999999.999999999
             ),
             9
           ),
      quantiles(0.5, 0.9, 0.99)(t.duration)
    ) AS duration,
    sum(input_count) AS input,
    sum(output_count) AS output,
    sum(metadata_count) AS metadata,
    avg(tags_length) AS tags,
    avgMap(s.usage) as usage,
    sumMap(s.usage) as usage_sum,
    avg(s.llm_span_count) AS llm_span_count_avg,
    avg(s.span_count) AS span_count_avg,
    avgIf(s.total_estimated_cost, s.total_estimated_cost > 0) AS total_estimated_cost_,
    toDecimal128(if(isNaN(total_estimated_cost_), 0, total_estimated_cost_), 12) AS total_estimated_cost_avg,
    sumIf(s.total_estimated_cost, s.total_estimated_cost > 0) AS total_estimated_cost_sum_,
    toDecimal128(total_estimated_cost_sum_, 12) AS total_estimated_cost_sum,
    sum(g.failed_count) AS guardrails_failed_count,
    countIf(t.error_info != '' AND toDateTime64(UUIDv7ToDateTime(toUUID(t.id)), 0, 'UTC') BETWEEN toStartOfDay(subtractDays(now(), 7)) AND now64(9)) AS recent_error_count,
    countIf(t.error_info != '' AND toDateTime64(UUIDv7ToDateTime(toUUID(t.id)), 0, 'UTC') < toStartOfDay(subtractDays(now(), 7))) AS past_period_error_count
FROM trace_final t
LEFT JOIN spans_agg AS s ON t.id = s.trace_id
LEFT JOIN guardrails_agg as g ON t.id = g.entity_id
GROUP BY t.workspace_id, t.project_id
SETTINGS log_comment = 'get_trace_stats_traces_spans_by_project_ids:workspace-id::2'
;
"""

T_FEEDBACK_STATS = """
WITH
span_scores AS (
    SELECT project_id, entity_id, name, value, author
    FROM {db}.authored_feedback_scores FINAL
    WHERE entity_type = 'span'
      AND workspace_id = {workspace_id:String}
      AND project_id IN {project_ids:Array(String)}
), scored_span_ids AS (
    SELECT id
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {project_ids:Array(String)}
    AND id IN (SELECT entity_id FROM span_scores)
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN (
        SELECT toYYYYMMDD(toDate32(scored_id_at) - toIntervalDay(toDayOfWeek(scored_id_at, 1)))
        FROM (
            SELECT CAST(UUIDv7ToDateTime(toUUID(entity_id)) AS DateTime64(0, 'UTC')) AS scored_id_at
            FROM span_scores
        )
    )
), trace_fs AS (
    SELECT project_id, entity_id, name, value, author
    FROM {db}.authored_feedback_scores FINAL
    WHERE entity_type = 'trace'
      AND workspace_id = {workspace_id:String}
      AND project_id IN {project_ids:Array(String)}
), trace_fs_per_name AS (
    SELECT project_id, entity_id, name, avg(value) AS value
    FROM trace_fs
    GROUP BY project_id, entity_id, name
), trace_fs_per_project AS (
    SELECT project_id, name, avg(value) AS value
    FROM trace_fs_per_name
    GROUP BY project_id, name
), trace_feedback_scores AS (
    SELECT project_id,
           mapFromArrays(groupArray(name), groupArray(value)) AS feedback_scores
    FROM trace_fs_per_project
    GROUP BY project_id
), span_fs AS (
    SELECT project_id, entity_id, name, value, author
    FROM span_scores
    WHERE entity_id IN (SELECT id FROM scored_span_ids)
), span_fs_per_name AS (
    SELECT project_id, entity_id, name, avg(value) AS value
    FROM span_fs
    GROUP BY project_id, entity_id, name
), span_fs_per_project AS (
    SELECT project_id, name, avg(value) AS value
    FROM span_fs_per_name
    GROUP BY project_id, name
), span_feedback_scores AS (
    SELECT project_id,
           mapFromArrays(groupArray(name), groupArray(value)) AS span_feedback_scores
    FROM span_fs_per_project
    GROUP BY project_id
)
SELECT
    coalesce(t.project_id, s.project_id) AS project_id,
    t.feedback_scores AS feedback_scores,
    s.span_feedback_scores AS span_feedback_scores
FROM trace_feedback_scores t
FULL OUTER JOIN span_feedback_scores s ON t.project_id = s.project_id
SETTINGS log_comment = 'get_trace_stats_feedback_scores:workspace-id:user-name:'
;
"""

T_FEEDBACK_STATS_SEARCH = """
WITH
span_weeks AS (
    SELECT DISTINCT toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) AS week
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {project_ids:Array(String)}
),
spans_data AS (
    SELECT
        id,
        trace_id,
        usage,
        total_estimated_cost,
        type,
        workspace_id,
        project_id
    FROM {spans} FINAL
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {project_ids:Array(String)}
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN (SELECT week FROM span_weeks)
), spans_agg AS (
    SELECT
        trace_id,
        sumMap(usage) as usage,
        sum(total_estimated_cost) as total_estimated_cost,
        COUNT(id) as span_count,
        toInt64(countIf(type = 'llm')) as llm_span_count
    FROM spans_data
    GROUP BY workspace_id, project_id, trace_id
), feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT
            workspace_id,
            project_id,
            entity_id,
            name,
            category_name,
            value,
            reason,
            source,
            created_by,
            last_updated_by,
            created_at,
            last_updated_at,
            feedback_scores.last_updated_by AS author,
            CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id IN {project_ids:Array(String)}
        UNION ALL
        SELECT
            workspace_id,
            project_id,
            entity_id,
            name,
            category_name,
            value,
            reason,
            source,
            created_by,
            last_updated_by,
            created_at,
            last_updated_at,
            author,
            source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'trace'
           AND workspace_id = {workspace_id:String}
           AND project_id IN {project_ids:Array(String)}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
),
feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
    FROM feedback_scores_deduped
    GROUP BY workspace_id, project_id, entity_id, name
), feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value
    FROM feedback_scores_grouped
),
guardrails_agg AS (
    SELECT
        entity_id,
        countIf(DISTINCT id, result = 'failed') AS failed_count,
        if(has(groupArray(result), 'failed'), 'failed', 'passed') as guardrails_result
    FROM (
        SELECT
            *
        FROM {db}.guardrails
        WHERE entity_type = 'trace'
        AND workspace_id = {workspace_id:String}
        AND project_id IN {project_ids:Array(String)}
        ORDER BY (workspace_id, project_id, entity_type, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY entity_id, id
    )
    GROUP BY workspace_id, project_id, entity_type, entity_id
), trace_annotation_queue_ids AS (
     SELECT trace_id,
            groupArray(id) AS annotation_queue_ids
     FROM (
        SELECT DISTINCT aq.id as id, aqi.item_id as trace_id
        FROM {db}.annotation_queue_items aqi
        JOIN {db}.annotation_queues aq ON aq.id = aqi.queue_id
        WHERE aq.scope = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id IN {project_ids:Array(String)}
     ) AS annotation_queue_ids_with_trace_id
     GROUP BY trace_id
),
span_feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           value,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               value,
               last_updated_at,
               feedback_scores.last_updated_by AS author,
               CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id IN {project_ids:Array(String)}
          AND entity_id IN (SELECT id FROM spans_data)
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               value,
               last_updated_at,
               author,
               source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id IN {project_ids:Array(String)}
          AND entity_id IN (SELECT id FROM spans_data)
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
), span_feedback_scores_with_trace_id AS (
    SELECT workspace_id,
           project_id,
           s.trace_id AS trace_id,
           name,
           value,
           last_updated_at,
           author,
           source_queue_id
    FROM span_feedback_scores_deduped sfs
    INNER JOIN spans_data s ON sfs.entity_id = s.id
), span_feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        groupArray(tuple(value, author, last_updated_at)) AS entries
    FROM span_feedback_scores_with_trace_id
    GROUP BY workspace_id, project_id, trace_id, name
), span_feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value
    FROM span_feedback_scores_grouped
)
, trace_final AS (
    SELECT id, project_id
    FROM {traces}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {project_ids:Array(String)}
    GROUP BY workspace_id, project_id, id
    HAVING argMax(((ilike(id, {search_text:String})
OR ilike(name, {search_text:String})
OR ilike(input, {search_text:String})
OR ilike(output, {search_text:String})
OR ilike(metadata, {search_text:String})
OR ilike(error_info, {search_text:String})
OR arrayExists(element -> ilike(element, {search_text:String}), tags)
OR ilike(thread_id, {search_text:String}))), last_updated_at)
),
span_scores AS (
    SELECT project_id, entity_id, name, value,
           feedback_scores.last_updated_by AS author
    FROM {db}.feedback_scores FINAL
    WHERE entity_type = 'span'
      AND workspace_id = {workspace_id:String}
      AND project_id IN {project_ids:Array(String)}
    UNION ALL
    SELECT project_id, entity_id, name, value, author
    FROM {db}.authored_feedback_scores FINAL
    WHERE entity_type = 'span'
      AND workspace_id = {workspace_id:String}
      AND project_id IN {project_ids:Array(String)}
), scored_span_ids AS (
    SELECT id
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN {project_ids:Array(String)}
    AND id IN (SELECT entity_id FROM span_scores)
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN (
        SELECT toYYYYMMDD(toDate32(scored_id_at) - toIntervalDay(toDayOfWeek(scored_id_at, 1)))
        FROM (
            SELECT CAST(UUIDv7ToDateTime(toUUID(entity_id)) AS DateTime64(0, 'UTC')) AS scored_id_at
            FROM span_scores
        )
    )
     AND trace_id IN (SELECT id FROM trace_final)
), trace_fs AS (
    SELECT project_id, entity_id, name, value,
           feedback_scores.last_updated_by AS author
    FROM {db}.feedback_scores FINAL
    WHERE entity_type = 'trace'
      AND workspace_id = {workspace_id:String}
      AND project_id IN {project_ids:Array(String)}
       AND entity_id IN (SELECT id FROM trace_final)
    UNION ALL
    SELECT project_id, entity_id, name, value, author
    FROM {db}.authored_feedback_scores FINAL
    WHERE entity_type = 'trace'
      AND workspace_id = {workspace_id:String}
      AND project_id IN {project_ids:Array(String)}
       AND entity_id IN (SELECT id FROM trace_final)
), trace_fs_per_name AS (
    SELECT project_id, entity_id, name, avg(value) AS value
    FROM trace_fs
    GROUP BY project_id, entity_id, name
), trace_fs_per_project AS (
    SELECT project_id, name, avg(value) AS value
    FROM trace_fs_per_name
    GROUP BY project_id, name
), trace_feedback_scores AS (
    SELECT project_id,
           mapFromArrays(groupArray(name), groupArray(value)) AS feedback_scores
    FROM trace_fs_per_project
    GROUP BY project_id
), span_fs AS (
    SELECT project_id, entity_id, name, value, author
    FROM span_scores
    WHERE entity_id IN (SELECT id FROM scored_span_ids)
), span_fs_per_name AS (
    SELECT project_id, entity_id, name, avg(value) AS value
    FROM span_fs
    GROUP BY project_id, entity_id, name
), span_fs_per_project AS (
    SELECT project_id, name, avg(value) AS value
    FROM span_fs_per_name
    GROUP BY project_id, name
), span_feedback_scores AS (
    SELECT project_id,
           mapFromArrays(groupArray(name), groupArray(value)) AS span_feedback_scores
    FROM span_fs_per_project
    GROUP BY project_id
)
SELECT
    coalesce(t.project_id, s.project_id) AS project_id,
    t.feedback_scores AS feedback_scores,
    s.span_feedback_scores AS span_feedback_scores
FROM trace_feedback_scores t
FULL OUTER JOIN span_feedback_scores s ON t.project_id = s.project_id
SETTINGS log_comment = 'get_trace_stats_feedback_scores:workspace-id:user-name:'
;
"""

S_STATS = """
WITH feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author
), feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at)) AS entries
    FROM feedback_scores_deduped
    GROUP BY workspace_id, project_id, entity_id, name
), feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> e.5, entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', '', e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM feedback_scores_grouped
)
, spans_final AS (
    SELECT
         workspace_id,
         project_id,
         id,
         duration,
         if(input_length > 0, 1, 0) as input_count,
         if(output_length > 0, 1, 0) as output_count,
         if(metadata_length > 0, 1, 0) as metadata_count,
         length(tags) as tags_count,
         usage,
         total_estimated_cost,
         error_info
    FROM {spans} final
    WHERE project_id = {project_id:String}
    AND workspace_id = {workspace_id:String}
)
SELECT
    project_id as project_id,
    count(DISTINCT id) as span_count,
    arrayMap(
      v -> toDecimal64(
             greatest(
               least(if(isFinite(v), v, 0),  999999999.999999999),
               -999999999.999999999
             ),
             9
           ),
      quantiles(0.5, 0.9, 0.99)(duration)
    ) AS duration,
    sum(input_count) as input,
    sum(output_count) as output,
    sum(metadata_count) as metadata,
    avg(tags_count) as tags,
    avgMap(s.usage) as usage,
    sumMap(s.usage) as usage_sum,
    avgIf(total_estimated_cost, total_estimated_cost > 0) AS total_estimated_cost_,
    toDecimal128(if(isNaN(total_estimated_cost_), 0, total_estimated_cost_), 12) AS total_estimated_cost_avg,
    sumIf(total_estimated_cost, total_estimated_cost > 0) AS total_estimated_cost_sum_,
    toDecimal128(total_estimated_cost_sum_, 12) AS total_estimated_cost_sum,
    countIf(error_info, error_info != '') AS error_count
FROM spans_final s
GROUP BY project_id
SETTINGS log_comment = 'get_span_stats:workspace-id:user-name:'
;
"""

S_STATS_WINDOW = """
WITH feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author
        FROM {db}.feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id >= {uuid_from_time:String}
           AND entity_id <= {uuid_to_time:String}
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id >= {uuid_from_time:String}
           AND entity_id <= {uuid_to_time:String}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author
), feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at)) AS entries
    FROM feedback_scores_deduped
    GROUP BY workspace_id, project_id, entity_id, name
), feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> e.5, entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', '', e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM feedback_scores_grouped
)
, spans_final AS (
    SELECT
         workspace_id,
         project_id,
         id,
         duration,
         if(input_length > 0, 1, 0) as input_count,
         if(output_length > 0, 1, 0) as output_count,
         if(metadata_length > 0, 1, 0) as metadata_count,
         length(tags) as tags_count,
         usage,
         total_estimated_cost,
         error_info
    FROM {spans} final
    WHERE project_id = {project_id:String}
    AND workspace_id = {workspace_id:String}
     AND id >= {uuid_from_time:String}
        AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            >= (toDate32(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC'), 1)))
     AND id <= {uuid_to_time:String}
        AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            <= (toDate32(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC'), 1)))
)
SELECT
    project_id as project_id,
    count(DISTINCT id) as span_count,
    arrayMap(
      v -> toDecimal64(
             greatest(
               least(if(isFinite(v), v, 0),  999999999.999999999),
               -999999999.999999999
             ),
             9
           ),
      quantiles(0.5, 0.9, 0.99)(duration)
    ) AS duration,
    sum(input_count) as input,
    sum(output_count) as output,
    sum(metadata_count) as metadata,
    avg(tags_count) as tags,
    avgMap(s.usage) as usage,
    sumMap(s.usage) as usage_sum,
    avgIf(total_estimated_cost, total_estimated_cost > 0) AS total_estimated_cost_,
    toDecimal128(if(isNaN(total_estimated_cost_), 0, total_estimated_cost_), 12) AS total_estimated_cost_avg,
    sumIf(total_estimated_cost, total_estimated_cost > 0) AS total_estimated_cost_sum_,
    toDecimal128(total_estimated_cost_sum_, 12) AS total_estimated_cost_sum,
    countIf(error_info, error_info != '') AS error_count
FROM spans_final s
GROUP BY project_id
SETTINGS log_comment = 'get_span_stats:workspace-id:user-name:'
;
"""

S_FEEDBACK_STATS = """
WITH
span_fs AS (
    SELECT project_id, entity_id, name, value, author
    FROM {db}.authored_feedback_scores FINAL
    WHERE entity_type = 'span'
      AND workspace_id = {workspace_id:String}
      AND project_id = {project_id:String}
), span_fs_per_name AS (
    SELECT project_id, entity_id, name, avg(value) AS value
    FROM span_fs GROUP BY project_id, entity_id, name
), span_fs_per_project AS (
    SELECT project_id, name, avg(value) AS value
    FROM span_fs_per_name GROUP BY project_id, name
)
SELECT project_id,
       mapFromArrays(groupArray(name), groupArray(value)) AS feedback_scores
FROM span_fs_per_project
GROUP BY project_id
SETTINGS log_comment = 'get_span_stats_feedback_scores:workspace-id:user-name:'
;
"""

S_FEEDBACK_STATS_SEARCH = """
WITH feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author
), feedback_scores_grouped AS (
    SELECT workspace_id, project_id, entity_id, name,
           groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at)) AS entries
    FROM feedback_scores_deduped
    GROUP BY workspace_id, project_id, entity_id, name
), feedback_scores_final AS (
    SELECT workspace_id, project_id, entity_id, name,
           IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value
    FROM feedback_scores_grouped
)
, spans_final AS (
    -- IMPORTANT: keep this WHERE clause in sync with SELECT_SPANS_STATS.spans_final.
    SELECT id, project_id
    FROM {spans} final
    WHERE project_id = {project_id:String}
    AND workspace_id = {workspace_id:String}
     AND (ilike(id, {search_text:String})
OR ilike(trace_id, {search_text:String})
OR ilike(name, {search_text:String})
OR ilike(type, {search_text:String})
OR ilike(input, {search_text:String})
OR ilike(output, {search_text:String})
OR ilike(metadata, {search_text:String})
OR arrayExists(element -> ilike(element, {search_text:String}), tags)
OR ilike(model, {search_text:String})
OR ilike(provider, {search_text:String}))
),
span_fs AS (
    SELECT project_id, entity_id, name, value, author
    FROM {db}.authored_feedback_scores FINAL
    WHERE entity_type = 'span'
      AND workspace_id = {workspace_id:String}
      AND project_id = {project_id:String}
       AND entity_id IN (SELECT id FROM spans_final)
), span_fs_per_name AS (
    SELECT project_id, entity_id, name, avg(value) AS value
    FROM span_fs GROUP BY project_id, entity_id, name
), span_fs_per_project AS (
    SELECT project_id, name, avg(value) AS value
    FROM span_fs_per_name GROUP BY project_id, name
)
SELECT project_id,
       mapFromArrays(groupArray(name), groupArray(value)) AS feedback_scores
FROM span_fs_per_project
GROUP BY project_id
SETTINGS log_comment = 'get_span_stats_feedback_scores:workspace-id:user-name:'
;
"""

T_TRACE_IDS_BY_THREAD_IDS = """
SELECT DISTINCT id
FROM {traces}
WHERE workspace_id = {workspace_id:String}
AND project_id = {project_id:String}
AND thread_id IN {thread_ids:Array(String)}
SETTINGS log_comment = 'get_trace_ids_by_thread_ids:workspace-id:user-name:2'
"""

T_MINIMAL_THREAD_INFO = """
SELECT
    t.id as id,
    if(LENGTH(CAST(tt.id AS Nullable(String))) > 0, tt.id, '') as thread_model_id,
    t.workspace_id as workspace_id,
    t.project_id as project_id,
    t.created_by as created_by,
    t.created_at as created_at,
    tt.status as status
FROM (
    SELECT
        inner_t.thread_id as id,
        inner_t.project_id as project_id,
        inner_t.workspace_id as workspace_id,
        argMin(inner_t.created_by, inner_t.created_at)  as created_by,
        min(inner_t.created_at) as created_at
    FROM (
        SELECT
            thread_id,
            workspace_id,
            project_id,
            created_by,
            created_at
        FROM {traces}
        WHERE workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
          AND thread_id IN {thread_ids:Array(String)}
        ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY id
    ) inner_t
    GROUP BY inner_t.workspace_id, inner_t.project_id, inner_t.thread_id
) t
LEFT JOIN (
    SELECT workspace_id, project_id, thread_id, id, status
    FROM {db}.trace_threads
    WHERE workspace_id = {workspace_id:String}
      AND project_id = {project_id:String}
      AND thread_id IN {thread_ids:Array(String)}
) tt ON t.workspace_id = tt.workspace_id
  AND t.project_id = tt.project_id
  AND t.id = tt.thread_id
SETTINGS log_comment = 'get_minimal_thread_info_by_ids:workspace-id:user-name:2'
"""

T_THREADS_EXISTS = """
SELECT 1 AS exist
FROM {db}.trace_threads
WHERE workspace_id = {workspace_id:String}
AND project_id = {project_id:String}
LIMIT 1
SETTINGS log_comment = 'exists_threads_by_project_id:workspace-id:user-name:'
"""

T_THREADS_EXISTS_SOURCE = """
SELECT 1 AS exist
FROM {db}.trace_threads
WHERE workspace_id = {workspace_id:String}
AND project_id = {project_id:String}
 AND source IN ({source:Nullable(String)}, {source_legacy:String})
LIMIT 1
SETTINGS log_comment = 'exists_threads_by_project_id:workspace-id:user-name:'
"""

S_BY_TRACE_IDS = """
WITH target_projects AS (
    SELECT DISTINCT project_id
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND trace_id IN {trace_ids:Array(String)}
)
SELECT
    s.*,
    duration
FROM {spans} s
WHERE workspace_id = {workspace_id:String}
AND project_id IN (SELECT project_id FROM target_projects)
AND trace_id IN {trace_ids:Array(String)}
ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
LIMIT 1 BY workspace_id, project_id, id
SETTINGS log_comment = 'get_spans_by_trace_ids:workspace-id:user-name:2'
;
"""

S_SIZE_BY_TRACE_IDS = """
WITH target_projects AS (
    SELECT DISTINCT project_id
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND trace_id IN {trace_ids:Array(String)}
)
SELECT sum(span_size) AS size_bytes
FROM (
    SELECT argMax(input_length + output_length + metadata_length, last_updated_at) AS span_size
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id IN (SELECT project_id FROM target_projects)
    AND trace_id IN {trace_ids:Array(String)}
    GROUP BY id
)
SETTINGS log_comment = 'get_spans_size_by_trace_ids:workspace-id:user-name:traces_size=2'
;
"""

S_IDS_BY_TRACE_ID = """
SELECT
      DISTINCT id
FROM {spans}
WHERE trace_id IN {trace_ids:Array(String)}
AND workspace_id = {workspace_id:String}
AND project_id = {project_id:String}
SETTINGS log_comment = 'get_span_ids_by_trace_ids:workspace-id:user-name:2'
;
"""

T_COUNT = """
WITH feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           value,
           last_updated_at
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               value,
               last_updated_at,
           feedback_scores.last_updated_by AS author,
           CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               value,
               last_updated_at,
               author,
               source_queue_id
         FROM {db}.authored_feedback_scores
         WHERE entity_type = 'trace'
           AND workspace_id = {workspace_id:String}
           AND project_id = {project_id:String}
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
 ), feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        if(count() = 1, any(value), toDecimal64(avg(value), 9)) AS value,
        max(last_updated_at) AS last_updated_at
    FROM feedback_scores_deduped
    GROUP BY workspace_id, project_id, entity_id, name
), guardrails_agg AS (
    SELECT
        entity_id,
        if(has(groupArray(result), 'failed'), 'failed', 'passed') as guardrails_result
    FROM (
        SELECT
            *
        FROM {db}.guardrails
        WHERE entity_type = 'trace'
        AND workspace_id = {workspace_id:String}
        AND project_id = {project_id:String}
        ORDER BY (workspace_id, project_id, entity_type, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY entity_id, id
    )
    GROUP BY workspace_id, project_id, entity_type, entity_id
), trace_annotation_queue_ids AS (
     SELECT trace_id,
            groupArray(id) AS annotation_queue_ids
     FROM (
        SELECT DISTINCT aq.id as id, aqi.item_id as trace_id
        FROM {db}.annotation_queue_items aqi
        JOIN {db}.annotation_queues aq ON aq.id = aqi.queue_id
        WHERE aq.scope = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
     ) AS annotation_queue_ids_with_trace_id
     GROUP BY trace_id
), target_spans AS (
    SELECT DISTINCT id, trace_id
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
),
span_feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author,
               CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
          AND entity_id IN (SELECT id FROM target_spans)
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author,
               source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
          AND entity_id IN (SELECT id FROM target_spans)
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
), span_feedback_scores_with_trace_id AS (
    SELECT workspace_id,
           project_id,
           s.trace_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM span_feedback_scores_deduped sfs
    INNER JOIN target_spans s ON sfs.entity_id = s.id
), span_feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
    FROM span_feedback_scores_with_trace_id
    GROUP BY workspace_id, project_id, trace_id, name
), span_feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM span_feedback_scores_grouped
), span_feedback_scores_agg AS (
    SELECT
        trace_id,
        groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS span_feedback_scores_list
    FROM span_feedback_scores_final
    GROUP BY workspace_id, project_id, trace_id
)
SELECT
    count(DISTINCT id) as count
FROM (
    SELECT
        t.id
    FROM (
        SELECT
            id
        FROM {traces}
        WHERE project_id = {project_id:String}
        AND workspace_id = {workspace_id:String}
    ) AS t
) AS latest_rows
SETTINGS log_comment = 'count_traces_by_project:workspace-id:user-name:'
;
"""

T_COUNT_SEARCH_WINDOW = """
WITH trace_id_prefilter AS (
    SELECT DISTINCT id
    FROM {traces}
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
     AND id >= {uuid_from_time:String}
        AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            >= (toDate32(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC'), 1)))
     AND id <= {uuid_to_time:String}
        AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            <= (toDate32(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC'), 1)))
     AND (ilike(id, {search_text:String})
OR ilike(name, {search_text:String})
OR ilike(input, {search_text:String})
OR ilike(output, {search_text:String})
OR ilike(metadata, {search_text:String})
OR ilike(error_info, {search_text:String})
OR arrayExists(element -> ilike(element, {search_text:String}), tags)
OR ilike(thread_id, {search_text:String}))
    AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN (
        SELECT DISTINCT toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
        FROM {traces}
        WHERE workspace_id = {workspace_id:String} AND project_id = {project_id:String}
         AND id >= {uuid_from_time:String}
         AND id <= {uuid_to_time:String}
        )
), feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           value,
           last_updated_at
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               value,
               last_updated_at,
           feedback_scores.last_updated_by AS author,
           CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND entity_id IN (SELECT id FROM trace_id_prefilter)
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               value,
               last_updated_at,
               author,
               source_queue_id
         FROM {db}.authored_feedback_scores
         WHERE entity_type = 'trace'
           AND workspace_id = {workspace_id:String}
           AND project_id = {project_id:String}
            AND entity_id IN (SELECT id FROM trace_id_prefilter)
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
 ), feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        entity_id,
        name,
        if(count() = 1, any(value), toDecimal64(avg(value), 9)) AS value,
        max(last_updated_at) AS last_updated_at
    FROM feedback_scores_deduped
    GROUP BY workspace_id, project_id, entity_id, name
), guardrails_agg AS (
    SELECT
        entity_id,
        if(has(groupArray(result), 'failed'), 'failed', 'passed') as guardrails_result
    FROM (
        SELECT
            *
        FROM {db}.guardrails
        WHERE entity_type = 'trace'
        AND workspace_id = {workspace_id:String}
        AND project_id = {project_id:String}
         AND entity_id IN (SELECT id FROM trace_id_prefilter)
        ORDER BY (workspace_id, project_id, entity_type, entity_id, id) DESC, last_updated_at DESC
        LIMIT 1 BY entity_id, id
    )
    GROUP BY workspace_id, project_id, entity_type, entity_id
), trace_annotation_queue_ids AS (
     SELECT trace_id,
            groupArray(id) AS annotation_queue_ids
     FROM (
        SELECT DISTINCT aq.id as id, aqi.item_id as trace_id
        FROM {db}.annotation_queue_items aqi
        JOIN {db}.annotation_queues aq ON aq.id = aqi.queue_id
        WHERE aq.scope = 'trace'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
           AND aqi.item_id IN (SELECT id FROM trace_id_prefilter)
     ) AS annotation_queue_ids_with_trace_id
     GROUP BY trace_id
), target_spans AS (
    SELECT DISTINCT id, trace_id
    FROM {spans}
    WHERE workspace_id = {workspace_id:String}
    AND project_id = {project_id:String}
    AND trace_id IN (SELECT id FROM trace_id_prefilter)
),
span_feedback_scores_deduped AS (
    SELECT workspace_id,
           project_id,
           entity_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM (
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               feedback_scores.last_updated_by AS author,
               CAST('' AS FixedString(36)) AS source_queue_id
        FROM {db}.feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
          AND entity_id IN (SELECT id FROM target_spans)
        UNION ALL
        SELECT workspace_id,
               project_id,
               entity_id,
               name,
               category_name,
               value,
               reason,
               source,
               created_by,
               last_updated_by,
               created_at,
               last_updated_at,
               author,
               source_queue_id
        FROM {db}.authored_feedback_scores
        WHERE entity_type = 'span'
          AND workspace_id = {workspace_id:String}
          AND project_id = {project_id:String}
          AND entity_id IN (SELECT id FROM target_spans)
    )
    ORDER BY last_updated_at DESC
    LIMIT 1 BY workspace_id, project_id, entity_id, name, author, source_queue_id
), span_feedback_scores_with_trace_id AS (
    SELECT workspace_id,
           project_id,
           s.trace_id,
           name,
           category_name,
           value,
           reason,
           source,
           created_by,
           last_updated_by,
           created_at,
           last_updated_at,
           author,
           source_queue_id
    FROM span_feedback_scores_deduped sfs
    INNER JOIN target_spans s ON sfs.entity_id = s.id
), span_feedback_scores_grouped AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        groupArray(tuple(value, reason, category_name, source, author, created_by, last_updated_by, created_at, last_updated_at, source_queue_id)) AS entries
    FROM span_feedback_scores_with_trace_id
    GROUP BY workspace_id, project_id, trace_id, name
), span_feedback_scores_final AS (
    SELECT
        workspace_id,
        project_id,
        trace_id,
        name,
        arrayStringConcat(arrayMap(e -> e.3, entries), ', ') AS category_name,
        IF(length(entries) = 1, entries[1].1, toDecimal64(arrayAvg(arrayMap(e -> e.1, entries)), 9)) AS value,
        IF(length(entries) = 1, entries[1].2, arrayStringConcat(arrayMap(e -> if(e.2 = '', '<no reason>', e.2), entries), ', ')) AS reason,
        entries[1].4 AS source,
        mapFromArrays(
                arrayMap(e -> if(e.10 = '', e.5, concat(e.5, '_', toString(e.10))), entries),
                arrayMap(e -> tuple(e.1, e.2, e.3, e.4, e.9, '', '', e.10, e.5), entries)
        ) AS value_by_author,
        arrayStringConcat(arrayMap(e -> e.6, entries), ', ') AS created_by,
        arrayStringConcat(arrayMap(e -> e.7, entries), ', ') AS last_updated_by,
        arrayMin(arrayMap(e -> e.8, entries)) AS created_at,
        arrayMax(arrayMap(e -> e.9, entries)) AS last_updated_at
    FROM span_feedback_scores_grouped
), span_feedback_scores_agg AS (
    SELECT
        trace_id,
        groupArray(tuple(
            name,
            category_name,
            value,
            reason,
            source,
            value_by_author,
            created_at,
            last_updated_at,
            created_by,
            last_updated_by
        )) AS span_feedback_scores_list
    FROM span_feedback_scores_final
    GROUP BY workspace_id, project_id, trace_id
)
SELECT
    count(DISTINCT id) as count
FROM (
    SELECT
        t.id
    FROM (
        SELECT
            id
        FROM {traces}
        WHERE project_id = {project_id:String}
        AND workspace_id = {workspace_id:String}
         AND id >= {uuid_from_time:String}
            AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
                >= (toDate32(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC'), 1)))
         AND id <= {uuid_to_time:String}
            AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
                <= (toDate32(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC'), 1)))
         AND (ilike(id, {search_text:String})
OR ilike(name, {search_text:String})
OR ilike(input, {search_text:String})
OR ilike(output, {search_text:String})
OR ilike(metadata, {search_text:String})
OR ilike(error_info, {search_text:String})
OR arrayExists(element -> ilike(element, {search_text:String}), tags)
OR ilike(thread_id, {search_text:String}))
        AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN (
            SELECT DISTINCT toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            FROM {traces}
            WHERE workspace_id = {workspace_id:String} AND project_id = {project_id:String}
             AND id >= {uuid_from_time:String}
             AND id <= {uuid_to_time:String}
            )
    ) AS t
) AS latest_rows
SETTINGS log_comment = 'count_traces_by_project:workspace-id:user-name:'
;
"""

T_EXISTS = """
SELECT 1 AS exist
FROM {traces}
WHERE workspace_id = {workspace_id:String}
AND project_id = {project_id:String}
LIMIT 1
SETTINGS log_comment = 'exists_traces_by_project_id:workspace-id:user-name:'
"""

T_EXISTS_SOURCE = """
SELECT 1 AS exist
FROM {traces}
WHERE workspace_id = {workspace_id:String}
AND project_id = {project_id:String}
 AND source IN ({source:Nullable(String)}, {source_legacy:String})
LIMIT 1
SETTINGS log_comment = 'exists_traces_by_project_id:workspace-id:user-name:'
"""

T_COUNT_BY_PROJECT_IDS = """
SELECT
    count(distinct id) as count
FROM {traces}
WHERE workspace_id = {workspace_id:String}
AND project_id IN {project_ids:Array(String)}
SETTINGS log_comment = 'count_traces_by_project_ids:workspace-id:user-name:2'
"""

S_COUNT = """
SELECT
    count(id) as count
FROM
(
   SELECT
        id,
        duration
    FROM {spans}
    WHERE project_id = {project_id:String}
    AND workspace_id = {workspace_id:String}
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
) AS latest_rows
SETTINGS log_comment = 'count_spans_by_project_id:workspace-id:user-name:'
;
"""

S_COUNT_TRACE_SEARCH_WINDOW = """
SELECT
    count(id) as count
FROM
(
   SELECT
        id,
        duration
    FROM {spans}
    WHERE project_id = {project_id:String}
    AND workspace_id = {workspace_id:String}
     AND id >= {uuid_from_time:String}
        AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            >= (toDate32(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_from_time:String}), 'UTC'), 1)))
     AND id <= {uuid_to_time:String}
        AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
            <= (toDate32(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({uuid_to_time:String}), 'UTC'), 1)))
     AND trace_id = {trace_id:String}
     AND (ilike(id, {search_text:String})
OR ilike(trace_id, {search_text:String})
OR ilike(name, {search_text:String})
OR ilike(type, {search_text:String})
OR ilike(input, {search_text:String})
OR ilike(output, {search_text:String})
OR ilike(metadata, {search_text:String})
OR arrayExists(element -> ilike(element, {search_text:String}), tags)
OR ilike(model, {search_text:String})
OR ilike(provider, {search_text:String}))
    ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
) AS latest_rows
SETTINGS log_comment = 'count_spans_by_project_id:workspace-id:user-name:'
;
"""

S_EXISTS = """
SELECT 1 AS exist
FROM {spans}
WHERE workspace_id = {workspace_id:String}
AND project_id = {project_id:String}
LIMIT 1
SETTINGS log_comment = 'exists_spans_by_project_id:workspace-id:user-name:'
"""

S_EXISTS_SOURCE = """
SELECT 1 AS exist
FROM {spans}
WHERE workspace_id = {workspace_id:String}
AND project_id = {project_id:String}
 AND source IN ({source:Nullable(String)}, {source_legacy:String})
LIMIT 1
SETTINGS log_comment = 'exists_spans_by_project_id:workspace-id:user-name:'
"""

T_TARGET_PROJECTS = """
SELECT DISTINCT project_id
FROM {traces}
WHERE workspace_id = {workspace_id:String}
AND id IN {ids:Array(String)}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
SETTINGS log_comment = 'get_target_project_ids_for_traces:workspace-id::3'
;
"""

T_TRACE_ID_AND_WORKSPACE = """
SELECT
    DISTINCT id, workspace_id
FROM {traces}
WHERE id IN {traceIds:Array(String)}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
SETTINGS log_comment = 'get_trace_workspace:::3'
;
"""

T_PROJECT_ID_FROM_TRACE = """
SELECT
    DISTINCT project_id
FROM {traces}
WHERE id = {id:String}
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    = (toDate32(UUIDv7ToDateTime(toUUID({id:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({id:String}), 'UTC'), 1)))
AND workspace_id = {workspace_id:String}
SETTINGS log_comment = 'get_project_id_from_trace:workspace-id:user-name:'
;
"""

T_PROJECT_IDS_BY_TRACE_IDS = """
SELECT
    id,
    any(project_id) AS project_id
FROM {traces}
WHERE id IN {trace_ids:Array(String)}
AND workspace_id = {workspace_id:String}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
GROUP BY id
SETTINGS log_comment = 'get_project_ids_by_trace_ids:workspace-id:user-name:3'
;
"""

T_ALL_PROJECT_IDS = """
SELECT DISTINCT id, project_id
FROM {traces}
WHERE id IN {trace_ids:Array(String)}
AND workspace_id = {workspace_id:String}
SETTINGS log_comment = 'get_all_project_ids_by_trace_ids:workspace-id:user-name:trace_ids_size=3'
;
"""

T_ALL_PROJECT_IDS_BOUNDED = """
SELECT DISTINCT id, project_id
FROM {traces}
WHERE id IN {trace_ids:Array(String)}
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    >= (toDate32(UUIDv7ToDateTime(toUUID({min_id:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({min_id:String}), 'UTC'), 1)))
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    <= (toDate32(UUIDv7ToDateTime(toUUID({max_id:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({max_id:String}), 'UTC'), 1)))
AND workspace_id = {workspace_id:String}
SETTINGS log_comment = 'get_all_project_ids_by_trace_ids_bounded:workspace-id:user-name:trace_ids_size=3'
;
"""

S_TARGET_PROJECTS = """
SELECT DISTINCT project_id
FROM {spans}
WHERE workspace_id = {workspace_id:String}
AND id IN {ids:Array(String)}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
SETTINGS log_comment = 'get_target_project_ids_for_spans:workspace-id:user-name:3'
;
"""

S_SPAN_ID_AND_WORKSPACE = """
SELECT
    DISTINCT id, workspace_id
FROM {spans}
WHERE id IN {spanIds:Array(String)}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
SETTINGS log_comment = 'get_span_workspace:::3'
;
"""

S_PROJECT_ID_FROM_SPAN = """
SELECT
      DISTINCT project_id
FROM {spans}
WHERE id = {id:String}
AND workspace_id = {workspace_id:String}
AND toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1))) IN {id_weeks:Array(Int64)}
SETTINGS log_comment = 'get_project_id_from_span:workspace-id:user-name:'
;
"""

T_RETENTION_DELETE = """
DELETE FROM {traces_mutation}
WHERE workspace_id IN {workspace_ids:Array(String)}
AND id >= {lower_bound:String}
AND id < {cutoff_id:String}
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    >= (toDate32(UUIDv7ToDateTime(toUUID({lower_bound:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({lower_bound:String}), 'UTC'), 1)))
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    < addWeeks(toDate32(UUIDv7ToDateTime(toUUID({cutoff_id:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({cutoff_id:String}), 'UTC'), 1)), 1)
AND id NOT IN (
    SELECT trace_id FROM {db}.experiment_items
    WHERE workspace_id IN {workspace_ids:Array(String)}
    AND trace_id >= {lower_bound:String}
    AND trace_id < {cutoff_id:String}
)
SETTINGS log_comment = 'retention_delete_traces:::workspaces_size=1', lightweight_deletes_sync = 1, allow_nondeterministic_mutations = 1
;
"""

T_RETENTION_DELETE_BOUNDED = """
DELETE FROM {traces_mutation}
WHERE (
        (workspace_id = {ws_0:String} AND id >= {lb_0:String} AND id < {cutoff_id:String})
        OR
        (workspace_id = {ws_1:String} AND id >= {lb_1:String} AND id < {cutoff_id:String})
)
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    >= (toDate32(UUIDv7ToDateTime(toUUID({min_lower_bound:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({min_lower_bound:String}), 'UTC'), 1)))
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    < addWeeks(toDate32(UUIDv7ToDateTime(toUUID({cutoff_id:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({cutoff_id:String}), 'UTC'), 1)), 1)
AND id NOT IN (
    SELECT trace_id FROM {db}.experiment_items
    WHERE workspace_id IN {workspace_ids_flat:Array(String)}
    AND trace_id >= {min_lower_bound:String}
    AND trace_id < {cutoff_id:String}
)
SETTINGS log_comment = 'retention_delete_traces_bounded:::workspaces_size=2', lightweight_deletes_sync = 1, allow_nondeterministic_mutations = 1
;
"""

T_RETENTION_COUNT = """
SELECT count() FROM {traces}
WHERE workspace_id IN {workspace_ids:Array(String)}
AND id >= {lower_bound:String}
AND id < {cutoff_id:String}
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    >= (toDate32(UUIDv7ToDateTime(toUUID({lower_bound:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({lower_bound:String}), 'UTC'), 1)))
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    < addWeeks(toDate32(UUIDv7ToDateTime(toUUID({cutoff_id:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({cutoff_id:String}), 'UTC'), 1)), 1)
SETTINGS log_comment = 'retention_count_traces:::1'
;
"""

T_RETENTION_SCOUT = """
SELECT toDate32(UUIDv7ToDateTime(toUUID(id))) AS day
FROM {traces}
WHERE workspace_id = {workspace_id:String}
AND id >= {range_start:String} AND id < {range_end:String}
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    >= (toDate32(UUIDv7ToDateTime(toUUID({range_start:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({range_start:String}), 'UTC'), 1)))
AND (toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
    <= (toDate32(UUIDv7ToDateTime(toUUID({range_end:String}), 'UTC')) - toIntervalDay(toDayOfWeek(UUIDv7ToDateTime(toUUID({range_end:String}), 'UTC'), 1)))
GROUP BY day
ORDER BY day
LIMIT 1
SETTINGS log_comment = 'retention_scout_first_day:workspace-id::'
;
"""

S_RETENTION_DELETE = """
DELETE FROM {spans_mutation}
WHERE workspace_id IN {workspace_ids:Array(String)}
AND trace_id >= {lower_bound:String}
AND trace_id < {cutoff_id:String}
AND trace_id NOT IN (
    SELECT trace_id FROM {db}.experiment_items
    WHERE workspace_id IN {workspace_ids:Array(String)}
    AND trace_id >= {lower_bound:String}
    AND trace_id < {cutoff_id:String}
)
SETTINGS log_comment = 'retention_delete_spans:::workspaces_size=1', lightweight_deletes_sync = 1, allow_nondeterministic_mutations = 1
;
"""

S_RETENTION_DELETE_BOUNDED = """
DELETE FROM {spans_mutation}
WHERE (
        (workspace_id = {ws_0:String} AND trace_id >= {lb_0:String} AND trace_id < {cutoff_id:String})
        OR
        (workspace_id = {ws_1:String} AND trace_id >= {lb_1:String} AND trace_id < {cutoff_id:String})
)
AND trace_id NOT IN (
    SELECT trace_id FROM {db}.experiment_items
    WHERE workspace_id IN {workspace_ids_flat:Array(String)}
    AND trace_id >= {min_lower_bound:String}
    AND trace_id < {cutoff_id:String}
)
SETTINGS log_comment = 'retention_delete_spans_bounded:::workspaces_size=2', lightweight_deletes_sync = 1, allow_nondeterministic_mutations = 1
;
"""

S_RETENTION_COUNT = """
SELECT count() FROM {spans}
WHERE workspace_id IN {workspace_ids:Array(String)}
AND trace_id >= {lower_bound:String}
AND trace_id < {cutoff_id:String}
SETTINGS log_comment = 'retention_count_spans:::1'
;
"""

S_RETENTION_VELOCITY = """
SELECT
    toUInt64(if(count() = 0, 0,
        uniq(id) / greatest(dateDiff('week', UUIDv7ToDateTime(toUUID(min(id))), now()), 1)
    )) AS spans_per_week,
    UUIDv7ToDateTime(toUUID(min(id))) AS oldest_span_time
FROM {spans}
WHERE workspace_id = {workspace_id:String}
AND trace_id >= {lower_bound:String}
AND trace_id < {cutoff_id:String}
SETTINGS log_comment = 'retention_estimate_velocity:workspace-id::'
;
"""


# -- the catalogue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One execution of a statement: bound parameters, the inlined ``{partition}``, rows after FORMAT."""

    params: Mapping[str, object]
    partition: int | None = None
    data: str = ""
    sql: str | None = None  # the statement's text for this call, when it differs (a batch of n rows)


Calls = Callable[[Seed, Sequence[Kit]], list[Call]]


@dataclass(frozen=True)
class Statement:
    """One statement shape of Opik's TraceDAO or SpanDAO.

    ``kits`` is the number of write kits (own workspaces) a write statement needs; ``ordered`` says its
    result order is defined (a top-level ORDER BY), so results compare in order; ``engine_gap`` is the
    exact reason the engine cannot run it, unrelated to the tables (asserted, never skipped).
    """

    dao: Dao
    template: str
    variant: str
    group: Group
    sql: str
    calls: Calls
    kits: int = 0
    ordered: bool = False
    engine_gap: str | None = None

    @property
    def id(self) -> str:
        return f"{self.dao}.{self.template}" + (f"[{self.variant}]" if self.variant else "")

    @property
    def writes(self) -> bool:
        return self.kits > 0


def values_insert(head: str, row: str, n: int) -> str:
    """Opik's ``<items:{item | (...)<if(item.hasNext)>,<endif>}>`` for ``n`` rows: ``#`` is the row index."""
    return head + "\n        ,\n".join(row.replace("#", str(i)) for i in range(n)) + "\n;\n"


def trace_batch(rows: Sequence[Trace]) -> Call:
    """TraceDAO.BATCH_INSERT of ``rows`` (one workspace and user, as Opik batches them)."""
    params: dict[str, object] = {"workspace_id": rows[0].workspace_id, "user_name": rows[0].user}
    for i, t in enumerate(rows):
        params.update({
            f"id{i}": t.id, f"project_id{i}": t.project_id, f"name{i}": t.name,
            f"start_time{i}": timestamp(t.start_time),
            f"end_time{i}": timestamp(t.end_time) if t.end_time else None, f"input{i}": t.input,
            f"output{i}": t.output, f"metadata{i}": t.metadata, f"tags{i}": list(t.tags),
            f"last_updated_at{i}": timestamp(t.last_updated_at), f"error_info{i}": t.error_info,
            f"thread_id{i}": t.thread_id, f"visibility_mode{i}": t.visibility_mode,
            f"truncation_threshold{i}": t.truncation_threshold, f"input_slim{i}": slim(t.input),
            f"output_slim{i}": slim(t.output), f"ttft{i}": t.ttft, f"source{i}": t.source,
            f"environment{i}": t.environment,
        })  # fmt: skip
    return Call(params, sql=values_insert(T_BATCH_INSERT_HEAD, T_BATCH_INSERT_ROW, len(rows)))


def span_batch(rows: Sequence[Span]) -> Call:
    """SpanDAO.BULK_INSERT of ``rows`` (one workspace)."""
    params: dict[str, object] = {"workspace_id": rows[0].workspace_id}
    for i, s in enumerate(rows):
        params.update({
            f"id{i}": s.id, f"project_id{i}": s.project_id, f"trace_id{i}": s.trace_id,
            f"parent_span_id{i}": s.parent_span_id, f"name{i}": s.name, f"type{i}": s.type,
            f"start_time{i}": timestamp(s.start_time),
            f"end_time{i}": timestamp(s.end_time) if s.end_time else None, f"input{i}": s.input,
            f"output{i}": s.output, f"metadata{i}": s.metadata, f"model{i}": s.model, f"provider{i}": s.provider,
            f"total_estimated_cost{i}": s.total_estimated_cost,
            f"total_estimated_cost_version{i}": s.total_estimated_cost_version, f"tags{i}": list(s.tags),
            f"usage{i}": map_literal(s.usage), f"last_updated_at{i}": timestamp(s.last_updated_at),
            f"error_info{i}": s.error_info, f"created_by{i}": s.user, f"last_updated_by{i}": s.user,
            f"truncation_threshold{i}": s.truncation_threshold, f"input_slim{i}": slim(s.input),
            f"output_slim{i}": slim(s.output), f"ttft{i}": s.ttft, f"source{i}": s.source,
            f"environment{i}": s.environment,
        })  # fmt: skip
    return Call(params, sql=values_insert(S_BULK_INSERT_HEAD, S_BULK_INSERT_ROW, len(rows)))


def seed_calls(seed: Seed) -> list[tuple[str, Call]]:
    """The seed as Opik writes it, in version rounds: the read set through the Values batch insert (one
    statement per table and workspace), the write kits through the JSONEachRow form (one per table)."""
    calls: list[tuple[str, Call]] = []
    for table, rows in (("traces", seed.traces), ("spans", seed.spans)):
        rounds: dict[tuple[int, str], list[Trace | Span]] = {}
        seen: dict[str, int] = {}
        for row in rows:
            version = seen[row.id] = seen.get(row.id, -1) + 1
            kit = row.workspace_id.startswith("w-")
            rounds.setdefault((version, "" if kit else row.workspace_id), []).append(row)
        for (_, workspace), batch in sorted(rounds.items(), key=lambda kv: kv[0][0]):
            traces = [r for r in batch if isinstance(r, Trace)]
            spans = [r for r in batch if isinstance(r, Span)]
            if table == "traces":
                call = (
                    trace_batch(traces)
                    if workspace
                    else Call({}, data=trace_json_rows(traces), sql=T_JSON_EACH_ROW_INSERT)
                )
            else:
                call = (
                    span_batch(spans) if workspace else Call({}, data=span_json_rows(spans), sql=S_JSON_EACH_ROW_INSERT)
                )
            calls.append((table, call))
    return calls


# JSONEachRow: Opik's v2-client path (``bulkInsert.v2ClientEnabled``) streams the Values insert's columns
# as ``INSERT INTO traces FORMAT JSONEachRow`` with these settings; NaN ttft as the string "NaN".
T_JSON_EACH_ROW_INSERT = """
INSERT INTO {traces}
SETTINGS log_comment = 'batch_insert_traces:workspace-id:user-name:2', date_time_input_format = 'best_effort', input_format_defaults_for_omitted_fields = 1, input_format_json_read_numbers_as_strings = 1
FORMAT JSONEachRow
"""
S_JSON_EACH_ROW_INSERT = """
INSERT INTO {spans}
SETTINGS log_comment = 'batch_insert_spans:workspace-id:user-name:3', date_time_input_format = 'best_effort', input_format_defaults_for_omitted_fields = 1, input_format_json_read_numbers_as_strings = 1
FORMAT JSONEachRow
"""


def _json_ttft(value: float | None) -> object:
    return "NaN" if value is None or value != value else value


def trace_json_rows(rows: Sequence[Trace]) -> str:
    out = []
    for t in rows:
        row: dict[str, object] = {
            "id": t.id, "project_id": t.project_id, "workspace_id": t.workspace_id, "name": t.name,
            "start_time": t.start_time.isoformat(), "end_time": t.end_time.isoformat() if t.end_time else None,
            "input": t.input, "output": t.output, "metadata": t.metadata, "tags": list(t.tags),
            "last_updated_at": t.last_updated_at.isoformat(), "error_info": t.error_info, "created_by": t.user,
            "last_updated_by": t.user, "thread_id": t.thread_id, "visibility_mode": t.visibility_mode or "default",
            "input_slim": slim(t.input), "output_slim": slim(t.output), "ttft": _json_ttft(t.ttft),
            "source": t.source or "unknown", "environment": t.environment,
        }  # fmt: skip
        if t.truncation_threshold is not None:  # omitted when the deployment sets no size
            row["truncation_threshold"] = t.truncation_threshold
        out.append(json.dumps(row))
    return "\n".join(out) + "\n"


def span_json_rows(rows: Sequence[Span]) -> str:
    out = []
    for s in rows:
        row: dict[str, object] = {
            "id": s.id, "project_id": s.project_id, "workspace_id": s.workspace_id, "trace_id": s.trace_id,
            "parent_span_id": s.parent_span_id, "name": s.name, "type": s.type,
            "start_time": s.start_time.isoformat(), "end_time": s.end_time.isoformat() if s.end_time else None,
            "input": s.input, "output": s.output, "metadata": s.metadata, "model": s.model, "provider": s.provider,
            "total_estimated_cost": float(s.total_estimated_cost),
            "total_estimated_cost_version": s.total_estimated_cost_version, "tags": list(s.tags),
            "usage": dict(s.usage), "last_updated_at": s.last_updated_at.isoformat(), "error_info": s.error_info,
            "created_by": s.user, "last_updated_by": s.user, "input_slim": slim(s.input),
            "output_slim": slim(s.output), "ttft": _json_ttft(s.ttft), "environment": s.environment,
        }  # fmt: skip
        if s.truncation_threshold is not None:
            row["truncation_threshold"] = s.truncation_threshold
        if s.source is not None:  # span source omitted when null
            row["source"] = s.source
        out.append(json.dumps(row))
    return "\n".join(out) + "\n"


# -- parameters of each statement ------------------------------------------------------------------


def one(**params: object) -> list[Call]:
    return [Call(params)]


def _new_traces(seed: Seed, kit: Kit) -> list[Trace]:
    """Two new traces of a kit: one full, one with every optional value absent (NULL bound)."""
    at = seed.ago(minutes=30)
    full = Trace(
        key="new", id=kit.fresh[0], project_id=kit.projects[0], workspace_id=kit.workspace_id, user=kit.user,
        name="batch trace", start_time=at, end_time=at + timedelta(seconds=1), input=LONG_INPUT,
        output=IMAGE_OUTPUT, metadata=IMAGE_METADATA, tags=("a", "b"), last_updated_at=at + timedelta(seconds=2),
        error_info="", thread_id="thread-new", visibility_mode="default", truncation_threshold=TRUNCATION_THRESHOLD,
        ttft=12.5, source="sdk", environment="production",
    )  # fmt: skip
    bare = replace(
        full, id=kit.fresh[1], end_time=None, input="", output="", metadata="", tags=(), error_info=None,
        thread_id="", visibility_mode=None, truncation_threshold=None, ttft=None, source=None, environment=None,
    )  # fmt: skip
    return [full, bare]


def _new_spans(seed: Seed, kit: Kit) -> list[Span]:
    at = seed.ago(minutes=20)
    root = Span(
        key="new", id=kit.fresh_spans[0], project_id=kit.projects[0], workspace_id=kit.workspace_id,
        trace_id=kit.traces["t1"], parent_span_id="", user=kit.user, name="root", type="general", start_time=at,
        end_time=at + timedelta(seconds=1), input=LONG_INPUT, output=IMAGE_OUTPUT, metadata=IMAGE_METADATA,
        model="", provider="", total_estimated_cost="0", total_estimated_cost_version="", tags=("x",), usage={},
        last_updated_at=at + timedelta(seconds=2), error_info="", truncation_threshold=TRUNCATION_THRESHOLD,
        ttft=float("nan"), source="sdk", environment="production",
    )  # fmt: skip
    llm = replace(
        root, id=kit.fresh_spans[1], parent_span_id=root.id, name="llm", type="llm", model="gpt-4o",
        provider="openai", total_estimated_cost="0.000350000000", total_estimated_cost_version="1.1",
        usage={"prompt_tokens": 3_000_000_000, "completion_tokens": 5}, ttft=45.0,
    )  # fmt: skip
    bare = replace(
        root, id=kit.fresh_spans[2], parent_span_id=root.id, type="unknown", end_time=None, input="", output="",
        metadata="", tags=(), error_info=None, truncation_threshold=None, ttft=None, source=None, environment=None,
    )  # fmt: skip
    return [root, llm, bare]


def _trace_insert_params(t: Trace) -> dict[str, object]:
    return {
        "id": t.id, "project_id": t.project_id, "workspace_id": t.workspace_id, "name": t.name,
        "start_time": timestamp(t.start_time), "end_time": timestamp(t.end_time) if t.end_time else None,
        "input": t.input, "output": t.output, "metadata": t.metadata, "tags": list(t.tags),
        "error_info": t.error_info, "user_name": t.user, "thread_id": t.thread_id,
        "visibility_mode": t.visibility_mode, "truncation_threshold": t.truncation_threshold,
        "input_slim": slim(t.input), "output_slim": slim(t.output), "ttft": t.ttft, "source": t.source or "unknown",
        "environment": t.environment,
    }  # fmt: skip


def _span_insert_params(s: Span) -> dict[str, object]:
    return {
        "id": s.id, "project_id": s.project_id, "workspace_id": s.workspace_id, "trace_id": s.trace_id,
        "parent_span_id": s.parent_span_id, "name": s.name, "type": s.type, "start_time": timestamp(s.start_time),
        "end_time": timestamp(s.end_time) if s.end_time else None, "input": s.input, "output": s.output,
        "metadata": s.metadata, "model": s.model, "provider": s.provider,
        "total_estimated_cost": s.total_estimated_cost, "total_estimated_cost_version": s.total_estimated_cost_version,
        "tags": list(s.tags), "usage_keys": list(s.usage), "usage_values": list(s.usage.values()),
        "error_info": s.error_info, "user_name": s.user, "truncation_threshold": s.truncation_threshold,
        "input_slim": slim(s.input), "output_slim": slim(s.output), "ttft": s.ttft, "source": s.source or "unknown",
        "environment": s.environment, "id_weeks": weeks_of([s.id]),
    }  # fmt: skip


def _trace_patch(seed: Seed, kit: Kit, id_: str, **over: object) -> dict[str, object]:
    """The bound values of a trace PATCH (TraceUpdate): what every INSERT_UPDATE / UPDATE binds."""
    output = json.dumps({"answer": "patched", "img": "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP"})
    params: dict[str, object] = {
        "id": id_, "project_id": kit.trace_project.get(id_, kit.projects[0]), "workspace_id": kit.workspace_id,
        "user_name": "patcher", "end_time": timestamp(seed.ago(minutes=1)), "output": output,
        "output_slim": slim(output), "metadata": json.dumps({"patched": True}),
        "truncation_threshold": TRUNCATION_THRESHOLD, "ttft": float("nan"), "source": "unknown",
    }  # fmt: skip
    params.update(over)
    return params


def _trace_patch_all(seed: Seed, kit: Kit, id_: str) -> dict[str, object]:
    return _trace_patch(
        seed, kit, id_, name="patched name", input=LONG_INPUT, input_slim=slim(LONG_INPUT), tags=["p1", "p2"],
        error_info=json.dumps({"exception_type": "KeyError"}), thread_id="thread-patched", visibility_mode="hidden",
        environment="staging", ttft=33.0, source="sdk", truncation_threshold=None,
    )  # fmt: skip


def _span_patch(seed: Seed, kit: Kit, id_: str, **over: object) -> dict[str, object]:
    output = json.dumps({"a": "patched"})
    params: dict[str, object] = {
        "id": id_, "project_id": kit.projects[0], "workspace_id": kit.workspace_id,
        "trace_id": kit.span_trace.get(id_, kit.traces["t1"]), "parent_span_id": kit.span_parent.get(id_, ""),
        "user_name": "patcher",
        "end_time": timestamp(seed.ago(minutes=1)), "output": output, "output_slim": slim(output), "model": "gpt-4o",
        "provider": "openai", "usage_keys": ["prompt_tokens", "completion_tokens"], "usage_values": [4_000_000_000, 9],
        "total_estimated_cost": "0.002500000000", "total_estimated_cost_version": "1.1",
        "truncation_threshold": TRUNCATION_THRESHOLD, "ttft": float("nan"), "source": "unknown",
        "id_weeks": weeks_of([id_]),
    }  # fmt: skip
    params.update(over)
    return params


def _kit_trace_pairs(kit: Kit) -> list[tuple[str, str]]:
    """(project_id, trace_id) pairs of a trace delete: two projects, three weeks, one id in 2200."""
    return [(kit.trace_project[kit.traces[k]], kit.traces[k]) for k in ("t1", "t3", "t5")]


def _trace_delete(seed: Seed, kits: Sequence[Kit], partitioned: bool) -> list[Call]:
    kit = kits[0]
    pairs = _kit_trace_pairs(kit)
    project_of = dict((t, p) for p, t in pairs)
    groups = group_by_partition([t for _, t in pairs]) if partitioned else None
    assert groups is not None or not partitioned
    if groups is None:
        return one(workspace_id=kit.workspace_id, project_ids=[p for p, _ in pairs], trace_ids=[t for _, t in pairs])
    return [
        Call(
            {"workspace_id": kit.workspace_id, "project_ids": [project_of[t] for t in ids], "trace_ids": ids}, partition
        )
        for partition, ids in groups.items()
    ]


def _span_delete(seed: Seed, kits: Sequence[Kit], partitioned: bool) -> list[Call]:
    kit = kits[0]
    ids = sorted((kit.spans[k] for k in ("s1", "s2", "s3", "s6")), key=lambda i: uuid.UUID(i).int >> 80)
    groups = group_by_partition(ids) if partitioned else None
    if groups is None:
        return one(ids=ids, workspace_id=kit.workspace_id, project_id=kit.projects[0])
    return [
        Call({"ids": group, "workspace_id": kit.workspace_id, "project_id": kit.projects[0]}, partition)
        for partition, group in groups.items()
    ]


def _retention_bounds(seed: Seed) -> tuple[str, str]:
    """(lower_bound, cutoff_id): ids in [now - 90 days, start of day(now - 30 days))."""
    return uuid_lower(seed.ago(days=90)), uuid_lower(seed.start_of_today - timedelta(days=30))


def _retention_bounded(seed: Seed, kits: Sequence[Kit]) -> list[Call]:
    lower, cutoff = _retention_bounds(seed)
    second = uuid_lower(seed.ago(days=50))  # the second workspace's own cursor
    return one(
        ws_0=kits[0].workspace_id, lb_0=lower, ws_1=kits[1].workspace_id, lb_1=second, cutoff_id=cutoff,
        min_lower_bound=min(lower, second), workspace_ids_flat=[k.workspace_id for k in kits],
    )  # fmt: skip


def _window(seed: Seed) -> dict[str, object]:
    return {"uuid_from_time": uuid_lower(seed.ago(days=20)), "uuid_to_time": uuid_upper(seed.now)}


def _by_ids(seed: Seed, *keys: str, name: str = "ids") -> dict[str, object]:
    ids = [seed[k] for k in keys]
    return {name: ids, "id_weeks": weeks_of(ids)}


WS_A, WS_B = "ws-alpha", "ws-beta"


def _stmt(
    dao: Dao,
    template: str,
    variant: str,
    group: Group,
    sql: str,
    calls: Calls,
    kits: int = 0,
    ordered: bool = False,
    engine_gap: str | None = None,
) -> Statement:
    return Statement(dao, template, variant, group, sql, calls, kits, ordered, engine_gap)


T: Dao = "TraceDAO"
S: Dao = "SpanDAO"

STATEMENTS: list[Statement] = [
    # ---- batch insert: the Values form (R2DBC) and the JSONEachRow form (client v2)
    _stmt(T, "BATCH_INSERT", "values", "batch", values_insert(T_BATCH_INSERT_HEAD, T_BATCH_INSERT_ROW, 2),
          lambda seed, kits: [trace_batch(_new_traces(seed, kits[0]))], kits=1),
    _stmt(T, "BATCH_INSERT", "json-each-row", "batch", T_JSON_EACH_ROW_INSERT,
          lambda seed, kits: [Call({}, data=trace_json_rows(_new_traces(seed, kits[0])))], kits=1),
    _stmt(S, "BULK_INSERT", "values", "batch", values_insert(S_BULK_INSERT_HEAD, S_BULK_INSERT_ROW, 3),
          lambda seed, kits: [span_batch(_new_spans(seed, kits[0]))], kits=1),
    _stmt(S, "BULK_INSERT", "json-each-row", "batch", S_JSON_EACH_ROW_INSERT,
          lambda seed, kits: [Call({}, data=span_json_rows(_new_spans(seed, kits[0])))], kits=1),
    # ---- INSERT ... SELECT merged with the previous version
    _stmt(T, "INSERT", "create", "upsert", T_INSERT,
          lambda seed, kits: one(**_trace_insert_params(_new_traces(seed, kits[0])[0])), kits=1),
    _stmt(T, "INSERT", "create-null-optionals", "upsert", T_INSERT,
          lambda seed, kits: one(**_trace_insert_params(_new_traces(seed, kits[0])[1])), kits=1),
    _stmt(T, "INSERT", "over-existing", "upsert", T_INSERT,
          lambda seed, kits: one(**_trace_insert_params(replace(_new_traces(seed, kits[0])[0], id=kits[0].traces["t2"]))),
          kits=1),
    _stmt(T, "INSERT_UPDATE", "patch-before-create", "upsert", T_INSERT_UPDATE,
          lambda seed, kits: one(**_trace_patch(seed, kits[0], kits[0].fresh[2])), kits=1),
    _stmt(T, "INSERT_UPDATE", "patch-existing", "upsert", T_INSERT_UPDATE,
          lambda seed, kits: one(**_trace_patch(seed, kits[0], kits[0].traces["t1"])), kits=1),
    _stmt(T, "INSERT_UPDATE", "patch-all-fields", "upsert", T_INSERT_UPDATE_ALL,
          lambda seed, kits: one(**_trace_patch_all(seed, kits[0], kits[0].traces["t2"])), kits=1),
    _stmt(S, "INSERT", "create", "upsert", S_INSERT,
          lambda seed, kits: one(**_span_insert_params(_new_spans(seed, kits[0])[1])), kits=1),
    _stmt(S, "INSERT", "create-null-optionals", "upsert", S_INSERT,
          lambda seed, kits: one(**_span_insert_params(_new_spans(seed, kits[0])[2])), kits=1),
    _stmt(S, "INSERT", "over-existing", "upsert", S_INSERT,
          lambda seed, kits: one(**_span_insert_params(replace(_new_spans(seed, kits[0])[1], id=kits[0].spans["s3"],
                                                               trace_id=kits[0].traces["t2"]))), kits=1),
    _stmt(S, "PARTIAL_INSERT", "patch-before-create", "upsert", S_PARTIAL_INSERT,
          lambda seed, kits: one(**_span_patch(seed, kits[0], kits[0].fresh_spans[2])), kits=1),
    _stmt(S, "PARTIAL_INSERT", "patch-existing", "upsert", S_PARTIAL_INSERT,
          lambda seed, kits: one(**_span_patch(seed, kits[0], kits[0].spans["s2"])), kits=1),
    # ---- UPDATE / BULK_UPDATE: the newest version re-inserted with fields replaced
    _stmt(T, "UPDATE", "end-trace", "update", T_UPDATE,
          lambda seed, kits: one(**_trace_patch(seed, kits[0], kits[0].traces["t1"])), kits=1),
    _stmt(T, "UPDATE", "all-fields", "update", T_UPDATE_ALL,
          lambda seed, kits: one(**_trace_patch_all(seed, kits[0], kits[0].traces["t2"])), kits=1),
    _stmt(T, "BULK_UPDATE", "add-tags", "update", T_BULK_UPDATE_ADD_TAGS,
          lambda seed, kits: one(ids=[kits[0].traces[k] for k in ("t1", "t2", "t3")], workspace_id=kits[0].workspace_id,
                                 tags_to_add=["reviewed", "prod"], user_name="bulk", truncation_threshold=None),
          kits=1),
    _stmt(T, "BULK_UPDATE", "fields-remove-tags", "update", T_BULK_UPDATE_FIELDS,
          lambda seed, kits: one(**{**_trace_patch_all(seed, kits[0], kits[0].traces["t1"]),
                                    "ids": [kits[0].traces["t1"], kits[0].traces["t2"]], "tags_to_remove": ["v2"]}),
          kits=1),
    _stmt(S, "UPDATE", "end-llm-span", "update", S_UPDATE,
          lambda seed, kits: one(**_span_patch(seed, kits[0], kits[0].spans["s2"])), kits=1),
    _stmt(S, "UPDATE", "all-fields", "update", S_UPDATE_ALL,
          lambda seed, kits: one(**_span_patch(
              seed, kits[0], kits[0].spans["s3"], name="renamed", type="llm", input=LONG_INPUT,
              input_slim=slim(LONG_INPUT), metadata=IMAGE_METADATA, tags=["t"], error_info=None, ttft=7.5,
              source="sdk", environment=None)), kits=1),
    _stmt(S, "BULK_UPDATE", "add-tags", "update", S_BULK_UPDATE_ADD_TAGS,
          lambda seed, kits: one(ids=(ids := [kits[0].spans[k] for k in ("s1", "s2", "s3")]), id_weeks=weeks_of(ids),
                                 workspace_id=kits[0].workspace_id, tags_to_add=["reviewed"], user_name="bulk",
                                 truncation_threshold=TRUNCATION_THRESHOLD), kits=1),
    _stmt(S, "BULK_UPDATE", "merge-tags-fields", "update", S_BULK_UPDATE_MERGE_TAGS,
          lambda seed, kits: one(ids=(ids := [kits[0].spans[k] for k in ("s2", "s3")]), id_weeks=weeks_of(ids),
                                 workspace_id=kits[0].workspace_id, tags=["merged", "root"], name="bulk name",
                                 metadata=json.dumps({"bulk": 1}), user_name="bulk", truncation_threshold=None),
          kits=1),
    # ---- deletes: one IN PARTITION statement per partition (ids grouped as WeeklyPartitions does), or unbounded
    _stmt(T, "DELETE_BY_PROJECT_ID_TRACE_ID_PAIRS", "in-partition", "delete", T_DELETE_IN_PARTITION,
          lambda seed, kits: _trace_delete(seed, kits, partitioned=True), kits=1),
    _stmt(T, "DELETE_BY_PROJECT_ID_TRACE_ID_PAIRS", "unbounded", "delete", T_DELETE,
          lambda seed, kits: _trace_delete(seed, kits, partitioned=False), kits=1),
    _stmt(S, "DELETE_BY_IDS", "in-partition", "delete", S_DELETE_IN_PARTITION,
          lambda seed, kits: _span_delete(seed, kits, partitioned=True), kits=1),
    _stmt(S, "DELETE_BY_IDS", "unbounded", "delete", S_DELETE,
          lambda seed, kits: _span_delete(seed, kits, partitioned=False), kits=1),
    # ---- find / get / search
    _stmt(T, "SELECT_BY_IDS", "get-by-id", "find", T_SELECT_BY_ID,
          lambda seed, kits: one(workspace_id=WS_A, target_project_ids=[seed["pa1"]], **_by_ids(seed, "tA1"))),
    _stmt(T, "SELECT_BY_IDS", "find-by-ids", "find", T_SELECT_BY_IDS,
          lambda seed, kits: one(workspace_id=WS_A, target_project_ids=[seed["pa1"], seed["pa2"]],
                                 **_by_ids(seed, "tA1", "tA2", "tA3", "tA4", "tA7"))),
    _stmt(T, "SELECT_BY_PROJECT_ID", "page-truncated", "find", T_FIND_PAGE_TRUNCATED,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], limit=5, offset=0), ordered=True),
    _stmt(T, "SELECT_BY_PROJECT_ID", "stream-search-window", "find", T_FIND_STREAM_SEARCH_WINDOW,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], limit=100, search_text="%paris%",
                                 **_window(seed)), ordered=True),
    _stmt(T, "SELECT_BY_PROJECT_ID", "stream-cursor-truncated", "find", T_FIND_STREAM_CURSOR,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], limit=3, last_received_id=seed["tA2"]),
          ordered=True),
    _stmt(T, "SELECT_PARTIAL_BY_ID", "", "find", T_SELECT_PARTIAL_BY_ID,
          lambda seed, kits: one(id=seed["tA2"], workspace_id=WS_A)),
    _stmt(T, "SELECT_DETAILS_BY_ID", "", "find", T_SELECT_DETAILS_BY_ID, lambda seed, kits: one(id=seed["tB1"])),
    _stmt(T, "SELECT_START_TIMES_BY_TRACE_IDS", "", "find", T_SELECT_START_TIMES_BY_TRACE_IDS,
          lambda seed, kits: one(workspace_id=WS_A, **_by_ids(seed, "tA1", "tA2", "tA4")), ordered=True),
    _stmt(T, "SELECT_LOGGING_SOURCE_IDS", "", "find", T_SELECT_LOGGING_SOURCE_IDS,
          lambda seed, kits: one(workspace_id=WS_A, project_ids=[seed["pa1"], seed["pa2"]], sources=["sdk", "unknown"],
                                 **_by_ids(seed, "tA1", "tA2", "tA3", "tA7"))),
    _stmt(S, "SELECT_BY_IDS", "get-by-ids", "find", S_SELECT_BY_IDS,
          lambda seed, kits: one(workspace_id=WS_A, target_project_ids=[seed["pa1"]], **_by_ids(seed, "sA2", "sA4"))),
    _stmt(S, "SELECT_ONLY_SPAN_BY_ID", "", "find", S_SELECT_ONLY_SPAN_BY_ID,
          lambda seed, kits: one(id=seed["sA4"], project_id=seed["pa1"], workspace_id=WS_A,
                                 id_weeks=weeks_of([seed["sA4"]]))),
    _stmt(S, "SELECT_PARTIAL_BY_ID", "", "find", S_SELECT_PARTIAL_BY_ID,
          lambda seed, kits: one(id=seed["sA2"], workspace_id=WS_A, id_weeks=weeks_of([seed["sA2"]]))),
    _stmt(S, "SELECT_BY_PROJECT_ID", "page-truncated", "find", S_FIND_PAGE_TRUNCATED,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], limit=4, offset=1), ordered=True),
    _stmt(S, "SELECT_BY_PROJECT_ID", "stream-trace-search-window", "find", S_FIND_STREAM_SEARCH_WINDOW,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], trace_id=seed["tA1"], limit=100,
                                 search_text="%a%", **_window(seed)), ordered=True),
    _stmt(S, "SELECT_BY_PROJECT_ID", "stream-cursor-truncated", "find", S_FIND_STREAM_CURSOR,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], limit=3,
                                 last_received_span_id=seed["sA4"]), ordered=True),
    # ---- created_at windows
    _stmt(T, "TRACE_DAILY_COUNT_BY_WORKSPACE_PROJECT", "", "window", T_DAILY_COUNT, lambda seed, kits: one()),
    _stmt(T, "TRACE_DAILY_BI_INFORMATION_BY_PROJECT", "", "window", T_DAILY_BI, lambda seed, kits: one()),
    _stmt(T, "SELECT_PROJECTS_WITH_TRACES_IN_RANGE", "", "window", T_PROJECTS_IN_RANGE,
          lambda seed, kits: one(workspace_ids=[WS_A, WS_A, WS_B], project_ids=[seed["pa1"], seed["pa2"], seed["pb1"]],
                                 from_time=(seed.start_of_today - timedelta(days=1)).isoformat(),
                                 to_time=seed.start_of_today.isoformat())),
    _stmt(T, "SELECT_PROJECTS_WITH_MIN_TRACES_IN_RANGE", "", "window", T_PROJECTS_MIN_IN_RANGE,
          lambda seed, kits: one(workspace_ids=[WS_A, WS_A, WS_B], project_ids=[seed["pa1"], seed["pa2"], seed["pb1"]],
                                 from_time=seed.ago(days=10).isoformat(), to_time=seed.now.isoformat(), min_traces=2)),
    _stmt(S, "SPAN_DAILY_COUNT_BY_WORKSPACE_PROJECT", "", "window", S_DAILY_COUNT, lambda seed, kits: one()),
    _stmt(S, "SPAN_DAILY_COUNT_BY_WORKSPACE_PROJECT_USER", "", "window", S_DAILY_COUNT_USER, lambda seed, kits: one()),
    # ---- stats
    _stmt(T, "SELECT_TRACES_SPANS_STATS", "project", "stats", T_STATS,
          lambda seed, kits: one(workspace_id=WS_A, project_ids=[seed["pa1"]])),
    _stmt(T, "SELECT_TRACES_SPANS_STATS", "projects-window-legacy-scores", "stats", T_STATS_PROJECTS_WINDOW,
          lambda seed, kits: one(workspace_id=WS_A, project_ids=[seed["pa1"], seed["pa2"]], **_window(seed))),
    _stmt(T, "SELECT_FEEDBACK_SCORES_STATS", "project", "stats", T_FEEDBACK_STATS,
          lambda seed, kits: one(workspace_id=WS_A, project_ids=[seed["pa1"]])),
    _stmt(T, "SELECT_FEEDBACK_SCORES_STATS", "search-dedup-argmax", "stats", T_FEEDBACK_STATS_SEARCH,
          lambda seed, kits: one(workspace_id=WS_A, project_ids=[seed["pa1"]], search_text="%paris%")),
    _stmt(S, "SELECT_SPANS_STATS", "project", "stats", S_STATS,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"])),
    _stmt(S, "SELECT_SPANS_STATS", "window-legacy-scores", "stats", S_STATS_WINDOW,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], **_window(seed))),
    _stmt(S, "SELECT_SPAN_FEEDBACK_SCORES_STATS", "project", "stats", S_FEEDBACK_STATS,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"])),
    _stmt(S, "SELECT_SPAN_FEEDBACK_SCORES_STATS", "search", "stats", S_FEEDBACK_STATS_SEARCH,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], search_text="%llm%")),
    # ---- threads
    _stmt(T, "SELECT_TRACE_IDS_BY_THREAD_IDS", "", "threads", T_TRACE_IDS_BY_THREAD_IDS,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], thread_ids=["thread-1", "thread-2"])),
    _stmt(T, "SELECT_MINIMAL_THREAD_INFO_BY_IDS", "", "threads", T_MINIMAL_THREAD_INFO,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], thread_ids=["thread-1", "thread-2"])),
    _stmt(T, "THREADS_EXISTS_BY_PROJECT_ID", "", "threads", T_THREADS_EXISTS,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"])),
    _stmt(T, "THREADS_EXISTS_BY_PROJECT_ID", "source-legacy", "threads", T_THREADS_EXISTS_SOURCE,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], source="sdk", source_legacy="unknown")),
    # ---- spans by trace
    _stmt(S, "SELECT_BY_TRACE_IDS", "", "bytrace", S_BY_TRACE_IDS,
          lambda seed, kits: one(workspace_id=WS_A, trace_ids=[seed["tA1"], seed["tA2"], seed["tA7"]]), ordered=True),
    _stmt(S, "SELECT_SPANS_SIZE_BY_TRACE_IDS", "", "bytrace", S_SIZE_BY_TRACE_IDS,
          lambda seed, kits: one(workspace_id=WS_A, trace_ids=[seed["tA1"], seed["tA2"]])),
    _stmt(S, "SELECT_SPAN_IDS_BY_TRACE_ID", "", "bytrace", S_IDS_BY_TRACE_ID,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], trace_ids=[seed["tA1"], seed["tA2"]])),
    # ---- counts / exists
    _stmt(T, "COUNT_BY_PROJECT_ID", "", "count", T_COUNT,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"])),
    _stmt(T, "COUNT_BY_PROJECT_ID", "search-window", "count", T_COUNT_SEARCH_WINDOW,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], search_text="%paris%", **_window(seed))),
    _stmt(T, "EXISTS_BY_PROJECT_ID", "", "count", T_EXISTS,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa2"])),
    _stmt(T, "EXISTS_BY_PROJECT_ID", "source-legacy", "count", T_EXISTS_SOURCE,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], source="playground",
                                 source_legacy="unknown")),
    _stmt(T, "SELECT_COUNT_TRACES_BY_PROJECT_IDS", "", "count", T_COUNT_BY_PROJECT_IDS,
          lambda seed, kits: one(workspace_id=WS_A, project_ids=[seed["pa1"], seed["pa2"]])),
    _stmt(S, "COUNT_BY_PROJECT_ID", "", "count", S_COUNT,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"])),
    _stmt(S, "COUNT_BY_PROJECT_ID", "trace-search-window", "count", S_COUNT_TRACE_SEARCH_WINDOW,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"], trace_id=seed["tA1"], search_text="%l%",
                                 **_window(seed))),
    _stmt(S, "EXISTS_BY_PROJECT_ID", "", "count", S_EXISTS,
          lambda seed, kits: one(workspace_id=WS_A, project_id=seed["pa1"])),
    _stmt(S, "EXISTS_BY_PROJECT_ID", "source-legacy", "count", S_EXISTS_SOURCE,
          lambda seed, kits: one(workspace_id=WS_B, project_id=seed["pb1"], source="experiment",
                                 source_legacy="unknown")),
    # ---- project / workspace lookups
    _stmt(T, "SELECT_TARGET_PROJECTS_FOR_TRACES", "", "lookup", T_TARGET_PROJECTS,
          lambda seed, kits: one(workspace_id=WS_A, **_by_ids(seed, "tA1", "tA7", "tB1"))),
    _stmt(T, "SELECT_TRACE_ID_AND_WORKSPACE", "", "lookup", T_TRACE_ID_AND_WORKSPACE,
          lambda seed, kits: one(**_by_ids(seed, "tA1", "tB1", "tA8", name="traceIds"))),
    _stmt(T, "SELECT_PROJECT_ID_FROM_TRACE", "", "lookup", T_PROJECT_ID_FROM_TRACE,
          lambda seed, kits: one(id=seed["tA7"], workspace_id=WS_A)),
    _stmt(T, "SELECT_PROJECT_IDS_BY_TRACE_IDS", "", "lookup", T_PROJECT_IDS_BY_TRACE_IDS,
          lambda seed, kits: one(workspace_id=WS_A, **_by_ids(seed, "tA1", "tA7", "tA8", name="trace_ids"))),
    _stmt(T, "SELECT_ALL_PROJECT_IDS_BY_TRACE_IDS", "", "lookup", T_ALL_PROJECT_IDS,
          lambda seed, kits: one(workspace_id=WS_A, trace_ids=[seed["tA1"], seed["tA7"], seed["tA8"]])),
    _stmt(T, "SELECT_ALL_PROJECT_IDS_BY_TRACE_IDS_BOUNDED", "", "lookup", T_ALL_PROJECT_IDS_BOUNDED,
          lambda seed, kits: one(workspace_id=WS_A, trace_ids=(ids := [seed["tA1"], seed["tA7"], seed["tA8"]]),
                                 min_id=min(ids), max_id=max(ids))),
    _stmt(S, "SELECT_TARGET_PROJECTS_FOR_SPANS", "", "lookup", S_TARGET_PROJECTS,
          lambda seed, kits: one(workspace_id=WS_A, **_by_ids(seed, "sA1", "sA7", "sB1"))),
    _stmt(S, "SELECT_SPAN_ID_AND_WORKSPACE", "", "lookup", S_SPAN_ID_AND_WORKSPACE,
          lambda seed, kits: one(**_by_ids(seed, "sA1", "sA6", "sB1", name="spanIds"))),
    _stmt(S, "SELECT_PROJECT_ID_FROM_SPAN", "", "lookup", S_PROJECT_ID_FROM_SPAN,
          lambda seed, kits: one(id=seed["sA7"], workspace_id=WS_A, id_weeks=weeks_of([seed["sA7"]]))),
    # ---- retention (spans first, then traces, as RetentionCatchUpService runs them)
    _stmt(T, "DELETE_FOR_RETENTION", "", "retention", T_RETENTION_DELETE,
          lambda seed, kits: one(workspace_ids=[kits[0].workspace_id], lower_bound=_retention_bounds(seed)[0],
                                 cutoff_id=_retention_bounds(seed)[1]), kits=1),
    _stmt(T, "DELETE_FOR_RETENTION_BOUNDED", "two-workspaces", "retention", T_RETENTION_DELETE_BOUNDED,
          _retention_bounded, kits=2),
    _stmt(T, "COUNT_FOR_RETENTION", "", "retention", T_RETENTION_COUNT,
          lambda seed, kits: one(workspace_ids=[WS_A, WS_B], lower_bound=uuid_lower(seed.ago(days=60)),
                                 cutoff_id=uuid_lower(seed.start_of_today - timedelta(days=7)))),
    _stmt(T, "SCOUT_FIRST_DAY_WITH_DATA", "", "retention", T_RETENTION_SCOUT,
          lambda seed, kits: one(workspace_id=WS_A, range_start=uuid_lower(seed.ago(days=60)),
                                 range_end=uuid_upper(seed.now))),
    _stmt(S, "DELETE_FOR_RETENTION", "", "retention", S_RETENTION_DELETE,
          lambda seed, kits: one(workspace_ids=[kits[0].workspace_id], lower_bound=_retention_bounds(seed)[0],
                                 cutoff_id=_retention_bounds(seed)[1]), kits=1),
    _stmt(S, "DELETE_FOR_RETENTION_BOUNDED", "two-workspaces", "retention", S_RETENTION_DELETE_BOUNDED,
          _retention_bounded, kits=2),
    _stmt(S, "COUNT_FOR_RETENTION", "", "retention", S_RETENTION_COUNT,
          lambda seed, kits: one(workspace_ids=[WS_A, WS_B], lower_bound=uuid_lower(seed.ago(days=60)),
                                 cutoff_id=uuid_lower(seed.start_of_today - timedelta(days=7)))),
    _stmt(S, "ESTIMATE_VELOCITY_FOR_RETENTION", "", "retention", S_RETENTION_VELOCITY,
          lambda seed, kits: one(workspace_id=WS_A, lower_bound=uuid_lower(seed.ago(days=60)),
                                 cutoff_id=uuid_upper(seed.now))),
]  # fmt: skip

#: Every complete statement constant of the two DAOs (the catalogue's 60; the two *_SEARCH_CLAUSE
#: fragments are inside the statements that use them).
OPIK_TEMPLATES: dict[Dao, frozenset[str]] = {
    "TraceDAO": frozenset({
        "BATCH_INSERT", "INSERT", "INSERT_UPDATE", "UPDATE", "BULK_UPDATE", "DELETE_BY_PROJECT_ID_TRACE_ID_PAIRS",
        "SELECT_BY_IDS", "SELECT_BY_PROJECT_ID", "SELECT_PARTIAL_BY_ID", "SELECT_DETAILS_BY_ID",
        "SELECT_START_TIMES_BY_TRACE_IDS", "SELECT_LOGGING_SOURCE_IDS", "TRACE_DAILY_COUNT_BY_WORKSPACE_PROJECT",
        "TRACE_DAILY_BI_INFORMATION_BY_PROJECT", "SELECT_PROJECTS_WITH_TRACES_IN_RANGE",
        "SELECT_PROJECTS_WITH_MIN_TRACES_IN_RANGE", "SELECT_TRACES_SPANS_STATS", "SELECT_FEEDBACK_SCORES_STATS",
        "SELECT_TRACE_IDS_BY_THREAD_IDS", "SELECT_MINIMAL_THREAD_INFO_BY_IDS", "THREADS_EXISTS_BY_PROJECT_ID",
        "COUNT_BY_PROJECT_ID", "EXISTS_BY_PROJECT_ID", "SELECT_COUNT_TRACES_BY_PROJECT_IDS",
        "SELECT_TARGET_PROJECTS_FOR_TRACES", "SELECT_TRACE_ID_AND_WORKSPACE", "SELECT_PROJECT_ID_FROM_TRACE",
        "SELECT_PROJECT_IDS_BY_TRACE_IDS", "SELECT_ALL_PROJECT_IDS_BY_TRACE_IDS",
        "SELECT_ALL_PROJECT_IDS_BY_TRACE_IDS_BOUNDED", "DELETE_FOR_RETENTION", "DELETE_FOR_RETENTION_BOUNDED",
        "COUNT_FOR_RETENTION", "SCOUT_FIRST_DAY_WITH_DATA",
    }),
    "SpanDAO": frozenset({
        "BULK_INSERT", "INSERT", "PARTIAL_INSERT", "UPDATE", "BULK_UPDATE", "DELETE_BY_IDS", "SELECT_BY_IDS",
        "SELECT_ONLY_SPAN_BY_ID", "SELECT_PARTIAL_BY_ID", "SELECT_BY_PROJECT_ID",
        "SPAN_DAILY_COUNT_BY_WORKSPACE_PROJECT", "SPAN_DAILY_COUNT_BY_WORKSPACE_PROJECT_USER", "SELECT_SPANS_STATS",
        "SELECT_SPAN_FEEDBACK_SCORES_STATS", "SELECT_BY_TRACE_IDS", "SELECT_SPANS_SIZE_BY_TRACE_IDS",
        "SELECT_SPAN_IDS_BY_TRACE_ID", "COUNT_BY_PROJECT_ID", "EXISTS_BY_PROJECT_ID",
        "SELECT_TARGET_PROJECTS_FOR_SPANS", "SELECT_SPAN_ID_AND_WORKSPACE", "SELECT_PROJECT_ID_FROM_SPAN",
        "DELETE_FOR_RETENTION", "DELETE_FOR_RETENTION_BOUNDED", "COUNT_FOR_RETENTION",
        "ESTIMATE_VELOCITY_FOR_RETENTION",
    }),
}  # fmt: skip

_PLACEHOLDER = re.compile(r"\{(traces|spans|traces_mutation|spans_mutation|db|partition)\}")


def render(sql: str, names: Mapping[str, str], partition: int | None = None) -> str:
    """``sql`` with its table placeholders replaced (``names``: traces, spans, traces_mutation,
    spans_mutation, db) and the IN PARTITION value inlined; ``{name:Type}`` parameters are left to the engine."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "partition":
            assert partition is not None, "an IN PARTITION statement needs its partition"
            return str(partition)
        return names[key]

    return _PLACEHOLDER.sub(sub, sql)


def parameters(sql: str) -> set[str]:
    """The ``{name:Type}`` parameter names of ``sql`` (outside string literals)."""
    code = re.sub(r"'(?:[^'\\]|\\.|'')*'", "''", sql)
    return set(re.findall(r"\{(\w+):", code))
