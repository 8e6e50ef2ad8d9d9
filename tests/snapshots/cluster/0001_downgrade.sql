DROP TABLE IF EXISTS `opik`.`spans` ON CLUSTER 'opik' SYNC;

DROP TABLE IF EXISTS `opik`.`traces` ON CLUSTER 'opik' SYNC;

DROP DICTIONARY IF EXISTS `opik`.`retention` ON CLUSTER 'opik';

DROP VIEW IF EXISTS `opik`.`retention_periods` ON CLUSTER 'opik';

DROP TABLE IF EXISTS `opik`.`retention_rules` ON CLUSTER 'opik' SYNC;
