ALTER TABLE `opik`.`spans_local` ON CLUSTER 'opik' RESET SETTING non_replicated_deduplication_window;

ALTER TABLE `opik`.`traces_local` ON CLUSTER 'opik' RESET SETTING non_replicated_deduplication_window;
