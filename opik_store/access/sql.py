"""Plan and apply access entities with SQL: read the live ones back, diff, render statements.

Rules:

* The live side is read from ``system.settings_profiles``,
  ``settings_profile_elements``, ``quotas``, ``quota_limits``, ``roles``,
  ``users``, ``role_grants`` and ``grants``. Nothing is assumed.
* Entities stored in ``users_xml`` are read-only to SQL. When the file's
  entities live there, the comparison is made the way the XML renderer
  flattens them: no roles, and each user carries its role's profile, quota
  and grants. Such differences are reported as "update the users.d file",
  never as SQL that would fail.
* Entities not in the file are left alone. With ``prune``, only those whose
  names start with the managed prefix (``opik_`` by default) are dropped,
  and never an XML-stored one or ``default``: pruning must not drop an
  administrator.
* Identifiers are backquoted; values are single-quoted literals. The only
  secret, a password, appears only as its sha256 hex digest, never in plain
  text.
* Statements carry ``ON CLUSTER`` in cluster mode, and every one is
  idempotent on a node that already has its effect, so the same list is
  correct with local access storage (each node has its own entities) and
  with replicated access storage (an entity created through one node appears
  on all, and the other nodes' turn of an ON CLUSTER statement must not
  fail): creates are ``IF NOT EXISTS`` (never ``OR REPLACE``, which would
  drop grants other entities hold on the one replaced), quotas ``OR
  REPLACE`` (a quota holds no grants), ALTER sets a whole target state,
  GRANT/REVOKE are idempotent, drops are ``IF EXISTS``.
* On a cluster the live side is read from every node (:func:`plan_everywhere`
  takes one ``LiveAccess`` per node): with local access storage nodes can
  differ, and a change any node needs is planned once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opik_store.access.model import (
    AccessModel,
    Profile,
    Quota,
    QuotaInterval,
    SettingSpec,
    effective_grants,
    grant_target,
)
from opik_store.config import Topology
from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_identifier, quote_string, setting_literal

XML = "users_xml"


@dataclass
class LiveProfile:
    name: str
    storage: str
    settings: dict[str, SettingSpec]
    inherit: tuple[str, ...]


@dataclass
class LiveQuota:
    name: str
    storage: str
    keyed_by: str
    intervals: tuple[QuotaInterval, ...]
    apply_to: tuple[str, ...]


@dataclass
class LiveRole:
    name: str
    storage: str
    profile: str | None
    grants: set[str]


@dataclass
class LiveUser:
    name: str
    storage: str
    hosts: tuple[str, ...]
    roles: set[str]
    profile: str | None
    quota: str | None
    grants: set[str]


@dataclass
class LiveAccess:
    profiles: dict[str, LiveProfile] = field(default_factory=dict)
    quotas: dict[str, LiveQuota] = field(default_factory=dict)
    roles: dict[str, LiveRole] = field(default_factory=dict)
    users: dict[str, LiveUser] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One difference between the file and the server, and the SQL that removes it (if SQL can)."""

    kind: str  # profile | quota | role | user
    name: str
    what: str  # create | alter | drop | grant | revoke
    detail: str
    statements: tuple[str, ...] = ()
    xml_managed: bool = False

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "statements": list(self.statements)}


