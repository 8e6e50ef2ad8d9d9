-- Canonical definition of the `spans` table (single-node form): Opik's newest span table, column for column
-- (spans_local_v2 of Opik's changesets 000115 + 000116 + 000119, commits in ddl/README.md): its types, defaults,
-- MATERIALIZED helpers, codecs, skip indexes, engine, partition key and sort key. The store adds one table
-- setting (a single-node deduplication window, revision 0002: a retried batch is stored once, as on Opik's
-- replicated tables). Retention classes are not stored: the expiry job computes them from retention_rules
-- (maintenance/retention.py).
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
