"""Access profiles: validation, rendering, enforcement on the real engine, plan/diff from live read-back."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from opik_store import ConfigError, QueryProfiles, Topology
from opik_store.access.model import AccessConfigError, check_against_server, load_access, parse_access
from opik_store.access.sql import AccessPlanner, LiveAccess
from opik_store.access.users_xml import render_users_xml
from opik_store.cli import main
from opik_store.engine.embedded import EmbeddedAdapter

SECRET = "Sup3r-Secret!pa55"
USERS = """
[users.opik_backend_svc]
password_env = "OPIK_TEST_BACKEND_PASSWORD"
hosts = ["10.0.0.0/8"]
roles = ["opik_backend", "opik_ingest_only"]

[users.opik_alice]
password_sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
roles = ["opik_analyst"]

[roles.opik_ingest_only]
grants = ["INSERT"]
"""


@pytest.fixture
def access_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPIK_TEST_BACKEND_PASSWORD", SECRET)
    path = tmp_path / "access.toml"
    path.write_text(USERS)
    return path


# -- validation ---------------------------------------------------------------------


def test_defaults_follow_the_scaling_guide() -> None:
    model = load_access()
    ingest, read, analyst = (model.profiles[n].settings for n in ("opik_ingest", "opik_read", "opik_analyst"))
    assert ingest["async_insert"].value == "1" and ingest["wait_for_async_insert"].writability == "CONST"
    assert ingest["async_insert_use_adaptive_busy_timeout"].value == "1"
    assert read["max_execution_time"].value == "60" and read["max_memory_usage"].value == "10000000000"
    assert read["max_rows_to_read"].max == read["max_rows_to_read"].value
    assert 2 <= int(read["max_concurrent_queries_for_user"].value or 0) <= 4
    assert model.roles["opik_ingest"].grants == ("INSERT",) and model.roles["opik_backend"].grants == ("SELECT",)
    assert model.roles["opik_analyst"].quota == "opik_analyst" and "max_execution_time" in analyst


def test_server_checks_name_file_entry_and_key(tmp_path: Path, engine: EmbeddedAdapter) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        "[profiles.opik_read.settings]\nmax_executon_time = 60\n"
        '[profiles.opik_ingest.settings]\nmax_memory_usage = "lots"\n'
    )
    with pytest.raises(AccessConfigError) as info:
        check_against_server(load_access(path), engine)
    problems = info.value.problems
    assert any(f"{path}: [profiles.opik_read]: unknown ClickHouse setting 'max_executon_time'" == p for p in problems)
    assert any(
        p.startswith(f"{path}: [profiles.opik_ingest]: max_memory_usage: value 'lots' is not valid") for p in problems
    )


def test_every_unknown_setting_is_named_at_once(tmp_path: Path, engine: EmbeddedAdapter) -> None:
    """Several bad names in one file: each is named, not only the first."""
    path = tmp_path / "bad.toml"
    path.write_text("[profiles.a.settings]\nmax_threadz = 2\nmax_memory_usag = 5\n[profiles.b.settings]\nnope = 1\n")
    with pytest.raises(AccessConfigError) as info:
        check_against_server(load_access(path), engine)
    named = sorted(p.rsplit("'", 2)[1] for p in info.value.problems)
    assert named == ["max_memory_usag", "max_threadz", "nope"], info.value.problems


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"profiles": {"p": {"settings": {"max_execution_time": 90},
                             "constraints": {"max_execution_time": {"max": 60}}}}},
         "value 90 is above its max 60"),
        ({"profiles": {"p": {"constraints": {"x": {"min": 5, "max": 1}}}}}, "min 5 is above max 1"),
        ({"roles": {"r": {"profile": "nope"}}}, "profile: unknown profile 'nope'"),
        ({"roles": {"r": {"quota": "nope"}}}, "quota: unknown quota 'nope'"),
        ({"roles": {"r": {"grants": ["SUPERUSER"]}}}, "unknown privilege 'SUPERUSER'"),
        ({"users": {"u": {"password_sha256": "0" * 64, "roles": ["ghost"]}}}, "roles: unknown role 'ghost'"),
        ({"profiles": {"p": {"inherit": ["ghost"]}}}, "inherit: unknown profile 'ghost'"),
        ({"profiles": {"base": {"settings": {"max_threads": 2}, "constraints": {"max_threads": {"max": 4}}},
                       "child": {"inherit": ["base"], "settings": {"max_threads": 8}}}},
         "breaks the constraint it inherits from 'base'"),
        ({"purposes": {"read": "ghost"}}, "unknown profile 'ghost'"),
        ({"roles": {"x": {}}, "users": {"x": {"password_sha256": "0" * 64}}}, "cannot share the name 'x'"),
        ({"users": {"u": {"password_sha256": "short"}}}, "64 hex digits"),
        ({"users": {"u": {"password_env": "OPIK_TEST_UNSET_VAR"}}}, "the environment variable it names is not set"),
        ({"users": {"u": {"password_sha256": "0" * 64, "hosts": ["10.0.0.0/8'; DROP"]}}}, "not an IP address"),
        ({"quotas": {"q": {"intervals": [{"duration_seconds": 0, "queries": 1}]}}}, "duration_seconds"),
        ({"quotas": {"q": {"keyed_by": "moon", "intervals": [{"duration_seconds": 60, "queries": 1}]}}}, "keyed_by"),
    ],
)  # fmt: skip
def test_bad_entries_are_refused(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(AccessConfigError, match=message):
        parse_access(doc, "access.toml", environ={})


@pytest.mark.parametrize("name", ["we'ird", "back`tick", "x;DROP USER default", "naïve", "has space", "1starts"])
def test_hostile_names_are_refused(name: str) -> None:
    for kind, body in (("profiles", {}), ("roles", {}), ("users", {"password_sha256": "0" * 64})):
        with pytest.raises(AccessConfigError, match="names are letters, digits and underscores"):
            parse_access({kind: {name: body}}, "access.toml", environ={})


def test_all_problems_are_listed_at_once() -> None:
    doc = {"roles": {"r": {"profile": "a", "quota": "b"}}, "purposes": {"x": "c"}}
    with pytest.raises(AccessConfigError) as info:
        parse_access(doc, "access.toml", environ={})
    assert len(info.value.problems) == 3


# -- rendering and secrets ------------------------------------------------------------


def test_no_plaintext_password_anywhere(access_file: Path, engine_url: str) -> None:
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    model = load_access(access_file)
    assert model.users["opik_backend_svc"].password_sha256 == digest
    assert SECRET not in repr(model)
    xml = render_users_xml(model, "opik")
    sql = "\n".join(s for c in AccessPlanner(model, "opik").plan(LiveAccess()) for s in c.statements)
    assert digest in xml and digest in sql
    cli = CliRunner().invoke(main, ["--url", engine_url, "profiles", "render-xml", "--profiles", str(access_file)])
    check = CliRunner().invoke(main, ["--url", engine_url, "profiles", "check", "--profiles", str(access_file)])
    assert "user opik_backend_svc: password from environment variable OPIK_TEST_BACKEND_PASSWORD" in check.output
    for text in (xml, sql, cli.output, check.output):
        assert SECRET not in text


@pytest.mark.parametrize("value", ["hunter2 Secret!", "Secret1", "ABCDEF", "", "p@ss\nword", "x" * 300])
def test_a_password_put_in_password_env_is_never_printed(value: str) -> None:
    """password_env names a variable; a password written there by mistake was echoed in the "not set" message."""
    with pytest.raises(AccessConfigError) as info:
        parse_access({"users": {"u": {"password_env": value}}}, "access.toml", environ={})
    assert "not set" in str(info.value)
    if value:
        assert value not in str(info.value) and value not in repr(info.value.problems)


def test_render_xml_writes_its_file_readable_by_the_owner_only(
    access_file: Path, engine_url: str, tmp_path: Path
) -> None:
    """The users.d file holds password hashes: mode 0600, also when it replaces a file others could read."""
    import stat

    out = tmp_path / "opik-store.xml"
    out.write_text("old")
    out.chmod(0o644)
    cli = CliRunner().invoke(
        main, ["--url", engine_url, "profiles", "render-xml", "--profiles", str(access_file), "--output", str(out)]
    )
    assert cli.exit_code == 0, cli.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and "<clickhouse>" in out.read_text()
    assert "mode 0600" in cli.output and not list(tmp_path.glob(".opik-store-*"))


@pytest.mark.parametrize("cluster", [None, "opik"])
def test_every_rendered_statement_parses(access_file: Path, engine: EmbeddedAdapter, cluster: str | None) -> None:
    planner = AccessPlanner(load_access(access_file), "opik", cluster)
    statements = [s for c in planner.plan(LiveAccess()) for s in c.statements]
    assert any(s.startswith("CREATE SETTINGS PROFILE IF NOT EXISTS `opik_analyst`") for s in statements)
    assert any(s.startswith("CREATE QUOTA OR REPLACE `opik_analyst`") and "TO `opik_analyst`" in s for s in statements)
    assert "GRANT SELECT ON `opik`.* TO `opik_backend`" in " ".join(statements).replace(" ON CLUSTER 'opik'", "")
    for sql in statements:
        formatted = engine.query("SELECT formatQuery({q:String})", {"q": sql}).scalar()
        assert formatted and (cluster is None or "ON CLUSTER opik" in formatted)


def test_hostile_values_stay_inside_their_quotes(engine: EmbeddedAdapter) -> None:
    doc = {"profiles": {"p": {"settings": {"log_comment": "x'); DROP USER default; --</log_comment><a>"}}}}
    model = parse_access(doc, "access.toml", environ={})
    [change] = [c for c in AccessPlanner(model, "opik").plan(LiveAccess()) if c.kind == "profile" and c.name == "p"]
    formatted = engine.query("SELECT formatQuery({q:String})", {"q": change.statements[0]}).scalar()
    # one statement, one string literal: the quote and the comment marker do not escape it
    assert (
        formatted == "CREATE SETTINGS PROFILE IF NOT EXISTS `p` SETTINGS "
        "log_comment = 'x\\'); DROP USER default; --</log_comment><a>'"
    )
    root = ET.fromstring(render_users_xml(model, "opik"))
    assert root.find("profiles/p/log_comment").text == "x'); DROP USER default; --</log_comment><a>"  # type: ignore[union-attr]


def test_xml_flattens_roles_and_refuses_conflicts(access_file: Path) -> None:
    root = ET.fromstring(render_users_xml(load_access(access_file), "opik"))
    svc = root.find("users/opik_backend_svc")
    assert svc is not None
    assert svc.findtext("profile") == "opik_read" and svc.find("quota") is None
    assert sorted(q.text or "" for q in svc.iter("query")) == ["GRANT INSERT ON `opik`.*", "GRANT SELECT ON `opik`.*"]
    assert svc.findtext("networks/ip") == "10.0.0.0/8"
    alice = root.find("users/opik_alice")
    assert (
        alice is not None and alice.findtext("quota") == "opik_analyst" and alice.findtext("profile") == "opik_analyst"
    )
    doc = {"roles": {"a": {"profile": "opik_read"}, "b": {"profile": "opik_ingest"}},
           "users": {"u": {"password_sha256": "0" * 64, "roles": ["a", "b"]}}}  # fmt: skip
    import tomllib

    from opik_store.access.model import DEFAULTS, _merge

    model = parse_access(_merge(tomllib.loads(DEFAULTS.read_text()), doc), "access.toml", environ={})
    with pytest.raises(ConfigError, match=r"users\.xml allows one"):
        render_users_xml(model, "opik")


# -- the real engine, with the rendered XML loaded --------------------------------------

BASE_USERS = """<clickhouse>
  <profiles><default></default></profiles>
  <quotas><default></default></quotas>
  <users>
    <default><password></password><networks><ip>::/0</ip></networks><profile>default</profile>
      <quota>default</quota><access_management>1</access_management></default>
  </users>
