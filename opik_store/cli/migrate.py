"""Schema commands: migrate, downgrade, status, history, check, stamp, unlock, revision."""

from __future__ import annotations

import sys

import click

from opik_store import __version__
from opik_store.adopt.identity import STORE_DB, UNKNOWN
from opik_store.cli.common import (
    Options,
    describe_target,
    emit_json,
    handle_errors,
    progress,
)
from opik_store.errors import ConfigError
from opik_store.migrations.revisions import RevisionSet
from opik_store.migrations.runner import Report, Step
from opik_store.store import Store


def _echo_step(step: Step) -> None:
    click.echo(f"-- revision {step.revision.id}: {step.revision.message}")
    for hazard in step.hazards:
        click.echo(f"-- DESTRUCTIVE: {hazard}")
    for st in step.statements:
        click.echo(st.sql.rstrip() + ";\n")


def _print_report(report: Report, store: Store, as_json: bool) -> None:
    if as_json:
        emit_json(report.as_json())
        return
    where = describe_target(store)
    verb = {"upgrade": "apply", "downgrade": "revert"}[report.direction]
    if not report.steps:
        current = report.current if report.current is not None else store.status().current
        at = ", ".join(current) or "base"
        click.echo(f"{where}: up to date at {at}; nothing to {verb}.")
        return
    if report.dry_run:
        click.echo(f"{where}: would {verb} {len(report.steps)} revision(s) (dry run, nothing changed):")
        for step in report.steps:
            _echo_step(step)
        return
    past = {"apply": "applied", "revert": "reverted"}[verb]
    click.echo(f"{where}: {past} {', '.join(report.revisions)}.")


