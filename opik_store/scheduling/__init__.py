"""Scheduled maintenance: named jobs, their run history, and the scheduler.

``jobs`` runs a named job against a ``Store`` under a per-job lease and
records each run in an append-only table; ``scheduler`` runs the jobs on their
crontab schedules (APScheduler).

May import everything below the CLI: ``opik_store.store`` and what it uses.
"""
