ALTER TABLE `opik`.`traces_local` ON CLUSTER 'opik' MODIFY SETTING non_replicated_deduplication_window = 10000;

ALTER TABLE `opik`.`spans_local` ON CLUSTER 'opik' MODIFY SETTING non_replicated_deduplication_window = 10000;
