"""disinfodb: keep, search and use a database of debunked disinformation cases."""

__version__ = "0.1.0"
