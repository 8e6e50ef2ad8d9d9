"""Opik's own traces and spans: its columns, partition key and skip indexes; classes computed, not stored.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 18:30:00+00:00

Opik's backend (TraceDAO/SpanDAO, read at the commits in ddl/README.md) reads
``truncated_input``/``truncated_output`` as the text cut to the threshold
(String), deletes with ``DELETE ... IN PARTITION <YYYYMMDD of the id's week>``
and prunes by that weekly key. The layout of 0001-0003 (Bool truncation flags,
partitions by retention class and week) failed those statements. This revision
re-lays out both tables into Opik's newest definitions (changesets 000114,
000115, 000116, 000119) online: copy in windows, catch up, verify, EXCHANGE,
keep the original as ``<table>_opik_store_backup`` until ``opik-store relayout
finish``. A killed run resumes on the next ``migrate``.

The new tables carry no retention class: ``retention_days``/``retention_at``
are gone, and the expiry job computes each row's class from the replicated
``retention_rules`` when it runs (opik_store/maintenance/retention.py), so no
per-node lookup can give a row a wrong class. The ``retention`` Join table is
left in place (the kept originals still read it); nothing writes it any more.

The downgrade re-lays the tables out into 0003's definitions; every column the
new tables store exists there, so no value is lost (the class columns are
recomputed from the lookup, which ``retention apply`` of that version refills).
"""

from __future__ import annotations

from opik_store.migrations.operations import relayout

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TRACE_KEY = ("workspace_id", "project_id", "id")
SPAN_KEY = ("workspace_id", "project_id", "trace_id", "id")

TRACES = """
CREATE TABLE traces
(
    id                   FixedString(36)        CODEC(ZSTD(1)),
    workspace_id         String                 CODEC(ZSTD(3)),
    project_id           FixedString(36)        CODEC(ZSTD(1)),
    name                 String                 DEFAULT ''       CODEC(ZSTD(3)),
    start_time           DateTime64(6, 'UTC')   DEFAULT now64(6) CODEC(Delta, ZSTD(1)),
    end_time             DateTime64(6, 'UTC')   DEFAULT toDateTime64('1970-01-01 00:00:00', 6, 'UTC') CODEC(Delta, ZSTD(1)),
    input                String                 DEFAULT ''       CODEC(ZSTD(3)),
    output               String                 DEFAULT ''       CODEC(ZSTD(3)),
    metadata             String                 DEFAULT ''       CODEC(ZSTD(3)),
    tags                 Array(String)          DEFAULT []       CODEC(ZSTD(3)),
    created_at           DateTime64(6, 'UTC')   DEFAULT now64(6) CODEC(Delta, ZSTD(1)),
    last_updated_at      DateTime64(6, 'UTC')   DEFAULT now64(6) CODEC(Delta, ZSTD(1)),
    created_by           String                 DEFAULT ''       CODEC(ZSTD(3)),
    last_updated_by      String                 DEFAULT ''       CODEC(ZSTD(3)),
    error_info           String                 DEFAULT ''       CODEC(ZSTD(1)),
    thread_id            String                 DEFAULT ''       CODEC(ZSTD(3)),
    visibility_mode      Enum8('unknown' = 0, 'default' = 1, 'hidden' = 2) DEFAULT 'default' CODEC(ZSTD(1)),
    truncation_threshold UInt64                 DEFAULT 10001    CODEC(ZSTD(1)),
    input_slim           String                 DEFAULT ''       CODEC(ZSTD(3)),
    output_slim          String                 DEFAULT ''       CODEC(ZSTD(3)),
    ttft                 Float64                DEFAULT toFloat64('nan') CODEC(ZSTD(1)),
    source               Enum8('unknown' = 0, 'sdk' = 1, 'experiment' = 2, 'playground' = 3, 'optimization' = 4, 'evaluator' = 5) DEFAULT 'unknown' CODEC(ZSTD(1)),
    environment          LowCardinality(String) DEFAULT ''       CODEC(ZSTD(1)),
    is_deleted           UInt8                  DEFAULT 0,
    input_length         UInt64  MATERIALIZED length(input)    CODEC(T64, ZSTD(1)),
    output_length        UInt64  MATERIALIZED length(output)   CODEC(T64, ZSTD(1)),
    metadata_length      UInt64  MATERIALIZED length(metadata) CODEC(T64, ZSTD(1)),
    truncated_input      String  MATERIALIZED if(length(input) >= truncation_threshold, substring(input, 1, truncation_threshold), input)    CODEC(ZSTD(3)),
    truncated_output     String  MATERIALIZED if(length(output) >= truncation_threshold, substring(output, 1, truncation_threshold), output) CODEC(ZSTD(3)),
    output_keys          Array(Tuple(key String, type String)) MATERIALIZED
        arrayMap(key -> tuple(key, toString(JSONType(JSONExtractRaw(output, key)))), JSONExtractKeys(output)) CODEC(ZSTD(3)),
    `duration`           Float64 MATERIALIZED
        if(end_time = toDateTime64('1970-01-01 00:00:00', 6, 'UTC') OR start_time = toDateTime64('1970-01-01 00:00:00', 6, 'UTC'),
            toFloat64('nan'),
            dateDiff('microsecond', start_time, end_time) / 1000.0) CODEC(ZSTD(1)),
    id_at                DateTime64(0, 'UTC') MATERIALIZED UUIDv7ToDateTime(toUUID(id)) CODEC(Delta, ZSTD(1)),
    INDEX idx_traces_id_minmax id TYPE minmax GRANULARITY 1,
    INDEX idx_traces_id_bf id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_traces_id_at id_at TYPE minmax GRANULARITY 1,
    INDEX idx_traces_source source TYPE set(0) GRANULARITY 1,
    INDEX idx_traces_thread_id_bf thread_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_traces_environment environment TYPE set(0) GRANULARITY 1,
    INDEX idx_traces_created_at created_at TYPE minmax GRANULARITY 1,
    INDEX idx_traces_last_updated_at last_updated_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(last_updated_at, is_deleted)
PARTITION BY toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
ORDER BY (workspace_id, project_id, id)
SETTINGS index_granularity = 8192, index_granularity_bytes = 41943040, non_replicated_deduplication_window = 10000
"""

