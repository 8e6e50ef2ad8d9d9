"""The ``traces``/``spans`` a single-node Opik install has at points of its history, replayed from its changesets.

Read with the search look-ups in comet-ml/opik, folder
``apps/opik-backend/src/main/resources/liquibase/db-app-analytics/migrations/`` (Liquibase runs the files in
name order); the commit of each file read is noted next to its step. What each step does is written here in
this project's own statements, from those facts: the same columns, types, defaults, materialized expressions,
engines and sort keys, in the non-replicated single-node form the embedded engine can hold (Opik's 000017
makes the tables ReplicatedReplacingMergeTree with the same columns and keys; chdb's replicas never
activate). Drafts that never reached Opik's main line (000007 Nullable usage, 000008/000009 duration
drafts, 000040, 000045, 000046) are left out. Opik's cutover to its successor tables is a runbook, not a
changeset: ``cutover`` is Opik's successor definition (tests/opik_schema.py); ``wrap`` is its traces
Distributed wrap (runbook 000003_exchange_and_wrap.sql @ 0d8f9b47221f68b6d2a8e9559536f82265e49664).

Points (``POINTS``): ``000044`` (before the slim columns), ``000057`` (slim, duration, ttft),
``000092`` (source, environment, traces id_at, 'evaluator'), ``000105`` (spans id_at and the skip indexes:
an install today that has not run the cutover), ``cutover`` and ``wrap``.
"""

from __future__ import annotations

from adopt_fixtures import successor_ddl

from opik_store.engine.adapter import Adapter

