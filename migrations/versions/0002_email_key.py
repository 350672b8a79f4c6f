"""Compare emails on a Python-normalised key column, not SQL lower().

SQLite's lower() only lower-cases ASCII, so `ÉLODIE@x` and `élodie@x` were two
accounts there and one on PostgreSQL. The key is computed in Python (NFC,
str.lower) for every row, and carries the unique index.

Revision ID: 0002
Revises: 0001
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _key(email: str) -> str:
    return unicodedata.normalize("NFC", email.strip()).lower()


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("email_key", sa.String(length=254), nullable=True))
    users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("email", sa.String()),
                     sa.column("email_key", sa.String()))
    conn = op.get_bind()
    for row in conn.execute(sa.select(users.c.id, users.c.email)).all():
        conn.execute(users.update().where(users.c.id == row.id).values(email_key=_key(row.email)))
    op.drop_index("uq_users_email_lower", table_name="users")
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("email_key", existing_type=sa.String(length=254), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_users_email_key"), ["email_key"])


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_email_key"), type_="unique")
        batch_op.drop_column("email_key")
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
