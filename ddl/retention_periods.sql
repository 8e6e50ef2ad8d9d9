-- Retention periods: the rules with re-issued rules collapsed. A rule re-inserted with the
-- same (workspace, project, effective_from) and a newer created_at replaces the older one;
-- that is how a class change is applied to past data (`opik-store retention backfill`).
CREATE VIEW retention_periods AS
SELECT
    workspace_id,
    project_id,
    argMax(days, created_at) AS days,
    effective_from,
    max(effective_to) AS effective_to
FROM retention_rules
GROUP BY workspace_id, project_id, effective_from
