"""Audit log: witness cosignatures (C2SP tlog-cosignature), append-only like the log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from alembic import op

from audit.schema import (
    audit_cosignature,
    cosignature_table_ddl,
    drop_cosignature_table_ddl,
)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    audit_cosignature.create(bind)
    for statement in cosignature_table_ddl(bind.dialect.name):
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in drop_cosignature_table_ddl(bind.dialect.name):
        op.execute(statement)
    audit_cosignature.drop(bind)
