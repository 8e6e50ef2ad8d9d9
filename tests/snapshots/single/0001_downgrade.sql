DROP TABLE IF EXISTS `opik`.`spans`;

DROP TABLE IF EXISTS `opik`.`traces`;
