"""Step 2: embeddings (see schema.STEPS)."""

from __future__ import annotations

from disinfodb.store.migrations.steps import apply_step, refuse_downgrade

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(2)


def downgrade() -> None:
    refuse_downgrade(2)
