"""Render the access configuration as a ``users.d`` file for XML-managed servers.

users.xml has no roles, so each user is flattened:

* its roles' grants on the store's database become ``<grants>``;
* the one profile its roles name becomes ``<profile>``;
* the one quota they name becomes ``<quota>``.

A user whose roles name two different profiles, or two quotas, cannot be
expressed and is refused with the reason. Quotas keyed by user name, IP or
client key map to XML; others are refused. The password appears only as
``<password_sha256_hex>``. Every value is XML-escaped; entity names are
already restricted to identifiers (access_model.py).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from opik_store.access.model import AccessModel, User, effective_grants, grant_target
from opik_store.engine.quoting import quote_identifier
from opik_store.errors import ConfigError

_XML_KEYS = {"user_name": "", "ip_address": "<keyed_by_ip/>", "client_key": "<keyed/>"}


def flatten_user(model: AccessModel, user: User) -> tuple[str | None, str | None, list[str]]:
    """(profile, quota, privileges) a user gets from its roles; ConfigError if they conflict."""
    profiles = sorted({p for r in user.roles if (p := model.roles[r].profile)})
    quotas = sorted({q for r in user.roles if (q := model.roles[r].quota)})
    if len(profiles) > 1:
        raise ConfigError(f"user {user.name}: its roles name profiles {', '.join(profiles)}; users.xml allows one")
    if len(quotas) > 1:
        raise ConfigError(f"user {user.name}: its roles name quotas {', '.join(quotas)}; users.xml allows one")
    privileges = list(effective_grants({g for r in user.roles for g in model.roles[r].grants}))
    return (profiles[0] if profiles else None), (quotas[0] if quotas else None), privileges


def render_users_xml(model: AccessModel, database: str) -> str:
    """The users.d XML with the model's profiles, constraints, quotas and (flattened) users."""
    out = ["<!-- Written by opik-store from the access configuration. Passwords appear only as sha256 digests. -->",
           "<clickhouse>", "    <profiles>"]  # fmt: skip
    for profile in model.profiles.values():
        out.append(f"        <{profile.name}>")
        out += [f"            <profile>{escape(parent)}</profile>" for parent in profile.inherit]
        constraints = []
        for setting, spec in profile.settings.items():
            if spec.value is not None:
                out.append(f"            <{setting}>{escape(spec.value)}</{setting}>")
            rule = ""
            if spec.min is not None:
                rule += f"<min>{escape(spec.min)}</min>"
            if spec.max is not None:
                rule += f"<max>{escape(spec.max)}</max>"
            if spec.writability == "CONST":
                rule += "<const/>"
            elif spec.writability == "CHANGEABLE_IN_READONLY":
                rule += "<changeable_in_readonly/>"
            if rule:
                constraints.append(f"                <{setting}>{rule}</{setting}>")
        if constraints:
            out += ["            <constraints>", *constraints, "            </constraints>"]
        out.append(f"        </{profile.name}>")
    out += ["    </profiles>", "    <quotas>"]
    for quota in model.quotas.values():
        if quota.keyed_by not in _XML_KEYS:
            raise ConfigError(f"quota {quota.name}: keyed_by {quota.keyed_by} cannot be written in users.xml")
        out.append(f"        <{quota.name}>")
        if _XML_KEYS[quota.keyed_by]:
            out.append(f"            {_XML_KEYS[quota.keyed_by]}")
        for interval in quota.intervals:
            out.append("            <interval>")
            out.append(f"                <duration>{interval.duration_seconds}</duration>")
            out.append(f"                <randomize>{'true' if interval.randomized else 'false'}</randomize>")
            out += [f"                <{name}>{value}</{name}>" for name, value in interval.limits.items()]
            out.append("            </interval>")
        out.append(f"        </{quota.name}>")
    out += ["    </quotas>", "    <users>"]
    for user in model.users.values():
        user_profile, user_quota, privileges = flatten_user(model, user)
        out.append(f"        <{user.name}>")
        out.append(f"            <password_sha256_hex>{user.password_sha256}</password_sha256_hex>")
        out.append("            <networks>")
        out += [f"                <ip>{escape(host)}</ip>" for host in user.hosts]
        out.append("            </networks>")
        out.append(f"            <profile>{escape(user_profile or 'default')}</profile>")
        if user_quota:
            out.append(f"            <quota>{escape(user_quota)}</quota>")
        if privileges:
            out.append("            <grants>")
            for grant in privileges:
                privilege, on = grant_target(grant, quote_identifier(database, "database name"))
                out.append(f"                <query>{escape(f'GRANT {privilege} ON {on}')}</query>")
            out.append("            </grants>")
        out.append(f"        </{user.name}>")
    out += ["    </users>", "</clickhouse>"]
    return "\n".join(out) + "\n"
