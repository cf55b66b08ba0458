"""Alembic's environment and revisions for both engines (see `disinfodb.store.migrate`)."""
