"""``opik-store profiles``: query-limit profiles, quotas, roles and users."""

from __future__ import annotations

from typing import Any

import click

from opik_store.cli.common import (
    Options,
    emit_json,
    file_option,
    handle_errors,
    write_or_print,
)
from opik_store.store import Store

_profiles_option = file_option(
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


def _no_engine(opts: Options) -> bool:
    """No --url and no embedded engine installed (the lean install): check names against the shipped list."""
    import importlib.util

    return not opts.url and importlib.util.find_spec("chdb") is None


_VALUES_UNCHECKED = ("setting values were not checked: no engine here (the lean install) and no --url; "
                     "pass --url to check them on your server")  # fmt: skip


def _offline_model(profiles_path: str | None) -> Any:
    from opik_store.access.model import check_names_offline, load_access

    model = load_access(profiles_path)
    check_names_offline(model)
    click.echo(f"note: {_VALUES_UNCHECKED}", err=True)
    return model


@click.group()
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
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def profiles_check(opts: Options, profiles_path: str | None, as_json: bool) -> None:
    """Validate the access configuration: names, types, MIN/MAX, references.

    \b
    Example:
      opik-store profiles check --profiles access.toml
    """
    if _no_engine(opts):
        model = _offline_model(profiles_path)
    else:
        with _offline(opts).store() as store:
            model = _checked_model(profiles_path, store)
    if as_json:
        emit_json(
            {
                "ok": True,
                "source": str(model.source),
                "profiles": sorted(model.profiles),
                "quotas": sorted(model.quotas),
                "roles": sorted(model.roles),
                "users": {
                    u.name: {"password_from": u.password_source, "roles": list(u.roles)} for u in model.users.values()
                },
            }
        )
        return
    click.echo(
        f"ok: {len(model.profiles)} profile(s), {len(model.quotas)} quota(s), {len(model.roles)} role(s), "
        f"{len(model.users)} user(s) from {model.source}"
    )
    for user in model.users.values():
        click.echo(f"  user {user.name}: password from {user.password_source}, roles {', '.join(user.roles) or '-'}")


def _plan(opts: Options, profiles_path: str | None, prune: bool, rotate: bool, store: Store) -> list[Any]:
    """Plan against the live entities of every node: each host of the cluster, or the one node.

    The embedded engine is one node whatever ``--cluster`` says (it renders ON
    CLUSTER statements but has no other node to read).
    """
    from opik_store.access.sql import AccessPlanner, plan_everywhere, read_live
    from opik_store.engine.hosts import cluster_hosts, fans_out, on_every_host
    from opik_store.errors import OpikStoreError

    model = _checked_model(profiles_path, store)
    cluster = store.config.topology.cluster
    planner = AccessPlanner(model, store.config.database, cluster)
    database = store.config.database
    if cluster is None or not fans_out(store.config.connection, cluster):
        lives = [read_live(store.adapter, database)]
    else:
        outcomes = on_every_host(
            store.config.connection, cluster_hosts(store.adapter, cluster), lambda conn: read_live(conn, database)
        )
        failed = [o for o in outcomes if o.error]
        if failed or not outcomes:
            named = "; ".join(f"{o.host.label}: {o.error}" for o in failed) or f"cluster {cluster!r} lists no host"
            raise OpikStoreError(f"cannot read the access entities of every node ({named}); nothing was changed")
        lives = [o.result for o in outcomes if o.result is not None]
    return plan_everywhere(planner, lives, prune=prune, rotate_passwords=rotate)


def _print_changes(changes: list[Any], as_json: bool) -> None:
    if as_json:
        emit_json([c.as_json() for c in changes])
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
        emit_json({"ran": ran, "xml_managed": [c.as_json() for c in changes if c.xml_managed]})
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

    if _no_engine(opts):
        from opik_store.config import DEFAULT_DATABASE

        text = render_users_xml(_offline_model(profiles_path), opts.database or DEFAULT_DATABASE)
    else:
        with _offline(opts).store() as store:
            model = _checked_model(profiles_path, store)
            text = render_users_xml(model, store.config.database)
    write_or_print(text, output, private=True)
