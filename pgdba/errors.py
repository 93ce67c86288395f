"""pgdba's exception types. The CLI turns each into one line on stderr and exit code 2."""


class PgdbaError(Exception):
    """Base of every error pgdba raises on purpose; its message is safe to show (no passwords)."""

    exit_code = 2


class InputError(PgdbaError):
    """Bad user input: an option, a file, a DSN that cannot be parsed."""


class ConnectionFailed(PgdbaError):
    """The database could not be reached or refused the login."""


class NotAvailable(PgdbaError):
    """A capability the server lacks (extension missing, view not readable, tool not installed)."""


class EmbeddedClusterError(PgdbaError):
    """The embedded PostgreSQL cluster could not be created, started or stopped."""
