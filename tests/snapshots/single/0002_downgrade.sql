ALTER TABLE `opik`.`spans` RESET SETTING non_replicated_deduplication_window;

ALTER TABLE `opik`.`traces` RESET SETTING non_replicated_deduplication_window;
