"""Keep insert-deduplication hashes on single-node traces and spans.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 11:00:00+00:00

The batch writer sends each batch with an ``insert_deduplication_token`` and
sends the same token on every retry, so the server can drop a batch that
reached it before a timeout. Replicated tables remember the tokens of their
last ``replicated_deduplication_window`` blocks (10,000 by default); a plain
MergeTree remembers none (``non_replicated_deduplication_window = 0``), so on a
single node a retried batch would be stored twice. This keeps the last 10,000
blocks' hashes for both tables (on a cluster the setting is accepted and
changes nothing). Metadata-only: no data is rewritten.
tests/test_ingest.py proves the retry on the engine, and its control shows a
table without the setting storing the batch twice.
"""

from __future__ import annotations

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> list[str]:
    """Set the deduplication window on traces and spans."""
    return [
        "ALTER TABLE traces MODIFY SETTING non_replicated_deduplication_window = 10000",
        "ALTER TABLE spans MODIFY SETTING non_replicated_deduplication_window = 10000",
    ]


def downgrade() -> list[str]:
    """Return both tables to the server default (no deduplication on a single node)."""
    return [
        "ALTER TABLE spans RESET SETTING non_replicated_deduplication_window",
        "ALTER TABLE traces RESET SETTING non_replicated_deduplication_window",
    ]