SPANS = """
CREATE TABLE spans
(
    id                           FixedString(36)        CODEC(ZSTD(1)),
    workspace_id                 String                 CODEC(ZSTD(3)),
    project_id                   FixedString(36)        CODEC(ZSTD(1)),
    trace_id                     FixedString(36)        CODEC(ZSTD(1)),
    parent_span_id               FixedString(36)        DEFAULT ''       CODEC(ZSTD(1)),
    name                         String                 DEFAULT ''       CODEC(ZSTD(3)),
    type                         Enum8('unknown' = 0, 'general' = 1, 'tool' = 2, 'llm' = 3, 'guardrail' = 4) DEFAULT 'unknown' CODEC(ZSTD(1)),
    start_time                   DateTime64(6, 'UTC')   DEFAULT now64(6) CODEC(ZSTD(1)),
    end_time                     DateTime64(6, 'UTC')   DEFAULT toDateTime64('1970-01-01 00:00:00', 6, 'UTC') CODEC(Delta, ZSTD(1)),
    input                        String                 DEFAULT ''       CODEC(ZSTD(3)),
    output                       String                 DEFAULT ''       CODEC(ZSTD(3)),
    metadata                     String                 DEFAULT ''       CODEC(ZSTD(3)),
    tags                         Array(String)          DEFAULT []       CODEC(ZSTD(3)),
    usage                        Map(String, Int64)     DEFAULT map()    CODEC(ZSTD(3)),
    created_at                   DateTime64(6, 'UTC')   DEFAULT now64(6) CODEC(ZSTD(1)),
    last_updated_at              DateTime64(6, 'UTC')   DEFAULT now64(6) CODEC(Delta, ZSTD(1)),
    created_by                   String                 DEFAULT ''       CODEC(ZSTD(3)),
    last_updated_by              String                 DEFAULT ''       CODEC(ZSTD(3)),
    model                        LowCardinality(String) DEFAULT ''       CODEC(ZSTD(1)),
    provider                     LowCardinality(String) DEFAULT ''       CODEC(ZSTD(1)),
    total_estimated_cost         Decimal(38, 12)        DEFAULT 0        CODEC(ZSTD(1)),
    total_estimated_cost_version LowCardinality(String) DEFAULT ''       CODEC(ZSTD(1)),
    error_info                   String                 DEFAULT ''       CODEC(ZSTD(3)),
    truncation_threshold         UInt64                 DEFAULT 10001    CODEC(ZSTD(1)),
    input_slim                   String                 DEFAULT ''       CODEC(ZSTD(3)),
    output_slim                  String                 DEFAULT ''       CODEC(ZSTD(3)),
    ttft                         Float64                DEFAULT toFloat64('nan') CODEC(ZSTD(1)),
    source                       Enum8('unknown' = 0, 'sdk' = 1, 'experiment' = 2, 'playground' = 3, 'optimization' = 4, 'evaluator' = 5) DEFAULT 'unknown' CODEC(ZSTD(1)),
    environment                  LowCardinality(String) DEFAULT ''       CODEC(ZSTD(1)),
    is_deleted                   UInt8                  DEFAULT 0,
    input_length                 UInt64  MATERIALIZED length(input)    CODEC(T64, ZSTD(1)),
    output_length                UInt64  MATERIALIZED length(output)   CODEC(T64, ZSTD(1)),
    metadata_length              UInt64  MATERIALIZED length(metadata) CODEC(T64, ZSTD(1)),
    truncated_input              String  MATERIALIZED if(length(input) >= truncation_threshold, substring(input, 1, truncation_threshold), input)    CODEC(ZSTD(3)),
    truncated_output             String  MATERIALIZED if(length(output) >= truncation_threshold, substring(output, 1, truncation_threshold), output) CODEC(ZSTD(3)),
    `duration`                   Float64 MATERIALIZED
        if(end_time = toDateTime64('1970-01-01 00:00:00', 6, 'UTC') OR start_time = toDateTime64('1970-01-01 00:00:00', 6, 'UTC'),
            toFloat64('nan'),
            dateDiff('microsecond', start_time, end_time) / 1000.0) CODEC(ZSTD(1)),
    id_at                        DateTime64(0, 'UTC') MATERIALIZED UUIDv7ToDateTime(toUUID(id)) CODEC(ZSTD(1)),
    INDEX idx_spans_id_minmax id TYPE minmax GRANULARITY 1,
    INDEX idx_spans_id_bf id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_spans_id_at id_at TYPE minmax GRANULARITY 1,
    INDEX idx_spans_parent_span_id_bf parent_span_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_spans_source source TYPE set(0) GRANULARITY 1,
    INDEX idx_spans_environment environment TYPE set(0) GRANULARITY 1,
    INDEX idx_spans_created_at created_at TYPE minmax GRANULARITY 1,
    INDEX idx_spans_last_updated_at last_updated_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(last_updated_at, is_deleted)
PARTITION BY toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))
ORDER BY (workspace_id, project_id, trace_id, id)
SETTINGS index_granularity = 8192, index_granularity_bytes = 41943040, non_replicated_deduplication_window = 10000
"""

