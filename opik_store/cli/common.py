"""What every command shares: the global options, the target, output and error handling.

Command modules build a :class:`Options` from the global flags, ask it for a
``Store``, and print through :func:`emit_json` or ``click.echo``. Every
command is wrapped in :func:`handle_errors`, which keeps one rule: an
opik-store error becomes one ``error:`` line on stderr and a documented exit
code, never a traceback.

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

from opik_store.config import parse_settings
from opik_store.errors import ConfigError, DataLossError, OpikStoreError, RevisionError, UnsupportedServerError
from opik_store.migrations.lock import LockLost, LockTimeout
from opik_store.migrations.preflight import PreflightError
from opik_store.migrations.runner import RefusedError
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


def error(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)


def handle_errors(func: F) -> F:
    """Turn opik-store errors into one clear line and an exit code."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, DataLossError, RevisionError, UnsupportedServerError, RefusedError, PreflightError) as exc:
            error(str(exc))
            sys.exit(2)
        except LockTimeout as exc:
            error(str(exc))
            sys.exit(4)
        except LockLost as exc:
            error(f"{exc}. The interrupted revision is finished by the next `opik-store migrate`.")
            sys.exit(1)

        except OpikStoreError as exc:
            error(str(exc))
            sys.exit(1)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper  # type: ignore[return-value]


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


config_option = file_option(
    "--config",
    "config_path",
    "OPIK_STORE_CONFIG",
    "TOML configuration file [default: ./opik-store.toml if present, else built-in defaults].",
)


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (the only thing a --json command prints there)."""
    click.echo(json.dumps(data, indent=2))


def describe_target(store: Store) -> str:
    """The one-line description of what a command acts on: database, server (password masked), topology."""
    config = store.config
    return f"database {config.database!r} on {config.connection.display} ({config.topology.label})"


def write_or_print(text: str, output: str | None) -> None:
    """Write ``text`` to ``output`` (and say so), or print it as it is."""
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)
