"""What every command shares: the global options, the target, output and error handling.

Global options (``--url``, ``--database``, ``--cluster``, ``--config``, ...)
are declared once, in :data:`GLOBAL_OPTIONS`. The top-level group takes them
with their environment variables; :func:`attach_global_options` adds the same
flags (without environment variables, hidden from the subcommand's option
list) to every subcommand, so ``opik-store --cluster opik migrate --sql`` and
``opik-store migrate --sql --cluster opik`` mean the same. A value given after
the subcommand overrides one given before it (or by the environment);
``--setting`` values from both sides are combined, later ones winning.

Command modules ask :class:`Options` for a ``Store``; every command that acts
on a database prints its target (server with the password masked, database,
topology) as one ``target:`` line on stderr. Read-only commands use
``opts.store(must_exist=...)`` and never create the embedded directory or the
database: when it is missing they stop with exit code 5.

Every command is wrapped in :func:`handle_errors`, which keeps one rule: an
opik-store error becomes one ``error:`` line on stderr and a documented exit
code, never a traceback; with ``--json`` it becomes
``{"error": "...", "exit_code": N}`` on stdout instead (stdout then always
holds exactly one JSON document).

Exit codes: 0 success; 1 a database/server error; 2 bad input or a refused
operation (nothing was changed); 3 ``check`` found differences; 4 the
migration lock stayed busy for the whole --lock-timeout; 5 a read-only
command found no database to read (nothing was created); 6 ``health``'s worst
check is warn; 7 it is critical (both defined in ``cli/health.py``); 130 the
command was interrupted by SIGINT (Ctrl-C), 143 by SIGTERM: one line says so
and names the command that resumes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import click

from opik_store.adopt import AdoptionRefused
from opik_store.config import parse_settings
from opik_store.errors import (
    ConfigError,
    DataLossError,
    MissingTargetError,
    OpikStoreError,
    RevisionError,
    ServerError,
    UnsupportedServerError,
)
from opik_store.maintenance.config_file import load_config
from opik_store.migrations.lock import LockLost, LockTimeout
from opik_store.migrations.preflight import PreflightError
from opik_store.migrations.relayout import RelayoutError
from opik_store.migrations.runner import RefusedError
from opik_store.store import Store

F = TypeVar("F", bound=Callable[..., Any])

EXIT_SERVER = 1
EXIT_BAD_INPUT = 2
EXIT_DIFFERENCES = 3
EXIT_LOCK_BUSY = 4
EXIT_NO_DATABASE = 5
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C), as a shell reports it: 128 + 2
EXIT_TERMINATED = 143  # SIGTERM: 128 + 15


class Terminated(BaseException):
    """Raised in the main thread when the process gets SIGTERM (see :func:`raise_on_sigterm`)."""


def raise_on_sigterm() -> None:
    """Make SIGTERM raise :class:`Terminated` in the main thread, unless someone installed a handler already
    (the scheduler and the exporter install their own, later, and those win)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:

        def _terminated(_signum: int, _frame: Any) -> None:
            raise Terminated()

        signal.signal(signal.SIGTERM, _terminated)


def _interrupted(signal_name: str) -> str:
    ctx = click.get_current_context(silent=True)
    command = ctx.command_path if ctx is not None else "opik-store"
    return (f"interrupted by {signal_name}: `{command}` stopped where it was. Every step it finished is recorded "
            f"(a migration's revisions, a re-layout's windows, a job's run); run the same command again to resume, "
            "and `opik-store status` to see where it stands")  # fmt: skip


