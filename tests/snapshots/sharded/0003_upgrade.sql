ALTER TABLE `opik`.`traces_local` ON CLUSTER 'opik' MODIFY COLUMN IF EXISTS retention_days UInt16 MATERIALIZED arrayLast((d, f) -> f <= retention_at,
        arrayConcat(joinGet('opik.retention', 'days', '', ''), joinGet('opik.retention', 'days', workspace_id, ''), joinGet('opik.retention', 'days', workspace_id, toString(project_id))),
        arrayConcat(joinGet('opik.retention', 'froms', '', ''), joinGet('opik.retention', 'froms', workspace_id, ''), joinGet('opik.retention', 'froms', workspace_id, toString(project_id))));

ALTER TABLE `opik`.`traces` ON CLUSTER 'opik' MODIFY COLUMN IF EXISTS retention_days UInt16 MATERIALIZED arrayLast((d, f) -> f <= retention_at,
        arrayConcat(joinGet('opik.retention', 'days', '', ''), joinGet('opik.retention', 'days', workspace_id, ''), joinGet('opik.retention', 'days', workspace_id, toString(project_id))),
        arrayConcat(joinGet('opik.retention', 'froms', '', ''), joinGet('opik.retention', 'froms', workspace_id, ''), joinGet('opik.retention', 'froms', workspace_id, toString(project_id))));

ALTER TABLE `opik`.`spans_local` ON CLUSTER 'opik' MODIFY COLUMN IF EXISTS retention_days UInt16 MATERIALIZED arrayLast((d, f) -> f <= retention_at,
        arrayConcat(joinGet('opik.retention', 'days', '', ''), joinGet('opik.retention', 'days', workspace_id, ''), joinGet('opik.retention', 'days', workspace_id, toString(project_id))),
        arrayConcat(joinGet('opik.retention', 'froms', '', ''), joinGet('opik.retention', 'froms', workspace_id, ''), joinGet('opik.retention', 'froms', workspace_id, toString(project_id))));

ALTER TABLE `opik`.`spans` ON CLUSTER 'opik' MODIFY COLUMN IF EXISTS retention_days UInt16 MATERIALIZED arrayLast((d, f) -> f <= retention_at,
        arrayConcat(joinGet('opik.retention', 'days', '', ''), joinGet('opik.retention', 'days', workspace_id, ''), joinGet('opik.retention', 'days', workspace_id, toString(project_id))),
        arrayConcat(joinGet('opik.retention', 'froms', '', ''), joinGet('opik.retention', 'froms', workspace_id, ''), joinGet('opik.retention', 'froms', workspace_id, toString(project_id))));
