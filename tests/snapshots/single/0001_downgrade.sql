DROP TABLE IF EXISTS `opik`.`spans`;

DROP TABLE IF EXISTS `opik`.`traces`;

DROP TABLE IF EXISTS `opik`.`retention`;

DROP TABLE IF EXISTS `opik`.`retention_rules`;
