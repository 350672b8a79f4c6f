"""An instructor's own storage quota, set by an admin (empty: the configured default).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("storage_quota_bytes", sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("storage_quota_bytes")
