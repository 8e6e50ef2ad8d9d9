"""Create the traces and spans tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 00:00:00+00:00

The tables are created from their canonical definitions in ddl/.
"""

from __future__ import annotations

from opik_store.schema import ddl

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> list[str]:
    """Create traces and spans."""
    return [ddl("traces"), ddl("spans")]


def downgrade() -> list[str]:
    """Drop spans and traces (loses all trace data)."""
    return ["DROP TABLE spans", "DROP TABLE traces"]