@click.command()
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
    unreachable replica or a read-only table, and a cluster of several shards
    without --sharded.

    \b
    Examples:
      opik-store migrate
      opik-store migrate --dry-run
      opik-store migrate --sql --cluster opik > schema.sql    # no server needed
      opik-store migrate --sql --cluster opik --sharded > sharded.sql   # shard-local + Distributed tables
      opik-store migrate --sql --from 0001 --to heads   # what an upgrade from 0001 runs
    """
    if start is not None and not as_sql:
        raise ConfigError("--from only applies with --sql (it picks where the printed statements start); nothing ran")
    store = opts.store()
    if as_sql:
        steps = store.sql(start=start, end=target)
        if as_json:
            emit_json(Report("upgrade", steps, dry_run=True).as_json())
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
            progress=progress(quiet or as_json),
            allow_changed=allow_changed,
            allow_destructive=allow_destructive,
        )
        _print_report(report, store, as_json)


@click.command()
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
        report = store.downgrade(revision, allow_data_loss=yes, dry_run=dry_run, progress=progress(quiet or as_json))
        _print_report(report, store, as_json)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def status(opts: Options, as_json: bool) -> None:
    """Show the current revision and what is pending.

    \b
    Example:
      opik-store status --json | jq .pending
    """
    with opts.store(must_exist="database") as store:
        st = store.status()
        identity = store.identify(st)
        if as_json:
            folder = {"folder": store.revisions.source or None, "recorded_in_ledger": bool(store.revisions_recorded)}
            emit_json({**st.as_json(), "server_version": store.server.version, "identity": identity.as_json(),
                       "revisions": folder})  # fmt: skip
            return
        click.echo(f"database:  {st.database} on {store.config.connection.display} ({st.topology})")
        click.echo(f"server:    ClickHouse {store.server.version}")
        if identity.kind != STORE_DB:
            click.echo(f"found:     {identity.summary}")
            for reason in identity.reasons:
                click.echo(f"           {reason}")
        click.echo(f"current:   {', '.join(st.current) or 'base (nothing applied)'}")
        click.echo(f"head:      {', '.join(st.heads)}")
        if store.revisions.source:
            recorded = " (recorded in the ledger)" if store.revisions_recorded else ""
            click.echo(f"revisions: {store.revisions.source}{recorded}")
        if identity.is_opik or identity.kind == UNKNOWN:  # revisions are not what comes next: say what is
            click.echo(f"next:      {identity.next_step}")
        elif st.pending:
            click.echo(f"pending:   {len(st.pending)}")
            for step in st.pending:
                mark = f"  [DESTRUCTIVE: {'; '.join(step.hazards)}]" if step.hazards else ""
                click.echo(f"  {step.revision.id}  {step.revision.message}{mark}")
        else:
            click.echo("pending:   none (up to date)")
        for entry in st.interrupted:
            if entry.direction == "downgrade":
                click.echo(
                    f"interrupted: the downgrade of {entry.revision} started {entry.started_at:%Y-%m-%d %H:%M:%S} "
                    f"on {entry.host} stopped half way (`opik-store migrate` restores it; running the same "
                    "`opik-store downgrade` again finishes it)"
                )
                continue
            click.echo(
                f"interrupted: {entry.revision} started {entry.started_at:%Y-%m-%d %H:%M:%S} on {entry.host} "
                "(run `opik-store migrate` to finish it)"
            )
        for entry in st.in_progress:
            verb = "reverted" if entry.direction == "downgrade" else "applied"
            click.echo(f"running:   {entry.revision} is being {verb} by {entry.host} pid {entry.pid} right now")
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


@click.command()
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
    with opts.store(must_exist="database") as store:
        entries = store.history()
        if limit:
            entries = entries[-limit:]
        if as_json:
            emit_json([e.as_json() for e in entries])
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


@click.command()
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option(
    "--rev-id", default=None, help="Revision id: letters, digits, underscores [default: next number, e.g. 0002]."
)
@click.pass_obj
@handle_errors
def revision(opts: Options, message: str, rev_id: str | None) -> None:
    """Create a new revision script in the migrations folder.

    Write statements once, in single-node form, with unqualified table names;
    opik-store renders them for the database and topology. The folder must be
    named (--migrations-dir or OPIK_STORE_MIGRATIONS_DIR): the shipped
    migrations inside the installed package are refused.

    \b
    Example:
      opik-store --migrations-dir migrations revision -m "add cost index to spans"
    """
    if not opts.migrations_dir:
        raise ConfigError(
            "revision writes a new script: name your migrations folder with --migrations-dir PATH "
            "(or OPIK_STORE_MIGRATIONS_DIR); the shipped migrations inside the installed package are not edited"
        )
    path = RevisionSet(opts.migrations_dir).create(message, rev_id=rev_id)
    click.echo(f"created {path}")


@click.command()
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
    with opts.store(must_exist="database") as store:
        diffs = store.check()
        if as_json:
            emit_json([d.as_json() for d in diffs])
        elif not diffs:
            click.echo(f"database {store.config.database!r}: live schema matches head ({store.config.topology.label}).")
        else:
            click.echo(f"database {store.config.database!r}: {len(diffs)} difference(s) from head:")
            for d in diffs:
                click.echo(f"  {d.describe()}")
            identity = store.identify()
            if identity.kind != STORE_DB:
                click.echo(f"The database is {identity.summary}. Next: {identity.next_step}")
        if diffs:
            sys.exit(3)


@click.command()
@click.argument("revision")
@click.option("--force", is_flag=True, help="Record it even if the live tables differ from what it produces.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def stamp(opts: Options, revision: str, force: bool, as_json: bool) -> None:
    """Record REVISION (and its ancestors) as applied without running them.

    This records tables other tooling created that match the store's. First
    the live tables are compared with what the revisions up to REVISION
    produce (built by the server in a scratch database); any difference
    refuses, listing it and changing nothing, unless --force. A database in
    one of Opik's older layouts, or under adoption, is refused even with
    --force: `opik-store adopt plan` takes it over.

    \b
    Example:
      opik-store --database opik stamp head
    """
    with opts.store() as store:
        report, diffs = store.stamp(revision, force=force, progress=progress(as_json))
        if as_json:
            emit_json({"stamped": report.revisions, "differences": [d.as_json() for d in diffs]})
            return
        if not report.steps:
            click.echo(f"nothing to stamp: {revision} is already applied")
        else:
            click.echo(f"stamped {', '.join(report.revisions)} as applied (nothing was run)")


@click.command()
@click.option("--force", is_flag=True, help="Release the lock whoever holds it.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def unlock(opts: Options, force: bool, as_json: bool) -> None:
    """Show who holds the migration lock; with --force, release it.

    A holder that ran on this host and whose process is gone (killed) is
    released at once, without --force, and said so. Any other dead holder's
    lock frees itself once its lease runs out; --force is for when you cannot
    wait and know the holder is gone. A live holder that loses the lock stops
    before its next statement. Without --force, a held lock exits 2 (nothing
    was changed).

    \b
    Examples:
      opik-store unlock
      opik-store unlock --force --json
    """
    with opts.store(must_exist="database") as store:
        holder = store.lock_holder()
        free = holder is None or holder.released
        dead = not free and holder is not None and store.lock_holder_is_dead_here(holder)
        if not free and (force or dead):
            store.unlock()
    held_by = None if holder is None or free else holder.describe()
    if as_json:
        emit_json({"held": held_by is not None, "holder": held_by, "released": bool(held_by and (force or dead)),
                   "holder_dead": dead})  # fmt: skip
    elif held_by is None:
        click.echo("the migration lock is free")
    elif dead:
        click.echo(f"released the migration lock left by {held_by}: its process is gone (killed) on this host")
        return
    elif force:
        click.echo(f"released the migration lock held by {held_by}")
    else:
        click.echo(f"the migration lock is held by {held_by}; use --force to release it")
    if held_by is not None and not (force or dead):
        sys.exit(2)
