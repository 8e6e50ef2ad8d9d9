"""The ``opik-store`` command: a thin layer over :class:`opik_store.Store`.

Exit codes: 0 success; 1 a database/server error; 2 bad input or a refused
operation (nothing was changed); 3 ``check`` found differences; 4 the
migration lock stayed busy for the whole --lock-timeout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from opik_store import __version__
from opik_store.config import parse_settings
from opik_store.errors import ConfigError, DataLossError, OpikStoreError, RevisionError, UnsupportedServerError
from opik_store.maintenance.config_file import load_config
from opik_store.maintenance.system_tables import KNOWN_LOGS, SystemTables, render_config
from opik_store.migrations.lock import LockLost, LockTimeout
from opik_store.migrations.preflight import PreflightError
from opik_store.migrations.revisions import RevisionSet
from opik_store.migrations.runner import RefusedError, Report, Step
from opik_store.store import Store

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Options:
    url: str | None
    database: str | None
    cluster: str | None
    replica_path: str | None
    replica_name: str | None
    settings: tuple[str, ...]
    migrations_dir: str | None
    lock_timeout: float | None
    lock_lease: float | None
    retries: int | None

    def store(self) -> Store:
        return Store.from_url(
            url=self.url,
            database=self.database,
            cluster=self.cluster,
            replica_path=self.replica_path,
            replica_name=self.replica_name,
            settings=parse_settings(self.settings),
            migrations_dir=self.migrations_dir,
            lock_timeout=self.lock_timeout,
            lock_lease=self.lock_lease,
            retries=self.retries,
        )


def _err(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)


def handle_errors(func: F) -> F:
    """Turn opik-store errors into one clear line and an exit code."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, DataLossError, RevisionError, UnsupportedServerError, RefusedError, PreflightError) as exc:
            _err(str(exc))
            sys.exit(2)
        except LockTimeout as exc:
            _err(str(exc))
            sys.exit(4)
        except LockLost as exc:
            _err(f"{exc}. The interrupted revision is finished by the next `opik-store migrate`.")
            sys.exit(1)

        except OpikStoreError as exc:
            _err(str(exc))
            sys.exit(1)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper  # type: ignore[return-value]


def _progress(quiet: bool) -> Callable[[str], None]:
    return (lambda _m: None) if quiet else (lambda m: click.echo(m, err=True))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="opik-store")
@click.option(
    "--url",
    envvar="OPIK_STORE_URL",
    show_envvar=True,
    help="clickhouse://user:password@host:9000/?secure=true (native) or chdb:///abs/path (embedded). "
    "Default: an embedded database in ./.opik-store. Passwords are never printed; "
    "OPIK_STORE_PASSWORD supplies one the URL omits.",
)
@click.option("--database", envvar="OPIK_STORE_DATABASE", show_envvar=True, help="Target database [default: opik].")
@click.option(
    "--cluster",
    envvar="OPIK_STORE_CLUSTER",
    show_envvar=True,
    help="Cluster name: renders Replicated* engines and ON CLUSTER. Omit for a single node.",
)
@click.option(
    "--replica-path",
    envvar="OPIK_STORE_REPLICA_PATH",
    show_envvar=True,
    help="Replication path template [default: /clickhouse/tables/{shard}/{database}/{table}].",
)
@click.option(
    "--replica-name", envvar="OPIK_STORE_REPLICA_NAME", show_envvar=True, help="Replica name [default: {replica}]."
)
@click.option(
    "--setting",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="ClickHouse setting for DDL statements (repeatable), over the defaults alter_sync/mutations_sync "
    "(and distributed_ddl_task_timeout on a cluster). Also OPIK_STORE_DDL_SETTINGS='a=1,b=2'.",
)
@click.option(
    "--migrations-dir",
    envvar="OPIK_STORE_MIGRATIONS_DIR",
    show_envvar=True,
    type=click.Path(file_okay=False),
    help="Folder with script.py.mako and versions/ [default: the shipped migrations].",
)
@click.option(
    "--lock-timeout",
    envvar="OPIK_STORE_LOCK_TIMEOUT",
    show_envvar=True,
    type=float,
    help="Seconds to wait for another run's migration lock [default: 300].",
)
@click.option(
    "--lock-lease",
    envvar="OPIK_STORE_LOCK_LEASE",
    show_envvar=True,
    type=float,
    help="Seconds without a heartbeat after which a lock holder counts as dead [default: 60].",
)
@click.option(
    "--retries",
    envvar="OPIK_STORE_RETRIES",
    show_envvar=True,
    type=int,
    help="Attempts per statement on transient errors (connection loss, Keeper, DDL timeouts) [default: 6].",
)
@click.pass_context
def main(ctx: click.Context, /, **kwargs: Any) -> None:
    """Manage the ClickHouse storage of an Opik deployment.

    \b
    Quick start (embedded engine, no server needed):
      opik-store migrate            # create or upgrade ./.opik-store, database opik
      opik-store status             # what is applied, what is pending
    Against a server or a replicated cluster:
      opik-store --url clickhouse://opik:secret@ch:9000/ --cluster opik migrate
    """
    kwargs["settings"] = tuple(kwargs["settings"])
    ctx.obj = Options(**kwargs)


