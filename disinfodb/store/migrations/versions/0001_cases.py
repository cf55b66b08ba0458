"""Step 1: cases (see schema.STEPS)."""

from __future__ import annotations

from disinfodb.store.migrations.steps import apply_step, refuse_downgrade

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(1)


def downgrade() -> None:
    refuse_downgrade(1)
