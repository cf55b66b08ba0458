"""Step 6: themes over the narratives (see schema.STEPS)."""

from __future__ import annotations

from disinfodb.store.migrations.steps import apply_step, refuse_downgrade

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(6)


def downgrade() -> None:
    refuse_downgrade(6)
