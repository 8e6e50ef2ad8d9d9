"""Opik's newest traces and spans tables, typed column by column from its Liquibase changesets.

The contract suite and the benches load these beside the store's tables, in the same engine, so every
comparison is with Opik's own definition and never with a copy of the store's ``ddl/``.

Read with the search look-ups in repo comet-ml/opik, folder
``apps/opik-backend/src/main/resources/liquibase/db-app-analytics/migrations/``:

* 000114_recreate_traces_local_v2_id_at_datetime64.sql at 881240f76e61d4336a834828b102b42aeafd7333
* 000115_create_spans_local_v2_table.sql at e4acf92c374012026114b14e5f41d1cd1593b500
* 000116_apply_spans_local_v2_real_data_codec_refinements.sql at dbdfa1fe364a3ab001c10e4232bfcc2a3f10ca05
* 000119_pin_utc_on_local_v2_epoch_sentinels.sql at 457070c19a61a0ed3fb9ac0a46213e3dd7ced905

Single-node form: Opik's ``ReplicatedReplacingMergeTree(<path>, '{replica}', last_updated_at, is_deleted)``
without the replication arguments. ``{name}`` is the table's (qualified, quoted) name.
"""

from __future__ import annotations

#: The commits read, per changeset (also in ddl/README.md).
COMMITS = {
    "000114": "881240f76e61d4336a834828b102b42aeafd7333",
    "000115": "e4acf92c374012026114b14e5f41d1cd1593b500",
    "000116": "dbdfa1fe364a3ab001c10e4232bfcc2a3f10ca05",
    "000119": "457070c19a61a0ed3fb9ac0a46213e3dd7ced905",
}

OPIK_TRACES = """
CREATE TABLE {name}
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
SETTINGS index_granularity = 8192, index_granularity_bytes = 41943040
"""

OPIK_SPANS = """
CREATE TABLE {name}
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
SETTINGS index_granularity = 8192, index_granularity_bytes = 41943040
"""


def opik_create(table: str, name: str) -> str:
    """Opik's CREATE TABLE of ``table`` ('traces' or 'spans') under ``name``."""
    return (OPIK_TRACES if table == "traces" else OPIK_SPANS).format(name=name)
