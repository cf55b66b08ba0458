"""Step 4: narratives (see schema.STEPS)."""

from __future__ import annotations

from disinfodb.store.migrations.steps import apply_step, refuse_downgrade

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(4)


def downgrade() -> None:
    refuse_downgrade(4)
