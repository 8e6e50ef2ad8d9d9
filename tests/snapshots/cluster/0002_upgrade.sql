ALTER TABLE `opik`.`traces` ON CLUSTER 'opik' MODIFY SETTING non_replicated_deduplication_window = 10000;

ALTER TABLE `opik`.`spans` ON CLUSTER 'opik' MODIFY SETTING non_replicated_deduplication_window = 10000;
