"""``opik-store system-tables``: report, prune and configure ClickHouse's own log tables."""

from __future__ import annotations

import sys
from datetime import date

import click

from opik_store.cli.common import (
    Options,
    emit_json,
    handle_errors,
    progress,
    write_or_print,
)
from opik_store.errors import OpikStoreError
from opik_store.maintenance.config_file import load_config
from opik_store.maintenance.system_tables import KNOWN_LOGS, PruneReport, SystemTables, prune_every_node, render_config


@click.group("system-tables")
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


def _day(day: date | None) -> str:
    """A day as ISO text ('-' when unknown); a date under a format spec would go through strftime ('10')."""
    return day.isoformat() if day else "-"


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
    with opts.store(must_exist="server") as store:
        tables = SystemTables(store.adapter).report()
    if as_json:
        emit_json([t.as_json() for t in tables])
        return
    if not tables:
        click.echo("no log tables in this server's system database (the embedded engine keeps none unless its "
                   "config file enables them: --url 'chdb:PATH?config-file=FILE'): nothing grows here")  # fmt: skip
        return
    click.echo(f"{'table':34} {'rows':>12} {'on disk':>11} {'oldest':10} {'newest':10} ttl")
    for t in tables:
        name = t.name + ("  (rotated leftover)" if t.rotated else "")
        click.echo(
            f"{name:34} {t.rows:>12} {_size(t.bytes_on_disk):>11} {_day(t.oldest):10} "
            f"{_day(t.newest):10} {t.ttl or 'NONE: grows without bound'}"
        )


@system_tables.command("prune")
@click.option(
    "--keep-days", type=int, default=None, help="Keep this many days [default: [system_tables] keep_days, 30]."
)
@click.option("--tables", "names", multiple=True, metavar="NAME", help="Only these log tables (repeatable).")
@click.option("--include-rotated", is_flag=True, help="Also prune rotated leftovers (query_log_0, ...).")
@click.option("--no-ttl", is_flag=True, help="Do not set a TTL on the tables (it would not survive a restart anyway).")
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
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove log rows older than --keep-days days, and set a TTL (until restart).

    Whole partitions older than the cutoff are dropped; the partition that
    straddles it gets a delete bounded to that partition. With --cluster,
    every host the cluster lists is pruned (one connection each, with the
    same credentials); a host that cannot be reached fails the command after
    the others are done.

    \b
    Example:
      opik-store system-tables prune --keep-days 14 --tables query_log --tables trace_log
    """
    settings = load_config(opts.config_path).system_tables
    keep = keep_days if keep_days is not None else settings.keep_days
    chosen = list(names) or (list(settings.tables) if settings.tables else None)
    with opts.store() as store:
        cluster = store.config.topology.cluster
        outcomes = prune_every_node(
            store.adapter, cluster, keep, chosen, include_rotated, not no_ttl, dry_run, progress(as_json)
        )
    failed = [o for o in outcomes if o.error]
    if as_json:
        if cluster is None and outcomes[0].result is not None:
            emit_json(outcomes[0].result.as_json())
        else:  # one document; a host that failed carries its error, and the exit code says so
            emit_json({"cluster": cluster, "hosts": [
                {"host": o.host.label, "report": o.result.as_json() if o.result else None, "error": o.error or None}
                for o in outcomes
            ]})  # fmt: skip
        if failed:
            sys.exit(1)
        return
    for outcome in outcomes:
        if cluster is not None:
            click.echo(f"{outcome.host.label}:")
        if outcome.result is not None:
            _print_prune(outcome.result, dry_run)
    if failed:  # after the hosts that were pruned have been reported
        done = ", ".join(o.host.label for o in outcomes if not o.error) or "none"
        raise OpikStoreError(f"not pruned: {'; '.join(f'{o.host.label}: {o.error}' for o in failed)} (pruned: {done})")


def _print_prune(report: PruneReport, dry_run: bool) -> None:
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
@click.pass_obj
@handle_errors
def system_tables_render_config(
    opts: Options,
    keep_days: int | None,
    names: tuple[str, ...],
    offline: bool,
    output: str | None,
) -> None:
    """Print (or write) the config.d XML that makes log retention survive restarts.

    By default it covers the logs the server has now, so a log you removed
    stays removed. opentelemetry_span_log gets its TTL inside an <engine>
    (a <ttl> next to the default <engine> is a start-up error).

    \b
    Example:
      opik-store system-tables render-config --keep-days 30 --output opik-store-system-logs.xml
    """
    settings = load_config(opts.config_path).system_tables
    keep = keep_days if keep_days is not None else settings.keep_days
    chosen: list[str] | None = list(names) or (list(settings.tables) if settings.tables else None)
    if chosen is None and not offline:
        with opts.store() as store:
            present = [t.name for t in SystemTables(store.adapter).report() if not t.rotated]
        chosen = [n for n in present if n in KNOWN_LOGS]
    text = render_config(keep, chosen)
    write_or_print(text, output)
