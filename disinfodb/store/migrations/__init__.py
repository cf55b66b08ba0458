"""Alembic's environment and revisions for the PostgreSQL schema (see `disinfodb.store.migrate_pg`)."""
