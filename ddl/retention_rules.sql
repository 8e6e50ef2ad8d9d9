-- Retention rules: append-only history of retention classes per workspace and project.
-- A row says "ids created on or after the UTC day effective_from, of this workspace/project,
-- live `days` days" (0 = unlimited). workspace_id = '' with project_id = '' is the deployment
-- default; project_id = '' is a workspace rule. A rule re-issued with the same
-- (workspace, project, effective_from) and a newer created_at replaces the older one.
-- Written by `opik-store retention apply`; copied into the `retention` lookup table.
CREATE TABLE retention_rules
(
    workspace_id    String,
    project_id      String,
    days            UInt16,
    effective_from  Date32,
    created_at      DateTime64(6, 'UTC') DEFAULT now64(6),
    note            String DEFAULT ''
)
ENGINE = MergeTree
ORDER BY (workspace_id, project_id, effective_from)
