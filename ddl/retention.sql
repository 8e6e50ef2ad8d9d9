-- The retention dictionary: for (workspace_id, project_id) and a moment, the rule in effect then
-- (read from the retention_periods view).
-- Rules never close: every range ends in 2105 and the newest effective_from that is not after
-- the moment wins (range_lookup_strategy 'max'), so the rules table stays append-only.
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