def read_live(adapter: Adapter, database: str) -> LiveAccess:
    """Every access entity the server reports."""
    live = LiveAccess()
    elements = adapter.query(
        "SELECT profile_name, user_name, role_name, setting_name, value, min, max, writability, inherit_profile "
        "FROM system.settings_profile_elements ORDER BY profile_name, user_name, role_name, index"
    ).rows
    for name, storage in adapter.query("SELECT name, storage FROM system.settings_profiles").rows:
        live.profiles[name] = LiveProfile(name, storage, {}, ())
    owner_profile: dict[tuple[str, str], str] = {}
    for profile, user, role, setting, value, low, high, writability, inherit in elements:
        if profile is not None and profile in live.profiles:
            target = live.profiles[profile]
            if inherit:
                target.inherit += (inherit,)
            elif setting:
                mode = writability if writability in {"CONST", "CHANGEABLE_IN_READONLY"} else None
                target.settings[setting] = SettingSpec(value, low, high, mode)
        elif inherit and (user or role):
            owner_profile[("user" if user else "role", user or role)] = inherit
    limits: dict[str, list[QuotaInterval]] = {}
    for row in adapter.query(
        "SELECT quota_name, duration, is_randomized_interval, max_queries, max_query_selects, max_query_inserts, "
        "max_errors, max_result_rows, max_result_bytes, max_read_rows, max_read_bytes, max_written_bytes, "
        "max_execution_time FROM system.quota_limits"
    ).rows:
        names = ("queries", "query_selects", "query_inserts", "errors", "result_rows", "result_bytes",
                 "read_rows", "read_bytes", "written_bytes", "execution_time")  # fmt: skip
        values = {n: int(float(v)) for n, v in zip(names, row[3:], strict=True) if v is not None}
        limits.setdefault(row[0], []).append(QuotaInterval(int(row[1]), values, bool(row[2])))
    quota_of: dict[str, str] = {}
    for name, storage, keys, apply_to in adapter.query(
        "SELECT name, storage, keys, apply_to_list FROM system.quotas"
    ).rows:
        keyed = keys[0] if keys else "not_keyed"
        live.quotas[name] = LiveQuota(name, storage, keyed, tuple(sorted(limits.get(name, []), key=_interval_key)),
                                      tuple(sorted(apply_to)))  # fmt: skip
        for owner in apply_to:
            quota_of[owner] = name
    grants: dict[tuple[str, str], set[str]] = {}
    for user, role, access, table in adapter.query(
        "SELECT user_name, role_name, access_type, table FROM system.grants WHERE database = {d:String}",
        {"d": database},
    ).rows:
        grant = f"{access} ON {table}" if table else str(access)
        grants.setdefault(("user" if user else "role", user or role), set()).add(grant)
    for name, storage in adapter.query("SELECT name, storage FROM system.roles").rows:
        live.roles[name] = LiveRole(name, storage, owner_profile.get(("role", name)), grants.get(("role", name), set()))
    role_grants: dict[str, set[str]] = {}
    for user, role in adapter.query(
        "SELECT user_name, granted_role_name FROM system.role_grants WHERE user_name IS NOT NULL"
    ).rows:
        role_grants.setdefault(user, set()).add(role)
    for name, storage, hosts in adapter.query("SELECT name, storage, host_ip FROM system.users").rows:
        live.users[name] = LiveUser(
            name, storage, tuple(sorted(hosts)), role_grants.get(name, set()), owner_profile.get(("user", name)),
            quota_of.get(name), grants.get(("user", name), set()),
        )  # fmt: skip
    return live


def _interval_key(interval: QuotaInterval) -> tuple[int, bool]:
    return interval.duration_seconds, interval.randomized


