"""Versioned migrations: the revision graph, the runner, its lock, ledger and pre-flight.

``revisions`` loads revision scripts through alembic's graph; ``ledger`` is
the append-only record of every start, apply, failure and revert; ``lock`` is
the generation-table lock with lease and fencing (jobs reuse it); ``preflight``
checks a cluster before DDL; ``replicas`` recovers a CREATE that meets a
leftover Keeper replica; ``runner`` (``Migrator``) applies, reverts, stamps
and reports, under the lock.

May import: ``opik_store.errors``, ``opik_store.resources``, ``opik_store.config``,
``opik_store.engine`` and ``opik_store.schema``.
"""
