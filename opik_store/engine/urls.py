"""Connection URLs: parsing, defaults and password masking.

Accepted forms:

* ``clickhouse://user:password@host:9000/?secure=true`` -- native protocol
  (``clickhouse+native://`` and ``clickhouses://`` -- secure -- are accepted too);
* ``chdb:///abs/path`` -- the embedded engine at an absolute path;
* ``chdb:relative/path`` or ``chdb://./relative/path`` -- relative to the
  current directory;
* ``chdb://:memory:`` -- an in-memory embedded engine.

Query parameters of a ``chdb`` URL are passed to the engine as start-up
options (e.g. ``?config-file=/abs/config.xml``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from opik_store.errors import ConfigError

DEFAULT_EMBEDDED_DIR = ".opik-store"
NATIVE_SCHEMES = {"clickhouse", "clickhouse+native", "clickhouses"}
EMBEDDED_SCHEMES = {"chdb"}
_MASK = "***"


@dataclass(frozen=True)
class ConnectionSpec:
    """A parsed connection URL. ``password`` is never part of ``repr``."""

    kind: str  # "native" | "embedded"
    host: str = ""
    port: int = 0
    user: str = "default"
    password: str = field(default="", repr=False)
    secure: bool = False
    database: str | None = None
    path: str = ""  # embedded: absolute directory or ":memory:"
    options: tuple[tuple[str, str], ...] = ()

    @property
    def display(self) -> str:
        """The URL with its password masked, safe for any message."""
        if self.kind == "embedded":
            opts = "&".join(f"{k}={_masked_option(k, v)}" for k, v in self.options)
            return f"chdb://{self.path}" + (f"?{opts}" if opts else "")
        auth = quote(self.user, safe="")
        if self.password:
            auth += f":{_MASK}"
        scheme = "clickhouses" if self.secure else "clickhouse"
        db = f"/{self.database}" if self.database else "/"
        return f"{scheme}://{auth}@{self.host}:{self.port}{db}"

    def scrub(self, text: str) -> str:
        """Remove this connection's password (and any secret-looking URL option's value) from ``text``."""
        secrets = [self.password] if self.password else []
        secrets += [v for k, v in self.options if v and _masked_option(k, v) == _MASK]
        for secret in secrets:
            text = text.replace(secret, _MASK)
            encoded = quote(secret, safe="")
            if encoded != secret:
                text = text.replace(encoded, _MASK)
        return text


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``.

    Works on malformed URLs too (used when reporting that a URL is invalid), whatever the user name holds
    (spaces, ``@``, ``/``): the user information runs from ``://`` (or the start, without it) to the *last*
    ``@`` of the whole text, newlines included, and everything after its first ``:`` is masked. So a
    password written without percent-encoding (``@ # / ?``, a space or a newline in it) is masked whole. Text
    with an ``@`` but no password is left as it is; with ``@`` elsewhere (a query value), more is masked than
    needed, never less.
    """
    url = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={_MASK}", url)
    head, sep, rest = url.partition("://")
    if not sep:
        head, rest = "", url
    at = rest.rfind("@")
    if at < 0:
        return url
    user, colon, _ = rest[:at].partition(":")
    if not colon:
        return url
    return f"{head}{sep}{user}:{_MASK}{rest[at:]}"


#: A query parameter that may carry a secret (``?password=...``, ClickHouse's HTTP form, ``token``, ``key``):
#: its value, up to the next ``&`` or ``#`` (or the end, newlines included), is masked.
_SECRET_PARAM = re.compile(
    r"([?&;](?:[^=&#?]*(?:pass|pwd|secret|token|key|auth|cred)[^=&#?]*))=[^&#]*", re.IGNORECASE | re.DOTALL
)


def _masked_option(key: str, value: str) -> str:
    return _MASK if _SECRET_PARAM.fullmatch(f"?{key}={value}") else value


def _truthy(value: str) -> bool:
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"expected a boolean (true/false) in the URL, got {value!r}")


def parse_url(url: str | None, cwd: Path | None = None) -> ConnectionSpec:
    """Parse a connection URL; ``None`` or empty means the default embedded dir.

    Rules: relative embedded paths resolve against ``cwd`` (default: the process
    working directory); a native URL without a port uses 9000 (9440 when
    secure); unknown schemes or query parameters of a native URL are errors.
    """
    base = cwd or Path.cwd()
    if not url:
        return ConnectionSpec(kind="embedded", path=str((base / DEFAULT_EMBEDDED_DIR).resolve()))
    shown = mask_url(url)
    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    if not sep:
        raise ConfigError(f"invalid URL {shown!r}: expected clickhouse://... or chdb:///path")
    if scheme in EMBEDDED_SCHEMES:
        return _parse_embedded(rest, base, shown)
    if scheme in NATIVE_SCHEMES:
        return _parse_native(url, scheme, shown)
    raise ConfigError(
        f"unsupported URL scheme {scheme!r} in {shown!r}: use clickhouse://user:password@host:9000/ "
        "(native protocol) or chdb:///abs/path (embedded engine)"
    )


def _parse_embedded(rest: str, base: Path, shown: str) -> ConnectionSpec:
    location, _, query = rest.partition("?")
    if location.startswith("//"):
        location = location[2:]  # chdb:///abs -> /abs ; chdb://./rel -> ./rel
    options = tuple(parse_qsl(query, keep_blank_values=True))
    if location == ":memory:":
        return ConnectionSpec(kind="embedded", path=":memory:", options=options)
    if not location:
        location = DEFAULT_EMBEDDED_DIR
    path = Path(unquote(location))
    if not path.is_absolute():
        path = base / path
    if "\x00" in str(path):
        raise ConfigError(f"invalid embedded path in {shown!r}")
    return ConnectionSpec(kind="embedded", path=str(path.resolve()), options=options)


def _parse_native(url: str, scheme: str, shown: str) -> ConnectionSpec:
    """Parse a native URL; user information runs to the last ``@``, so ``@ # / ?`` and spaces may appear
    in a password unencoded (percent-encoding works too)."""
    rest = url.split(":", 1)[1]
    if not rest.startswith("//"):
        raise ConfigError(f"invalid URL {shown!r}: expected {scheme}://[user[:password]@]host[:port]/[database]")
    userinfo, at, location = rest[2:].rpartition("@")
    user_raw, colon, password_raw = userinfo.partition(":")
    try:
        parts = urlsplit(f"{scheme}://{location if at else rest[2:]}")
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"invalid URL {shown!r}: {mask_url(str(exc))}") from None
    if not parts.hostname:
        raise ConfigError(f"invalid URL {shown!r}: no host")
    secure = scheme == "clickhouses"
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "secure":
            secure = _truthy(value)
        else:
            raise ConfigError(f"unknown URL parameter {key!r} in {shown!r}; supported: secure")
    database = unquote(parts.path.strip("/")) or None
    return ConnectionSpec(
        kind="native",
        host=parts.hostname,
        port=port or (9440 if secure else 9000),
        user=unquote(user_raw) if at and user_raw else "default",
        password=unquote(password_raw) if at and colon else os.environ.get("OPIK_STORE_PASSWORD", ""),
        secure=secure,
        database=database,
    )
