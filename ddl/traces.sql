-- Canonical definition of the `traces` table (single-node form): Opik's current trace columns
-- (its successor layout), partitioned by retention class and the week of the id's UUIDv7 time.
-- The cluster form (ReplicatedReplacingMergeTree + ON CLUSTER) is rendered from this text.
-- See ddl/README.md for every choice and its measurement.
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
