"""``opik-store health`` and ``opik-store exporter``: the scaling guide's metrics, checked.

Exit codes of ``health``: 0 every check ok (or unknown), 6 the worst check is
warn, 7 the worst is critical (``--exit-zero`` and ``--prometheus`` exit 0
whenever the checks ran: the statuses are in the output).
"""

from __future__ import annotations

import re
import signal
import sys
import threading
from types import FrameType

import click

from opik_store.cli.common import EXIT_BAD_INPUT, Options, emit_json, fail, handle_errors
from opik_store.errors import ConfigError
from opik_store.health.checks import HealthReport
from opik_store.maintenance.config_file import load_config

EXIT_WARN = 6
EXIT_CRITICAL = 7
_EXIT = {"ok": 0, "warn": EXIT_WARN, "critical": EXIT_CRITICAL}
_COLOURS = {"ok": "green", "warn": "yellow", "critical": "red", "unknown": "cyan"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document: every check with status, value, details.")
@click.option("--prometheus", is_flag=True, help="Print the Prometheus exposition format instead (exits 0).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 whatever the statuses (they are still printed).")
@click.pass_obj
@handle_errors
def health(opts: Options, as_json: bool, prometheus: bool, exit_zero: bool) -> None:
    """Check the server against the scaling guide: CPU, inserts, query time, parts, disk, replication.

    One line per check: status (ok / warn / critical / unknown), the measured
    value, the threshold, and what to do. Thresholds come from [health] in
    the configuration file (defaults: the guide's values). Log tables are
    read over a bounded window ([health] window_minutes), so a run costs the
    same however old the logs are. unknown means the server does not have
    the source (counts as ok), or a query failed (the reason is printed;
    counts as warn: a run that could not look is not healthy). With --cluster
    every replica is read (clusterAllReplicas) and values are per host. CPU
    and memory come from the server's asynchronous metrics; on the embedded
    engine, from the process it runs in (here: this command's own process).

    \b
    Exit codes: 0 all ok; 6 the worst check is warn; 7 the worst is critical
    (with --exit-zero or --prometheus: 0 whenever the checks ran).

    \b
    Examples:
      opik-store health --exit-zero
      opik-store health --json --exit-zero | jq '.checks[] | select(.status != "ok")'
      opik-store --url clickhouse://monitor@ch:9000/ health --prometheus
    """
    if as_json and prometheus:
        fail("give --json or --prometheus, not both", EXIT_BAD_INPUT, as_json)
    config = load_config(opts.config_path).health
    with opts.store(must_exist="server") as store:
        report = store.health(config)
    if prometheus:
        from opik_store.health.prometheus import exposition

        click.echo(exposition(report), nl=False)
        return
    if as_json:
        emit_json(report.as_json())
    else:
        _print(report)
    if not exit_zero and _EXIT[report.status]:
        sys.exit(_EXIT[report.status])


def _print(report: HealthReport) -> None:
    for c in report.checks:
        status = click.style(f"{c.status:8}", fg=_COLOURS[c.status])
        click.echo(f"{status} {c.name:17} {c.value}")
        click.echo(f"{'':8} {'':17} threshold: {c.threshold}")
        if c.action != "none":
            click.echo(f"{'':8} {'':17} do: {c.action}")
    click.echo(f"status: {report.status}")


_LISTEN = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})$")


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 in brackets) -> (host, port); anything else is a ConfigError."""
    match = _LISTEN.match(value)
    port = int(match.group("port")) if match else 0
    if not match or not 0 < port < 65536:
        raise ConfigError(f"--listen must be HOST:PORT with a port from 1 to 65535, got {value!r}")
    return match.group("host").strip("[]"), port


@click.command()
@click.option("--listen", default="127.0.0.1:9363", show_default=True, help="HOST:PORT to serve /metrics on.")
@click.pass_obj
@handle_errors
def exporter(opts: Options, listen: str) -> None:
    """Serve the health checks as Prometheus metrics on /metrics until SIGTERM/SIGINT.

    Every scrape runs the checks (bounded windows; one scrape at a time).
    opik_store_health_status{check=...} is 0 ok, 1 warn, 2 critical, -1
    unknown; opik_store_health_up is 0 when the server could not be reached.
    The default listens on loopback only; give 0.0.0.0:9363 to be scraped
    from elsewhere.

    \b
    Example:
      opik-store exporter --listen 127.0.0.1:9363
    """
    from opik_store.health.prometheus import serve

    host, port = parse_listen(listen)
    config = load_config(opts.config_path).health
    store = opts.store(must_exist="server")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            server, thread = serve(lambda: store.health(config), host, port)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
        click.echo(f"serving http://{listen}/metrics", err=True)
        while not stop.wait(0.2):
            pass
        server.shutdown()
        server.server_close()
        thread.join(5)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        store.close()
    click.echo("exporter stopped", err=True)
