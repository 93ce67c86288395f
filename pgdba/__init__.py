"""pgdba: a PostgreSQL DBA and reliability toolkit."""

__version__ = "0.1.0"
