"""Request size and time limits, as plain ASGI middleware (they run before any route or body parsing)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pgdba.api.actions import log_refused_action

MAX_BODY_BYTES = 64 * 1024
MAX_SECONDS = 60.0


async def _too_large(scope: Scope, send: Send) -> None:
    """413, logged like every refused action when the request was one (never its body)."""
    log_refused_action(Request(scope), 413, "request body is too large")
    await _send_json(send, 413, {"error": "too_large", "detail": "request body is too large"})


async def _send_json(send: Send, status: int, body: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestLimits:
    """413 for a body over `max_body_bytes` (declared or streamed), 504 for a request over `max_seconds`."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int = MAX_BODY_BYTES, max_seconds: float = MAX_SECONDS
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_seconds = max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await _too_large(scope, send)
            return
        # the body (at most max_body_bytes) is read before the app runs, so an oversized streamed body is
        # refused here instead of surfacing as a parse error inside FastAPI
        body = bytearray()
        reads_body = scope["method"] not in ("GET", "HEAD", "OPTIONS")
        more = reads_body
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await _too_large(scope, send)
                return
        replayed = not reads_body  # a GET's receive is passed through untouched

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, replay_receive, tracking_send), self.max_seconds)
        except TimeoutError:
            if not started:
                detail: dict[str, Any] = {
                    "error": "timeout",
                    "detail": f"request took over {self.max_seconds:g} s",
                }
                if scope.get("method") not in ("GET", "HEAD"):
                    # a worker thread cannot be stopped: the VACUUM, backup or index build goes on
                    detail["detail"] += (
                        "; an action that had started keeps running on the server and is written to the "
                        "action log when it ends"
                    )
                await _send_json(send, 504, detail)