def _echo_step(step: Step) -> None:
    click.echo(f"-- revision {step.revision.id}: {step.revision.message}")
    for hazard in step.hazards:
        click.echo(f"-- DESTRUCTIVE: {hazard}")
    for st in step.statements:
        click.echo(st.sql.rstrip() + ";\n")


def _print_report(report: Report, store: Store, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        return
    where = f"database {store.config.database!r} on {store.config.connection.display} ({store.config.topology.label})"
    verb = {"upgrade": "apply", "downgrade": "revert"}[report.direction]
    if not report.steps:
        status = store.status()
        at = ", ".join(status.current) or "base"
        click.echo(f"{where}: up to date at {at}; nothing to {verb}.")
        return
    if report.dry_run:
        click.echo(f"{where}: would {verb} {len(report.steps)} revision(s) (dry run, nothing changed):")
        for step in report.steps:
            _echo_step(step)
        return
    past = {"apply": "applied", "revert": "reverted"}[verb]
    click.echo(f"{where}: {past} {', '.join(report.revisions)}.")


@main.command()
@click.option("--to", "target", default="heads", show_default=True, help="Revision to migrate to.")
@click.option("--sql", "as_sql", is_flag=True, help="Print the statements for the chosen topology; do not connect.")
@click.option("--from", "start", default=None, help="With --sql: start after this revision [default: base].")
@click.option("--dry-run", is_flag=True, help="Connect, and print what would be applied; change nothing.")
@click.option("--allow-destructive", is_flag=True, help="Apply revisions that drop, truncate, rename or narrow.")
@click.option("--allow-changed", is_flag=True, help="Proceed although an applied revision was edited since.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
@click.pass_obj
@handle_errors
def migrate(
    opts: Options,
    target: str,
    as_sql: bool,
    start: str | None,
    dry_run: bool,
    allow_destructive: bool,
    allow_changed: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Create or upgrade the schema to the newest revision (or --to REV).

    One run at a time: concurrent runs wait for the migration lock (a lease
    that a dead holder loses after --lock-lease seconds) and then find nothing
    left to do. Every statement is idempotent: after an interruption or a
    fixed failure, running the same command again finishes the job. An
    up-to-date database applies nothing and says so. Refused, changing
    nothing: destructive revisions without --allow-destructive, edited applied
    revisions without --allow-changed; in cluster mode, a cluster with an
    unreachable replica or a read-only table.

    \b
    Examples:
      opik-store migrate
      opik-store migrate --dry-run
      opik-store migrate --sql --cluster opik > schema.sql    # no server needed
      opik-store migrate --sql --from 0001 --to 0003
    """
    store = opts.store()
    if as_sql:
        steps = store.sql(start=start, end=target)
        if as_json:
            click.echo(json.dumps(Report("upgrade", steps, dry_run=True).as_json(), indent=2))
            return
        click.echo(f"-- opik-store {__version__}: database {store.config.database!r}, {store.config.topology.label}")
        if start is None:
            click.echo("-- setup (database and migration ledger)")
            for sql in store.setup_sql():
                click.echo(sql.strip() + ";\n")
        for step in steps:
            _echo_step(step)
        return
    with store:
        report = store.migrate(
            target,
            dry_run=dry_run,
            progress=_progress(quiet or as_json),
            allow_changed=allow_changed,
            allow_destructive=allow_destructive,
        )
        _print_report(report, store, as_json)


@main.command()
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Confirm a downgrade that drops tables or columns (loses data).")
@click.option("--dry-run", is_flag=True, help="Print what would be reverted; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
@click.pass_obj
@handle_errors
def downgrade(opts: Options, revision: str, yes: bool, dry_run: bool, as_json: bool, quiet: bool) -> None:
    """Revert applied revisions newer than REVISION ('base' reverts all).

    Refuses, changing nothing, when a reverted revision drops a table or a
    column, unless --yes is given.

    \b
    Examples:
      opik-store downgrade 0001 --dry-run
      opik-store downgrade base --yes
    """
    with opts.store() as store:
        report = store.downgrade(revision, allow_data_loss=yes, dry_run=dry_run, progress=_progress(quiet or as_json))
        _print_report(report, store, as_json)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def status(opts: Options, as_json: bool) -> None:
    """Show the current revision and what is pending.

    \b
    Example:
      opik-store status --json | jq .pending
    """
    with opts.store() as store:
        st = store.status()
        if as_json:
            click.echo(json.dumps({**st.as_json(), "server_version": store.server.version}, indent=2))
            return
        click.echo(f"database:  {st.database} on {store.config.connection.display} ({st.topology})")
        click.echo(f"server:    ClickHouse {store.server.version}")
        click.echo(f"current:   {', '.join(st.current) or 'base (nothing applied)'}")
        click.echo(f"head:      {', '.join(st.heads)}")
        if st.pending:
            click.echo(f"pending:   {len(st.pending)}")
            for step in st.pending:
                mark = f"  [DESTRUCTIVE: {'; '.join(step.hazards)}]" if step.hazards else ""
                click.echo(f"  {step.revision.id}  {step.revision.message}{mark}")
        else:
            click.echo("pending:   none (up to date)")
        for entry in st.interrupted:
            click.echo(
                f"interrupted: {entry.revision} started {entry.started_at:%Y-%m-%d %H:%M:%S} on {entry.host} "
                "(run `opik-store migrate` to finish it)"
            )
        for entry in st.in_progress:
            click.echo(f"running:   {entry.revision} is being applied by {entry.host} pid {entry.pid} right now")
        for entry in st.failed:
            click.echo(f"failed:    {entry.revision}: {entry.error}")
        for changed in st.changed:
            click.secho(
                f"WARNING:   applied revision {changed.revision} was edited since it was applied "
                "(checksum differs); migrate refuses without --allow-changed",
                fg="yellow",
            )
        for unknown in st.unknown:
            click.echo(f"unknown:   {unknown} is applied but not in the migrations folder (newer opik-store?)")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show only the newest N entries.")
@click.pass_obj
@handle_errors
def history(opts: Options, as_json: bool, limit: int | None) -> None:
    """Show every recorded application, oldest first (the append-only ledger).

    \b
    Example:
      opik-store history --limit 10
    """
    with opts.store() as store:
        entries = store.history()
        if limit:
            entries = entries[-limit:]
        if as_json:
            click.echo(json.dumps([e.as_json() for e in entries], indent=2))
            return
        if not entries:
            click.echo("no migrations recorded yet")
            return
        click.echo(f"{'recorded (UTC)':26} {'revision':10} {'direction':10} {'state':9} {'ms':>7} host/pid")
        for e in entries:
            ms = "" if e.duration_ms is None else str(e.duration_ms)
            when = f"{e.recorded_at:%Y-%m-%d %H:%M:%S.%f}"
            line = f"{when} {e.revision:10} {e.direction:10} {e.state:9} {ms:>7} {e.host}/{e.pid}"
            click.echo(line + (f"  {e.error}" if e.error else ""))


@main.command()
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option("--rev-id", default=None, help="Revision id [default: next number, e.g. 0002].")
@click.pass_obj
@handle_errors
def revision(opts: Options, message: str, rev_id: str | None) -> None:
    """Create a new revision script in the migrations folder.

    Write statements once, in single-node form, with unqualified table names;
    opik-store renders them for the database and topology.

    \b
    Example:
      opik-store --migrations-dir migrations revision -m "add cost index to spans"
    """
    path = RevisionSet(opts.migrations_dir).create(message, rev_id=rev_id)
    click.echo(f"created {path}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def check(opts: Options, as_json: bool) -> None:
    """Compare the live tables with the schema head renders; exit 3 on any difference.

    Compares tables, columns (type, default, codec, order), engine (Replicated
    in cluster mode), partition key, ORDER BY, primary key, TTL, settings and
    skip indexes of the tables the store owns; other tables in the database
    (Opik keeps many) are not its to judge. The expected side is built by the
    server itself in a scratch database that is dropped afterwards.

    \b
    Examples:
      opik-store check
      opik-store check --json | jq '.[].aspect'
    """
    with opts.store() as store:
        diffs = store.check()
        if as_json:
            click.echo(json.dumps([d.as_json() for d in diffs], indent=2))
        elif not diffs:
            click.echo(f"database {store.config.database!r}: live schema matches head ({store.config.topology.label}).")
        else:
            click.echo(f"database {store.config.database!r}: {len(diffs)} difference(s) from head:")
            for d in diffs:
                click.echo(f"  {d.describe()}")
        if diffs:
            sys.exit(3)


@main.command()
@click.argument("revision")
@click.option("--force", is_flag=True, help="Record it even if the live tables differ from what it produces.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def stamp(opts: Options, revision: str, force: bool, as_json: bool) -> None:
    """Record REVISION (and its ancestors) as applied without running them.

    This is how a database created by other tooling is adopted. First the live
    tables are compared with what the revisions up to REVISION produce (built
    by the server in a scratch database); any difference refuses, listing it,
    unless --force.

    \b
    Example:
      opik-store --database opik stamp 0001
    """
    with opts.store() as store:
        report, diffs = store.stamp(revision, force=force, progress=_progress(as_json))
        if as_json:
            click.echo(json.dumps({"stamped": report.revisions, "differences": [d.as_json() for d in diffs]}, indent=2))
            return
        if not report.steps:
            click.echo(f"nothing to stamp: {revision} is already applied")
        else:
            click.echo(f"stamped {', '.join(report.revisions)} as applied (nothing was run)")


@main.command()
@click.option("--force", is_flag=True, help="Release the lock whoever holds it.")
@click.pass_obj
@handle_errors
def unlock(opts: Options, force: bool) -> None:
    """Show who holds the migration lock; with --force, release it.

    A dead holder's lock frees itself once its lease runs out; --force is for
    when you cannot wait and know the holder is gone. A live holder that loses
    the lock stops before its next statement.

    \b
    Examples:
      opik-store unlock
      opik-store unlock --force
    """
    with opts.store() as store:
        holder = store.lock_holder()
        if holder is None or holder.released:
            click.echo("the migration lock is free")
            return
        if not force:
            click.echo(f"the migration lock is held by {holder.describe()}; use --force to release it")
            sys.exit(2)
        store.unlock()
        click.echo(f"released the migration lock held by {holder.describe()}")


# -- retention ------------------------------------------------------------------


def _file_option(flag: str, dest: str, envvar: str, help_text: str) -> Callable[[F], F]:
    """A --flag FILE option that also reads an environment variable."""

    def decorate(func: F) -> F:
        option = click.option(
            flag, dest, envvar=envvar, show_envvar=True, type=click.Path(dir_okay=False), help=help_text
        )
        return option(func)

    return decorate


_config_option = _file_option(
    "--config",
    "config_path",
    "OPIK_STORE_CONFIG",
    "TOML configuration file [default: ./opik-store.toml if present, else built-in defaults].",
)


@main.group()
def retention() -> None:
    """Retention classes for traces and spans, enforced by TTL (whole-part drops).

    \b
    A row's class comes from the rule for its workspace/project at the moment
    its id was created, so changing a class applies to new data at once.
    Existing rows keep their class until `retention backfill` moves them.
    Examples:
      opik-store retention plan
      opik-store retention apply --dry-run
      opik-store retention apply --expire-now
      opik-store retention backfill --workspace acme --dry-run
    """


def _print_plan(plan: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(plan.as_json(), indent=2))
        return
    if plan.changes:
        click.echo("rules to add:")
        for change in plan.changes:
            click.echo(f"  {change.describe()}")
    else:
        click.echo("rules: the database matches the configuration")
    for w, p, d in plan.unmanaged:
        key = f"workspace {w!r}" + (f" project {p!r}" if p else "")
        click.echo(f"  not in the configuration (left alone; --prune resets it): {key}: {d} days")
    for sql in plan.ttl_statements:
        click.echo(f"TTL fix: {sql}")
    expired = plan.expired
    if plan.expiring:
        click.echo(f"{'table':8} {'class':>9} {'day':10} {'expires':10} {'rows':>10} {'bytes':>12}")
        for p in plan.expiring:
            mark = "  EXPIRED" if p in expired else ""
            click.echo(
                f"{p.table:8} {p.retention_days:>9} {p.day} {p.expires_on} {p.rows:>10} {p.bytes_on_disk:>12}{mark}"
            )
    else:
        click.echo("nothing expires within the horizon")
    if expired:
        click.echo(f"{len(expired)} partition(s) are past their TTL: TTL merges drop them, or --expire-now does it now")


@retention.command("plan")
@_config_option
@click.option(
    "--horizon-days",
    type=click.IntRange(min=0),
    default=7,
    show_default=True,
    help="Report what expires within N days.",
)
@click.option("--prune", is_flag=True, help="Also reset rules that are in the database but not in the file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def retention_plan(opts: Options, config_path: str | None, horizon_days: int, prune: bool, as_json: bool) -> None:
    """Show the rule changes, TTL fixes and upcoming expiry; change nothing.

    \b
    Example:
      opik-store retention plan --horizon-days 30
    """
    wanted = load_config(config_path).retention
    with opts.store() as store:
        _print_plan(store.retention().plan(wanted, horizon_days, prune), as_json)


@retention.command("apply")
@_config_option
@click.option("--prune", is_flag=True, help="Also reset rules that are in the database but not in the file.")
@click.option(
    "--expire-now", is_flag=True, help="Drop partitions already past their TTL now, without waiting for merges."
)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def retention_apply(
    opts: Options, config_path: str | None, prune: bool, expire_now: bool, dry_run: bool, as_json: bool
) -> None:
    """Append changed rules (effective now), reload the dictionary, fix TTLs.

    TTL changes are metadata-only (materialize_ttl_after_modify = 0). With
    --expire-now, partitions already past their TTL are dropped whole.

    \b
    Example:
      opik-store --config prod.toml retention apply --expire-now
    """
    wanted = load_config(config_path).retention
    with opts.store() as store:
        ret = store.retention(_progress(as_json))
        plan = ret.plan(wanted, 0, prune)
        if dry_run:
            _print_plan(plan, as_json)
            return
        done = ret.apply(plan, expire_now=expire_now)
        if as_json:
            click.echo(json.dumps({"done": done, **plan.as_json()}, indent=2))
        elif not done:
            click.echo("retention is up to date; nothing to do")
        else:
            for line in done:
                click.echo(line)


@retention.command("backfill")
@click.option("--workspace", required=True, help="Workspace whose past rows take its current class.")
@click.option("--project", default="", help="Only this project (its own rule must exist).")
@click.option("--max-partitions", type=click.IntRange(min=1), default=10, show_default=True, help="Bound on this run.")
@click.option("--dry-run", is_flag=True, help="List the partitions and rows that would move; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def retention_backfill(
    opts: Options, workspace: str, project: str, max_partitions: int, dry_run: bool, as_json: bool
) -> None:
    """Apply a workspace's (or project's) current class to its existing rows.

    Rows are re-inserted so the server recomputes their class, then the
    originals are deleted partition by partition. Rows that are already older
    than the new retention expire at the next TTL merge. Run again until
    nothing remains.

    \b
    Example:
      opik-store retention backfill --workspace acme --max-partitions 5 --dry-run
    """
    with opts.store() as store:
        report = store.retention(_progress(as_json)).backfill(workspace, project, max_partitions, dry_run)
        if as_json:
            click.echo(json.dumps({**report.__dict__, "partitions": [p.__dict__ for p in report.partitions]}, indent=2))
            return
        verb = "would move" if dry_run else "moved"
        click.echo(
            f"class {report.days} days; {verb} {sum(p.rows for p in report.partitions)} rows "
            f"from {len(report.partitions)} partition(s); {report.remaining} partition(s) left for later runs"
        )
        for p in report.partitions:
            click.echo(f"  {p.table} {p.partition_id}: {p.rows} rows")


# -- system tables ----------------------------------------------------------------


@main.group("system-tables")
def system_tables() -> None:
    """ClickHouse's own log tables (query_log, part_log, opentelemetry_span_log, ...).

    Most logs have no retention by default and grow until the disk is full.
    Only tables in the system database named *_log (or rotated *_log_N
    leftovers) with a MergeTree engine are ever touched: never another system
    table, never a user table.

    \b
    Examples:
      opik-store system-tables report
      opik-store system-tables prune --keep-days 30 --dry-run
      opik-store system-tables render-config --keep-days 30 --output /etc/clickhouse-server/config.d/logs.xml
    """


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{n} B"


@system_tables.command("report")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def system_tables_report(opts: Options, as_json: bool) -> None:
    """List every log table with rows, bytes on disk, oldest/newest day and TTL.

    \b
    Example:
      opik-store --url clickhouse://admin@ch:9000/ system-tables report
    """
    with opts.store() as store:
        tables = SystemTables(store.adapter).report()
    if as_json:
        click.echo(json.dumps([t.as_json() for t in tables], indent=2))
        return
    click.echo(f"{'table':34} {'rows':>12} {'on disk':>11} {'oldest':10} {'newest':10} ttl")
    for t in tables:
        name = t.name + ("  (rotated leftover)" if t.rotated else "")
        click.echo(
            f"{name:34} {t.rows:>12} {_size(t.bytes_on_disk):>11} {t.oldest or '-':10} "
            f"{t.newest or '-':10} {t.ttl or 'NONE: grows without bound'}"
        )


@system_tables.command("prune")
@click.option(
    "--keep-days", type=int, default=None, help="Keep this many days [default: [system_tables] keep_days, 30]."
)
@click.option("--tables", "names", multiple=True, metavar="NAME", help="Only these log tables (repeatable).")
@click.option("--include-rotated", is_flag=True, help="Also prune rotated leftovers (query_log_0, ...).")
@click.option("--no-ttl", is_flag=True, help="Do not set a TTL on the tables (it would not survive a restart anyway).")
@_config_option
@click.option("--dry-run", is_flag=True, help="Print what would be removed; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def system_tables_prune(
    opts: Options,
    keep_days: int | None,
    names: tuple[str, ...],
    include_rotated: bool,
    no_ttl: bool,
    config_path: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove log rows older than --keep-days days, and set a TTL (until restart).

    Whole partitions older than the cutoff are dropped; the partition that
    straddles it gets a delete bounded to that partition.

    \b
    Example:
      opik-store system-tables prune --keep-days 14 --tables query_log --tables trace_log
    """
    settings = load_config(config_path).system_tables
    keep = keep_days if keep_days is not None else settings.keep_days
    chosen = list(names) or (list(settings.tables) if settings.tables else None)
    with opts.store() as store:
        report = SystemTables(store.adapter, _progress(as_json)).prune(
            keep, chosen, include_rotated, not no_ttl, dry_run
        )
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        return
    verb = "would" if dry_run else "did"
    click.echo(f"keeping {report.keep_days} days (rows before {report.cutoff}); {verb}:")
    for a in report.actions:
        click.echo(f"  {a.table}: {a.kind.replace('_', ' ')} ({a.rows} rows)  {a.sql}")
    if not report.actions:
        click.echo("  nothing: every log table is within its retention")
    for line in report.skipped:
        click.echo(f"  skipped {line}")
    for line in report.warnings:
        click.secho(f"WARNING: {line}", fg="yellow", err=True)


@system_tables.command("render-config")
@click.option("--keep-days", type=int, default=None, help="Days to keep [default: [system_tables] keep_days, 30].")
@click.option("--tables", "names", multiple=True, metavar="NAME", help="Only these logs (repeatable).")
@click.option("--offline", is_flag=True, help="Do not ask the server which logs it has; use the common set.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Write to this file instead of stdout.")
@_config_option
@click.pass_obj
@handle_errors
def system_tables_render_config(
    opts: Options,
    keep_days: int | None,
    names: tuple[str, ...],
    offline: bool,
    output: str | None,
    config_path: str | None,
) -> None:
    """Print (or write) the config.d XML that makes log retention survive restarts.

    By default it covers the logs the server has now, so a log you removed
    stays removed. opentelemetry_span_log gets its TTL inside an <engine>
    (a <ttl> next to the default <engine> is a start-up error).

    \b
    Example:
      opik-store system-tables render-config --keep-days 30 --output opik-store-system-logs.xml
    """
    settings = load_config(config_path).system_tables
    keep = keep_days if keep_days is not None else settings.keep_days
    chosen: list[str] | None = list(names) or (list(settings.tables) if settings.tables else None)
    if chosen is None and not offline:
        with opts.store() as store:
            present = [t.name for t in SystemTables(store.adapter).report() if not t.rotated]
        chosen = [n for n in present if n in KNOWN_LOGS]
    text = render_config(keep, chosen)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


# -- jobs and the scheduler ---------------------------------------------------------


def _runner(opts: Options, config_path: str | None) -> Any:
    from opik_store.scheduling.jobs import JobRunner

    return JobRunner(opts.store, load_config(config_path))


@main.group()
def jobs() -> None:
    """Named maintenance jobs: list them, run one now, read their history.

    Every run is recorded in <database>.opik_store_job_runs. A job already
    running elsewhere (another scheduler, a cron line) is skipped, not doubled.

    \b
    Examples:
      opik-store jobs list
      opik-store jobs run apply-retention --dry-run
      opik-store jobs history --job prune-system-tables --limit 20
    """


@jobs.command("list")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def jobs_list(opts: Options, config_path: str | None, as_json: bool) -> None:
    """List the jobs with their schedules (from the configuration file).

    \b
    Example:
      opik-store --config prod.toml jobs list
    """
    from opik_store.scheduling.jobs import BUILTIN_JOBS

    config = load_config(config_path)
    rows = [
        {"job": name, "schedule": config.jobs[name].schedule, "enabled": config.jobs[name].enabled, "does": does}
        for name, (_, does) in BUILTIN_JOBS.items()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "" if row["enabled"] else "  (disabled)"
        click.echo(f"{row['job']:22} {row['schedule']:16} {row['does']}{state}")


@jobs.command("run")
@click.argument("name")
@_config_option
@click.option("--dry-run", is_flag=True, help="Report what the job would do; change and record nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def jobs_run(opts: Options, name: str, config_path: str | None, dry_run: bool, as_json: bool) -> None:
    """Run one job now (what cron, a Kubernetes CronJob or a systemd timer calls).

    Exit code 1 when the job failed; 0 when it succeeded or was skipped
    because it was already running elsewhere.

    \b
    Example:
      opik-store jobs run prune-system-tables
    """
    try:
        record = _runner(opts, config_path).run(name, dry_run=dry_run)
    except OpikStoreError:
        raise
    except Exception as exc:  # the job's own failure, already recorded in the runs table
        _err(f"{name} failed: {type(exc).__name__}: {exc}")
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(record.as_json(), indent=2))
    else:
        click.echo(f"{name}: {record.state}: {record.summary or record.error}")


@jobs.command("history")
@click.option("--job", default=None, help="Only this job.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the newest N rows.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def jobs_history(opts: Options, job: str | None, limit: int | None, as_json: bool) -> None:
    """Show recorded job runs, oldest first.

    \b
    Example:
      opik-store jobs history --limit 10
    """
    runner = _runner(opts, None)
    with opts.store() as store:
        rows = runner.history(store, job)
    if limit:
        rows = rows[-limit:]
    if as_json:
        click.echo(json.dumps([r.as_json() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no job runs recorded yet")
    for r in rows:
        ms = "" if r.duration_ms is None else f"{r.duration_ms} ms"
        click.echo(f"{r.started_at:%Y-%m-%d %H:%M:%S} {r.job:22} {r.state:10} {ms:>9}  {r.summary or r.error}")


@main.command()
@_config_option
@click.pass_obj
@handle_errors
def scheduler(opts: Options, config_path: str | None) -> None:
    """Run the maintenance jobs on their schedules until SIGTERM/SIGINT.

    Schedules come from [jobs.<name>] in the configuration file (5-field cron,
    UTC; a 6th leading field gives seconds). A job never overlaps itself, and
    another scheduler on the same database skips a job this one is running.
    On SIGTERM, running jobs finish before the process exits.

    \b
    Example:
      OPIK_STORE_URL=clickhouse://ops:secret@ch:9000/ opik-store --config /etc/opik-store.toml scheduler
    """
    from opik_store.scheduling.scheduler import Scheduler

    config = load_config(config_path)
    runner = _runner(opts, config_path)
    Scheduler(runner, config.jobs, say=lambda m: click.echo(m, err=True)).run()
    click.echo("scheduler stopped", err=True)


# -- access: profiles, quotas, roles, users ---------------------------------------------


_profiles_option = _file_option(
    "--profiles",
    "profiles_path",
    "OPIK_STORE_PROFILES",
    "Access configuration (TOML) merged over the shipped defaults.",
)


def _checked_model(profiles_path: str | None, store: Store) -> Any:
    from opik_store.access.model import check_against_server, load_access

    model = load_access(profiles_path)
    check_against_server(model, store.adapter)
    return model


def _offline(opts: Options) -> Options:
    """Without --url/OPIK_STORE_URL, validate on an in-memory embedded engine (nothing is written)."""
    if opts.url:
        return opts
    return Options(**{**opts.__dict__, "url": "chdb://:memory:"})


@main.group()
def profiles() -> None:
    """Query-limit profiles, quotas, roles and users, declared once in a TOML file.

    The shipped defaults are three profiles (opik_ingest, opik_read,
    opik_analyst), a quota for analysts, and three roles. Your --profiles file
    is merged over them. Setting names and values are checked against the
    server (or the embedded engine offline) before anything is applied.

    \b
    Examples:
      opik-store profiles check --profiles access.toml
      opik-store --url clickhouse://admin@ch:9000/ profiles plan --profiles access.toml
      opik-store profiles render-xml --profiles access.toml --output users.d/opik-store.xml
    """


@profiles.command("check")
@_profiles_option
@click.pass_obj
@handle_errors
def profiles_check(opts: Options, profiles_path: str | None) -> None:
    """Validate the access configuration: names, types, MIN/MAX, references.

    \b
    Example:
      opik-store profiles check --profiles access.toml
    """
    with _offline(opts).store() as store:
        model = _checked_model(profiles_path, store)
    click.echo(
        f"ok: {len(model.profiles)} profile(s), {len(model.quotas)} quota(s), {len(model.roles)} role(s), "
        f"{len(model.users)} user(s) from {model.source}"
    )
    for user in model.users.values():
        click.echo(f"  user {user.name}: password from {user.password_source}, roles {', '.join(user.roles) or '-'}")


def _plan(opts: Options, profiles_path: str | None, prune: bool, rotate: bool, store: Store) -> list[Any]:
    from opik_store.access.sql import AccessPlanner, read_live

    model = _checked_model(profiles_path, store)
    planner = AccessPlanner(model, store.config.database, store.config.topology.cluster)
    return planner.plan(read_live(store.adapter, store.config.database), prune=prune, rotate_passwords=rotate)


def _print_changes(changes: list[Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([c.as_json() for c in changes], indent=2))
        return
    if not changes:
        click.echo("no differences: the server matches the access configuration")
        return
    for change in changes:
        click.echo(f"-- {change.kind} {change.name}: {change.what}: {change.detail}")
        if change.xml_managed:
            click.echo("--   managed by users.xml on this server: update it with `opik-store profiles render-xml`")
        else:
            for sql in change.statements:
                click.echo(sql + ";")


@profiles.command("plan")
@_profiles_option
@click.option("--prune", is_flag=True, help="Also drop opik_* entities that are not in the file.")
@click.option("--rotate-passwords", is_flag=True, help="Re-set every user's password from the file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def profiles_plan(opts: Options, profiles_path: str | None, prune: bool, rotate_passwords: bool, as_json: bool) -> None:
    """Diff the live profiles/quotas/roles/users against the file; print the SQL.

    \b
    Example:
      opik-store --url clickhouse://admin@ch:9000/ --cluster opik profiles plan
    """
    with opts.store() as store:
        _print_changes(_plan(opts, profiles_path, prune, rotate_passwords, store), as_json)


@profiles.command("apply")
@_profiles_option
@click.option("--prune", is_flag=True, help="Also drop opik_* entities that are not in the file.")
@click.option("--rotate-passwords", is_flag=True, help="Re-set every user's password from the file.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def profiles_apply(
    opts: Options, profiles_path: str | None, prune: bool, rotate_passwords: bool, dry_run: bool, as_json: bool
) -> None:
    """Run the plan's statements (needs SQL access management on the server).

    Differences in entities that the server keeps in users.xml are reported,
    not applied: render the XML instead.

    \b
    Example:
      opik-store --url clickhouse://admin@ch:9000/ profiles apply --profiles access.toml
    """
    with opts.store() as store:
        changes = _plan(opts, profiles_path, prune, rotate_passwords, store)
        if dry_run:
            _print_changes(changes, as_json)
            return
        ran = []
        for change in changes:
            if change.xml_managed:
                continue
            for sql in change.statements:
                store.adapter.execute(sql)
                ran.append(sql)
    if as_json:
        click.echo(json.dumps({"ran": ran, "xml_managed": [c.as_json() for c in changes if c.xml_managed]}, indent=2))
        return
    click.echo(f"ran {len(ran)} statement(s)")
    for change in changes:
        if change.xml_managed:
            click.echo(f"not applied (users.xml): {change.kind} {change.name}: {change.detail}")


@profiles.command("render-xml")
@_profiles_option
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Write to this file instead of stdout.")
@click.pass_obj
@handle_errors
def profiles_render_xml(opts: Options, profiles_path: str | None, output: str | None) -> None:
    """Print (or write) a users.d file with the same profiles, constraints, quotas and users.

    Roles do not exist in users.xml: each user gets its roles' profile, quota
    and grants directly.

    \b
    Example:
      opik-store profiles render-xml --profiles access.toml --output /etc/clickhouse-server/users.d/opik-store.xml
    """
    from opik_store.access.users_xml import render_users_xml

    with _offline(opts).store() as store:
        model = _checked_model(profiles_path, store)
        text = render_users_xml(model, store.config.database)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)
