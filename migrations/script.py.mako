"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Write each statement once, in single-node form, with unqualified table names.
opik-store qualifies them with the target database, makes them idempotent and,
in cluster mode, adds ON CLUSTER and the Replicated engine (see README.md).
"""

from __future__ import annotations

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> list[str]:
    """Statements that move the schema forward."""
    return [
        # "ALTER TABLE traces ADD COLUMN example String DEFAULT ''",
    ]


def downgrade() -> list[str]:
    """Statements that undo upgrade(), in reverse order."""
    return [
        # "ALTER TABLE traces DROP COLUMN example",
    ]
