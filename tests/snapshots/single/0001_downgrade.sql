DROP TABLE IF EXISTS `opik`.`spans`;

DROP TABLE IF EXISTS `opik`.`traces`;

DROP DICTIONARY IF EXISTS `opik`.`retention`;

DROP VIEW IF EXISTS `opik`.`retention_periods`;

DROP TABLE IF EXISTS `opik`.`retention_rules`;
