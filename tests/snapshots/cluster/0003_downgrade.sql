ALTER TABLE `opik`.`spans` ON CLUSTER 'opik' MODIFY COLUMN IF EXISTS retention_days UInt16 MATERIALIZED if(retention_at = toDate32('1970-01-01'), 0, ifNull(
        arrayLastOrNull((d, f) -> f <= retention_at, joinGet('opik.retention', 'days', workspace_id, toString(project_id)), joinGet('opik.retention', 'froms', workspace_id, toString(project_id))),
        ifNull(arrayLastOrNull((d, f) -> f <= retention_at, joinGet('opik.retention', 'days', workspace_id, ''), joinGet('opik.retention', 'froms', workspace_id, '')),
        ifNull(arrayLastOrNull((d, f) -> f <= retention_at, joinGet('opik.retention', 'days', '', ''), joinGet('opik.retention', 'froms', '', '')), 0))));

ALTER TABLE `opik`.`traces` ON CLUSTER 'opik' MODIFY COLUMN IF EXISTS retention_days UInt16 MATERIALIZED if(retention_at = toDate32('1970-01-01'), 0, ifNull(
        arrayLastOrNull((d, f) -> f <= retention_at, joinGet('opik.retention', 'days', workspace_id, toString(project_id)), joinGet('opik.retention', 'froms', workspace_id, toString(project_id))),
        ifNull(arrayLastOrNull((d, f) -> f <= retention_at, joinGet('opik.retention', 'days', workspace_id, ''), joinGet('opik.retention', 'froms', workspace_id, '')),
        ifNull(arrayLastOrNull((d, f) -> f <= retention_at, joinGet('opik.retention', 'days', '', ''), joinGet('opik.retention', 'froms', '', '')), 0))));
