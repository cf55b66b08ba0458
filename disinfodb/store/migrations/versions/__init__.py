"""One revision per step of `schema.STEPS`."""
