"""The declared access configuration: profiles, quotas, roles, users — loaded and validated.

Rules:

* The shipped defaults (``opik_store/access/defaults/profiles.toml``) are the base;
  a user's file is merged over them table by table (its values win, lists
  are replaced). ``--profiles`` / OPIK_STORE_PROFILES names it.
* Entity names are plain identifiers (letters, digits, underscores; 1-64
  characters). Anything else (quotes, backticks, semicolons, spaces,
  non-ASCII) is refused: names must be valid in SQL and as XML element names
  alike.
* Passwords never stay in plain text: ``password_sha256`` (hex) is taken as
  is; ``password_env`` and ``password_file`` are read and hashed at load. No
  message ever contains a password, only where it came from.
* Every problem found is reported at once, each naming the file, the entry
  and the key. Nothing is applied while any error exists.
* Setting names, value types and MIN <= value <= MAX are checked against a
  real ClickHouse (the target, or the embedded engine offline) by
  :func:`check_against_server`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_identifier, setting_literal
from opik_store.errors import ConfigError, ServerError
from opik_store.resources import read_toml

ENV_PROFILES = "OPIK_STORE_PROFILES"
DEFAULTS = Path(__file__).resolve().parent / "defaults" / "profiles.toml"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
QUOTA_LIMITS = {
    "queries": "queries",
    "query_selects": "query_selects",
    "query_inserts": "query_inserts",
    "errors": "errors",
    "result_rows": "result_rows",
    "result_bytes": "result_bytes",
    "read_rows": "read_rows",
    "read_bytes": "read_bytes",
    "written_bytes": "written_bytes",
    "execution_time_seconds": "execution_time",
}
KEYS = ("user_name", "ip_address", "client_key", "forwarded_ip_address", "not_keyed")
#: Errors meaning "the limit you set was hit", i.e. the value was understood (memory, rows, time, result size).
_LIMIT_HIT = {158, 159, 160, 241, 396}
PRIVILEGES = ("SELECT", "INSERT", "ALTER", "CREATE TABLE", "DROP TABLE", "OPTIMIZE", "SHOW", "TRUNCATE")


class AccessConfigError(ConfigError):
    """One or more problems in the access configuration (all listed)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid access configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SettingSpec:
    """A setting in a profile: its value and/or its constraint."""

    value: str | None = None
    min: str | None = None
    max: str | None = None
    writability: str | None = None  # None | "CONST" | "CHANGEABLE_IN_READONLY"


@dataclass(frozen=True)
class Profile:
    name: str
    settings: Mapping[str, SettingSpec]
    inherit: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuotaInterval:
    duration_seconds: int
    limits: Mapping[str, int]  # ClickHouse limit name -> maximum
    randomized: bool = False


@dataclass(frozen=True)
class Quota:
    name: str
    keyed_by: str
    intervals: tuple[QuotaInterval, ...]


#: What a writer needs beyond INSERT: nothing since revision 0004 (traces and spans compute no retention
#: class at insert; revisions 0001-0003 read the ``retention`` lookup with joinGet, which needed SELECT on it).
WRITER_EXTRA_GRANTS: tuple[str, ...] = ()


@dataclass(frozen=True)
class Role:
    name: str
    grants: tuple[str, ...]
    profile: str | None = None
    quota: str | None = None

    @property
    def effective_grants(self) -> tuple[str, ...]:
        return effective_grants(self.grants)


def effective_grants(grants: tuple[str, ...] | set[str]) -> tuple[str, ...]:
    """The configured privileges (on the whole database) plus what a holder that INSERTs needs."""
    extra = WRITER_EXTRA_GRANTS if "INSERT" in grants and "SELECT" not in grants else ()
    return tuple(sorted({*grants, *extra}))


def grant_target(grant: str, database_sql: str) -> tuple[str, str]:
    """(privilege, target) of a grant: ``SELECT ON retention`` -> ``db.retention``; ``INSERT`` -> ``db.*``."""
    privilege, _, table = grant.partition(" ON ")
    return privilege, f"{database_sql}.{quote_identifier(table)}" if table else f"{database_sql}.*"


@dataclass(frozen=True)
class User:
    """A user; ``password_sha256`` is a hex digest, never the password."""

    name: str
    password_sha256: str = field(repr=False)
    hosts: tuple[str, ...]
    roles: tuple[str, ...]
    password_source: str = ""