@dataclass
class Options:
    """The global options of one invocation, gathered from both sides of the subcommand."""

    url: str | None = None
    database: str | None = None
    cluster: str | None = None
    replica_path: str | None = None
    replica_name: str | None = None
    sharded: bool = False
    settings: tuple[str, ...] = field(default_factory=tuple)
    migrations_dir: str | None = None
    lock_timeout: float | None = None
    lock_lease: float | None = None
    retries: int | None = None
    config_path: str | None = None
    verbose: bool = False

    def build(self) -> Store:
        """The store these options name; nothing is printed and nothing connects."""
        return Store.from_url(
            url=self.url,
            database=self.database,
            cluster=self.cluster,
            replica_path=self.replica_path,
            replica_name=self.replica_name,
            sharded=self.sharded or None,
            settings=parse_settings(self.settings),
            migrations_dir=self.migrations_dir or load_config(self.config_path).migrations_dir,
            lock_timeout=self.lock_timeout,
            lock_lease=self.lock_lease,
            retries=self.retries,
        )

    def store(self, must_exist: Literal["server", "database"] | None = None) -> Store:
        """The store, after printing its target on stderr.

        ``must_exist``: None (the command may create what it needs),
        ``"server"`` (an embedded directory must already exist; nothing is
        created) or ``"database"`` (the database must exist too). A missing
        one raises MissingTargetError (exit 5) before anything is created.
        """
        store = self.build()
        click.echo(f"target: {describe_target(store)}", err=True)
        if must_exist is not None:
            try:
                store.require_existing(database=must_exist == "database")
            except BaseException:
                store.close()
                raise
        return store


@dataclass(frozen=True)
class GlobalOption:
    """One global option: its flags, the Options field it sets, its environment variable."""

    flags: tuple[str, ...]
    dest: str
    help: str
    envvar: str | None = None
    type: Any = None
    multiple: bool = False
    metavar: str | None = None
    is_flag: bool = False


GLOBAL_OPTIONS: tuple[GlobalOption, ...] = (
    GlobalOption(
        ("--url",),
        "url",
        "clickhouse://user:password@host:9000/?secure=true (native) or chdb:///abs/path (embedded). "
        "Default: an embedded database in ./.opik-store (a development default). Passwords are never printed; "
        "OPIK_STORE_PASSWORD supplies one the URL omits.",
        envvar="OPIK_STORE_URL",
    ),
    GlobalOption(
        ("--database",),
        "database",
        "Target database [default: opik]. system, default and INFORMATION_SCHEMA are refused.",
        envvar="OPIK_STORE_DATABASE",
    ),
    GlobalOption(
        ("--cluster",),
        "cluster",
        "Cluster name: renders Replicated* engines and ON CLUSTER. Omit for a single node.",
        envvar="OPIK_STORE_CLUSTER",
    ),
    GlobalOption(
        ("--replica-path",),
        "replica_path",
        "Replication path template [default: /clickhouse/tables/{shard}/{database}/{table}].",
        envvar="OPIK_STORE_REPLICA_PATH",
    ),
    GlobalOption(
        ("--replica-name",), "replica_name", "Replica name [default: {replica}].", envvar="OPIK_STORE_REPLICA_NAME"
    ),
    GlobalOption(
        ("--sharded",),
        "sharded",
        "Sharded topology (with --cluster): traces and spans become shard-local tables (traces_local, spans_local) "
        "under Distributed ones, and the ledger, lock and rules one cluster-wide set. Needed on a cluster with "
        "more than one shard.",
        envvar="OPIK_STORE_SHARDED",
        is_flag=True,
    ),
    GlobalOption(
        ("--setting",),
        "settings",
        "ClickHouse setting for DDL statements (repeatable), over the defaults alter_sync/mutations_sync "
        "(and distributed_ddl_task_timeout on a cluster). Also OPIK_STORE_DDL_SETTINGS='a=1,b=2'.",
        multiple=True,
        metavar="NAME=VALUE",
    ),
    GlobalOption(
        ("--migrations-dir",),
        "migrations_dir",
        "Folder with script.py.mako and versions/ (also `[migrations] dir` in the configuration file). "
        "[default: the folder the database's ledger records, else the shipped migrations].",
        envvar="OPIK_STORE_MIGRATIONS_DIR",
        type=click.Path(file_okay=False),
    ),
    GlobalOption(
        ("--lock-timeout",),
        "lock_timeout",
        "Seconds to wait for another run's migration lock [default: 300].",
        envvar="OPIK_STORE_LOCK_TIMEOUT",
        type=float,
    ),
    GlobalOption(
        ("--lock-lease",),
        "lock_lease",
        "Seconds without a heartbeat after which a lock holder counts as dead [default: 60].",
        envvar="OPIK_STORE_LOCK_LEASE",
        type=float,
    ),
    GlobalOption(
        ("--retries",),
        "retries",
        "Attempts per statement on transient errors (connection loss, Keeper, DDL timeouts) [default: 6].",
        envvar="OPIK_STORE_RETRIES",
        type=int,
    ),
    GlobalOption(
        ("--config",),
        "config_path",
        "TOML configuration file for retention, system tables and jobs "
        "[default: ./opik-store.toml if present, else built-in defaults].",
        envvar="OPIK_STORE_CONFIG",
        type=click.Path(dir_okay=False),
    ),
    GlobalOption(
        ("-v", "--verbose"),
        "verbose",
        "Log details on stderr (retries, each job failure's traceback, the driver's connection log).",
        is_flag=True,
    ),
)


