-- The retention lookup: for each (workspace_id, project_id) with rules, its whole history as two
-- parallel arrays sorted by day (froms[i] is the first UTC day of ids that take days[i]).
-- A Join table is in-process state of the server itself: no source to log in to, no load that can
-- fail or be awaited, so an INSERT into traces/spans never fails or waits because of it; ClickHouse
-- refuses to drop it while traces/spans use it. Rebuilt from retention_rules by `retention apply`;
-- the newest row of a key wins (join_any_take_last_row), so a rebuild never empties it.
CREATE TABLE retention
(
    workspace_id    String,
    project_id      String,
    froms           Array(Date32),
    days            Array(UInt16)
)
ENGINE = Join(ANY, LEFT, workspace_id, project_id)
SETTINGS join_any_take_last_row = 1
