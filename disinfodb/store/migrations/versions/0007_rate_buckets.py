"""Step 7: the rate limits shared by server processes (see schema.STEPS)."""

from __future__ import annotations

from disinfodb.store.migrations.steps import apply_step, refuse_downgrade

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(7)


def downgrade() -> None:
    refuse_downgrade(7)
