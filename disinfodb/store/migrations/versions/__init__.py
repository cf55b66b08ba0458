"""One revision per step of `schema.POSTGRES_MIGRATIONS`."""
