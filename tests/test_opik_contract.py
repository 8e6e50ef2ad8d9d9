"""Opik's trace and span statement shapes run unmodified against the store's tables.

The statements below have the shapes Opik's backend sends (its DAOs, 2026):
a batch INSERT with its column list and bound values, NULL bound for absent
optional values of non-Nullable columns (the column's sentinel default is
stored), an upsert by ``INSERT ... SELECT`` of the previous version, newest-
version reads with ``ORDER BY ... DESC, last_updated_at DESC LIMIT 1 BY id``
and with ``FINAL``, ``id_at`` week windows, and deletes as a new version with
``is_deleted = 1``. They run against the single-node tables; the cluster
rendering differs only in engine and ON CLUSTER (tests/test_render.py), which
DML never names. Each test also runs against the sharded layout: the same
statements through the Distributed ``traces``/``spans`` over shard-local
tables (ClickHouse's Distributed engine, over a one-shard cluster that is this
engine; see conftest.py), as rendered for ``--sharded``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support import create_sharded_layout
from test_retention import uuid7

from opik_store import Store
from opik_store.engine.embedded import EmbeddedAdapter

PROJECT = "0190c1f0-0000-7000-8000-00000000abcd"
WORKSPACE = "ws-contract"

TRACE_COLUMNS = (
    "id, project_id, workspace_id, name, start_time, end_time, input, output, metadata, tags, created_by, "
    "last_updated_by, error_info, thread_id, visibility_mode, truncation_threshold, input_slim, output_slim, "
    "ttft, source, environment"
)
TRACE_VALUES = (
    "({id:String}, {project_id:String}, {workspace_id:String}, {name:String}, "
    "parseDateTime64BestEffort({start_time:String}, 6), "
    "if({end_time:Nullable(String)} IS NULL, NULL, parseDateTime64BestEffort({end_time:Nullable(String)}, 6)), "
    "{input:String}, {output:String}, {metadata:String}, {tags:Array(String)}, {created_by:String}, "
    "{last_updated_by:String}, {error_info:Nullable(String)}, {thread_id:String}, {visibility_mode:Nullable(String)}, "
    "{truncation_threshold:UInt64}, {input_slim:String}, {output_slim:String}, {ttft:Nullable(Float64)}, "
    "{source:String}, {environment:Nullable(String)})"
)
SPAN_COLUMNS = (
    "id, project_id, workspace_id, trace_id, parent_span_id, name, type, start_time, end_time, input, output, "
    "metadata, model, provider, total_estimated_cost, total_estimated_cost_version, tags, usage, created_by, "
    "last_updated_by, error_info, truncation_threshold, input_slim, output_slim, ttft, source, environment"
)


@pytest.fixture(params=["single", "sharded"])
def tables(request: pytest.FixtureRequest, store: Store, engine: EmbeddedAdapter, database: str) -> str:
    if request.param == "single":
        store.migrate()
    else:
        create_sharded_layout(engine, database, "shards1")
        engines = dict(engine.query(f"SELECT name, engine FROM system.tables WHERE database = '{database}'").rows)
        assert engines["traces"] == engines["spans"] == "Distributed"
        assert engines["traces_local"] == engines["spans_local"] == "ReplacingMergeTree"
    return database


def trace_params(trace_id: str, **over: object) -> dict[str, object]:
    params: dict[str, object] = {
        "id": trace_id,
        "project_id": PROJECT,
        "workspace_id": WORKSPACE,
        "name": "agent run",
        "start_time": "2026-11-29 10:00:00.123456",
        "end_time": None,
        "input": '{"question": "what is the capital of France?"}',
        "output": '{"answer": "Paris", "score": 0.9}',
        "metadata": "{}",
        "tags": ["prod", "v2"],
        "created_by": "admin",
        "last_updated_by": "admin",
        "error_info": None,
        "thread_id": "thread-1",
        "visibility_mode": None,
        "truncation_threshold": 10001,
        "input_slim": "",
        "output_slim": "",
        "ttft": None,
        "source": "evaluator",
        "environment": None,
    }
    params.update(over)
    return params


def test_batch_insert_with_column_list_and_null_sentinels(tables: str, engine: EmbeddedAdapter) -> None:
    ids = [uuid7(datetime.now(UTC) - timedelta(minutes=i), 100 + i) for i in range(3)]
    for trace_id in ids:  # Opik binds one VALUES tuple per item; each runs as written
        engine.execute(
            f"INSERT INTO `{tables}`.traces ({TRACE_COLUMNS}) VALUES {TRACE_VALUES}",
            trace_params(trace_id, end_time="2026-11-29 10:00:02.623456" if trace_id == ids[0] else None),
        )
    rows = engine.query(
        "SELECT id, source, end_time, isNaN(ttft) AS ttft_nan, isNaN(duration) AS no_duration, duration, "
        f"error_info, visibility_mode, environment, output_keys, "
        f"input_length, truncated_input, toTypeName(id_at) FROM `{tables}`.traces ORDER BY id"
    ).dicts()
    assert len(rows) == 3 and {r["source"] for r in rows} == {"evaluator"}
    by_id = {r["id"]: r for r in rows}
    assert by_id[ids[0]]["duration"] == pytest.approx(2500.0)  # ms, from start/end
    for trace_id in ids[1:]:  # NULL bound for a non-Nullable column stores its sentinel default
        row = by_id[trace_id]
        assert row["end_time"].year == 1970 and row["ttft_nan"] and row["no_duration"]
        assert row["error_info"] == "" and row["visibility_mode"] == "default" and row["environment"] == ""
    assert by_id[ids[0]]["output_keys"] == [{"key": "answer", "type": "String"}, {"key": "score", "type": "Double"}]
    assert by_id[ids[0]]["truncated_input"] is False and by_id[ids[0]]["input_length"] > 0


def test_span_batch_insert_with_int64_usage(tables: str, engine: EmbeddedAdapter) -> None:
    trace_id = uuid7(datetime.now(UTC), 1)
    span_id = uuid7(datetime.now(UTC), 2)
    engine.execute(
        f"INSERT INTO `{tables}`.spans ({SPAN_COLUMNS}) VALUES "
        "({id:String}, {p:String}, {w:String}, {t:String}, {parent:String}, 'llm call', 'llm', "
        "now64(6), NULL, '{}', '{}', '{}', 'gpt-5', 'openai', 12.5, 'v1', [], "
        "map('prompt_tokens', {big:Int64}, 'completion_tokens', 17), 'admin', 'admin', NULL, 10001, '', '', "
        "NULL, 'sdk', 'production')",
        {"id": span_id, "p": PROJECT, "w": WORKSPACE, "t": trace_id, "parent": "", "big": 5_000_000_000},
    )
    row = engine.query(f"SELECT usage, type, total_estimated_cost, environment FROM `{tables}`.spans").dicts()[0]
    assert row["usage"]["prompt_tokens"] == 5_000_000_000, "usage is Int64: counts past 2^31 survive"
    assert row["type"] == "llm" and row["environment"] == "production"


UPSERT = """
INSERT INTO `{db}`.traces ({columns}, created_at, last_updated_at)
SELECT
    new.id, new.project_id, new.workspace_id,
    if(new.name = '', old.name, new.name),
    if(old.id = '', new.start_time, old.start_time),
    if(new.end_time = toDateTime64(0, 6, 'UTC'), old.end_time, new.end_time),
    if(new.input = '', old.input, new.input),
    if(new.output = '', old.output, new.output),
    if(new.metadata = '', old.metadata, new.metadata),
    if(empty(new.tags), old.tags, new.tags),
    if(old.id = '', new.created_by, old.created_by),
    new.last_updated_by, old.error_info, old.thread_id, old.visibility_mode, old.truncation_threshold,
    old.input_slim, old.output_slim, old.ttft, old.source, old.environment,
    if(old.id = '', now64(6), old.created_at),
    now64(6)
