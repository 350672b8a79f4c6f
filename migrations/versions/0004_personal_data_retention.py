"""Keep less about people: sent-email records lose their recipient; indexes for pruning
delivery records after their retention period and for scrubbing a deleted account.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sent_emails") as batch:
        batch.drop_column("recipient")
        batch.create_index("ix_sent_emails_sent_at", ["sent_at"])
    op.create_index("ix_event_receipts_handled_at", "event_receipts", ["handled_at"])
    op.create_index("ix_outbox_events_key", "outbox_events", ["key"])
    op.create_index("ix_outbox_events_dispatched_at", "outbox_events", ["dispatched_at"])
    op.create_index("ix_dead_letters_key", "dead_letters", ["key"])
    op.create_index("ix_dead_letters_created_at", "dead_letters", ["created_at"])


def downgrade():
    op.drop_index("ix_dead_letters_created_at", table_name="dead_letters")
    op.drop_index("ix_dead_letters_key", table_name="dead_letters")
    op.drop_index("ix_outbox_events_dispatched_at", table_name="outbox_events")
    op.drop_index("ix_outbox_events_key", table_name="outbox_events")
    op.drop_index("ix_event_receipts_handled_at", table_name="event_receipts")
    with op.batch_alter_table("sent_emails") as batch:
        batch.drop_index("ix_sent_emails_sent_at")
        # Old rows never had their recipient kept: an empty string stands in.
        batch.add_column(
            sa.Column("recipient", sa.String(length=254), nullable=False, server_default="")
        )
