ALTER TABLE `opik`.`spans` ON CLUSTER 'opik' RESET SETTING non_replicated_deduplication_window;

ALTER TABLE `opik`.`traces` ON CLUSTER 'opik' RESET SETTING non_replicated_deduplication_window;
