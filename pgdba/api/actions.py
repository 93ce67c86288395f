"""POST actions that change a database: token required, explicit confirmation, every attempt logged.

With no token configured the API is read-only: an action is refused before anything runs, because a
loopback-only server without a token would let any local process change the database.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request

from pgdba.api.dependencies import optional_store, settings_of
from pgdba.api.v1_models import ActionRequest
from pgdba.errors import PgdbaError
from pgdba.target import Target

log = logging.getLogger("pgdba.api.actions")
ACTION_RECORD = "api_action"


def configure_action_log() -> None:
    """Actions are logged to stderr with a timestamp even when the embedding app configured no logging."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s pgdba %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


class ActionRefused(PgdbaError):
    """An action the server will not run (no token configured); the API answers 403."""


class Confirmation(ActionRequest):
    """An action body of `confirm: true` only; without it nothing runs."""


def is_action_request(request: Request) -> bool:
    """A POST under /api/v1/: every such endpoint is an action that changes a database."""
    return request.method == "POST" and request.url.path.startswith("/api/v1/")


def printable(text: str) -> str:
    """`text` with every character that is not printable (NUL, newline, escape, bidi overrides …) written
    as its Python escape (`\\x00`, `\\n`, `\\u202e`): a request's text cannot split, fake or colour a
    log line, nor make the log binary."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def client_of(request: Request) -> str:
    return printable(request.client.host) if request.client else "?"


def log_refused_action(request: Request, status: int, reason: str) -> None:
    """Log a refused action request: its path, client, status and a reason written by pgdba (never the
    request's body or headers, which may hold the token or other secrets)."""
    if is_action_request(request):
        path, why = printable(request.url.path), printable(reason)
        log.warning("refused action %s from %s: %d %s", path, client_of(request), status, why)


def validation_summary(problems: list[dict[str, Any]]) -> str:
    """Where and why a body was refused (`body.confirm: Input should be true`), without the input."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem.get('loc', ()))}: {problem.get('msg', '')}"
        for problem in problems[:5]
    )


def require_action_allowed(request: Request) -> None:
    """Refuse actions when no token is configured (the middleware already checked the token if one is)."""
    if not settings_of(request).token:
        log_refused_action(request, 403, "no token configured")
        raise ActionRefused(
            "actions are disabled: start pgdba serve with --token (or PGDBA_TOKEN) to allow them"
        )


def record_action(
    request: Request, target: Target, action: str, subject: str, outcome: dict[str, Any]
) -> None:
    """Log the action (and keep it in the history store when one is configured); no DSN, no password."""
    client = request.client.host if request.client else "?"
    log.warning(
        "action %s on %s (%s) from %s: %s",
        action,
        printable(target.key),
        printable(subject),
        client_of(request),
        outcome.get("status"),
    )
    with optional_store(settings_of(request)) as store:
        if store:
            store.add_record(
                target.key, ACTION_RECORD, {"action": action, "subject": subject, "client": client, **outcome}
            )
