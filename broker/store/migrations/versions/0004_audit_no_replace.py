"""Audit log on SQLite: refuse INSERT OR REPLACE of a stored leaf, node or checkpoint.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from alembic import op

from audit.schema import drop_no_replace_ddl, no_replace_ddl

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in no_replace_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_no_replace_ddl(op.get_bind().dialect.name):
        op.execute(statement)
