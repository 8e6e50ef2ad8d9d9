"""``Store``: the Python API backend code and the CLI use.

A Store is built from a URL (or a StoreConfig) and connects lazily: rendering
SQL (``sql()``) never connects. Connecting checks the server version and the
names of the configured DDL settings before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from opik_store.adopt import ORIGINAL, STORE, SUCCESSOR, Adoption, AdoptionRefused
from opik_store.config import StoreConfig
from opik_store.engine.adapter import Adapter
from opik_store.engine.connect import open_adapter
from opik_store.engine.retry import RetryPolicy
from opik_store.engine.server import ServerInfo, check_settings, check_version, server_info
from opik_store.errors import MissingTargetError, OpikStoreError
from opik_store.health.checks import Health, HealthReport
from opik_store.ingest.writer import BatchWriter, Mode
from opik_store.maintenance.config_file import HealthConfig
from opik_store.maintenance.retention import Retention
from opik_store.migrations import relayout
from opik_store.migrations.ledger import UPGRADE, LedgerEntry, setup_statements
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
        self.revisions = revisions or RevisionSet()
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
        return cls(config, RevisionSet(migrations_dir))

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
        try:
            return self.migrator(progress).upgrade(
                to,
                dry_run=dry_run,
                allow_changed=allow_changed,
                allow_destructive=allow_destructive,
                after_statement=after_statement,
            )
        except RefusedError as exc:
            hint = self._adoption_hint()
            if not hint:
                raise
            raise RefusedError(f"{exc} {hint}") from None

    def _adoption_hint(self) -> str:
        """The next step when the database is one Opik created (or one under adoption); '' otherwise."""
        try:
            layout = self.adoption().detect()
        except (AdoptionRefused, OpikStoreError):
            return ""
        if layout in (ORIGINAL, SUCCESSOR):
            return (f"This database was created by Opik ({layout} layout): `opik-store adopt plan` shows how the "
                    "store takes it over (a copy into the store's layout while Opik keeps writing, then `opik-store "
                    "adopt finish --yes`).")  # fmt: skip
        if layout == STORE:
            return ("These are Opik's own newest tables, which are the store's layout: `opik-store adopt run` "
                    "records them in place and copies nothing.")  # fmt: skip
        if layout == "adopting":
            return ("An adoption of this database is under way: `opik-store adopt run` continues it, "
                    "`opik-store adopt finish --yes` completes it, `opik-store adopt rollback` undoes it.")  # fmt: skip
        return ""

    def downgrade(
        self, to: str, allow_data_loss: bool = False, dry_run: bool = False, progress: Progress | None = None
    ) -> Report:
        """Revert revisions newer than ``to`` (``base`` reverts all); DataLossError unless allowed."""
        return self.migrator(progress).downgrade(to, allow_data_loss=allow_data_loss, dry_run=dry_run)

    def status(self) -> Status:
        return self.migrator().status()

    def history(self) -> list[LedgerEntry]:
        """Every ledger row, oldest first."""
        return self.migrator().ledger.entries()

    def check(self) -> list[Difference]:
        """Differences between the live tables and ddl/ (= head, as the test suite proves)."""
        return self.migrator().differences([ddl(t) for t in TABLES])

    def stamp(self, to: str, force: bool = False, progress: Progress | None = None) -> tuple[Report, list[Difference]]:
        """Record ``to`` as applied without running it, if the live tables match it (or ``force``)."""
        return self.migrator(progress).stamp(to, force=force)

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
        """Render the upgrade statements after ``start`` up to ``end`` without connecting."""
        hazards = revision_hazards(self.revisions)
        return [
            render_revision(r, UPGRADE, self.config, hazards.get(r.id, ())) for r in self.revisions.between(start, end)
        ]

    def setup_sql(self) -> list[str]:
        """Statements ``migrate`` runs before any revision (database and ledger, idempotent)."""
        return setup_statements(self.config.database, self.config.topology)