class AccessPlanner:
    """Computes the changes that make the server match the model."""

    def __init__(self, model: AccessModel, database: str, cluster: str | None = None, prefix: str = "opik_") -> None:
        self.model = model
        self.database = database
        self.on_cluster = Topology(cluster=cluster).on_cluster
        self.prefix = prefix

    # -- rendering -------------------------------------------------------------
    def profile_settings(self, profile: Profile) -> str:
        parts = [f"INHERIT {quote_string(p)}" for p in profile.inherit]
        for setting, spec in profile.settings.items():
            text = setting
            if spec.value is not None:
                text += f" = {setting_literal(spec.value)}"
            if spec.min is not None:
                text += f" MIN {setting_literal(spec.min)}"
            if spec.max is not None:
                text += f" MAX {setting_literal(spec.max)}"
            if spec.writability:
                text += f" {spec.writability}"
            parts.append(text)
        return ", ".join(parts)

    def quota_sql(self, quota: Quota) -> str:
        keyed = "NOT KEYED" if quota.keyed_by == "not_keyed" else f"KEYED BY {quota.keyed_by}"
        intervals = []
        for interval in quota.intervals:
            limits = ", ".join(f"{name} = {value}" for name, value in interval.limits.items())
            randomized = "RANDOMIZED " if interval.randomized else ""
            intervals.append(f"FOR {randomized}INTERVAL {interval.duration_seconds} SECOND MAX {limits}")
        owners = sorted(r.name for r in self.model.roles.values() if r.quota == quota.name)
        to = f" TO {', '.join(quote_identifier(o) for o in owners)}" if owners else ""
        name = quote_identifier(quota.name)
        return f"CREATE QUOTA OR REPLACE {name}{self.on_cluster} {keyed} {', '.join(intervals)}{to}"

    def _db(self) -> str:
        return f"{quote_identifier(self.database, 'database name')}.*"

    def _grant(self, verb: str, grant: str, preposition: str, ident: str) -> str:
        privilege, target = grant_target(grant, quote_identifier(self.database, "database name"))
        return f"{verb}{self.on_cluster} {privilege} ON {target} {preposition} {ident}"

    # -- diffing ---------------------------------------------------------------
    def plan(self, live: LiveAccess, prune: bool = False, rotate_passwords: bool = False) -> list[Change]:
        xml = self._xml_managed(live)
        changes: list[Change] = []
        changes += self._profiles(live, xml)
        changes += self._quotas(live, xml)
        if not xml:
            changes += self._roles(live)
        changes += self._users(live, xml, rotate_passwords)
        if prune:
            changes += self._prune(live)
        return changes

    def _xml_managed(self, live: LiveAccess) -> bool:
        """True when the file's entities live in users.xml (read-only to SQL): compare them flattened."""
        mine = [live.profiles.get(n) for n in self.model.profiles] + [live.users.get(n) for n in self.model.users]
        present = [e for e in mine if e is not None]
        return bool(present) and all(e.storage == XML for e in present)

    def _profiles(self, live: LiveAccess, xml: bool) -> list[Change]:
        out = []
        for name, profile in self.model.profiles.items():
            have = live.profiles.get(name)
            settings = self.profile_settings(profile)
            ident = quote_identifier(name)
            if have is None:
                sql = f"CREATE SETTINGS PROFILE IF NOT EXISTS {ident}{self.on_cluster} SETTINGS {settings}"
                out.append(Change("profile", name, "create", "missing", (sql,), xml))
                continue
            wanted = {k: _norm(v) for k, v in profile.settings.items()}
            current = {k: _norm(v) for k, v in have.settings.items()}
            if wanted != current or tuple(profile.inherit) != tuple(have.inherit):
                detail = _describe_settings(wanted, current, profile.inherit, have.inherit)
                sql = f"ALTER SETTINGS PROFILE {ident}{self.on_cluster} SETTINGS {settings}"
                out.append(Change("profile", name, "alter", detail, (sql,), have.storage == XML))
        return out

    def _quotas(self, live: LiveAccess, xml: bool) -> list[Change]:
        out = []
        for name, quota in self.model.quotas.items():
            have = live.quotas.get(name)
            sql = self.quota_sql(quota)
            if have is None:
                out.append(Change("quota", name, "create", "missing", (sql,), xml))
                continue
            wanted = tuple(sorted(quota.intervals, key=_interval_key))
            owners = tuple(sorted(r.name for r in self.model.roles.values() if r.quota == name))
            if xml:  # XML users carry the quota themselves
                owners = tuple(sorted(u.name for u in self.model.users.values() if self._user_quota(u.roles) == name))
            differs = []
            if quota.keyed_by != have.keyed_by:
                differs.append(f"keyed by {have.keyed_by} -> {quota.keyed_by}")
            if [(i.duration_seconds, i.randomized, dict(i.limits)) for i in wanted] != [
                (i.duration_seconds, i.randomized, dict(i.limits)) for i in have.intervals
            ]:
                differs.append("limits differ")
            if owners != have.apply_to:
                differs.append(f"applies to {', '.join(have.apply_to) or 'nobody'} -> {', '.join(owners) or 'nobody'}")
            if differs:
                out.append(Change("quota", name, "alter", "; ".join(differs), (sql,), have.storage == XML))
        return out

    def _roles(self, live: LiveAccess) -> list[Change]:
        out = []
        for name, role in self.model.roles.items():
            ident = quote_identifier(name)
            have = live.roles.get(name)
            profile = f" SETTINGS PROFILE {quote_string(role.profile)}" if role.profile else ""
            if have is None:
                statements = [f"CREATE ROLE IF NOT EXISTS {ident}{self.on_cluster}{profile}"]
                statements += [self._grant("GRANT", g, "TO", ident) for g in role.effective_grants]
                out.append(Change("role", name, "create", "missing", tuple(statements)))
                continue
            if have.profile != role.profile:
                sql = f"ALTER ROLE {ident}{self.on_cluster}{profile or ' SETTINGS NONE'}"
                out.append(Change("role", name, "alter", f"profile {have.profile} -> {role.profile}", (sql,)))
            for grant in sorted(set(role.effective_grants) - have.grants):
                sql = self._grant("GRANT", grant, "TO", ident)
                out.append(Change("role", name, "grant", f"{grant} on {self.database}", (sql,)))
            for grant in sorted(have.grants - set(role.effective_grants)):
                sql = self._grant("REVOKE", grant, "FROM", ident)
                out.append(Change("role", name, "revoke", f"{grant} on {self.database}", (sql,)))
        return out

    def _user_quota(self, roles: tuple[str, ...]) -> str | None:
        quotas = [self.model.roles[r].quota for r in roles if self.model.roles[r].quota]
        return quotas[0] if quotas else None

    def _users(self, live: LiveAccess, xml: bool, rotate_passwords: bool) -> list[Change]:
        out = []
        for name, user in self.model.users.items():
            ident = quote_identifier(name)
            have = live.users.get(name)
            hosts = ", ".join(f"IP {quote_string(h)}" for h in user.hosts)
            auth = f"IDENTIFIED WITH sha256_hash BY {quote_string(user.password_sha256)}"
            roles = ", ".join(quote_identifier(r) for r in user.roles)
            if have is None:
                statements = [f"CREATE USER IF NOT EXISTS {ident}{self.on_cluster} {auth} HOST {hosts}"]
                if user.roles:
                    statements.append(f"GRANT{self.on_cluster} {roles} TO {ident}")
                    statements.append(f"ALTER USER {ident}{self.on_cluster} DEFAULT ROLE {roles}")
                out.append(Change("user", name, "create", "missing", tuple(statements), xml))
                continue
            if tuple(sorted(_host(h) for h in user.hosts)) != tuple(sorted(_host(h) for h in have.hosts)):
                sql = f"ALTER USER {ident}{self.on_cluster} HOST {hosts}"
                detail = f"hosts {', '.join(have.hosts)} -> {', '.join(user.hosts)}"
                out.append(Change("user", name, "alter", detail, (sql,), have.storage == XML))
            if rotate_passwords:
                out.append(Change("user", name, "alter", "password (from the file)",
                                  (f"ALTER USER {ident}{self.on_cluster} {auth}",), have.storage == XML))  # fmt: skip
            if have.storage == XML:
                out += self._xml_user(user, have)
                continue
            for role in sorted(set(user.roles) - have.roles):
                out.append(Change("user", name, "grant", f"role {role}",
                                  (f"GRANT{self.on_cluster} {quote_identifier(role)} TO {ident}",)))  # fmt: skip
            for role in sorted(have.roles - set(user.roles)):
                out.append(Change("user", name, "revoke", f"role {role}",
                                  (f"REVOKE{self.on_cluster} {quote_identifier(role)} FROM {ident}",)))  # fmt: skip
        return out

    def _xml_user(self, user: Any, have: LiveUser) -> list[Change]:
        """Compare an XML-stored user the way render-xml flattens its roles."""
        out = []
        profile = self.model.role_profile(user)
        grants = set(effective_grants({g for r in user.roles for g in self.model.roles[r].grants}))
        if (profile or "default") != (have.profile or "default"):
            out.append(Change("user", user.name, "alter", f"profile {have.profile} -> {profile}", (), True))
        if self._user_quota(user.roles) != have.quota:
            out.append(
                Change("user", user.name, "alter", f"quota {have.quota} -> {self._user_quota(user.roles)}", (), True)
            )
        if grants != have.grants:
            out.append(
                Change("user", user.name, "alter", f"grants {sorted(have.grants)} -> {sorted(grants)}", (), True)
            )
        return out

    def _prune(self, live: LiveAccess) -> list[Change]:
        out = []
        kinds: list[tuple[str, Mapping[str, Any], Mapping[str, Any], str]] = [
            ("user", live.users, self.model.users, "USER"),
            ("role", live.roles, self.model.roles, "ROLE"),
            ("quota", live.quotas, self.model.quotas, "QUOTA"),
            ("profile", live.profiles, self.model.profiles, "SETTINGS PROFILE"),
        ]
        for kind, have, want, keyword in kinds:
            for name, entity in sorted(have.items()):
                if name in want or name == "default" or not name.startswith(self.prefix) or entity.storage == XML:
                    continue
                sql = f"DROP {keyword} IF EXISTS {quote_identifier(name)}{self.on_cluster}"
                out.append(Change(kind, name, "drop", "not in the file (--prune)", (sql,)))
        return out