</clickhouse>
"""

PROBE = textwrap.dedent(
    """
    import json, sys, chdb
    conn = chdb.connect(f"file:{sys.argv[1]}?config-file={sys.argv[2]}")
    out = {}
    def run(label, sql):
        try:
            rows = conn.query(sql, "JSONCompact").bytes()
            out[label] = ["ok", json.loads(rows)["data"] if rows else []]
        except Exception as exc:
            text = str(exc)
            out[label] = ["error", int(text.split("Code: ")[1].split(".")[0]) if "Code: " in text else -1]
    for label, sql in json.loads(sys.argv[3]):
        run(label, sql)
    print(json.dumps(out))
    """
)


def engine_with(tmp_path: Path, xml: str, name: str, base: str = BASE_USERS) -> tuple[Path, Path]:
    root = tmp_path / name
    (root / "users.d").mkdir(parents=True)
    (root / "users.xml").write_text(base)
    (root / "users.d" / "opik-store.xml").write_text(xml)
    config = root / "engine.xml"
    config.write_text(f"<clickhouse><users_config>{root / 'users.xml'}</users_config></clickhouse>")
    return root / "data", config


def probe(data: Path, config: Path, checks: list[tuple[str, str]]) -> dict[str, list[Any]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(data), str(config), json.dumps(checks)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_default_profiles_are_enforced_by_clickhouse(tmp_path: Path) -> None:
    """Each default profile, in a fresh engine process (the embedded engine keeps a per-query profile's
    constraints on its session): a conforming query passes, one over a limit fails with ClickHouse's
    code, and the session cannot raise a limit past its MAX or change a CONST."""
    profiles = QueryProfiles.load()
    data, config = engine_with(tmp_path, render_users_xml(load_access(), "opik"), "enforce")
    read = probe(data, config, [
        ("ok", "SELECT count() FROM numbers(1000)" + profiles.clause("read")),
        ("too many rows", "SELECT count() FROM numbers(1500000000)" + profiles.clause("read")),
        ("set profile", "SET profile = 'opik_read'"),
        ("raise past MAX", "SET max_execution_time = 100"),
        ("within", "SET max_execution_time = 30"),
    ])  # fmt: skip
    assert read["ok"] == ["ok", [[1000]]]
    assert read["too many rows"] == ["error", 158]  # TOO_MANY_ROWS: max_rows_to_read
    assert read["raise past MAX"] == ["error", 452]  # SETTING_CONSTRAINT_VIOLATION
    assert read["within"][0] == "ok"
    ingest = probe(data, config, [
        ("values",
         "SELECT getSetting('async_insert'), getSetting('wait_for_async_insert')" + profiles.clause("ingest")),
        ("reads little", "SELECT count() FROM numbers(200000000)" + profiles.clause("ingest")),
        ("set profile", "SET profile = 'opik_ingest'"),
        ("change CONST", "SET wait_for_async_insert = 0"),
        ("raise past MAX", "SET max_memory_usage = 8000000000"),
    ])  # fmt: skip
    assert ingest["values"] == ["ok", [[1, 1]]]
    assert ingest["reads little"] == ["error", 158]
    assert ingest["change CONST"] == ["error", 452] and ingest["raise past MAX"] == ["error", 452]
    analyst = probe(data, config, [
        ("values", "SELECT getSetting('max_execution_time'), getSetting('max_rows_to_read')"
         + profiles.clause("analytics")),
        ("timeout", "SELECT sleepEachRow(0.6) FROM numbers(3) SETTINGS max_execution_time = 1"),
        ("set profile", "SET profile = 'opik_analyst'"),
        ("raise past MAX", "SET max_concurrent_queries_for_user = 3"),
    ])  # fmt: skip
    assert analyst["values"] == ["ok", [[300, 10000000000]]]
    assert analyst["timeout"] == ["error", 159]  # TIMEOUT_EXCEEDED (timeout_overflow_mode = throw)
    assert analyst["raise past MAX"] == ["error", 452]


def test_a_quota_is_enforced(tmp_path: Path) -> None:
    doc = tmp_path / "quota.toml"
    doc.write_text(
        "[[quotas.opik_analyst.intervals]]\nduration_seconds = 3600\nqueries = 3\n"
        '[users.default]\npassword_sha256 = "' + hashlib.sha256(b"").hexdigest() + '"\nroles = ["opik_analyst"]\n'
    )  # the default user (the one chdb runs as) gets the analyst role; every default is overridable
    model = load_access(doc)
    # the rendered default user brings its password; <grants> excludes <access_management> in users.xml
    base = BASE_USERS.replace("<password></password>", "").replace("<access_management>1</access_management>", "")
    data, config = engine_with(tmp_path, render_users_xml(model, "opik"), "quota", base)
    # queries that read a table: the embedded engine does not count a constant `SELECT 1` against quotas
    result = probe(data, config, [(f"q{i}", "SELECT count() FROM numbers(10)") for i in range(1, 6)])
    assert [result[f"q{i}"][0] for i in range(1, 4)] == ["ok"] * 3
    assert result["q4"] == ["error", 201] and result["q5"] == ["error", 201]  # QUOTA_EXCEEDED


def _plan_cli(data: Path, config: Path, profiles: Path) -> list[dict[str, Any]]:
    script = Path(sys.executable).parent / "opik-store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    result = subprocess.run(
        [str(script), "--url", f"chdb://{data}?config-file={config}", "profiles", "plan", "--profiles", str(profiles),
         "--json"], env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_live_read_back_matches_the_file_and_a_change_shows_exactly(tmp_path: Path, access_file: Path) -> None:
    data, config = engine_with(tmp_path, render_users_xml(load_access(access_file), "opik"), "plan")
    assert _plan_cli(data, config, access_file) == [], "loaded from the rendered XML, the server matches the file"
    changed = tmp_path / "changed.toml"
    changed.write_text(access_file.read_text() + "\n[profiles.opik_read.settings]\nmax_execution_time = 45\n")
    changes = _plan_cli(data, config, changed)
    assert [(c["kind"], c["name"], c["what"]) for c in changes] == [("profile", "opik_read", "alter")]
    assert changes[0]["detail"] == "max_execution_time: 60 MIN 1 MAX 60 -> 45 MIN 1 MAX 60"
    assert changes[0]["xml_managed"] is True


def test_query_profiles_api() -> None:
    profiles = QueryProfiles.load()
    assert profiles.settings("read") == {"profile": "opik_read"}
    assert profiles.clause("analytics") == " SETTINGS profile = 'opik_analyst'"
    values = profiles.values("analytics")
    assert values["max_execution_time"] == "300" and values["max_memory_usage"] == "10000000000"
    assert profiles.values("ingest")["wait_for_async_insert"] == "1"
    with pytest.raises(ConfigError, match="unknown query purpose 'export'"):
        profiles.settings("export")


def test_apply_on_the_embedded_engine_reports_the_missing_access_storage(access_file: Path, engine_url: str) -> None:
    """chdb has no writable access storage: apply must fail with the server's code, not pretend."""
    result = CliRunner().invoke(main, ["--url", engine_url, "profiles", "apply", "--profiles", str(access_file)])
    assert result.exit_code == 1 and ("514" in result.output or "497" in result.output), result.output
    assert SECRET not in result.output


