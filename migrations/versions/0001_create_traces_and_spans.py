"""Create the traces and spans tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 00:00:00+00:00

Revisions are frozen history: this file carries the exact statements it ran,
so its checksum never changes. ddl/ holds the current shape of each table, and
tests/test_schema.py proves that applying every revision yields exactly ddl/.
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TRACES = """
CREATE TABLE traces
(
    id                   FixedString(36),
    workspace_id         String,
    project_id           FixedString(36),
    name                 String CODEC(ZSTD(1)),
    start_time           DateTime64(9, 'UTC') DEFAULT now64(9),
    end_time             Nullable(DateTime64(9, 'UTC')) DEFAULT NULL,
    input                String CODEC(ZSTD(3)),
    output               String CODEC(ZSTD(3)),
    metadata             String CODEC(ZSTD(3)),
    tags                 Array(String) CODEC(ZSTD(1)),
    created_at           DateTime64(9, 'UTC') DEFAULT now64(9),
    last_updated_at      DateTime64(6, 'UTC') DEFAULT now64(6),
    created_by           LowCardinality(String) DEFAULT '',
    last_updated_by      LowCardinality(String) DEFAULT '',
    error_info           String DEFAULT '' CODEC(ZSTD(3)),
    thread_id            String DEFAULT '',
    visibility_mode      Enum8('unknown' = 0, 'default' = 1, 'hidden' = 2) DEFAULT 'default',
    ttft                 Nullable(Float64) DEFAULT NULL,
    source               Enum8('unknown' = 0, 'sdk' = 1, 'experiment' = 2, 'playground' = 3, 'optimization' = 4) DEFAULT 'unknown',
    truncation_threshold UInt64 DEFAULT 10001,
    has_input            Bool MATERIALIZED notEmpty(input),
    has_output           Bool MATERIALIZED notEmpty(output),
    has_metadata         Bool MATERIALIZED notEmpty(metadata),
    input_length         UInt64 MATERIALIZED length(input),
    output_length        UInt64 MATERIALIZED length(output),
    truncated_input      String MATERIALIZED if(length(input) > truncation_threshold, substring(input, 1, truncation_threshold), input) CODEC(ZSTD(3)),
    truncated_output     String MATERIALIZED if(length(output) > truncation_threshold, substring(output, 1, truncation_threshold), output) CODEC(ZSTD(3)),
    duration             Nullable(Float64) MATERIALIZED if((end_time IS NOT NULL) AND (start_time != toDateTime64('1970-01-01 00:00:00.000', 9)), dateDiff('microsecond', start_time, end_time) / 1000., NULL),
    INDEX idx_traces_thread_id thread_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(last_updated_at)
PARTITION BY toYYYYMMDD(UUIDv7ToDateTime(toUUIDOrZero(id)))
ORDER BY (workspace_id, project_id, id)
SETTINGS index_granularity = 8192
"""

SPANS = """
CREATE TABLE spans
(
    id                          FixedString(36),
    workspace_id                String,
    project_id                  FixedString(36),
    trace_id                    FixedString(36),
    parent_span_id              String DEFAULT '',
    name                        String CODEC(ZSTD(1)),
    type                        Enum8('unknown' = 0, 'general' = 1, 'tool' = 2, 'llm' = 3, 'guardrail' = 4) DEFAULT 'unknown',
    start_time                  DateTime64(9, 'UTC') DEFAULT now64(9),
    end_time                    Nullable(DateTime64(9, 'UTC')) DEFAULT NULL,
    input                       String CODEC(ZSTD(3)),
    output                      String CODEC(ZSTD(3)),
    metadata                    String CODEC(ZSTD(3)),
    model                       LowCardinality(String) DEFAULT '',
    provider                    LowCardinality(String) DEFAULT '',
    total_estimated_cost        Decimal(38, 12) DEFAULT 0,
    total_estimated_cost_version LowCardinality(String) DEFAULT '',
    tags                        Array(String) CODEC(ZSTD(1)),
    usage                       Map(String, Int32),
    created_at                  DateTime64(9, 'UTC') DEFAULT now64(9),
    last_updated_at             DateTime64(6, 'UTC') DEFAULT now64(6),
    created_by                  LowCardinality(String) DEFAULT '',
    last_updated_by             LowCardinality(String) DEFAULT '',
    error_info                  String DEFAULT '' CODEC(ZSTD(3)),
    ttft                        Nullable(Float64) DEFAULT NULL,
    source                      Enum8('unknown' = 0, 'sdk' = 1, 'experiment' = 2, 'playground' = 3, 'optimization' = 4) DEFAULT 'unknown',
    truncation_threshold        UInt64 DEFAULT 10001,
    has_input                   Bool MATERIALIZED notEmpty(input),
    has_output                  Bool MATERIALIZED notEmpty(output),
    has_metadata                Bool MATERIALIZED notEmpty(metadata),
    input_length                UInt64 MATERIALIZED length(input),
    output_length               UInt64 MATERIALIZED length(output),
    truncated_input             String MATERIALIZED if(length(input) >= truncation_threshold, substring(input, 1, truncation_threshold), input) CODEC(ZSTD(3)),
    truncated_output            String MATERIALIZED if(length(output) >= truncation_threshold, substring(output, 1, truncation_threshold), output) CODEC(ZSTD(3)),
    duration                    Nullable(Float64) MATERIALIZED if((end_time IS NOT NULL) AND (start_time != toDateTime64('1970-01-01 00:00:00.000', 9)), dateDiff('microsecond', start_time, end_time) / 1000., NULL),
    INDEX idx_spans_id id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(last_updated_at)
PARTITION BY toYYYYMMDD(UUIDv7ToDateTime(toUUIDOrZero(trace_id)))
ORDER BY (workspace_id, project_id, trace_id, parent_span_id, id)
SETTINGS index_granularity = 8192
"""


def upgrade() -> list[str]:
    """Create traces and spans."""
    return [TRACES, SPANS]


def downgrade() -> list[str]:
    """Drop spans and traces (loses all trace data)."""
    return ["DROP TABLE spans", "DROP TABLE traces"]
