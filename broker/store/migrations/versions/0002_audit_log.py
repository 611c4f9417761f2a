"""Audit log: leaves, complete-subtree hashes, signed checkpoints; append-only rules.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

from audit.schema import append_only_ddl, drop_append_only_ddl, metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind)
    for statement in append_only_ddl(bind.dialect.name):
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in drop_append_only_ddl(bind.dialect.name):
        op.execute(statement)
    metadata.drop_all(bind)