def test_invalid_file_applies_nothing(tmp_path: Path, engine_url: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[roles.opik_backend]\nprofile = 'ghost'\n")
    result = CliRunner().invoke(main, ["--url", engine_url, "profiles", "apply", "--profiles", str(bad)])
    assert result.exit_code == 2 and "unknown profile 'ghost'" in result.output


def test_every_statement_is_safe_to_repeat_on_a_node_that_has_its_effect(access_file: Path) -> None:
    """Replicated access storage runs each ON CLUSTER statement against an entity another node already created:
    creates must be IF NOT EXISTS (or, for quotas, OR REPLACE), drops IF EXISTS; the rest set target states."""
    planner = AccessPlanner(load_access(access_file), "opik", "opik")
    statements = [s for c in planner.plan(LiveAccess(), prune=True) for s in c.statements]
    creates = [s for s in statements if s.startswith("CREATE")]
    assert creates and all(" IF NOT EXISTS " in s or s.startswith("CREATE QUOTA OR REPLACE ") for s in creates)
    assert all(" IF EXISTS " in s for s in statements if s.startswith("DROP"))
    assert not [s for s in statements if s.split()[0] not in {"CREATE", "ALTER", "GRANT", "REVOKE", "DROP"}]


def test_a_change_any_node_needs_is_planned_once(access_file: Path) -> None:
    """Local access storage: nodes differ. Planning against every node's live state yields each needed change once."""
    from opik_store.access.sql import LiveProfile, plan_everywhere

    planner = AccessPlanner(load_access(access_file), "opik", "opik")
    empty = LiveAccess()
    full = planner.plan(empty)
    node1 = LiveAccess(profiles={"opik_analyst": LiveProfile("opik_analyst", "local_directory", {}, ())})
    both = plan_everywhere(planner, [node1, empty])
    assert {c.statements for c in both} == {c.statements for c in planner.plan(node1)} | {c.statements for c in full}
    assert len({c.statements for c in both}) == len(both), "no change twice"
    assert any(c.what == "create" and c.name == "opik_analyst" for c in both), "node 2 lacks it: created there"


def test_changes_of_several_nodes_run_creates_before_what_needs_them(access_file: Path) -> None:
    """Node 1 has every entity but one profile's settings differ; node 2 has none. The union must not run node 1's
    ALTER (ON CLUSTER: it fails on node 2, which lacks the profile) before node 2's CREATE IF NOT EXISTS, nor any
    kind before the kinds one node's plan puts first."""
    from opik_store.access.sql import LiveProfile, plan_everywhere

    planner = AccessPlanner(load_access(access_file), "opik", "opik")
    created = {(c.kind, c.name) for c in planner.plan(LiveAccess()) if c.what == "create"}
    node1 = LiveAccess(profiles={"opik_analyst": LiveProfile("opik_analyst", "local_directory", {}, ())})
    both = plan_everywhere(planner, [node1, LiveAccess()])
    kinds = ["profile", "quota", "role", "user"]
    order = [kinds.index(c.kind) for c in both]
    assert order == sorted(order), [(c.kind, c.what, c.name) for c in both]
    for i, change in enumerate(both):
        if (change.kind, change.name) in created and change.what != "create":
            assert any(c.what == "create" and (c.kind, c.name) == (change.kind, change.name) for c in both[:i]), (
                f"{change.kind} {change.name}: {change.what} before its create"
            )


def test_topology_is_used_for_on_cluster(access_file: Path) -> None:
    assert Topology(cluster="opik").is_cluster
    statements = [
        s for c in AccessPlanner(load_access(access_file), "opik", "opik").plan(LiveAccess()) for s in c.statements
    ]
    assert all("ON CLUSTER 'opik'" in s for s in statements)


def test_inherited_values_reach_the_query(tmp_path: Path) -> None:
    """INHERIT works end to end when the child tightens (not relaxes) its parent's limits."""
    doc = tmp_path / "inherit.toml"
    doc.write_text('[profiles.opik_tight]\ninherit = ["opik_read"]\n[profiles.opik_tight.settings]\n'
                   'max_execution_time = 30\n[purposes]\ntight = "opik_tight"\n')  # fmt: skip
    profiles = QueryProfiles(load_access(doc))
    assert profiles.values("tight")["max_memory_usage"] == "10000000000"  # from the parent
    data, config = engine_with(tmp_path, render_users_xml(load_access(doc), "opik"), "inherit")
    got = probe(data, config, [("values", "SELECT getSetting('max_execution_time'), getSetting('max_memory_usage')"
                                + profiles.clause("tight"))])  # fmt: skip
    assert got["values"] == ["ok", [[30, 10000000000]]]


LEAN = (
    "import sys\nsys.modules['chdb'] = None  # the lean install: no embedded engine\n"
    "from opik_store.cli import main\nsys.argv = ['opik-store', *sys.argv[1:]]\nmain()\n"
)


def test_profiles_check_and_render_xml_work_on_the_lean_install(tmp_path: Path) -> None:
    """Without chdb and without --url, both started an embedded engine the install does not have. Names are now
    checked against the shipped list; values are said to be unchecked."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    bad = tmp_path / "bad.toml"
    bad.write_text("[profiles.a.settings]\nmax_threadz = 2\nmax_threads = 4\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", LEAN, *args], env=env, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)  # fmt: skip

    ok = run("profiles", "check")
    assert ok.returncode == 0 and "ok:" in ok.stdout and "values were not checked" in ok.stderr, ok.stderr
    refused = run("profiles", "check", "--profiles", str(bad))
    assert refused.returncode == 2 and "unknown ClickHouse setting 'max_threadz'" in refused.stderr, refused.stderr
    assert "max_threads'" not in refused.stderr
    out = tmp_path / "users.xml"
    rendered = run("profiles", "render-xml", "--output", str(out))
    assert rendered.returncode == 0 and "<profiles>" in out.read_text(), rendered.stderr
    assert not (tmp_path / ".opik-store").exists(), "no engine folder was made"
    for command in ("status", "history"):  # they suggested `opik-store migrate`, which cannot run there either
        lean = run(command)
        assert lean.returncode == 2 and "install 'opik-store[embedded]'" in lean.stderr, lean.stderr
        assert "--url" in lean.stderr and "run `opik-store migrate`" not in lean.stderr


def test_the_shipped_setting_names_are_the_engines() -> None:
    """The list the lean install checks names against, compared with the engine's own system.settings (a
    newer chdb may add a few: refresh with `python -m opik_store.access.settings_list --refresh`)."""
    import subprocess
    import sys

    from opik_store.access.settings_list import known_settings

    code = "from opik_store.access.settings_list import engine_settings\nprint('\\n'.join(engine_settings()[1:]))"
    engine = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                                check=True).stdout.split())  # fmt: skip
    shipped = known_settings()
    assert len(shipped) > 1000 and len(shipped ^ engine) <= len(shipped) // 50, sorted(shipped ^ engine)[:20]
    from opik_store.access.model import load_access

    used = {s for p in load_access(None).profiles.values() for s in p.settings}
    assert used <= shipped & engine, used - (shipped & engine)