def _set_option(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Record a global option's value in the invocation's Options (later occurrences win)."""
    opts = ctx.ensure_object(Options)
    assert param.name is not None
    if param.multiple:
        if value:
            setattr(opts, param.name, (*getattr(opts, param.name), *value))
    elif param.name == "verbose":
        if value:
            opts.verbose = True
            _log_details()
    elif isinstance(param, click.Option) and param.is_flag:
        if value:  # a flag's absence on one side never undoes it on the other
            setattr(opts, param.name, True)
    elif value is not None:
        setattr(opts, param.name, value)
    return value


def quiet_driver_log() -> None:
    """Silence clickhouse-driver's own log (it prints a traceback per failed connection attempt);
    the error that follows says the same in one line, with the password masked. --verbose undoes it."""
    driver = logging.getLogger("clickhouse_driver")
    if not driver.handlers:
        driver.addHandler(logging.NullHandler())
    driver.propagate = False


def _log_details() -> None:
    logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("clickhouse_driver").propagate = True


def _make_option(spec: GlobalOption, on_group: bool) -> click.Option:
    return click.Option(
        [*spec.flags, spec.dest],
        help=spec.help,
        type=spec.type,
        multiple=spec.multiple,
        metavar=spec.metavar,
        is_flag=spec.is_flag or None,
        default=False if spec.is_flag else None,
        envvar=spec.envvar if on_group else None,
        show_envvar=on_group and spec.envvar is not None,
        hidden=not on_group,
        expose_value=False,
        callback=_set_option,
    )


GLOBAL_NOTE = (
    "Global options (--url, --database, --cluster, --config, --setting, ...; see `opik-store --help`) "
    "are accepted here too, before or after the command name."
)


def attach_global_options(root: click.Group) -> None:
    """Give ``root`` the global options (with environment variables) and every command below it their copies."""
    root.params.extend(_make_option(spec, on_group=True) for spec in GLOBAL_OPTIONS)
    _attach_below(root)


def _attach_below(group: click.Group) -> None:
    for command in group.commands.values():
        command.params.extend(_make_option(spec, on_group=False) for spec in GLOBAL_OPTIONS)
        if GLOBAL_NOTE not in (command.epilog or ""):
            command.epilog = (command.epilog + "\n\n" if command.epilog else "") + GLOBAL_NOTE
        if isinstance(command, click.Group):
            _attach_below(command)


def error(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)


def fail(message: str, exit_code: int, as_json: bool = False) -> None:
    """Report one error (text on stderr, or JSON on stdout) and exit with ``exit_code``."""
    message = " ".join(line.strip() for line in message.strip().splitlines()) if as_json else message
    if as_json:
        click.echo(json.dumps({"error": message, "exit_code": exit_code}))
    else:
        error(message)
    sys.exit(exit_code)


def _exit_code(exc: OpikStoreError) -> int:
    if isinstance(
        exc,
        ConfigError
        | DataLossError
        | RevisionError
        | UnsupportedServerError
        | RefusedError
        | PreflightError
        | AdoptionRefused
        | RelayoutError,
    ):
        return EXIT_BAD_INPUT
    if isinstance(exc, LockTimeout):
        return EXIT_LOCK_BUSY
    if isinstance(exc, MissingTargetError):
        return EXIT_NO_DATABASE
    return EXIT_SERVER


#: ClickHouse error codes that mean "not migrated yet" and "no SQL access management", with what to do.
_HINTS = {
    60: "the table is missing: has `opik-store migrate` run on this database?",
    81: "the database is missing: run `opik-store migrate` first, or check --database / --url",
    497: "this server (or the embedded engine) grants no SQL access management to this user: "
    "use a user with access_management, or `opik-store profiles render-xml` for a users.d file",
    514: "this server has no writable SQL access storage: use `opik-store profiles render-xml` for a users.d file",
}


def _hint(exc: OpikStoreError) -> str:
    hint = _HINTS.get(exc.code) if isinstance(exc, ServerError) else None
    return f" ({hint})" if hint else ""


def handle_errors(func: F) -> F:
    """Turn opik-store errors into one clear line (JSON under --json) and an exit code."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            fail(_interrupted("SIGINT (Ctrl-C)"), EXIT_INTERRUPTED, as_json)
        except Terminated:
            fail(_interrupted("SIGTERM"), EXIT_TERMINATED, as_json)
        except LockLost as exc:
            fail(f"{exc}. The interrupted revision is finished by the next `opik-store migrate`.", 1, as_json)
        except OpikStoreError as exc:
            fail(str(exc) + _hint(exc), _exit_code(exc), as_json)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper  # type: ignore[return-value]


class JsonAwareGroup(click.Group):
    """The top-level group: with --json anywhere on the command line, click's own usage errors
    (unknown option, bad value, missing argument) come out as the same JSON error document."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if args is None:  # the console script (a process of its own), not a caller embedding the CLI
            raise_on_sigterm()
        if not standalone_mode or "--json" not in argv:
            return super().main(argv, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(argv, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code, as_json=True)
        except click.Abort:
            fail("aborted", 1, as_json=True)
        sys.exit(result if isinstance(result, int) else 0)


def progress(quiet: bool) -> Callable[[str], None]:
    return (lambda _m: None) if quiet else (lambda m: click.echo(m, err=True))


def file_option(flag: str, dest: str, envvar: str, help_text: str) -> Callable[[F], F]:
    """A --flag FILE option that also reads an environment variable."""

    def decorate(func: F) -> F:
        option = click.option(
            flag, dest, envvar=envvar, show_envvar=True, type=click.Path(dir_okay=False), help=help_text
        )
        return option(func)

    return decorate


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (the only thing a --json command prints there)."""
    click.echo(json.dumps(data, indent=2))


def describe_target(store: Store) -> str:
    """The one-line description of what a command acts on: database, server (password masked), topology."""
    config = store.config
    return f"database {config.database!r} on {config.connection.display} ({config.topology.label})"


def write_or_print(text: str, output: str | None, private: bool = False) -> None:
    """Write ``text`` to ``output`` (and say so), or print it as it is.

    ``private`` (the text holds secrets, e.g. password hashes): the file is written with mode 0600 into a new file
    beside ``output`` and renamed over it, so that no moment exists when others can read it, whatever mode an
    existing ``output`` had."""
    if not output:
        click.echo(text, nl=False)
        return
    folder = os.path.dirname(os.path.abspath(output))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ConfigError(f"cannot write {output}: {folder} is a file, not a folder; choose another --output. "
                          "Nothing was written")  # fmt: skip
    if not os.path.isdir(folder):
        raise ConfigError(f"cannot write {output}: the folder {folder} does not exist. Create it first "
                          f"(mkdir -p {folder}), or choose another --output; nothing was written")  # fmt: skip
    try:
        _write(text, output, private)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}; nothing was written") from None
    if private:
        click.echo(f"wrote {output} (mode 0600: it holds password hashes; let the server's user read it, e.g. "
                   f"`chown clickhouse: {output}`)")  # fmt: skip
    else:
        click.echo(f"wrote {output}")


def _write(text: str, output: str, private: bool) -> None:
    if not private:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        return
    folder = os.path.dirname(os.path.abspath(output))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".opik-store-")  # mkstemp creates it with mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, output)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
