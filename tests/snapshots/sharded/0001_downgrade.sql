DROP TABLE IF EXISTS `opik`.`spans` ON CLUSTER 'opik' SYNC;

DROP TABLE IF EXISTS `opik`.`spans_local` ON CLUSTER 'opik' SYNC;

DROP TABLE IF EXISTS `opik`.`traces` ON CLUSTER 'opik' SYNC;

DROP TABLE IF EXISTS `opik`.`traces_local` ON CLUSTER 'opik' SYNC;

DROP TABLE IF EXISTS `opik`.`retention` ON CLUSTER 'opik' SYNC;

DROP TABLE IF EXISTS `opik`.`retention_rules` ON CLUSTER 'opik' SYNC;