@dataclass(frozen=True)
class AccessModel:
    profiles: Mapping[str, Profile]
    quotas: Mapping[str, Quota]
    roles: Mapping[str, Role]
    users: Mapping[str, User]
    purposes: Mapping[str, str]
    source: str = ""

    def role_profile(self, user: User) -> str | None:
        names = [self.roles[r].profile for r in user.roles if self.roles[r].profile]
        return names[0] if names else None


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_access(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> AccessModel:
    """Load the defaults, merge the user's file over them, and validate (offline checks)."""
    env = os.environ if environ is None else environ
    data = tomllib.loads(DEFAULTS.read_text(encoding="utf-8"))
    chosen = path or env.get(ENV_PROFILES)
    where = "defaults"
    if chosen:
        file = Path(chosen)
        data = _merge(data, read_toml(file, "profiles file"))
        where = str(file)
    return parse_access(data, where, env)


def parse_access(
    data: Mapping[str, Any], where: str = "<profiles>", environ: Mapping[str, str] | None = None
) -> AccessModel:
    """Validate a parsed document; raise AccessConfigError listing every problem."""
    env = os.environ if environ is None else environ
    problems: list[str] = []

    def bad(entry: str, message: str) -> None:
        problems.append(f"{where}: {entry}: {message}")

    def table(value: Any, entry: str) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        bad(entry, f"must be a table, got {_shape(value)}")
        return {}

    def strings(value: Any, entry: str, key: str) -> list[str]:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        bad(entry, f"{key} must be a list of strings, got {_shape(value)}")
        return []

    def name_ok(kind: str, name: str) -> bool:
        if not _NAME.match(name):
            bad(f"[{kind}.{name!r}]", "names are letters, digits and underscores (1-64, not starting with a digit)")
            return False
        return True

    unknown = sorted(set(data) - {"profiles", "quotas", "roles", "users", "purposes"})
    if unknown:
        bad("top level", f"unknown section(s) {', '.join(unknown)}")

    profiles: dict[str, Profile] = {}
    for name, value in table(data.get("profiles", {}), "[profiles]").items():
        if not name_ok("profiles", name):
            continue
        entry = f"[profiles.{name}]"
        item = table(value, entry)
        for key in sorted(set(item) - {"settings", "constraints", "inherit"}):
            bad(entry, f"unknown key {key!r}")
        specs: dict[str, dict[str, Any]] = {}
        for setting, value in table(item.get("settings", {}), f"{entry}.settings").items():
            if isinstance(value, Mapping | list) or value is None:
                bad(f"{entry}.settings", f"{setting}: a value must be a number, string or boolean")
                continue
            specs.setdefault(setting, {})["value"] = _text(value)
        for setting, rule in table(item.get("constraints", {}), f"{entry}.constraints").items():
            if not isinstance(rule, Mapping):
                bad(f"{entry}.constraints", f"{setting}: expected {{ min = .., max = .., const = true }}")
                continue
            for key in sorted(set(rule) - {"min", "max", "const", "changeable_in_readonly"}):
                bad(f"{entry}.constraints", f"{setting}: unknown key {key!r}")
            spec = specs.setdefault(setting, {})
            for bound in ("min", "max"):
                if bound in rule:
                    spec[bound] = _text(rule[bound])
            if rule.get("const") and rule.get("changeable_in_readonly"):
                bad(f"{entry}.constraints", f"{setting}: const and changeable_in_readonly exclude each other")
            if rule.get("const"):
                spec["writability"] = "CONST"
            elif rule.get("changeable_in_readonly"):
                spec["writability"] = "CHANGEABLE_IN_READONLY"
        for setting, spec in specs.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", setting):
                bad(f"{entry}.settings", f"{setting!r} is not a setting name")
            _check_bounds(bad, f"{entry}.settings", setting, spec)
        inherit = strings(item.get("inherit", []), entry, "inherit")
        profiles[name] = Profile(name, {k: SettingSpec(**v) for k, v in specs.items()}, tuple(inherit))
    for profile in profiles.values():
        for parent in profile.inherit:
            if parent not in profiles:
                bad(f"[profiles.{profile.name}]", f"inherit: unknown profile {parent!r}")
                continue
            for setting, child in profile.settings.items():
                rule = profiles[parent].settings.get(setting)
                if rule is not None and child.value is not None and not _within(child.value, rule):
                    bad(
                        f"[profiles.{profile.name}]",
                        f"{setting} = {child.value} breaks the constraint it inherits from {parent!r} "
                        f"(MIN {rule.min}, MAX {rule.max}{', CONST' if rule.writability == 'CONST' else ''}): "
                        "ClickHouse checks a profile's values against its parents' constraints (error 452); "
                        "do not inherit a profile whose limit you relax",
                    )

    quotas: dict[str, Quota] = {}
    for name, value in table(data.get("quotas", {}), "[quotas]").items():
        if not name_ok("quotas", name):
            continue
        entry = f"[quotas.{name}]"
        item = table(value, entry)
        for key in sorted(set(item) - {"keyed_by", "intervals"}):
            bad(entry, f"unknown key {key!r}")
        keyed = item.get("keyed_by", "user_name")
        if keyed not in KEYS:
            bad(entry, f"keyed_by must be one of {', '.join(KEYS)}, got {keyed!r}")
        intervals = []
        given = item.get("intervals", [])
        if not isinstance(given, list):
            bad(entry, f"intervals must be an array of tables ([[quotas.{name}.intervals]]), got {_shape(given)}")
            given = []
        for n, raw in enumerate(given, start=1):
            ientry = f"{entry} interval #{n}"
            interval = table(raw, ientry)
            for key in sorted(set(interval) - set(QUOTA_LIMITS) - {"duration_seconds", "randomized"}):
                bad(ientry, f"unknown key {key!r} (limits: {', '.join(QUOTA_LIMITS)})")
            duration = interval.get("duration_seconds")
            if not isinstance(duration, int) or isinstance(duration, bool) or duration < 1:
                bad(ientry, f"duration_seconds must be a positive whole number, got {duration!r}")
                continue
            limits = {}
            for key, limit_name in QUOTA_LIMITS.items():
                if key in interval:
                    value = interval[key]
                    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                        bad(ientry, f"{key} must be a whole number >= 0, got {value!r}")
                    else:
                        limits[limit_name] = value
            if not limits:
                bad(ientry, "an interval needs at least one limit")
            intervals.append(QuotaInterval(duration, limits, bool(interval.get("randomized", False))))
        if not intervals:
            bad(entry, "a quota needs at least one interval")
        quotas[name] = Quota(name, keyed, tuple(intervals))

    roles: dict[str, Role] = {}
    for name, value in table(data.get("roles", {}), "[roles]").items():
        if not name_ok("roles", name):
            continue
        entry = f"[roles.{name}]"
        item = table(value, entry)
        for key in sorted(set(item) - {"grants", "profile", "quota"}):
            bad(entry, f"unknown key {key!r}")
        grants = tuple(g.upper() for g in strings(item.get("grants", []), entry, "grants"))
        for grant in grants:
            if grant not in PRIVILEGES:
                bad(entry, f"grants: unknown privilege {grant!r} (allowed: {', '.join(PRIVILEGES)})")
        role_profile, role_quota = item.get("profile"), item.get("quota")
        if role_profile is not None and not isinstance(role_profile, str):
            bad(entry, f"profile must be a profile name, got {_shape(role_profile)}")
            role_profile = None
        if role_quota is not None and not isinstance(role_quota, str):
            bad(entry, f"quota must be a quota name, got {_shape(role_quota)}")
            role_quota = None
        if role_profile is not None and role_profile not in profiles:
            bad(entry, f"profile: unknown profile {role_profile!r}")
        if role_quota is not None and role_quota not in quotas:
            bad(entry, f"quota: unknown quota {role_quota!r}")
        roles[name] = Role(name, grants, role_profile, role_quota)

    users: dict[str, User] = {}
    for name, value in table(data.get("users", {}), "[users]").items():
        if not name_ok("users", name):
            continue
        entry = f"[users.{name}]"
        item = table(value, entry)
        for key in sorted(set(item) - {"password_sha256", "password_env", "password_file", "hosts", "roles"}):
            bad(entry, f"unknown key {key!r}")
        if name in roles:
            bad(entry, f"a user and a role cannot share the name {name!r}")
        digest, source = _password(item, entry, env, bad)
        hosts = tuple(strings(item.get("hosts", ["::/0"]), entry, "hosts"))
        for host in hosts:
            if not re.fullmatch(r"[0-9A-Fa-f:./]+", str(host)):
                bad(entry, f"hosts: {host!r} is not an IP address or CIDR range")
        user_roles = strings(item.get("roles", []), entry, "roles")
        for role in user_roles:
            if role not in roles:
                bad(entry, f"roles: unknown role {role!r}")
        users[name] = User(name, digest, hosts, tuple(user_roles), source)

    purposes = dict(table(data.get("purposes", {}), "[purposes]"))
    for purpose, profile in purposes.items():
        if not isinstance(profile, str) or profile not in profiles:
            bad(f"[purposes] {purpose}", f"unknown profile {profile!r}")
    if problems:
        raise AccessConfigError(problems)
    return AccessModel(profiles, quotas, roles, users, purposes, where)


def _shape(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}
    return names.get(type(value), "a table" if isinstance(value, Mapping) else type(value).__name__)


def _within(value: str, rule: SettingSpec) -> bool:
    if rule.writability == "CONST":
        return rule.value is None or value == rule.value
    try:
        number = float(value)
        return (rule.min is None or number >= float(rule.min)) and (rule.max is None or number <= float(rule.max))
    except ValueError:
        return True


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _check_bounds(bad: Any, entry: str, setting: str, spec: Mapping[str, str]) -> None:
    def number(key: str) -> float | None:
        try:
            return float(spec[key]) if key in spec else None
        except ValueError:
            return None

    value, low, high = number("value"), number("min"), number("max")
    if low is not None and high is not None and low > high:
        bad(entry, f"{setting}: min {spec['min']} is above max {spec['max']}")
    if value is not None and low is not None and value < low:
        bad(entry, f"{setting}: value {spec['value']} is below its min {spec['min']}")
    if value is not None and high is not None and value > high:
        bad(entry, f"{setting}: value {spec['value']} is above its max {spec['max']}")


def _password(item: Mapping[str, Any], entry: str, env: Mapping[str, str], bad: Any) -> tuple[str, str]:
    given = [k for k in ("password_sha256", "password_env", "password_file") if k in item]
    if len(given) != 1:
        bad(entry, "give exactly one of password_sha256, password_env, password_file")
        return "", ""
    key = given[0]
    if key == "password_sha256":
        digest = str(item[key]).lower()
        if not _HEX64.match(digest):
            bad(entry, "password_sha256 must be 64 hex digits (sha256 of the password)")
        return digest, "sha256 given"
    if key == "password_env":
        var = str(item[key])
        if var not in env or not env[var]:
            # the value is not repeated: a password put here by mistake must not reach a terminal or a log
            bad(entry, "password_env: the environment variable it names is not set (or is empty) here; the "
                       "name is not shown, in case a password was written there by mistake")  # fmt: skip
            return "", ""
        return hashlib.sha256(env[var].encode()).hexdigest(), f"environment variable {var}"
    path = Path(str(item[key]))
    if not path.is_file():
        # the value is not repeated: a password put here by mistake must not reach a terminal or a log
        bad(entry, "password_file: the file it names does not exist (or is not a file); the name is not shown, "
                   "in case a password was written there by mistake")  # fmt: skip
        return "", ""
    try:
        secret = path.read_text(encoding="utf-8").rstrip("\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        bad(entry, f"password_file: {path} cannot be read ({reason})")
        return "", ""
    if not secret:
        bad(entry, f"password_file: {path} is empty")
    return hashlib.sha256(secret.encode()).hexdigest(), f"file {path}"


def check_names_offline(model: AccessModel) -> None:
    """Check every setting name against the shipped list (``access.settings_list``); AccessConfigError listing
    every unknown one. Values are not checked: that needs a server (:func:`check_against_server`)."""
    from opik_store.access.settings_list import known_settings

    known = known_settings()
    problems = [
        f"{model.source}: [profiles.{profile.name}]: unknown ClickHouse setting {setting!r}"
        for profile in model.profiles.values()
        for setting in profile.settings
        if setting not in known
    ]
    if problems:
        raise AccessConfigError(problems)


def check_against_server(model: AccessModel, adapter: Adapter) -> None:
    """Check every setting name and value with a real ClickHouse; raise AccessConfigError listing problems.

    Names are looked up in ``system.settings``; each value, MIN and MAX is
    parsed by the server itself (``SELECT 1 SETTINGS name = value``, which
    changes nothing beyond that one query).
    """
    names = sorted({s for p in model.profiles.values() for s in p.settings})
    rows = adapter.query(
        "SELECT name FROM system.settings WHERE name IN (SELECT arrayJoin(splitByChar(',', {n:String})))",
        {"n": ",".join(names)},
    ).rows
    known = {r[0] for r in rows}
    problems = []
    for profile in model.profiles.values():
        entry = f"{model.source}: [profiles.{profile.name}]"
        for setting, spec in profile.settings.items():
            if setting not in known:
                problems.append(f"{entry}: unknown ClickHouse setting {setting!r}")
                continue
            for label, value in (("value", spec.value), ("min", spec.min), ("max", spec.max)):
                if value is None:
                    continue
                try:
                    adapter.query(f"SELECT 1 SETTINGS {setting} = {setting_literal(value)}")
                except ServerError as exc:
                    if exc.code in _LIMIT_HIT:  # the value parsed and took effect on this probe query
                        continue
                    problems.append(f"{entry}: {setting}: {label} {value!r} is not valid: {exc.server_message}")
    if problems:
        raise AccessConfigError(problems)
