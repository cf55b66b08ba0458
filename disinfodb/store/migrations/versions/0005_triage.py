"""Step 5: watched documents and the triage queue (see schema.STEPS)."""

from __future__ import annotations

from disinfodb.store.migrations.steps import apply_step, refuse_downgrade

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(5)


def downgrade() -> None:
    refuse_downgrade(5)
