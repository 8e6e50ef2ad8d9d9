-- Retention rules: append-only history of retention classes per workspace and project.
-- A row says "from effective_from on, rows of this workspace/project live `days` days" (0 = unlimited).
-- workspace_id = '' with project_id = '' is the deployment default; project_id = '' is a workspace rule.
-- Read through the `retention` dictionary; written by `opik-store retention apply`.
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
