DROP TABLE IF EXISTS `opik`.`spans` ON CLUSTER 'opik' SYNC;

DROP TABLE IF EXISTS `opik`.`traces` ON CLUSTER 'opik' SYNC;
