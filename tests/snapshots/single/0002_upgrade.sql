ALTER TABLE `opik`.`traces` MODIFY SETTING non_replicated_deduplication_window = 10000;

ALTER TABLE `opik`.`spans` MODIFY SETTING non_replicated_deduplication_window = 10000;
