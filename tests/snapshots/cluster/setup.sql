CREATE DATABASE IF NOT EXISTS `opik` ON CLUSTER 'opik';

CREATE TABLE IF NOT EXISTS `opik`.`opik_store_ledger` ON CLUSTER 'opik'
(
    revision     String,
    state        Enum8('started' = 1, 'applied' = 2, 'failed' = 3, 'reverted' = 4),
    direction    Enum8('upgrade' = 1, 'downgrade' = 2),
    checksum     String,
    source_checksum String,
    run_id       UUID,
    host         String,
    pid          UInt32,
    started_at   DateTime('UTC'),
    finished_at  Nullable(DateTime('UTC')),
    duration_ms  Nullable(UInt64),
    error        String,
    note         String,
    recorded_at  DateTime('UTC'),
    seq          UInt64,
    migrations_dir String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (revision, seq);