def _norm(spec: SettingSpec) -> tuple[str | None, str | None, str | None, str | None]:
    def num(text: str | None) -> str | None:
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            return text
        return str(int(value)) if value.is_integer() else str(value)

    return num(spec.value), num(spec.min), num(spec.max), spec.writability


def _host(text: str) -> str:
    return "::1" if text in {"::1", "127.0.0.1", "::1/128"} else text


def _describe_settings(
    wanted: dict[str, Any], current: dict[str, Any], inherit: tuple[str, ...], have_inherit: tuple[str, ...]
) -> str:
    parts = []
    for key in sorted(set(wanted) | set(current)):
        if wanted.get(key) != current.get(key):
            parts.append(f"{key}: {_spec_text(current.get(key))} -> {_spec_text(wanted.get(key))}")
    if tuple(inherit) != tuple(have_inherit):
        parts.append(f"inherit: {list(have_inherit)} -> {list(inherit)}")
    return "; ".join(parts)


def _spec_text(spec: tuple[str | None, ...] | None) -> str:
    if spec is None:
        return "(unset)"
    value, low, high, mode = spec
    text = "" if value is None else str(value)
    if low is not None:
        text += f" MIN {low}"
    if high is not None:
        text += f" MAX {high}"
    if mode:
        text += f" {mode}"
    return text.strip()