TRACES_0003 = """
CREATE TABLE traces
(
    id                          FixedString(36) CODEC(ZSTD(1)),
    workspace_id                String,
    project_id                  FixedString(36),
    name                        String CODEC(ZSTD(3)),
    start_time                  DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(Delta(8), ZSTD(1)),
    end_time                    DateTime64(6, 'UTC') DEFAULT toDateTime64(0, 6, 'UTC') CODEC(Delta(8), ZSTD(1)),
    input                       String CODEC(ZSTD(3)),
    output                      String CODEC(ZSTD(3)),
    metadata                    String CODEC(ZSTD(3)),
    tags                        Array(String) CODEC(ZSTD(3)),
    created_at                  DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(Delta(8), ZSTD(1)),
    last_updated_at             DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(Delta(8), ZSTD(1)),
    created_by                  String DEFAULT '' CODEC(ZSTD(3)),
    last_updated_by             String DEFAULT '' CODEC(ZSTD(3)),
    error_info                  String DEFAULT '' CODEC(ZSTD(3)),
    thread_id                   String DEFAULT '' CODEC(ZSTD(3)),
    visibility_mode             Enum8('unknown' = 0, 'default' = 1, 'hidden' = 2) DEFAULT 'default',
    truncation_threshold        UInt64 DEFAULT 10001 CODEC(T64, ZSTD(1)),
    input_slim                  String DEFAULT '' CODEC(ZSTD(3)),
    output_slim                 String DEFAULT '' CODEC(ZSTD(3)),
    ttft                        Float64 DEFAULT nan,
    source                      Enum8('unknown' = 0, 'sdk' = 1, 'experiment' = 2, 'playground' = 3, 'optimization' = 4, 'evaluator' = 5) DEFAULT 'unknown',
    environment                 LowCardinality(String) DEFAULT '',
    is_deleted                  UInt8 DEFAULT 0,
    input_length                UInt64 MATERIALIZED length(input) CODEC(T64, ZSTD(1)),
    output_length               UInt64 MATERIALIZED length(output) CODEC(T64, ZSTD(1)),
    metadata_length             UInt64 MATERIALIZED length(metadata) CODEC(T64, ZSTD(1)),
    truncated_input             Bool MATERIALIZED length(input) >= truncation_threshold,
    truncated_output            Bool MATERIALIZED length(output) >= truncation_threshold,
    output_keys                 Array(Tuple(key String, type String)) MATERIALIZED arrayMap(k -> (k, toString(JSONType(output, k))), JSONExtractKeys(output)) CODEC(ZSTD(3)),
    duration                    Float64 MATERIALIZED if(end_time = toDateTime64(0, 6, 'UTC') OR start_time = toDateTime64(0, 6, 'UTC'), nan, dateDiff('microsecond', start_time, end_time) / 1000.),
    id_at                       DateTime64(0, 'UTC') MATERIALIZED UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC') CODEC(Delta(8), ZSTD(1)),
    retention_at                Date32 MATERIALIZED if(substring(id, 15, 1) = '7' AND UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC') >= toDateTime64('2000-01-01 00:00:00', 3, 'UTC') AND UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC') < toDateTime64('2070-01-01 00:00:00', 3, 'UTC'), toDate32(UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC')), toDate32('1970-01-01')) CODEC(Delta(4), ZSTD(1)),
    retention_days              UInt16 MATERIALIZED arrayLast((d, f) -> f <= retention_at,
        arrayConcat(joinGet('retention', 'days', '', ''), joinGet('retention', 'days', workspace_id, ''), joinGet('retention', 'days', workspace_id, toString(project_id))),
        arrayConcat(joinGet('retention', 'froms', '', ''), joinGet('retention', 'froms', workspace_id, ''), joinGet('retention', 'froms', workspace_id, toString(project_id)))),
    INDEX idx_id id TYPE minmax GRANULARITY 1,
    INDEX idx_id_at id_at TYPE minmax GRANULARITY 1,
    INDEX idx_thread_id thread_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_source source TYPE set(0) GRANULARITY 1,
    INDEX idx_environment environment TYPE set(0) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(last_updated_at, is_deleted)
PARTITION BY (retention_days, toMonday(if(substring(id, 15, 1) = '7' AND UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC') >= toDateTime64('2000-01-01 00:00:00', 3, 'UTC') AND UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC') < toDateTime64('2070-01-01 00:00:00', 3, 'UTC'), toDate32(UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC')), toDate32('1970-01-01'))))
ORDER BY (workspace_id, project_id, id)
TTL if(retention_days = 0, toDateTime('2105-12-31 00:00:00', 'UTC'), toDateTime(retention_at + retention_days, 'UTC'))
SETTINGS index_granularity = 8192, index_granularity_bytes = 41943040, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000
"""

