"""Retention rules, their configuration and the CLI, on the embedded engine."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from opik_store import ConfigError, Store
from opik_store.cli import main
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.maintenance.config_file import RetentionConfig, load_config, parse_config
from opik_store.maintenance.retention import CLASS

PROJECT = "0190c1f0-0000-7000-8000-000000000000"
CONFIG = """
[retention]
default_days = 400
[[retention.workspaces]]
workspace = "short-ws"
class = "short"
[[retention.workspaces]]
workspace = "forever-ws"
class = "unlimited"
"""


def uuid7(when: datetime, seed: int) -> str:
    """A UUIDv7 string whose timestamp is ``when``."""
    ms = int(when.timestamp() * 1000)
    rand = random.Random(seed).getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def insert_trace(engine: EmbeddedAdapter, database: str, trace_id: str, workspace: str, version: int = 0) -> None:
    engine.execute(
        f"INSERT INTO `{database}`.traces (id, workspace_id, project_id, name, input, last_updated_at) "
        "SELECT {id:String}, {w:String}, {p:String}, {n:String}, 'in', now64(6) + {v:UInt32}",
        {"id": trace_id, "w": workspace, "p": PROJECT, "n": f"v{version}", "v": version},
    )
    engine.execute(
        f"INSERT INTO `{database}`.spans (id, workspace_id, project_id, trace_id, name, input) "
        "SELECT {id:String}, {w:String}, {p:String}, {t:String}, 'span', 'in'",
        {"id": uuid7(datetime.now(UTC), hash(trace_id) & 0xFFFF), "w": workspace, "p": PROJECT, "t": trace_id},
    )


def establish(store: Store, wanted: RetentionConfig, since: date = date(2000, 1, 1)) -> None:
    """Rules as if applied long ago: every id dated from ``since`` takes them (apply only schedules ahead)."""
    retention = store.retention()
    for (workspace, project), days in wanted.desired().items():
        retention.add_rule(workspace, project, days, since, "test: established long ago")


def classes(store: Store, table: str = "traces") -> dict[str, int]:
    """Every row's class as the expiry job computes it (key: the row's id)."""
    rules = store.retention().rules()
    rows = store.adapter.query(f"SELECT id, {CLASS} FROM `{store.config.database}`.{table}", rules.params()).rows
    return {str(r[0]): int(r[1]) for r in rows}


@pytest.fixture
def migrated(migrated_store: Store, tmp_path: Path) -> tuple[Store, Path]:
    config = tmp_path / "opik-store.toml"
    config.write_text(CONFIG)
    return migrated_store, config


def test_plan_apply_then_new_ids_get_their_class(
    migrated: tuple[Store, Path], engine: EmbeddedAdapter, database: str
) -> None:
    store, config = migrated
    wanted = load_config(config).retention
    with store:
        plan = store.retention().plan(wanted)
        starts = datetime.now(UTC).date() + timedelta(days=2)
        assert [(c.workspace, c.current, c.days, c.effective_from) for c in plan.changes] == [
            ("", None, 400, starts), ("forever-ws", None, 0, starts), ("short-ws", None, 14, starts)
        ]  # fmt: skip
        store.retention().apply(plan)
        assert store.retention().plan(wanted).changes == [], "apply converges: a second plan is empty"
        workspaces = ["short-ws", "forever-ws", "other-ws"]
        today = {w: uuid7(datetime.now(UTC), i) for i, w in enumerate(workspaces)}
        ahead = {w: uuid7(datetime.now(UTC) + timedelta(days=3), 10 + i) for i, w in enumerate(workspaces)}
        for workspace in workspaces:
            insert_trace(engine, database, today[workspace], workspace)
            insert_trace(engine, database, ahead[workspace], workspace)
        got = classes(store)
    # ids created before the rules take effect keep the safe class (0: kept); ids from then on take theirs
    assert [got[today[w]] for w in workspaces] == [0, 0, 0]
    assert [got[ahead[w]] for w in workspaces] == [14, 0, 400]


def test_cli_plan_apply_dry_run_and_json(migrated: tuple[Store, Path], engine_url: str, database: str) -> None:
    store, config = migrated
    store.close()
    base = ["--url", engine_url, "--database", database, "retention"]
    dry = CliRunner().invoke(main, [*base, "apply", "--config", str(config), "--dry-run"])
    assert dry.exit_code == 0 and "rules to add" in dry.output and "short-ws" in dry.output
    plan = json.loads(CliRunner().invoke(main, [*base, "plan", "--config", str(config), "--json"]).stdout)
    assert len(plan["changes"]) == 3, "a dry run changes nothing"
    assert plan["due_groups"] == 0 and plan["expiring"] == []
    done = CliRunner().invoke(main, [*base, "apply", "--config", str(config)])
    assert done.exit_code == 0 and done.output.count("rule: ") == 3, done.output
    again = CliRunner().invoke(main, [*base, "apply", "--config", str(config)])
    assert "nothing to do" in again.output
    backfill = CliRunner().invoke(main, [*base, "backfill", "--workspace", "nobody"])
    assert backfill.exit_code == 2 and "no retention rule for the workspace 'nobody'" in backfill.output


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"retention": {"default_days": -1}}, "default_days must not be negative"),
        ({"retention": {"default_days": "400"}}, "default_days must be a whole number"),
        ({"retention": {"defualt_days": 400}}, "unknown key"),
        ({"retention": {"workspaces": [{"workspace": "a", "class": "nope"}]}}, "unknown class 'nope'"),
        ({"retention": {"workspaces": [{"workspace": "a", "class": "short", "days": 3}]}}, "exactly one of"),
        ({"retention": {"workspaces": [{"workspace": "a", "days": 3}, {"workspace": "a", "days": 4}]}}, "duplicate"),
        ({"retention": {"projects": [{"workspace": "a", "days": 10001, "project": "p"}]}}, "at most 10000"),
        ({"system_tables": {"keep_days": 0}}, "at least 1"),
        ({"jobs": {"apply-retention": {"schedule": "every day"}}}, "not a 5-field cron"),
        ({"jobs": {"apply-retention": {"schedule": "61 * * * *"}}}, "not a valid cron"),
        ({"jobs": {"vacuum": {}}}, "unknown job"),
    ],
)
def test_bad_configuration_is_refused_naming_entry_and_key(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(doc, "prod.toml")
    assert str(info.value).startswith("prod.toml: ")


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[retention\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(path)


def test_project_uuids_in_rules_are_lowercased_like_opik_ids() -> None:
    doc = {
        "retention": {"projects": [{"workspace": "a", "project": "0190C1F0-0000-7000-8000-00000000ABCD", "days": 14}]}
    }
    assert parse_config(doc).retention.rules == {("a", "0190c1f0-0000-7000-8000-00000000abcd"): 14}
