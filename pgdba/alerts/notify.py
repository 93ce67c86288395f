"""Notifications of alert events: a webhook (JSON, or Slack's {"text": …}) and e-mail over SMTP."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import smtplib
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from pgdba.alerts.rules import EmailConfig, NotifyConfig, WebhookConfig
from pgdba.errors import InputError
from pgdba.findings import SCHEMA_VERSION
from pgdba.target import mask_password


@dataclass(frozen=True)
class Notification:
    """One event to tell someone about."""

    event: str  # firing / resolved
    rule: str
    object: str
    level: str
    value: float | None
    unit: str
    threshold: float | None
    target: str  # host:port/dbname, never with a password
    at: str
    summary: str
    note: str = ""

    @property
    def text(self) -> str:
        icon = {"critical": "🔴", "warning": "🟠"}.get(self.level, "✅")
        shown = "" if self.value is None else f" = {self.value:,.2f} {self.unit}"
        bound = (
            "" if self.threshold is None or self.event == "resolved" else f" (threshold {self.threshold:g})"
        )
        word = f"{self.level.upper()}" if self.event == "firing" else "RESOLVED"
        return f"{icon} pgdba {word}: {self.rule} on {self.object} at {self.target}{shown}{bound}. {self.summary}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "source": "pgdba",
            "event": self.event,
            "rule": self.rule,
            "object": self.object,
            "severity": self.level,
            "value": self.value,
            "unit": self.unit,
            "threshold": self.threshold,
            "target": self.target,
            "at": self.at,
            "summary": self.summary,
            "note": self.note,
            "text": self.text,
        }


@dataclass(frozen=True)
class Channel:
    """A place notifications go; `key` identifies it in the sent-notification ledger without its secrets."""

    kind: str
    key: str
    label: str
    webhook: WebhookConfig | None = None
    email: EmailConfig | None = None


def channels(config: NotifyConfig) -> list[Channel]:
    out = []
    for hook in config.webhooks:
        digest = hashlib.sha256(hook.identity.encode()).hexdigest()[:12]
        out.append(
            Channel("webhook", f"webhook:{digest}", f"webhook {hook.format} to {hook.label}", webhook=hook)
        )
    for mail in config.emails:
        digest = hashlib.sha256(f"{mail.host}|{','.join(mail.to)}".encode()).hexdigest()[:12]
        out.append(Channel("email", f"email:{digest}", f"e-mail to {', '.join(mail.to)}", email=mail))
    return out


def send(channel: Channel, note: Notification) -> None:
    """Deliver one notification; raises OSError (network, HTTP status, SMTP) when it did not arrive."""
    if channel.webhook is not None:
        send_webhook(channel.webhook, note)
    elif channel.email is not None:
        send_email(channel.email, note)


def send_webhook(config: WebhookConfig, note: Notification) -> None:
    body = {"text": note.text} if config.format == "slack" else note.to_dict()
    request = urllib.request.Request(
        config.endpoint,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "pgdba-alerts"},
        method="POST",
    )
    credentials = config.credentials
    if credentials is not None:
        # unredirected: a redirect to another host must not carry the password there
        request.add_unredirected_header("Authorization", basic_authorization(*credentials))
    try:
        with urllib.request.urlopen(request, timeout=config.timeout_s) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise OSError(f"webhook answered HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise OSError(_without(f"webhook unreachable: {exc.reason}", credentials)) from None
    except (OSError, ValueError) as exc:  # a timeout while reading, a URL urllib refuses
        raise OSError(_without(f"webhook failed: {exc}", credentials)) from None


def basic_authorization(user: str, password: str) -> str:
    """The HTTP Basic Authorization header value (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _without(message: str, credentials: tuple[str, str] | None) -> str:
    return mask_password(message, (credentials[1],)) if credentials else message


_HEADER_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def send_email(config: EmailConfig, note: Notification) -> None:
    message = EmailMessage()
    subject = f"[pgdba] {note.event.upper()} {note.level}: {note.rule} on {note.object}"
    # a table name may hold a line break, which a header must not (EmailMessage refuses it)
    message["Subject"] = _HEADER_BREAKS.sub(" ", subject)
    message["From"] = config.sender
    message["To"] = ", ".join(config.to)
    message.set_content(note.text + "\n\n" + json.dumps(note.to_dict(), indent=2, ensure_ascii=False) + "\n")
    password = os.environ.get(config.password_env, "") if config.password_env else ""
    if config.password_env and not password:
        raise InputError(f"notify.email: environment variable {config.password_env} is not set")
    smtp_class = smtplib.SMTP_SSL if config.ssl else smtplib.SMTP
    try:
        with smtp_class(config.host, config.port, timeout=config.timeout_s) as smtp:
            if config.starttls:
                smtp.starttls()
            if config.username:
                smtp.login(config.username, password)
            smtp.send_message(message)
    except smtplib.SMTPException as exc:
        raise OSError(mask_password(f"SMTP error: {exc}", (password,))) from None
