"""`pgdba serve`: the REST API (and dashboard) on 127.0.0.1 unless a token protects it."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from pgdba.api.app import create_app, is_loopback
from pgdba.api.settings import ApiSettings
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
) -> None:
    """Serve the REST API: /debug/query-optimizer/* and /api/v1/*, OpenAPI at /openapi.json.

    Example: pgdba serve --port 8080
    """
    token = token or os.environ.get("PGDBA_TOKEN") or None
    if not is_loopback(host) and not token:
        raise InputError(f"refusing to bind {host} without a token: pass --token or set PGDBA_TOKEN")
    import uvicorn

    app = create_app(ApiSettings(target_from(dsn), token=token, history_store=store))
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5, limit_concurrency=64)