#: (changeset, commit read, statements with ``{db}``), in Liquibase's order.
STEPS: list[tuple[str, str, list[str]]] = [
    (
        "000001_init_script",
        "3c735bfd0fd79dc36a1d9c0e575a7b89555fc9d2",
        [
            """CREATE TABLE {db}.spans (
            id FixedString(36), workspace_id String, project_id FixedString(36), trace_id FixedString(36),
            parent_span_id String DEFAULT '', name String,
            type Enum8('unknown' = 0, 'general' = 1, 'tool' = 2, 'llm' = 3),
            start_time DateTime64(9, 'UTC') DEFAULT now64(9), end_time Nullable(DateTime64(9, 'UTC')),
            input String DEFAULT '', output String DEFAULT '', metadata String DEFAULT '', tags Array(String),
            usage Map(String, Int32), created_at DateTime64(9, 'UTC') DEFAULT now64(9),
            last_updated_at DateTime64(9, 'UTC') DEFAULT now64(9)
        ) ENGINE = ReplacingMergeTree(last_updated_at)
        ORDER BY (workspace_id, project_id, trace_id, parent_span_id, id)""",
            """CREATE TABLE {db}.traces (
            id FixedString(36), workspace_id String, project_id FixedString(36), name String,
            start_time DateTime64(9, 'UTC') DEFAULT now64(9), end_time Nullable(DateTime64(9, 'UTC')),
            input String DEFAULT '', output String DEFAULT '', metadata String, tags Array(String),
            created_at DateTime64(9, 'UTC') DEFAULT now64(9), last_updated_at DateTime64(9, 'UTC') DEFAULT now64(9)
        ) ENGINE = ReplacingMergeTree(last_updated_at) ORDER BY (workspace_id, project_id, id)""",
            *(
                f"ALTER TABLE {{db}}.{t} ADD COLUMN created_by String DEFAULT '', "
                "ADD COLUMN last_updated_by String DEFAULT ''"
                for t in ("spans", "traces")
            ),
        ],
    ),
    (
        "000007_add_model_to_spans",
        "391e3050ecc9d2a866b83bdc29b3439e146dd249",
        [
            "ALTER TABLE {db}.spans ADD COLUMN model String DEFAULT '', ADD COLUMN provider String DEFAULT '', "
            "ADD COLUMN total_estimated_cost Decimal64(8), ADD COLUMN total_estimated_cost_version String DEFAULT ''",
        ],
    ),
    (
        "000008_add_error_info_to_spans_and_traces",
        "0d0d9149d1e2b5dbfcae85b3155ab671e3c10095",
        [
            "ALTER TABLE {db}.spans ADD COLUMN error_info String DEFAULT ''",
            "ALTER TABLE {db}.traces ADD COLUMN error_info String DEFAULT ''",
        ],
    ),
    (
        "000013_update_total_estimated_cost_precision",
        "2cfac46925fafe571a33f271742f0ba1a01fab5d",
        [
            "ALTER TABLE {db}.spans MODIFY COLUMN total_estimated_cost Decimal128(12)",
        ],
    ),
    (
        "000014_add_thread_id_to_traces",
        "3c735bfd0fd79dc36a1d9c0e575a7b89555fc9d2",
        [
            "ALTER TABLE {db}.traces ADD COLUMN thread_id String",
        ],
    ),
    (
        "000016_guardrails_span_type",
        "dded2036eea9c6da0b9b8a7e463cd8aac815853b",
        [
            "ALTER TABLE {db}.spans MODIFY COLUMN type "
            "Enum8('unknown' = 0, 'general' = 1, 'tool' = 2, 'llm' = 3, 'guardrail' = 4)",
        ],
    ),
    # 000017_change_tables_to_replicated (beb9f941b3def3e5968049d891001c417709b10d): the same columns and keys
    # under ReplicatedReplacingMergeTree; nothing to replay on a single non-replicated node.
    (
        "000019_reduce_trace_last_updated_at_to_micros",
        "2148258ea833655dbff59f77ea630a64c973030f",
        [
            "ALTER TABLE {db}.traces MODIFY COLUMN last_updated_at DateTime64(6, 'UTC') DEFAULT now64(6)",
        ],
    ),
    (
        "000024_add_output_input_pre_computed_columns",
        "8ffe2d21198765161171e05b7bae2a155bb65dd9",
        [
            f"ALTER TABLE {{db}}.{t} ADD COLUMN input_length UInt64 MATERIALIZED length(input), "
            "ADD COLUMN output_length UInt64 MATERIALIZED length(output), "
            "ADD COLUMN metadata_length UInt64 MATERIALIZED length(metadata)"
            for t in ("traces", "spans")
        ],
    ),
    (
        "000025_reduce_span_last_updated_at_to_micros",
        "7d99387f918d8c6386109b919107657d51459974",
        [
            "ALTER TABLE {db}.spans MODIFY COLUMN last_updated_at DateTime64(6, 'UTC') DEFAULT now64(6)",
        ],
    ),
    (
        "000027_add_visibility_mode_to_traces_table",
        "b491d8551e566d6f7d9711114a40a7adb7bfc6c2",
        [
            "ALTER TABLE {db}.traces ADD COLUMN visibility_mode "
            "Enum8('unknown' = 0, 'default' = 1, 'hidden' = 2) DEFAULT 'default'",
        ],
    ),
    (
        "000041_add_truncated_input_output",
        "8c35d82b36f4e4d450daaa4c8f1ce9e7f23d4b1f",
        [
            f"ALTER TABLE {{db}}.{t} ADD COLUMN truncation_threshold UInt64 DEFAULT 10001, "
            "ADD COLUMN truncated_input String MATERIALIZED "
            "if(length(input) >= truncation_threshold, substring(input, 1, truncation_threshold), input), "
            "ADD COLUMN truncated_output String MATERIALIZED "
            "if(length(output) >= truncation_threshold, substring(output, 1, truncation_threshold), output)"
            for t in ("traces", "spans")
        ],
    ),
    (
        "000044_add_output_keys_to_traces_table",
        "504c04d72316e291225c47689ed48d77390ade3d",
        [
            "ALTER TABLE {db}.traces ADD COLUMN output_keys Array(Tuple(key String, type String)) MATERIALIZED "
            "arrayMap(key -> tuple(key, toString(JSONType(JSONExtractRaw(output, key)))), JSONExtractKeys(output))",
        ],
    ),
    (
        "000054_add_slim_input_output_columns",
        "2148258ea833655dbff59f77ea630a64c973030f",
        [
            f"ALTER TABLE {{db}}.{t} ADD COLUMN input_slim String DEFAULT '', ADD COLUMN output_slim String DEFAULT ''"
            for t in ("traces", "spans")
        ],
    ),
    (
        "000055_add_duration_column_to_traces_and_spans",
        "49269bdeaecd6faf16bf45f15a300e59b82e9983",
        [
            f"ALTER TABLE {{db}}.{t} ADD COLUMN `duration` Nullable(Float64) MATERIALIZED "
            "if(end_time IS NOT NULL AND start_time IS NOT NULL "
            "AND notEquals(start_time, toDateTime64('1970-01-01 00:00:00.000', 9)), "
            "(dateDiff('microsecond', start_time, end_time) / 1000.0), NULL)"
            for t in ("traces", "spans")
        ],
    ),
    (
        "000057_add_ttft_column_to_traces_and_spans",
        "7dd81e826bc04a7a0aba4ec636b8e4d44eaaef4d",
        [f"ALTER TABLE {{db}}.{t} ADD COLUMN `ttft` Nullable(Float64)" for t in ("traces", "spans")],
    ),
    (
        "000075_add_source_to_traces_and_spans",
        "ee302984e8e76511643befd25cf46c3ac26d9330",
        [
            stmt
            for t in ("traces", "spans")
            for stmt in (
                f"ALTER TABLE {{db}}.{t} ADD COLUMN source Enum8('unknown' = 0, 'sdk' = 1, 'experiment' = 2, "
                "'playground' = 3, 'optimization' = 4) DEFAULT 'unknown'",
                f"ALTER TABLE {{db}}.{t} ADD INDEX idx_{t}_source source TYPE set(0) GRANULARITY 1",
            )
        ],
    ),
    (
        "000077_add_thread_id_skip_index_to_traces",
        "6fbbcefc47a384bd8bc76c745790f348bd2d36ba",
        [
            "ALTER TABLE {db}.traces ADD INDEX idx_traces_thread_id_bf thread_id TYPE bloom_filter(0.01) GRANULARITY 1",
        ],
    ),
    (
        "000084_add_environment_to_traces_spans_threads",
        # the stored version at 6593cb85 declares environment String; the one Opik shipped declares
        # LowCardinality(String) (Opik's CutoverSchemaParity test pins the live type), which is replayed here
        "6593cb858adba922c8aa06b0f99e702540173c6c",
        [
            stmt
            for t in ("traces", "spans")
            for stmt in (
                f"ALTER TABLE {{db}}.{t} ADD COLUMN environment LowCardinality(String) DEFAULT ''",
                f"ALTER TABLE {{db}}.{t} ADD INDEX idx_{t}_environment environment TYPE set(0) GRANULARITY 1",
            )
        ],
    ),
    (
        "000088_add_created_at_last_updated_at_skip_indexes",
        "2148258ea833655dbff59f77ea630a64c973030f",
        [
            f"ALTER TABLE {{db}}.{t} ADD INDEX idx_{t}_created_at created_at TYPE minmax GRANULARITY 1, "
            f"ADD INDEX idx_{t}_last_updated_at last_updated_at TYPE minmax GRANULARITY 1"
            for t in ("spans", "traces")
        ],
    ),
    (
        "000091_add_id_at_to_traces",
        "6820b20ba33e243a07b38283da00207ac7e9c10b",
        [
            "ALTER TABLE {db}.traces ADD COLUMN id_at DateTime('UTC') MATERIALIZED UUIDv7ToDateTime(toUUID(id))",
        ],
    ),
    (
        "000092_add_evaluator_source_value",
        "1bdb981884b826b6bd087d7ceeba2b1d6f0abe2e",
        [
            f"ALTER TABLE {{db}}.{t} MODIFY COLUMN source Enum8('unknown' = 0, 'sdk' = 1, 'experiment' = 2, "
            "'playground' = 3, 'optimization' = 4, 'evaluator' = 5) DEFAULT 'unknown'"
            for t in ("traces", "spans")
        ],
    ),
    (
        "000097_add_minmax_indexes_experiment_refs_lookup",
        "2148258ea833655dbff59f77ea630a64c973030f",
        [
            "ALTER TABLE {db}.spans ADD INDEX idx_spans_id id TYPE minmax GRANULARITY 1",
        ],
    ),
    (
        "000105_add_id_at_to_spans",
        "708bc958d8d283dfdca46a41f62fd366063baf81",
        [
            "ALTER TABLE {db}.spans ADD COLUMN id_at DateTime('UTC') MATERIALIZED UUIDv7ToDateTime(toUUID(id))",
        ],
    ),
    (
        "000113_add_id_bloom_filter_index_to_traces",
        "eedb135a9d6143f10cd1313225388bd5a508e5b7",
        [
            "ALTER TABLE {db}.traces ADD INDEX idx_traces_id_bf id TYPE bloom_filter(0.01) GRANULARITY 1",
        ],
    ),
]

