"""What every revision does: run its step of `schema.POSTGRES_MIGRATIONS`."""

from __future__ import annotations

from alembic import op

from disinfodb.store.schema import POSTGRES_MIGRATIONS


def apply_step(number: int) -> None:
    for statement in POSTGRES_MIGRATIONS[number - 1]:
        op.execute(statement)


def refuse_downgrade(number: int) -> None:
    raise NotImplementedError(f"migration {number} cannot be undone: restore a backup instead")