def plan_everywhere(
    planner: AccessPlanner, lives: list[LiveAccess], prune: bool = False, rotate_passwords: bool = False
) -> list[Change]:
    """The changes any of ``lives`` (one per node) needs, each once, in the order one node's plan keeps.

    Correct because every statement is idempotent on a node that does not
    need it (see the module rules): applying the union ON CLUSTER brings
    every node to the file's state. Only if it runs in plan order: kinds as
    :meth:`AccessPlanner.plan` emits them (profiles, quotas, roles, users;
    drops last), and within a kind the creates first. A node's ALTER or GRANT
    naming an entity another node lacks must come after that node's CREATE
    (an ON CLUSTER ALTER fails on a node without the entity); first-seen
    order would put node 1's changes before node 2's creates.
    """
    out: list[Change] = []
    seen: set[tuple[str, str, str, tuple[str, ...]]] = set()
    for live in lives:
        for change in planner.plan(live, prune=prune, rotate_passwords=rotate_passwords):
            key = (change.kind, change.name, change.what, change.statements)
            if key not in seen:
                seen.add(key)
                out.append(change)
    kinds = ("profile", "quota", "role", "user")

    def phase(change: Change) -> tuple[int, int, int]:
        if change.what == "drop":  # --prune: after everything, in the order the nodes' plans gave
            return (1, 0, 0)
        return (0, kinds.index(change.kind), 0 if change.what == "create" else 1)

    return sorted(out, key=phase)
