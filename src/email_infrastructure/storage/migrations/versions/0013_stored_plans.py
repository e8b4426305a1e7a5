"""stored_plans: plans made through the API kept as plans (they were finished jobs of kind `plan`)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: the columns of `jobs` this migration reads and writes (the table as 0009/0010 made it)
_jobs = sa.table(
    "jobs",
    sa.column("id", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("params", sa.JSON()),
    sa.column("status", sa.String()),
    sa.column("progress", sa.JSON()),
    sa.column("result", sa.JSON()),
    sa.column("key_name", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("finished_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    plans = op.create_table(
        "stored_plans",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("checksum", sa.String(length=80), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("key_name", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_plans")),
    )
    with op.batch_alter_table("stored_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stored_plans_checksum"), ["checksum"], unique=False)
        batch_op.create_index(batch_op.f("ix_stored_plans_created_at"), ["created_at"], unique=False)
    # each `plan` job becomes the stored plan of the same id: apply jobs and links keep naming it
    bind = op.get_bind()
    query = sa.select(_jobs.c.id, _jobs.c.result, _jobs.c.key_name, _jobs.c.created_at).where(_jobs.c.kind == "plan")
    rows = [
        {
            "id": row.id,
            "checksum": str((row.result or {}).get("checksum", "")),
            "plan": row.result or {},
            "key_name": row.key_name,
            "created_at": row.created_at,
        }
        for row in bind.execute(query)
    ]
    if rows:
        op.bulk_insert(plans, rows)
    bind.execute(sa.delete(_jobs).where(_jobs.c.kind == "plan"))


def downgrade() -> None:
    # back into finished `plan` jobs, as 0012 kept them
    bind = op.get_bind()
    stored = sa.table(
        "stored_plans",
        sa.column("id", sa.String()),
        sa.column("plan", sa.JSON()),
        sa.column("key_name", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    rows = [
        {
            "id": row.id,
            "kind": "plan",
            "params": {},
            "status": "succeeded",
            "progress": {},
            "result": row.plan,
            "key_name": row.key_name,
            "created_at": row.created_at,
            "updated_at": row.created_at,
            "started_at": row.created_at,
            "finished_at": row.created_at,
        }
        for row in bind.execute(sa.select(stored.c.id, stored.c.plan, stored.c.key_name, stored.c.created_at))
    ]
    if rows:
        op.bulk_insert(_jobs, rows)
    with op.batch_alter_table("stored_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stored_plans_created_at"))
        batch_op.drop_index(batch_op.f("ix_stored_plans_checksum"))
    op.drop_table("stored_plans")
