"""``opik-store retention``: plan, apply and backfill retention classes."""

from __future__ import annotations

from typing import Any

import click

from opik_store.cli.common import (
    Options,
    emit_json,
    handle_errors,
    progress,
)
from opik_store.maintenance.config_file import load_config
from opik_store.maintenance.retention import local


@click.group()
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
        emit_json(plan.as_json())
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
    for w, p in plan.stale_lookup:
        click.echo(f"lookup fix: the retention lookup of workspace {w!r} project {p!r} differs from its rules")
    for host in plan.lookup_unchecked:
        click.echo(f"lookup not checked (apply will try again, and fail naming it if it still cannot): {host}")
    for table, rows in sorted(plan.undated_rows.items()):
        click.echo(f"{table}: {rows} row(s) whose id carries no usable time are kept (class unlimited)")
    expired = plan.expired
    click.echo(f"server clock: {local(plan.now, plan.timezone):%Y-%m-%d %H:%M:%S} {plan.timezone}")
    if plan.expiring:
        click.echo(f"{'table':8} {'class':>9} {'week of':10} {'all expired at':25} {'rows':>10} {'bytes':>12}")
        for p in plan.expiring:
            mark = "  EXPIRED" if p in expired else ""
            at = f"{local(p.expires_at, plan.timezone):%Y-%m-%d %H:%M} {plan.timezone}"
            click.echo(f"{p.table:8} {p.retention_days:>9} {p.week} {at:25} {p.rows:>10} {p.bytes_on_disk:>12}{mark}")
    else:
        click.echo("nothing expires within the horizon")
    if expired:
        click.echo(f"{len(expired)} partition(s) are past their TTL: TTL merges drop them, or --expire-now does it now")


@retention.command("plan")
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
def retention_plan(opts: Options, horizon_days: int, prune: bool, as_json: bool) -> None:
    """Show the rule changes, TTL fixes and upcoming expiry; change nothing.

    \b
    Example:
      opik-store retention plan --horizon-days 30
    """
    wanted = load_config(opts.config_path).retention
    with opts.store(must_exist="database") as store:
        _print_plan(store.retention().plan(wanted, horizon_days, prune), as_json)


@retention.command("apply")
@click.option("--prune", is_flag=True, help="Also reset rules that are in the database but not in the file.")
@click.option(
    "--expire-now", is_flag=True, help="Drop partitions already past their TTL now, without waiting for merges."
)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def retention_apply(opts: Options, prune: bool, expire_now: bool, dry_run: bool, as_json: bool) -> None:
    """Append changed rules, refresh the retention lookup, fix TTLs.

    A changed rule applies to ids created from the start of the UTC day after
    tomorrow (so every version of a row keeps one class); `retention backfill`
    moves past rows. TTL changes are metadata-only (materialize_ttl_after_modify
    = 0). With --expire-now, partitions whose every row has expired by the
    server's clock, with the server's TTL agreeing, are dropped whole.

    \b
    Example:
      opik-store --config prod.toml retention apply --expire-now
    """
    wanted = load_config(opts.config_path).retention
    with opts.store(must_exist="database") as store:
        ret = store.retention(progress(as_json))
        plan = ret.plan(wanted, 0, prune)
        if dry_run:
            _print_plan(plan, as_json)
            return
        done = ret.apply(plan, expire_now=expire_now)
        if as_json:
            emit_json({"done": done, **plan.as_json()})
        elif not done:
            click.echo("retention is up to date; nothing to do")
        else:
            for line in done:
                click.echo(line)


@retention.command("backfill")
@click.option("--workspace", default=None, help="Workspace whose past rows take its newest class.")
@click.option("--project", default="", help="Only this project (its own rule must exist).")
@click.option(
    "--default", "default_key", is_flag=True,
    help="The deployment default: rows of every workspace and project without a rule of its own.",
)  # fmt: skip
@click.option("--max-partitions", type=click.IntRange(min=1), default=10, show_default=True, help="Bound on this run.")
@click.option("--dry-run", is_flag=True, help="List the partitions and rows that would move; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def retention_backfill(
    opts: Options,
    workspace: str | None,
    project: str,
    default_key: bool,
    max_partitions: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Apply a workspace's, project's or the default's newest class to its existing rows.

    Rows are re-inserted so the server recomputes their class, then the
    originals are deleted partition by partition. Rows that are already older
    than the new retention expire at the next TTL merge. Run again until
    nothing remains.

    \b
    Examples:
      opik-store retention backfill --workspace acme --max-partitions 5 --dry-run
      opik-store retention backfill --default --dry-run
    """
    if default_key == (workspace is not None) or (default_key and project):
        raise click.UsageError("name exactly one key: --workspace W [--project P], or --default")
    workspace = workspace or ""
    if not workspace and not default_key:
        raise click.UsageError("--workspace must not be empty (use --default for the deployment default)")
    with opts.store(must_exist="database") as store:
        report = store.retention(progress(as_json)).backfill(workspace, project, max_partitions, dry_run)
        if as_json:
            emit_json({**report.__dict__, "partitions": [p.__dict__ for p in report.partitions]})
            return
        if report.shard_note:
            click.echo(report.shard_note)
        verb = "would move" if dry_run else "moved"
        click.echo(
            f"class {report.days} days; {verb} {sum(p.rows for p in report.partitions)} rows "
            f"from {len(report.partitions)} partition(s); {report.remaining} partition(s) left for later runs"
        )
        for p in report.partitions:
            click.echo(f"  {p.table} {p.partition_id}: {p.rows} rows")