FROM (
    SELECT {{id:String}} AS id, {{project_id:String}} AS project_id, {{workspace_id:String}} AS workspace_id,
        {{name:String}} AS name, now64(6) AS start_time,
        parseDateTime64BestEffort({{end_time:String}}, 6) AS end_time, '' AS input,
        {{output:String}} AS output, '' AS metadata, CAST([], 'Array(String)') AS tags,
        'admin' AS created_by, {{user:String}} AS last_updated_by
) AS new
LEFT JOIN (
    SELECT * FROM `{db}`.traces
    WHERE workspace_id = {{workspace_id:String}} AND project_id = {{project_id:String}} AND id = {{id:String}}
    ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC
    LIMIT 1 BY id
) AS old ON new.id = old.id
"""


def test_upsert_by_insert_select_of_the_previous_version(tables: str, engine: EmbeddedAdapter) -> None:
    trace_id = uuid7(datetime.now(UTC), 5)
    engine.execute(f"INSERT INTO `{tables}`.traces ({TRACE_COLUMNS}) VALUES {TRACE_VALUES}", trace_params(trace_id))
    engine.execute(
        UPSERT.format(db=tables, columns=TRACE_COLUMNS),
        {"id": trace_id, "project_id": PROJECT, "workspace_id": WORKSPACE, "name": "",
         "end_time": "2026-11-29 10:00:05", "output": '{"answer": "Paris!"}', "user": "editor"},
    )  # fmt: skip
    newest = engine.query(
        f"SELECT name, input, output, last_updated_by, source, output_keys FROM `{tables}`.traces "
        "WHERE workspace_id = {w:String} AND project_id = {p:String} AND id = {id:String} "
        "ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC LIMIT 1 BY id",
        {"w": WORKSPACE, "p": PROJECT, "id": trace_id},
    ).dicts()
    assert newest == [
        {"name": "agent run", "input": '{"question": "what is the capital of France?"}',
         "output": '{"answer": "Paris!"}', "last_updated_by": "editor", "source": "evaluator",
         "output_keys": [{"key": "answer", "type": "String"}]}
    ]  # fmt: skip
    final = engine.query(f"SELECT count(), any(output) FROM `{tables}`.traces FINAL WHERE id = {{i:String}}",
                         {"i": trace_id}).rows  # fmt: skip
    assert final == [(1, '{"answer": "Paris!"}')], "FINAL sees one row: both versions collapse"


def test_id_at_week_windows_and_deletes_as_versions(tables: str, engine: EmbeddedAdapter) -> None:
    now = datetime.now(UTC)
    this_week = [uuid7(now - timedelta(hours=h), h) for h in (1, 2)]
    older = uuid7(now - timedelta(days=15), 99)
    for trace_id in [*this_week, older]:
        engine.execute(f"INSERT INTO `{tables}`.traces ({TRACE_COLUMNS}) VALUES {TRACE_VALUES}", trace_params(trace_id))
    window = engine.query(
        f"SELECT id FROM `{tables}`.traces FINAL WHERE workspace_id = {{w:String}} AND project_id = {{p:String}} "
        "AND id_at >= toMonday(now() - INTERVAL 7 DAY) AND id >= {lo:String} ORDER BY id DESC LIMIT 100",
        {"w": WORKSPACE, "p": PROJECT, "lo": uuid7(now - timedelta(days=8), 0)},
    ).rows
    assert [r[0] for r in window] == sorted(this_week, reverse=True)
    # a delete is a new version with is_deleted = 1: FINAL no longer returns the row
    engine.execute(
        f"INSERT INTO `{tables}`.traces (id, workspace_id, project_id, is_deleted, last_updated_at) "
        "SELECT {i:String}, {w:String}, {p:String}, 1, now64(6) + 1",
        {"i": this_week[0], "w": WORKSPACE, "p": PROJECT},
    )
    left = engine.query(f"SELECT id FROM `{tables}`.traces FINAL ORDER BY id").rows
    assert [r[0] for r in left] == sorted([this_week[1], older])


def test_array_parameters_round_trip_hostile_text(engine: EmbeddedAdapter) -> None:
    """Tags are bound as Array(String): quotes, backslashes, tabs, newlines and \\N come back unchanged."""
    hostile = ["a", "it's", "back\\slash", "tab\there", "", "new\nline", "\\N", "'); DROP TABLE x; --"]
    assert engine.query("SELECT {x:Array(String)}", {"x": hostile}).scalar() == hostile
    assert engine.query("SELECT {x:Array(Nullable(Int64))}", {"x": [None, 5_000_000_000]}).scalar() == [
        None,
        5_000_000_000,
    ]
