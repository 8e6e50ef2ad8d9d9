-- Canonical definition of the `traces` table (single-node form).
-- The cluster form (ReplicatedReplacingMergeTree + ON CLUSTER) is rendered from
-- this text by opik_store.render. See ddl/README.md.
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
