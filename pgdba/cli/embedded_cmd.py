"""`pgdba embedded start|stop|status|dsn`."""

from __future__ import annotations

from typing import Annotated

import typer

from pgdba.cli.options import FormatOption, check_format
from pgdba.embedded import ClusterStatus, EmbeddedCluster
from pgdba.render import print_json

app = typer.Typer(
    help="The embedded PostgreSQL cluster (initdb + pg_ctl on 127.0.0.1).", no_args_is_help=True
)
DirOption = Annotated[  # text, not Path: Typer would read an empty --dir as "."
    str | None, typer.Option("--dir", help="Data root (default: PGDBA_EMBEDDED_DIR or the user data dir)")
]


def _print_status(status: ClusterStatus, fmt: str) -> None:
    data = {
        "schema_version": 1,
        "running": status.running,
        "pid": status.pid,
        "port": status.port,
        "version": status.version,
        "data_dir": str(status.data_dir),
        "dsn": status.dsn,
    }
    if fmt == "json":
        print_json(data)
        return
    if status.version is None:
        print("embedded PostgreSQL: no cluster here yet (`pgdba embedded start` creates one)")
    else:
        state = f"running (pid {status.pid})" if status.running else "stopped"
        print(f"embedded PostgreSQL {status.version}: {state}")
    print(f"data: {status.data_dir}")
    if status.dsn:
        print(f"dsn:  {status.dsn}")


@app.command()
def start(
    dir: DirOption = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port on 127.0.0.1 for a new cluster (default: a free one)", min=1024, max=65535),
    ] = None,
    fmt: FormatOption = "table",
) -> None:
    """Create (first time) and start the cluster; does nothing when it already runs."""
    _print_status(EmbeddedCluster(dir).start(port), check_format(fmt))


@app.command()
def stop(dir: DirOption = None, fmt: FormatOption = "table") -> None:
    """Stop the cluster (fast shutdown)."""
    _print_status(EmbeddedCluster(dir).stop(), check_format(fmt))


@app.command()
def status(dir: DirOption = None, fmt: FormatOption = "table") -> None:
    """Is the cluster running, where, and its DSN. Exit 1 when it is not running."""
    cluster_status = EmbeddedCluster(dir).status()
    _print_status(cluster_status, check_format(fmt))
    if not cluster_status.running:
        raise typer.Exit(1)


@app.command()
def dsn(
    dir: DirOption = None, dbname: Annotated[str, typer.Option(help="database name")] = "postgres"
) -> None:
    """Print the DSN (the password stays in the passfile it names)."""
    print(EmbeddedCluster(dir).dsn(dbname))
