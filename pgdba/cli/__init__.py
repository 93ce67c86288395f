"""The pgdba command line: a thin skin over the library. Errors become one line on stderr and exit code 2."""

from __future__ import annotations

import os
import sys

import psycopg
import typer

from pgdba import __version__
from pgdba.cli import (
    advise_cmd,
    alerts_cmd,
    backup_cmd,
    capacity_cmd,
    check_cmd,
    demo_cmd,
    embedded_cmd,
    indexes_cmd,
    maintenance_cmd,
    pool_cmd,
    queries_cmd,
    report_cmd,
    schema_cmd,
    serve_cmd,
    setup_cmd,
    snapshot_cmd,
)
from pgdba.cli.termination import (
    TERMINATED_EXIT,
    Interrupted,
    InterruptReportingGroup,
    Terminated,
    sigterm_unwinds,
)
from pgdba.errors import PgdbaError
from pgdba.target import mask_password

app = typer.Typer(
    name="pgdba",
    cls=InterruptReportingGroup,
    help="PostgreSQL DBA and reliability toolkit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(embedded_cmd.app, name="embedded")
app.add_typer(setup_cmd.app, name="setup")
app.add_typer(queries_cmd.app, name="queries")
app.add_typer(indexes_cmd.app, name="indexes")
app.add_typer(capacity_cmd.app, name="capacity")
app.command("snapshot")(snapshot_cmd.snapshot)
app.command("serve")(serve_cmd.serve)
app.command("demo")(demo_cmd.demo)
app.add_typer(pool_cmd.app, name="pool")
app.command("check")(check_cmd.check)
app.command("health")(check_cmd.health)
app.command("maintenance")(maintenance_cmd.maintenance)
app.command("report")(report_cmd.report)
app.add_typer(schema_cmd.app, name="schema")
app.add_typer(alerts_cmd.app, name="alerts")
app.command("netdata-plugin")(alerts_cmd.netdata_plugin)
app.command("schedule")(alerts_cmd.schedule)
app.add_typer(advise_cmd.app, name="advise")
app.add_typer(backup_cmd.app, name="backup")
app.command("restore-test")(backup_cmd.restore_test_command)


@app.command("version")
def version() -> None:
    """Print pgdba's version."""
    print(f"pgdba {__version__}")


def _error(message: str) -> None:
    first = mask_password(message.strip().splitlines()[0] if message.strip() else "unknown error")
    sys.stderr.write(f"pgdba: error: {first}\n")


def main(argv: list[str] | None = None, *, unwind_on_sigterm: bool = False) -> int:
    """Entry point of the `pgdba` console script. `unwind_on_sigterm` (the console script's and `python -m
    pgdba`'s): SIGTERM or SIGHUP stops the command as Ctrl-C does, its cleanup done, with exit code 143 or
    129."""
    if not unwind_on_sigterm:
        return _run(argv)
    with sigterm_unwinds() as sigterm:
        code = _run(argv)
    if sigterm.received is not None:
        sys.stderr.write(f"pgdba: {sigterm.message}\n")
        return sigterm.exit_code
    return code


def _run(argv: list[str] | None) -> int:
    try:
        # not standalone: usage errors come back here and become one line like every other error
        code = app(args=argv, prog_name="pgdba", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except typer.TyperException as exc:  # click's usage errors (Typer vendors click)
        formatter = getattr(exc, "format_message", None)
        message = str(formatter() if formatter else exc)
        if message.strip():  # empty: no arguments, and the help is already shown
            context = getattr(exc, "ctx", None)
            command = context.command_path if context is not None else "pgdba"
            _error(f"{message} (see {command} --help)")
        return int(getattr(exc, "exit_code", 2))
    except Terminated:  # main() says so, as when Typer caught it
        return TERMINATED_EXIT
    except (Interrupted, KeyboardInterrupt, typer.Abort):
        sys.stderr.write("pgdba: interrupted\n")
        return 130
    except PgdbaError as exc:
        _error(str(exc))
        return exc.exit_code
    except psycopg.errors.LockNotAvailable as exc:
        _error(
            "a lock pgdba needs was not granted within lock_timeout: another session holds or waits for a "
            f"conflicting lock (DDL in flight on a table it reads?); retry when that is done ({exc})"
        )
        return 2
    except psycopg.errors.QueryCanceled as exc:
        _error(f"query cancelled (statement_timeout or lock_timeout reached): {exc}")
        return 2
    except psycopg.Error as exc:
        _error(f"database error: {exc}")
        return 2
    except BrokenPipeError:
        return 0
    except UnicodeDecodeError as exc:  # a text input pgdba read without naming it (read_text_file names it)
        _error(f"an input is not UTF-8 text: {exc}")
        return 2
    except OSError as exc:
        _error(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        return 2
    except Exception as exc:  # the last resort: still one line, never a traceback unless asked for
        if os.environ.get("PGDBA_DEBUG"):
            raise
        _error(f"internal error ({type(exc).__name__}): {exc} — rerun with PGDBA_DEBUG=1 for details")
        return 3
    return 0


def run() -> None:
    """Console-script wrapper: exit with main()'s code."""
    sys.exit(main(unwind_on_sigterm=True))
