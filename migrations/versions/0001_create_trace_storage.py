"""Create the trace storage: retention rules and dictionary, traces, spans.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 00:00:00+00:00

Revisions are frozen history once released: this file carries the exact
statements it runs, so its checksum never changes. ddl/ holds the current shape
of each table, and tests/test_schema.py proves that applying every revision
yields exactly ddl/.
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RETENTION_RULES = """
CREATE TABLE retention_rules
(
    workspace_id    String,
    project_id      String,
    days            UInt16,
    effective_from  DateTime64(6, 'UTC'),
    effective_to    DateTime64(6, 'UTC') DEFAULT toDateTime64('2105-12-31 00:00:00', 6, 'UTC'),
    created_at      DateTime64(6, 'UTC') DEFAULT now64(6),
    note            String DEFAULT ''
)
ENGINE = MergeTree
ORDER BY (workspace_id, project_id, effective_from)
"""

RETENTION_PERIODS = """
CREATE VIEW retention_periods AS
SELECT
    workspace_id,
    project_id,
    argMax(days, created_at) AS days,
    effective_from,
    max(effective_to) AS effective_to
FROM retention_rules
GROUP BY workspace_id, project_id, effective_from
"""

RETENTION = """
CREATE DICTIONARY retention
(
    workspace_id    String,
    project_id      String,
    days            UInt16,
    effective_from  DateTime64(6, 'UTC'),
    effective_to    DateTime64(6, 'UTC')
)
PRIMARY KEY workspace_id, project_id
SOURCE(CLICKHOUSE(TABLE 'retention_periods'))
LIFETIME(MIN 30 MAX 60)
LAYOUT(COMPLEX_KEY_RANGE_HASHED(range_lookup_strategy 'max'))
RANGE(MIN effective_from MAX effective_to)
"""

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
    retention_days       UInt16 MATERIALIZED coalesce(
        dictGetOrNull('retention', 'days', (workspace_id, toString(project_id)), UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC')),
        dictGetOrNull('retention', 'days', (workspace_id, ''), UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC')),
        dictGetOrDefault('retention', 'days', ('', ''), UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC'), toUInt16(400))),
    INDEX idx_traces_thread_id thread_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(last_updated_at)
PARTITION BY (retention_days, toYYYYMMDD(UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC')))
ORDER BY (workspace_id, project_id, id)
TTL if(retention_days = 0, toDate('2105-12-31'), addDays(toDate(UUIDv7ToDateTime(toUUIDOrZero(id), 'UTC')), retention_days))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
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
    retention_days              UInt16 MATERIALIZED coalesce(
        dictGetOrNull('retention', 'days', (workspace_id, toString(project_id)), UUIDv7ToDateTime(toUUIDOrZero(trace_id), 'UTC')),
        dictGetOrNull('retention', 'days', (workspace_id, ''), UUIDv7ToDateTime(toUUIDOrZero(trace_id), 'UTC')),
        dictGetOrDefault('retention', 'days', ('', ''), UUIDv7ToDateTime(toUUIDOrZero(trace_id), 'UTC'), toUInt16(400))),
    INDEX idx_spans_id id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(last_updated_at)
PARTITION BY (retention_days, toYYYYMMDD(UUIDv7ToDateTime(toUUIDOrZero(trace_id), 'UTC')))
ORDER BY (workspace_id, project_id, trace_id, parent_span_id, id)
TTL if(retention_days = 0, toDate('2105-12-31'), addDays(toDate(UUIDv7ToDateTime(toUUIDOrZero(trace_id), 'UTC')), retention_days))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""


def upgrade() -> list[str]:
    """Create the retention rules and dictionary, then traces and spans (which read the dictionary)."""
    return [RETENTION_RULES, RETENTION_PERIODS, RETENTION, TRACES, SPANS]


def downgrade() -> list[str]:
    """Drop everything 0001 created (loses all trace data)."""
    return [
        "DROP TABLE spans",
        "DROP TABLE traces",
        "DROP DICTIONARY retention",
        "DROP VIEW retention_periods",
        "DROP TABLE retention_rules",
    ]