SPANS_0003 = """
CREATE TABLE spans
(
    id                          FixedString(36) CODEC(ZSTD(1)),
    workspace_id                String,
    project_id                  FixedString(36),
    trace_id                    FixedString(36) CODEC(ZSTD(1)),
    parent_span_id              FixedString(36) DEFAULT '' CODEC(ZSTD(1)),
    name                        String CODEC(ZSTD(3)),
    type                        Enum8('unknown' = 0, 'general' = 1, 'tool' = 2, 'llm' = 3, 'guardrail' = 4) DEFAULT 'unknown',
    start_time                  DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(Delta(8), ZSTD(1)),
    end_time                    DateTime64(6, 'UTC') DEFAULT toDateTime64(0, 6, 'UTC') CODEC(Delta(8), ZSTD(1)),
    input                       String CODEC(ZSTD(3)),
    output                      String CODEC(ZSTD(3)),
    metadata                    String CODEC(ZSTD(3)),
    model                       LowCardinality(String) DEFAULT '',
    provider                    LowCardinality(String) DEFAULT '',
    total_estimated_cost        Decimal(38, 12) DEFAULT 0,
    total_estimated_cost_version LowCardinality(String) DEFAULT '',
    tags                        Array(String) CODEC(ZSTD(3)),
    usage                       Map(String, Int64) CODEC(ZSTD(3)),
    created_at                  DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(Delta(8), ZSTD(1)),
    last_updated_at             DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(Delta(8), ZSTD(1)),
    created_by                  String DEFAULT '' CODEC(ZSTD(3)),
    last_updated_by             String DEFAULT '' CODEC(ZSTD(3)),
    error_info                  String DEFAULT '' CODEC(ZSTD(3)),
    truncation_threshold        UInt64 DEFAULT 10001 CODEC(T64, ZSTD(1)),
    input_slim                  String DEFAULT '' CODEC(ZSTD(3)),
    output_slim                 String DEFAULT '' CODEC(ZSTD(3)),
    ttft                        Float64 DEFAULT nan,
    source                      Enum8('unknown' = 0, 'sdk' = 1, 'experiment' = 2, 'playground' = 3, 'optimization' = 4, 'evaluator' = 5) DEFAULT 'unknown',
    environment                 LowCardinality(String) DEFAULT '',
    is_deleted                  UInt8 DEFAULT 0,
    input_length                UInt64 MATERIALIZED length(input) CODEC(T64, ZSTD(1)),
    output_length               UInt64 MATERIALIZED length(output) CODEC(T64, ZSTD(1)),
    metadata_length             UInt64 MATERIALIZED length(metadata) CODEC(T64, ZSTD(1)),
    truncated_input             Bool MATERIALIZED length(input) >= truncation_threshold,
    truncated_output            Bool MATERIALIZED length(output) >= truncation_threshold,
    duration                    Float64 MATERIALIZED if(end_time = toDateTime64(0, 6, 'UTC') OR start_time = toDateTime64(0, 6, 'UTC'), nan, dateDiff('microsecond', start_time, end_time) / 1000.),
    id_at                       DateTime64(0, 'UTC') MATERIALIZED UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC') CODEC(Delta(8), ZSTD(1)),
    retention_at                Date32 MATERIALIZED if(substring(trace_id, 15, 1) = '7' AND UUIDv7ToDateTime(toUUIDOrZero(trace_id), 'UTC') >= toDateTime64('2000-01-01 00:00:00', 3, 'UTC') AND UUIDv7ToDateTime(toUUIDOrZero(trace_id), 'UTC') < toDateTime64('2070-01-01 00:00:00', 3, 'UTC'), toDate32(UUIDv7ToDateTime(toUUIDOrZero(trace_id), 'UTC')), toDate32('1970-01-01')) CODEC(Delta(4), ZSTD(1)),
    retention_days              UInt16 MATERIALIZED arrayLast((d, f) -> f <= retention_at,
        arrayConcat(joinGet('retention', 'days', '', ''), joinGet('retention', 'days', workspace_id, ''), joinGet('retention', 'days', workspace_id, toString(project_id))),
        arrayConcat(joinGet('retention', 'froms', '', ''), joinGet('retention', 'froms', workspace_id, ''), joinGet('retention', 'froms', workspace_id, toString(project_id)))),
    INDEX idx_id id TYPE minmax GRANULARITY 1,
    INDEX idx_id_at id_at TYPE minmax GRANULARITY 1,
    INDEX idx_parent_span_id parent_span_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_id id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_source source TYPE set(0) GRANULARITY 1,
    INDEX idx_environment environment TYPE set(0) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(last_updated_at, is_deleted)
PARTITION BY (retention_days, toMonday(if(substring(trace_id, 15, 1) = '7' AND UUIDv7ToDateTime(toUUIDOrZero(trace_id), 'UTC') >= toDateTime64('2000-01-01 00:00:00', 3, 'UTC') AND UUIDv7ToDateTime(toUUIDOrZero(trace_id), 'UTC') < toDateTime64('2070-01-01 00:00:00', 3, 'UTC'), toDate32(UUIDv7ToDateTime(toUUIDOrZero(trace_id), 'UTC')), toDate32('1970-01-01'))))
ORDER BY (workspace_id, project_id, trace_id, id)
TTL if(retention_days = 0, toDateTime('2105-12-31 00:00:00', 'UTC'), toDateTime(retention_at + retention_days, 'UTC'))
SETTINGS index_granularity = 8192, index_granularity_bytes = 41943040, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000
"""


def upgrade() -> list[str]:
    """Re-lay out traces, then spans, into Opik's newest definitions."""
    return [relayout(TRACES, key=TRACE_KEY), relayout(SPANS, key=SPAN_KEY)]


def downgrade() -> list[str]:
    """Re-lay out spans, then traces, back into 0003's definitions."""
    return [relayout(SPANS_0003, key=SPAN_KEY), relayout(TRACES_0003, key=TRACE_KEY)]