#: The history points the tests adopt, oldest first.
POINTS = ("000044", "000057", "000092", "000105", "cutover", "wrap")


def replay(engine: Adapter, db: str, upto: str) -> None:
    """Run the steps up to the changeset whose name starts with ``upto`` (``db`` must exist)."""
    last = next(i for i, (name, _, _) in enumerate(STEPS) if name.startswith(upto))
    for _name, _commit, statements in STEPS[: last + 1]:
        for sql in statements:
            engine.execute(sql.format(db=f"`{db}`"))


def create_at(engine: Adapter, db: str, point: str) -> None:
    """Create ``db`` with the traces and spans an Opik install has at ``point`` (see the module doc), and one of
    Opik's other tables (adoption must never touch it)."""
    engine.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
    if point in ("cutover", "wrap"):
        for table in ("traces", "spans"):
            engine.execute(successor_ddl(table, f"`{db}`"))
        if point == "wrap":  # the runbook: traces becomes traces_local under a Distributed traces
            engine.execute(f"RENAME TABLE `{db}`.traces TO `{db}`.traces_local")
            engine.execute(
                f"CREATE TABLE `{db}`.traces AS `{db}`.traces_local "
                f"ENGINE = Distributed('shards1', '{db}', 'traces_local', sipHash64(project_id))"
            )
    else:
        replay(engine, db, point)
    engine.execute(
        f"CREATE TABLE `{db}`.feedback_scores (entity_id String, value Float64) ENGINE = MergeTree ORDER BY entity_id"
    )
    engine.execute(f"INSERT INTO `{db}`.feedback_scores VALUES ('x', 1.5)")
