"""The media worker's queue: one job per uploaded video, leased to one worker at a time.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "media_jobs",
        sa.Column("upload_id", sa.String(length=32), primary_key=True),
        sa.Column("course_id", sa.String(length=40), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_media_jobs_state_created", "media_jobs", ["state", "created_at"])


def downgrade():
    op.drop_index("ix_media_jobs_state_created", table_name="media_jobs")
    op.drop_table("media_jobs")
