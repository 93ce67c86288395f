"""`pgdba serve`: the REST API (and dashboard) on 127.0.0.1 unless a token protects it."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from pgdba.cli.options import DsnOption, StoreOption, target_from
from pgdba.errors import InputError


def serve(
    dsn: DsnOption = None,
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback needs --token")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port", min=1, max=65535)] = 8080,
    token: Annotated[
        str | None, typer.Option(help="Bearer token required on every request (or PGDBA_TOKEN)")
    ] = None,
    store: StoreOption = None,
    config: Annotated[
        Path | None,
        # Rich reads help as markup: a backslash keeps the TOML table name in brackets.
        typer.Option(help="TOML file of monitored databases ([\\[database]] name, dsn or dsn_env)"),
    ] = None,
    pool_bench: Annotated[
        Path | None,
        typer.Option(help="JSON of `pgdba pool bench --out FILE` to show on the Connections page"),
    ] = None,
    schema_source: Annotated[
        list[str] | None,
        typer.Option(
            "--schema-source",
            help="Schema file to compare with the live database on the Schema page (repeatable): "
            "prisma:PATH, drizzle:PATH, sqlalchemy:MODULE:ATTR",
        ),
    ] = None,
    alert_rules: Annotated[
        Path | None,
        typer.Option(help="Alert rule file (as for `pgdba alerts check --rules`) for the Alerts page"),
    ] = None,
    backup_storage: Annotated[
        str | None,
        typer.Option(
            help="Backup storage for the Backups page: file:///path or s3://bucket/prefix (or PGDBA_BACKUP_STORAGE)"
        ),
    ] = None,
    schema_config: Annotated[
        Path | None, typer.Option(help="Schema-check config (ignore rules, options); see `schema check`")
    ] = None,
) -> None:
    """Serve the REST API: /debug/query-optimizer/* and /api/v1/*, OpenAPI at /openapi.json.

    Example: pgdba serve --port 8080
    """
    # FastAPI is imported here, not at module level: every other command starts faster without it
    from pgdba.api.app import create_app, is_loopback
    from pgdba.api.config import load_databases
    from pgdba.api.settings import ApiSettings
    from pgdba.api.startup_checks import check_served_files
    from pgdba.cli.termination import hangup_as_termination

    token = token or os.environ.get("PGDBA_TOKEN") or None
    if not is_loopback(host) and not token:
        raise InputError(f"refusing to bind {host} without a token: pass --token or set PGDBA_TOKEN")
    import uvicorn

    databases = load_databases(config) if config else {}
    if databases and dsn:
        # a request without ?db= would read --dsn's database while every page names the config's first one
        raise InputError(
            "--dsn and --config both name the databases to serve: add this one to the config file"
        )
    target = next(iter(databases.values())) if databases else target_from(dsn)
    settings = ApiSettings(
        target,
        token=token,
        history_store=store,
        databases=databases,
        pool_bench=str(pool_bench) if pool_bench else None,
        schema_sources=tuple(schema_source or ()),
        schema_config=str(schema_config) if schema_config else None,
        alert_rules=str(alert_rules) if alert_rules else None,
        backup_storage=backup_storage,
    )
    check_served_files(settings)  # a missing or malformed file stops here, not as a 409/422 per request
    _check_port_free(host, port)
    app = create_app(settings)
    with hangup_as_termination():
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            timeout_keep_alive=5,
            limit_concurrency=64,
            server_header=False,
            h11_max_incomplete_event_size=16 * 1024,
        )


def _check_port_free(host: str, port: int) -> None:
    """One line instead of uvicorn's own error when the address is taken or cannot be bound."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
