"""A revision that changes a sort key: the re-layout operation run by the migration runner, on the engine.

The revision returns ``relayout(CREATE, key=...)``; ``migrate`` copies traces into the new layout under the
lock, verifies, swaps and keeps the original until ``opik-store relayout finish``; a downgrade re-lays it out
back. Rows are compared one by one with what was written before."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from adopt_fixtures import Writer, read_back
from click.testing import CliRunner
from support import write_revision

from opik_store.cli import main
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.errors import DataLossError, RevisionError
from opik_store.migrations.operations import parse_relayout, relayout, replayable
from opik_store.migrations.relayout import RelayoutError
from opik_store.resources import data_dir
from opik_store.schema.ddl import ddl
from opik_store.store import Store

OLD = ddl("traces")
NEW = OLD.replace("ORDER BY (workspace_id, project_id, id)", "ORDER BY (workspace_id, project_id, id_at, id)", 1)
KEY = ("workspace_id", "project_id", "id")


def _sorting_key(engine: EmbeddedAdapter, db: str, table: str = "traces") -> str:
    return str(
        engine.query(
            "SELECT sorting_key FROM system.tables WHERE database = {d:String} AND name = {t:String}",
            {"d": db, "t": table},
        ).scalar()
        or ""
    )


def _exists(engine: EmbeddedAdapter, db: str, table: str) -> bool:
    return bool(engine.query(f"EXISTS TABLE `{db}`.`{table}`").scalar())


def _drift(store: Store) -> list[object]:
    """Differences between the live tables and what the revisions (this folder's, 0004 included) build."""
    migrator = store.migrator()
    return list(migrator.differences([s for r in migrator.revisions.ordered for s in r.upgrade_statements()]))


@pytest.fixture
def store(migrations_copy: Path, engine_url: str, database: str) -> Iterator[Store]:
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as s:
        yield s


def test_the_statement_round_trips_and_refuses_bad_input() -> None:
    source = relayout(NEW, key=KEY)
    spec = parse_relayout(source)
    assert spec is not None and spec.table == "traces" and spec.key == KEY and spec.window_column == "id"
    assert parse_relayout("ALTER TABLE traces ADD COLUMN x UInt8") is None
    assert replayable([source]) == ["DROP TABLE traces", NEW.strip()]
    with pytest.raises(RevisionError, match="plain 'CREATE TABLE"):
        relayout("ALTER TABLE traces MODIFY ORDER BY id", key=KEY)
    with pytest.raises(RevisionError, match="plain column names"):
        relayout(NEW, key=("id; DROP TABLE spans",))
    with pytest.raises(RevisionError, match="no key"):
        relayout(NEW, key=())


def test_a_revision_relays_out_traces_with_its_rows_and_back(
    migrations_copy: Path, store: Store, engine: EmbeddedAdapter, engine_url: str, database: str
) -> None:
    store.migrate()
    writer = Writer(store.adapter, database, "successor", seed=9)
    writer.seed_rows(150)
    before = read_back(engine, database, "traces")
    assert len(before) > 100
    write_revision(migrations_copy, "0005", "0004", [relayout(NEW, key=KEY)], [relayout(OLD, key=KEY)])
    store.close()
    store = Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy))  # sees 0004

    base = ["--url", engine_url, "--database", database, "--migrations-dir", str(migrations_copy)]
    dry = CliRunner().invoke(main, [*base, "migrate", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "opik-store: relayout traces" in dry.output and not _exists(engine, database, "traces_opik_store_new")

    report = store.migrate()
    assert report.revisions == ["0005"]
    assert _sorting_key(engine, database) == "workspace_id, project_id, id_at, id"
    assert read_back(engine, database, "traces") == before
    assert _sorting_key(engine, database, "traces_opik_store_backup") == "workspace_id, project_id, id"
    assert _drift(store) == [] and not store.status().pending
    assert store.relayout_backups() == ["traces"]
    listed = CliRunner().invoke(main, [*base, "relayout", "list", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.stdout)["kept"][0]["table"] == "traces", listed.output

    # the original is kept: a downgrade (another re-layout of traces) is refused, changing nothing
    with pytest.raises(RelayoutError, match="not finished"):
        store.downgrade("0004")
    assert store.status().applied[-1] == "0005" and _exists(engine, database, "traces_opik_store_backup")

    refused = CliRunner().invoke(main, [*base, "relayout", "finish", "traces"])
    assert (
        refused.exit_code == 2 and "--yes" in refused.output and _exists(engine, database, "traces_opik_store_backup")
    )
    with pytest.raises(DataLossError):
        store.finish_relayout("traces")
    done = CliRunner().invoke(main, [*base, "relayout", "finish", "traces", "--yes"])
    assert done.exit_code == 0, done.output
    assert not _exists(engine, database, "traces_opik_store_backup") and store.relayout_backups() == []
    assert store.finish_relayout("traces", yes=True) == ""  # finishing twice changes nothing
    with pytest.raises(RelayoutError, match="does not exist"):
        store.finish_relayout("no_such_table", yes=True)

    store.downgrade("0004")
    assert _sorting_key(engine, database) == "workspace_id, project_id, id"
    assert read_back(engine, database, "traces") == before
    assert store.relayout_backups() == ["traces"]
    store.finish_relayout("traces", yes=True)
    assert store.status().applied[-1] == "0004"
    assert "sorting key" in {d.aspect for d in store.check()}, "head is this folder's 0005"
    store.close()
    with Store.from_url(engine_url, database=database, migrations_dir=str(data_dir("migrations"))) as shipped:
        assert shipped.check() == []  # the shipped head (ddl/) is 0004 again


def test_a_relayout_on_the_sharded_topology_says_it_rebuilds_only_empty_tables(
    migrations_copy: Path, engine_url: str
) -> None:
    write_revision(migrations_copy, "0005", "0004", [relayout(NEW, key=KEY)], [relayout(OLD, key=KEY)])
    result = CliRunner().invoke(
        main,
        ["--url", engine_url, "--migrations-dir", str(migrations_copy), "--cluster", "c", "--sharded", "migrate",
         "--sql"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "relayout traces" in result.output and "rebuilt only while it holds no row on any shard" in result.output
    assert "--   CREATE TABLE" in result.output and "`traces_local`" in result.output


def test_migrate_resumes_a_relayout_a_killed_run_left(
    migrations_copy: Path, store: Store, engine: EmbeddedAdapter, engine_url: str, database: str
) -> None:
    """The copy stops after its second window (as a killed `migrate` would); the next `migrate` resumes the
    same re-layout from its recorded windows and finishes with every row."""
    from opik_store.migrations.relayout import Limits, Relayout

    class Killed(Exception):
        pass

    store.migrate()
    Writer(store.adapter, database, "successor", seed=4).seed_rows(120)
    before = read_back(engine, database, "traces")
    write_revision(migrations_copy, "0005", "0004", [relayout(NEW, key=KEY)], [relayout(OLD, key=KEY)])
    seen: list[int] = []

    def kill(window: object, _totals: object) -> None:
        seen.append(1)
        if len(seen) == 2:
            raise Killed

    prior = tuple(s for r in store.migrator().revisions.ordered for s in r.upgrade_statements())
    first = Relayout(store.adapter, store.config, "traces", NEW, KEY, "id", Limits(window_rows=25),
                     after_window=kill, prerequisites=(*prior, "DROP TABLE traces"))  # fmt: skip
    with pytest.raises(Killed):
        first.swap()
    assert _sorting_key(engine, database) == "workspace_id, project_id, id"  # not swapped yet
    store.close()
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as again:
        lines: list[str] = []
        assert again.migrate(progress=lines.append).revisions == ["0005"]
        assert not any("windows planned" in line for line in lines), lines  # the recorded plan was resumed
        assert _sorting_key(engine, database) == "workspace_id, project_id, id_at, id"
        assert read_back(engine, database, "traces") == before


@pytest.mark.parametrize("where", ["one revision", "two revisions"])
def test_a_table_relaid_out_twice_in_one_run_is_refused_before_anything_runs(
    migrations_copy: Path, store: Store, engine: EmbeddedAdapter, engine_url: str, database: str, where: str
) -> None:
    """The second re-layout of the same table in one run used to find the first one's swap recorded, pass for
    done and leave the table in the first layout while the ledger recorded the revision applied."""
    store.migrate()
    Writer(store.adapter, database, "successor", seed=5).seed_rows(30)
    other = OLD.replace("ORDER BY (workspace_id, project_id, id)", "ORDER BY (workspace_id, id)", 1)
    if where == "one revision":
        write_revision(migrations_copy, "0005", "0004", [relayout(NEW, key=KEY), relayout(other, key=KEY)], [])
    else:
        write_revision(migrations_copy, "0005", "0004", [relayout(NEW, key=KEY)], [])
        write_revision(migrations_copy, "0006", "0005", [relayout(other, key=KEY)], [])
    store.close()
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as again:
        with pytest.raises(RelayoutError, match="again in this run"):
            again.migrate()
        assert again.status().applied[-1] == "0004"
        assert _sorting_key(engine, database) == "workspace_id, project_id, id"
        assert not _exists(engine, database, "traces_opik_store_new")


def test_a_swapped_relayout_does_not_pass_for_one_into_another_layout(
    migrations_copy: Path, store: Store, engine: EmbeddedAdapter, database: str
) -> None:
    from opik_store.migrations.relayout import Relayout

    store.migrate()
    Relayout(store.adapter, store.config, "traces", NEW, KEY, "id").swap()
    other = OLD.replace("ORDER BY (workspace_id, project_id, id)", "ORDER BY (workspace_id, id)", 1)
    with pytest.raises(RelayoutError, match="not finished"):
        Relayout(store.adapter, store.config, "traces", other, KEY, "id").swap()
    assert _sorting_key(engine, database) == "workspace_id, project_id, id_at, id"


@pytest.mark.parametrize(
    ("create", "key", "window"),
    [
        (NEW, ("workspace_id", "nosuch"), "id"),  # a key column the table lacks
        (NEW, KEY, "nosuch"),  # a window column the table lacks
        (re.sub(r"\n    created_by .*", "", NEW, count=1), (*KEY, "created_by"), "id"),  # the new layout lacks it
    ],
)  # fmt: skip
def test_a_relayout_naming_missing_columns_is_refused_changing_nothing(
    migrations_copy: Path, store: Store, engine: EmbeddedAdapter, engine_url: str, database: str,
    create: str, key: tuple[str, ...], window: str,
) -> None:  # fmt: skip
    store.migrate()
    Writer(store.adapter, database, "successor", seed=6).seed_rows(20)
    before = read_back(engine, database, "traces")
    write_revision(migrations_copy, "0005", "0004", [relayout(create, key=key, window_column=window)], [])
    store.close()
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as again:
        with pytest.raises(RelayoutError, match="does not store"):
            again.migrate(allow_destructive=True)
        assert again.status().applied[-1] == "0004"
        assert again.history()[-1].state == "failed"
    assert not _exists(engine, database, "traces_opik_store_new")
    assert read_back(engine, database, "traces") == before


def test_a_relayout_of_a_table_that_does_not_exist_says_so_changing_nothing(
    migrations_copy: Path, store: Store, engine: EmbeddedAdapter, engine_url: str, database: str
) -> None:
    store.migrate()
    create = OLD.replace("CREATE TABLE traces", "CREATE TABLE ghosts", 1)
    write_revision(migrations_copy, "0005", "0004", [relayout(create, key=KEY)], [])
    store.close()
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as again:
        with pytest.raises(RelayoutError, match=rf"there is no table {database}\.ghosts to re-lay out"):
            again.migrate()
        assert again.status().applied[-1] == "0004"
    assert not _exists(engine, database, "ghosts") and not _exists(engine, database, "ghosts_opik_store_new")


def test_finish_refuses_a_swap_stopped_right_after_its_exchange(
    migrations_copy: Path, store: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """A swap killed right after its EXCHANGE has not copied the writes that reached the original in that moment
    nor verified the copy: `relayout finish --yes` used to list and drop that original (the write lost); it
    refuses until `migrate` completes the swap, which copies the write."""
    from opik_store.migrations.relayout import Relayout

    class Killed(Exception):
        pass

    store.migrate()
    Writer(store.adapter, database, "successor", seed=7).seed_rows(30)
    gap = "0190a000-0000-7000-8000-000000000001"

    def kill(_table: str, step: str) -> None:
        if step == "exchanged":  # a write that resolved `traces` to the original just before the EXCHANGE
            engine.execute(
                f"INSERT INTO `{database}`.traces_opik_store_new (id, workspace_id, project_id, name) "
                f"VALUES ('{gap}', 'w', '{gap}', 'gap write')"
            )
            raise Killed

    write_revision(migrations_copy, "0005", "0004", [relayout(NEW, key=KEY)], [relayout(OLD, key=KEY)])
    prior = tuple(s for r in store.migrator().revisions.ordered[:2] for s in r.upgrade_statements())
    job = Relayout(store.adapter, store.config, "traces", NEW, KEY, "id", after_step=kill,
                   prerequisites=(*prior, "DROP TABLE traces"))  # fmt: skip
    with pytest.raises(Killed):
        job.swap()
    assert store.relayout_backups() == []
    with pytest.raises(RelayoutError, match="did not complete"):
        store.finish_relayout("traces", yes=True)
    assert _exists(engine, database, "traces_opik_store_new")  # the original, not yet renamed: kept
    Relayout(store.adapter, store.config, "traces", NEW, KEY, "id").swap()  # what the next migrate runs
    assert gap in read_back(engine, database, "traces")
    assert store.relayout_backups() == ["traces"]
    assert store.finish_relayout("traces", yes=True)


def test_a_finished_relayout_does_not_block_a_table_created_again(
    migrations_copy: Path, store: Store, engine: EmbeddedAdapter, engine_url: str, database: str
) -> None:
    """A finished re-layout's plan stays in the progress table; once the table is dropped and created again (a
    downgrade to base and a migrate), the plan's recorded UUIDs name neither table. That finished plan used to
    make every later read of the table's re-layout state fail ('someone replaced it'): `relayout list` failed
    and `migrate` refused the re-layout revision for good."""
    store.migrate()
    Writer(store.adapter, database, "successor", seed=6).seed_rows(5)  # so the original is kept, then finished
    write_revision(migrations_copy, "0005", "0004", [relayout(NEW, key=KEY)], [])
    store.close()
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as again:
        again.migrate()
        assert again.finish_relayout("traces", yes=True)
        again.downgrade("0003", allow_data_loss=True)  # 0004's way back keeps both originals: finish them
        assert again.finish_relayout("traces", yes=True) and again.finish_relayout("spans", yes=True)
        again.downgrade("base", allow_data_loss=True)
        assert again.relayout_backups() == []
        assert again.migrate().revisions == ["0001", "0002", "0003", "0004", "0005"]
        assert _sorting_key(engine, database) == "workspace_id, project_id, id_at, id"
        assert again.relayout_backups() == [], "an empty original is not kept"


def test_a_downgrade_whose_relayout_drops_a_column_needs_the_data_loss_confirmation(
    migrations_copy: Path, store: Store, engine: EmbeddedAdapter, engine_url: str, database: str
) -> None:
    """A downgrade re-laying out a table into a layout without a column the upgrade added loses that column's
    values, as a downgrade's DROP COLUMN would: it is refused without --yes (allow_data_loss), changing
    nothing. It used to run without asking (a re-layout statement carried no hazard on the way down)."""
    store.migrate()
    wider = NEW.replace("\n    created_by ", "\n    note String DEFAULT '',\n    created_by ", 1)
    assert wider != NEW
    write_revision(migrations_copy, "0005", "0004", [relayout(wider, key=KEY)], [relayout(OLD, key=KEY)])
    store.close()
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as again:
        again.migrate()
        again.finish_relayout("traces", yes=True)
        with pytest.raises(DataLossError, match=r"re-layout drops column traces\.note"):
            again.downgrade("0004")
        assert again.status().applied[-1] == "0005" and not _exists(engine, database, "traces_opik_store_new")
        dry = again.downgrade("0004", dry_run=True)
        assert any("traces.note" in h for s in dry.steps for h in s.hazards)
        again.downgrade("0004", allow_data_loss=True)
        assert _sorting_key(engine, database) == "workspace_id, project_id, id"


def test_finish_without_yes_refuses_at_once_while_another_run_holds_the_lock(
    migrations_copy: Path, store: Store, engine_url: str, database: str
) -> None:
    """Without --yes, finish changes nothing, so it does not queue for the migration lock: it used to wait out
    the lock timeout behind a running migrate before saying --yes was needed."""
    from opik_store.migrations.lock import MigrationLock

    store.migrate()
    Writer(store.adapter, database, "successor", seed=7).seed_rows(5)  # an original with rows is kept
    write_revision(migrations_copy, "0005", "0004", [relayout(NEW, key=KEY)], [])
    store.close()
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as again:
        again.migrate()
        held = MigrationLock(again.adapter, again.config, 30, lambda _m: None)
        held.acquire(5)
        try:
            with Store.from_url(engine_url, database=database, lock_timeout=1) as other:
                with pytest.raises(DataLossError, match="--yes"):
                    other.finish_relayout("traces")
                assert other.finish_relayout("traces", dry_run=True)
        finally:
            held.release()
        assert again.relayout_backups() == ["traces"]
