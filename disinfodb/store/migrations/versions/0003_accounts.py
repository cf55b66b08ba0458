"""Step 3: accounts (see schema.STEPS)."""

from __future__ import annotations

from disinfodb.store.migrations.steps import apply_step, refuse_downgrade

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(3)


def downgrade() -> None:
    refuse_downgrade(3)
