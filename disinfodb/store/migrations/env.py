"""Alembic environment: runs the revisions on the connection `disinfodb.store.migrate`
hands over (already in a transaction)."""

from __future__ import annotations

from alembic import context

from disinfodb.store.migrations.steps import adopt_sqlite_file

connection = context.config.attributes["connection"]
adopt_sqlite_file(connection)
context.configure(connection=connection, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
