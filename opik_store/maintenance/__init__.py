"""Maintenance that keeps storage bounded: retention classes and ClickHouse's own log tables.

``config_file`` reads the operator's TOML file (retention, system tables, job
schedules); ``cron`` validates crontab expressions; ``retention`` plans and
applies retention classes; ``system_tables`` reports, prunes and configures
the system log tables.

May import: ``opik_store.errors``, ``opik_store.resources``, ``opik_store.config``,
``opik_store.engine`` and ``opik_store.schema``.
"""
