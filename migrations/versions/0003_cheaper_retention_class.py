"""A cheaper retention class expression on traces and spans (same classes).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 16:00:00+00:00

ClickHouse analyses a table's MATERIALIZED expressions on every INSERT, so the
size of ``retention_days``' expression is a fixed cost of every INSERT. The
expression of 0001 nests three ``arrayLastOrNull`` lambdas (project rule, else
workspace rule, else default) under ``ifNull`` and an ``if`` for undated ids.
This one concatenates the three keys' histories, default first and project
last, and takes the last period in effect on ``retention_at`` with a single
``arrayLast`` (0 when none is): the project's periods come last, so a project
period in effect wins, then a workspace one, then the default; within one key
the periods are sorted by day. That is the nested fallback's answer for every
row. Undated rows (``retention_at`` = 1970-01-01) get 0 without the ``if``
because the lookup holds no period starting on or before 1970-01-01: the
rebuild (``Retention._history_sql``) stores a period that starts earlier as
starting on 1970-01-02, which changes no dated row's class (dated rows are
from 2000 on). ``bench/insert_cost.py`` measures the saving (ddl/README.md).

Metadata-only: the lookup table keeps its shape and name (and so the ingest
role's ``SELECT ON retention`` grant still covers it), no part is rewritten,
and rows already written keep the class they were given. Each ALTER swaps
one table's expression atomically; both expressions give every row the same
class over a lookup rebuilt by this version, so the order of the two ALTERs
and the moment of the upgrade do not matter. A lookup row written by earlier
code for a rule starting on or before 1970-01-01 (``retention apply`` never
writes one; only ``add_rule`` with such a date does) would give undated rows
that rule's class: ``retention plan`` lists such a key as stale and ``apply``
rewrites it. The downgrade restores 0001's expression, which gives the same
classes over the rebuilt lookup.
tests/test_retention.py compares both expressions over every case.
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CLASS = """arrayLast((d, f) -> f <= retention_at,
        arrayConcat(joinGet('retention', 'days', '', ''), joinGet('retention', 'days', workspace_id, ''), joinGet('retention', 'days', workspace_id, toString(project_id))),
        arrayConcat(joinGet('retention', 'froms', '', ''), joinGet('retention', 'froms', workspace_id, ''), joinGet('retention', 'froms', workspace_id, toString(project_id))))"""

PREVIOUS_CLASS = """if(retention_at = toDate32('1970-01-01'), 0, ifNull(
        arrayLastOrNull((d, f) -> f <= retention_at, joinGet('retention', 'days', workspace_id, toString(project_id)), joinGet('retention', 'froms', workspace_id, toString(project_id))),
        ifNull(arrayLastOrNull((d, f) -> f <= retention_at, joinGet('retention', 'days', workspace_id, ''), joinGet('retention', 'froms', workspace_id, '')),
        ifNull(arrayLastOrNull((d, f) -> f <= retention_at, joinGet('retention', 'days', '', ''), joinGet('retention', 'froms', '', '')), 0))))"""


def upgrade() -> list[str]:
    """Replace the class expression of traces, then spans (metadata only)."""
    return [
        f"ALTER TABLE traces MODIFY COLUMN retention_days UInt16 MATERIALIZED {CLASS}",
        f"ALTER TABLE spans MODIFY COLUMN retention_days UInt16 MATERIALIZED {CLASS}",
    ]


def downgrade() -> list[str]:
    """Restore 0001's class expression on spans, then traces."""
    return [
        f"ALTER TABLE spans MODIFY COLUMN retention_days UInt16 MATERIALIZED {PREVIOUS_CLASS}",
        f"ALTER TABLE traces MODIFY COLUMN retention_days UInt16 MATERIALIZED {PREVIOUS_CLASS}",
    ]
