"""``Store``: the Python API backend code and the CLI use.

A Store is built from a URL (or a StoreConfig) and connects lazily: rendering
SQL (``sql()``) never connects. Connecting checks the server version and the
names of the configured DDL settings before anything runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from opik_store.adopt import Adoption
from opik_store.adopt.identity import OPIK_NEWEST, Identity, identify
from opik_store.config import StoreConfig
from opik_store.engine import embedded
from opik_store.engine.adapter import Adapter
from opik_store.engine.connect import open_adapter
from opik_store.engine.retry import RetryPolicy
from opik_store.engine.server import ServerInfo, check_settings, check_version, server_info
from opik_store.errors import ConfigError, MissingTargetError, OpikStoreError
from opik_store.health.checks import Health, HealthReport
from opik_store.ingest.writer import BatchWriter, Mode
from opik_store.maintenance.config_file import HealthConfig
from opik_store.maintenance.retention import Retention
from opik_store.migrations import relayout
from opik_store.migrations.ledger import UPGRADE, Ledger, LedgerEntry, setup_statements
from opik_store.migrations.lock import Holder
from opik_store.migrations.relayout import Limits, StepHook, WindowHook
from opik_store.migrations.revisions import RevisionSet
from opik_store.migrations.runner import (
    Migrator,
    Progress,
    RefusedError,
    Report,
    StatementHook,
    Status,
    Step,
    render_revision,
    revision_hazards,
)
from opik_store.reads import Reader
from opik_store.resources import ENV_MIGRATIONS_DIR
from opik_store.schema.ddl import TABLES, ddl
from opik_store.schema.shapes import Difference


class Store:
    """The ClickHouse storage of an Opik deployment: one database on one server or cluster."""

    def __init__(
        self, config: StoreConfig, revisions: RevisionSet | None = None, *, old_server_for_tests: str | None = None
    ) -> None:
        """``old_server_for_tests`` is for the cluster mechanism tests only, never for a deployment.

        It names the exact version string (e.g. ``"18.16.1"``) of a server older
        than ``MIN_VERSION`` that this store may connect to, so those tests can
        drive the lock, ledger and job mechanisms on the old multi-node servers
        that can be run on a test machine. Any other version is still refused;
        no CLI flag or environment variable sets it.
        """
        self.config = config
        self._revisions = revisions
        #: Where the revisions came from when the database's ledger chose them ('' otherwise).
        self.revisions_recorded = ""
        self._ledger_rows: int | None = None  # the ledger's rows when the revisions were resolved (read once)
        self.old_server_for_tests = old_server_for_tests
        self._adapter: Adapter | None = None
        self._server: ServerInfo | None = None

    @classmethod
    def from_url(
        cls,
        url: str | None = None,
        database: str | None = None,
        cluster: str | None = None,
        replica_path: str | None = None,
        replica_name: str | None = None,
        settings: Mapping[str, str] | None = None,
        migrations_dir: str | None = None,
        sharded: bool | None = None,
        lock_timeout: float | None = None,
        lock_lease: float | None = None,
        retries: int | None = None,
    ) -> Store:
        """Build a store; arguments left as None fall back to OPIK_STORE_* variables, then defaults."""
        config = StoreConfig.from_env(
            url=url,
            database=database,
            cluster=cluster,
            replica_path=replica_path,
            replica_name=replica_name,
            settings=settings,
            lock_timeout=lock_timeout,
            lock_lease=lock_lease,
            retries=retries,
            sharded=sharded,
        )
        chosen = migrations_dir or os.environ.get(ENV_MIGRATIONS_DIR)
        return cls(config, RevisionSet(chosen) if chosen else None)

    @property
    def revisions(self) -> RevisionSet:
        """The revisions this store applies: the folder given (argument, ``--migrations-dir``,
        OPIK_STORE_MIGRATIONS_DIR, ``[migrations] dir``); else the one the database's ledger records (read on
        first use, which connects); else the shipped ones. A recorded folder this machine lacks is a
        ConfigError naming it: the shipped revisions are not that database's."""
        if self._revisions is None:
            self._revisions = self._recorded_revisions()
        return self._revisions

    def _recorded_revisions(self) -> RevisionSet:
        if os.environ.get(ENV_MIGRATIONS_DIR):  # the environment names the folder: the ledger is not asked
            return RevisionSet()
        rows, recorded = Ledger(self.adapter, self.config.database, self.config.topology).recorded_folder()
        self._ledger_rows = rows
        if not recorded:
            return RevisionSet()
        if not (Path(recorded) / "versions").is_dir():
            raise ConfigError(
                f"database {self.config.database!r} was migrated with the revisions in {recorded} (its ledger "
                "records the folder), which this machine does not have: name that folder with --migrations-dir, "
                "OPIK_STORE_MIGRATIONS_DIR or `[migrations] dir` in opik-store.toml; nothing was changed"
            )
        self.revisions_recorded = recorded
        return RevisionSet(recorded)

    # -- connection -------------------------------------------------------
    @property
    def adapter(self) -> Adapter:
        """The open connection; opened (and the server checked) on first use."""
        if self._adapter is None:
            adapter = open_adapter(self.config.connection)
            try:
                info = server_info(adapter)
                if info.version != self.old_server_for_tests:
                    check_version(info.version)
                check_settings(adapter, self.config.ddl_settings)
            except OpikStoreError:
                adapter.close()
                raise
            self._adapter, self._server = adapter, info
        return self._adapter

    @property
    def server(self) -> ServerInfo:
        _ = self.adapter
        assert self._server is not None
        return self._server

    def close(self) -> None:
        if self._adapter is not None:
            self._adapter.close()
            self._adapter = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def database_exists(self) -> bool:
        """Whether the configured database exists on the server (connects; creates nothing)."""
        rows = self.adapter.query(
            "SELECT count() FROM system.databases WHERE name = {db:String}", {"db": self.config.database}
        )
        return bool(rows.scalar())

    def require_existing(self, database: bool = True) -> None:
        """Raise MissingTargetError unless the target exists; creates nothing.

        An embedded directory that does not exist is reported before
        connecting (connecting would create it); with ``database``, the
        database must exist on the server too.
        """
        conn = self.config.connection
        if conn.kind == "embedded" and conn.path != ":memory:" and not Path(conn.path).is_dir():
            if not embedded.installed():  # the lean install: `migrate` cannot make one here either
                raise ConfigError(embedded.not_installed(conn.display))
            raise MissingTargetError(
                f"no embedded database at {conn.path} (nothing was created): run `opik-store migrate` there "
                "first, or name the target with --url / OPIK_STORE_URL"
            )
        if database and not self.database_exists():
            raise MissingTargetError(
                f"database {self.config.database!r} does not exist on {conn.display} (nothing was created): "
                "check --database / --url, or run `opik-store migrate` to create it"
            )

    def migrator(self, progress: Progress | None = None) -> Migrator:
        return Migrator(self.adapter, self.config, self.revisions, progress)

    # -- operations -------------------------------------------------------
    def migrate(
        self,
        to: str = "heads",
        dry_run: bool = False,
        progress: Progress | None = None,
        allow_changed: bool = False,
        allow_destructive: bool = False,
        after_statement: StatementHook | None = None,
    ) -> Report:
        """Apply pending revisions up to ``to`` under the migration lock.

        An up-to-date database gets an empty report. ``after_statement`` is a
        test hook called after each statement with (revision, index).
        """
        migrator = self.migrator(progress)  # resolves the revisions, which may read the ledger's rows
        rows = self._ledger_rows if self._ledger_rows is not None else migrator.ledger.recorded_folder()[0]
        if not rows:  # a ledger with rows is the store's: no need to look further (a no-op migrate stays cheap)
            identity = self.identify()
            if identity.is_opik:  # before the ledger, the lock or anything else is created (the dry run alike)
                raise RefusedError(identity.refusal("migrate --dry-run" if dry_run else "migrate"))
        self._ledger_rows = None  # this run may write the first rows
        return migrator.upgrade(
            to,
            dry_run=dry_run,
            allow_changed=allow_changed,
            allow_destructive=allow_destructive,
            after_statement=after_statement,
        )

    def identify(self, status: Status | None = None) -> Identity:
        """What the database is (the store's, Opik's in one of its layouts, under adoption, empty, missing or
        unknown) and the command to run next; reads only. ``migrate``, ``stamp``, ``status`` and ``check`` all
        decide from it. ``status``: one the caller already read (else it is read if needed)."""
        migrator = self.migrator()
        return identify(
            Adoption(self.adapter, self.config, migrator), lambda: len((status or migrator.status()).pending)
        )

    def downgrade(
        self, to: str, allow_data_loss: bool = False, dry_run: bool = False, progress: Progress | None = None
    ) -> Report:
        """Revert revisions newer than ``to`` (``base`` reverts all); DataLossError unless allowed."""
        return self.migrator(progress).downgrade(to, allow_data_loss=allow_data_loss, dry_run=dry_run)

    def status(self) -> Status:
        """Where the ledger stands against the revisions (``identify`` says what the database is)."""
        return self.migrator().status()

    def history(self) -> list[LedgerEntry]:
        """Every ledger row, oldest first."""
        return self.migrator().ledger.entries()

    def check(self) -> list[Difference]:
        """Differences between the live tables and head: ``ddl/`` for the shipped revisions (the same, as the test
        suite proves), else what the deployment's own revisions create."""
        if not self.revisions.source:
            return self.migrator().differences([ddl(t) for t in TABLES])
        return self.migrator().differences([s for r in self.revisions.ordered for s in r.upgrade_statements()])

    def stamp(self, to: str, force: bool = False, progress: Progress | None = None) -> tuple[Report, list[Difference]]:
        """Record ``to`` as applied without running it, if the live tables match it (or ``force``).

        A database in one of Opik's older layouts (or under adoption) is refused whatever ``force`` says, naming
        the ``adopt`` command that takes it over: recording the store's revisions over them would be a lie. Opik's
        own newest tables are the store's layout: stamped when they match, else the refusal names ``adopt run``
        (which adds what they lack) instead of listing every difference."""
        identity = self.identify()
        if identity.is_opik and identity.kind != OPIK_NEWEST:
            raise RefusedError(identity.refusal("stamp"))
        try:
            return self.migrator(progress).stamp(to, force=force)
        except RefusedError:
            if identity.kind != OPIK_NEWEST:
                raise
            raise RefusedError(
                f"database {self.config.database!r}: {identity.summary}, which differ from {to} (`opik-store check` "
                f"lists how); nothing was changed. Next: {identity.next_step}"
            ) from None

    def writer(
        self,
        table: str,
        batch_size: int = 1000,
        mode: Mode = "all",
        defaults: Mapping[str, object] | None = None,
    ) -> BatchWriter:
        """A BatchWriter for ``traces`` or ``spans`` on its own new connection (closed by its ``close``).

        Its own connection lets it run beside this store from another thread;
        it retries with this store's ``retries`` attempts.
        """
        adapter = open_adapter(self.config.connection)
        try:
            return BatchWriter(
                adapter,
                self.config.database,
                table,
                batch_size=batch_size,
                mode=mode,
                defaults=defaults,
                retry=RetryPolicy(attempts=self.config.retries),
                close_adapter=True,
            )
        except BaseException:
            adapter.close()
            raise

    def reader(self, by_name: bool = False) -> Reader:
        """A Reader (profile-aware reads) on its own new connection, closed by its ``close``.

        ``by_name=True`` sends each purpose's profile by name (the server must
        have it); by default the profile's values are sent.
        """
        adapter = open_adapter(self.config.connection)
        try:
            return Reader(adapter, by_name=by_name, close_adapter=True)
        except BaseException:
            adapter.close()
            raise

    def health(self, thresholds: HealthConfig | None = None) -> HealthReport:
        """Run the health checks (``opik-store health``) against this store's server; read-only."""
        return Health(self.adapter, thresholds, cluster=self.config.topology.cluster).run()

    def retention(self, progress: Progress | None = None) -> Retention:
        """Retention operations (plan/apply/backfill) on this database."""
        return Retention(self.adapter, self.config, progress)

    def adoption(
        self,
        limits: Limits | None = None,
        progress: Progress | None = None,
        after_window: WindowHook | None = None,
        after_step: StepHook | None = None,
    ) -> Adoption:
        """Adoption of an Opik-made database (``opik-store adopt``): plan, run, verify, finish, rollback.

        ``after_window`` is called after each copied window and ``after_step`` after each step of a cutover
        (tests raise there to kill the run at that point)."""
        return Adoption(self.adapter, self.config, self.migrator(progress), limits, progress, after_window, after_step)

    def relayout_backups(self) -> list[str]:
        """Tables a revision's re-layout swapped whose original is still kept (``<table>_opik_store_backup``)."""
        return relayout.kept_backups(self.adapter, self.config)

    def finish_relayout(self, table: str, yes: bool = False, dry_run: bool = False) -> str:
        """Drop the original a revision's re-layout of ``table`` kept (only with ``yes``); returns the action."""
        if dry_run or not yes:  # changes nothing (refuses, or reports nothing to finish): no need for the lock
            return relayout.finish(self.adapter, self.config, table, yes, dry_run)
        lock = self.migrator().lock()  # never while a migrate (or adopt) is running a re-layout of it
        lock.acquire(self.config.lock_timeout)
        try:
            return relayout.finish(self.adapter, self.config, table, yes, dry_run)
        finally:
            lock.release()

    def lock_holder(self) -> Holder | None:
        """The newest migration-lock generation's holder (released or not), None if never locked."""
        return self.migrator().lock().holder()

    def lock_holder_is_dead_here(self, holder: Holder) -> bool:
        """Whether ``holder`` ran on this host (same boot and PID namespace) and its process is gone."""
        return self.migrator().lock().dead_here(holder)

    def unlock(self) -> Holder | None:
        """Mark the migration lock released, whoever holds it; returns who held it."""
        return self.migrator().lock().force_release()

    def sql(self, start: str | None = None, end: str = "heads") -> list[Step]:
        """Render the upgrade statements after ``start`` up to ``end`` without connecting (the folder given, else
        the shipped revisions: no ledger is read)."""
        revisions = self._revisions or RevisionSet()
        hazards = revision_hazards(revisions)
        return [render_revision(r, UPGRADE, self.config, hazards.get(r.id, ())) for r in revisions.between(start, end)]

    def setup_sql(self) -> list[str]:
        """Statements ``migrate`` runs before any revision (database and ledger, idempotent)."""
        return setup_statements(self.config.database, self.config.topology)
