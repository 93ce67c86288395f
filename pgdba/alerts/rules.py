"""Alert rules as data: the default TOML rule file, a user's overrides and additions, and validation.

A user's file uses the default file's format. A [[rule]] whose name exists changes only the fields it sets;
a new name adds a rule; `enabled = false` switches a rule off; a top-level `include_defaults = false`
starts from no rules at all. An optional [notify] table configures notification channels.
Every mistake is an InputError naming the file and the line.
"""

from __future__ import annotations

import math
import re
import tomllib
import urllib.parse
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from pgdba.alerts.catalog import METRICS, OPS, SCOPES
from pgdba.errors import InputError
from pgdba.text_files import read_text_file

DEFAULT_RULES_NAME = "default_rules.toml"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
# The longest `for` or duration parameter (window) a rule takes: a year. Longer is a typo, past the history
# a check keeps, and overflows what is computed from it (the check's datetimes, Prometheus' 64-bit
# nanoseconds, Netdata's 32-bit seconds).
MAX_DURATION_SECONDS = 365 * 86400
_RULE_FIELDS = {
    "name",
    "metric",
    "scope",
    "op",
    "warn",
    "crit",
    "for",
    "hysteresis",
    "summary",
    "enabled",
    "tables",
}
_OVERRIDE_FIELDS = {"warn", "crit", "hysteresis", "for", "enabled"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_duration(text: str | int | float) -> float:
    """'90s', '5m', '1h', '2d' → seconds; a bare number is seconds."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text) if isinstance(text, str) else None
        if not match:
            raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h, 2d)")
        seconds = float(match[1]) * _DURATION_SECONDS[match[2]]
    if not math.isfinite(seconds):
        raise ValueError(f"not a finite duration: {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds as the shortest exact '1h', '5m', '30s' form (Prometheus and Netdata accept these)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{int(seconds * 1000)}ms"


def format_number(value: float) -> str:
    """A number as an exported rule writes it: the shortest text that reads back as the same float (repr),
    without a trailing .0 (1234567.8 stays 1234567.8 and 100 MiB 104857600, where :g gives 1.23457e+06)."""
    text = repr(float(value))
    return text.removesuffix(".0")


def table_key_parts(table: str) -> tuple[str | None, str]:
    """A per-table override's key as (schema, table): "public.orders" names one table, a bare "orders" the
    table of that name in any schema (schema None)."""
    schema, dot, name = table.partition(".")
    return (schema, name) if dot else (None, table)


@dataclass(frozen=True)
class Thresholds:
    warn: float | None
    crit: float | None
    hysteresis: float
    for_seconds: float
    enabled: bool = True


@dataclass(frozen=True)
class Rule:
    """One alert rule: watch `metric` over its scope, warn / crit past the thresholds."""

    name: str
    metric: str
    scope: str
    op: str
    warn: float | None
    crit: float | None
    for_seconds: float = 0.0
    hysteresis: float = 0.0
    summary: str = ""
    enabled: bool = True
    params: dict[str, float | str] = field(default_factory=dict)
    tables: dict[str, Thresholds] = field(default_factory=dict)
    source: str = ""

    @property
    def above(self) -> bool:
        return self.op in (">", ">=")

    @property
    def unit(self) -> str:
        return METRICS[self.metric].unit

    def param(self, name: str) -> float | str:
        return self.params.get(name, METRICS[self.metric].params[name])

    def param_seconds(self, name: str) -> float:
        return parse_duration(self.param(name))

    def thresholds_for(self, obj: str) -> Thresholds:
        """The thresholds that apply to one object: a per-table override ("schema.table" or "table") or the rule's."""
        base = Thresholds(self.warn, self.crit, self.hysteresis, self.for_seconds, True)
        if self.scope != "table" or not self.tables:
            return base
        bare = obj.split(".", 1)[-1]
        return self.tables.get(obj) or self.tables.get(bare) or base

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "scope": self.scope,
            "op": self.op,
            "warn": self.warn,
            "crit": self.crit,
            "for": format_duration(self.for_seconds),
            "hysteresis": self.hysteresis,
            "unit": self.unit,
            "summary": self.summary,
            "enabled": self.enabled,
            "params": dict(self.params),
            "tables": {
                name: {"warn": t.warn, "crit": t.crit, "hysteresis": t.hysteresis, "enabled": t.enabled}
                for name, t in self.tables.items()
            },
            "source": self.source,
        }


@dataclass(frozen=True)
class WebhookConfig:
    """A URL to POST events to; `http://user:password@host/…` sends the user and password as HTTP Basic auth."""

    url: str
    format: str = "json"  # json, or slack ({"text": …}, what Slack incoming webhooks accept)
    timeout_s: float = 10.0

    @property
    def endpoint(self) -> str:
        """The URL to connect to: without the user and password."""
        parts = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

    @property
    def credentials(self) -> tuple[str, str] | None:
        """(user, password) from the URL's userinfo, percent-decoded; None when the URL has none."""
        parts = urllib.parse.urlsplit(self.url)
        if "@" not in parts.netloc:
            return None
        return urllib.parse.unquote(parts.username or ""), urllib.parse.unquote(parts.password or "")

    @property
    def identity(self) -> str:
        """The URL without its password: a new password is still the same channel."""
        parts = urllib.parse.urlsplit(self.url)
        if parts.password is None:
            return self.url
        user = parts.netloc.rpartition("@")[0].partition(":")[0]
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rpartition('@')[2]}"))

    @property
    def label(self) -> str:
        """scheme://host:port, the userinfo shown as *** and no path (a Slack URL's path is its secret)."""
        parts = urllib.parse.urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme}://{'***@' if '@' in parts.netloc else ''}{host}"


def webhook_config(url: object, fmt: object = "json", timeout: object = 10.0, *, where: str) -> WebhookConfig:
    """A checked WebhookConfig; `where` starts every error (the messages never repeat the URL: it may hold a
    password)."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InputError(f'{where}: a webhook needs an http:// or https:// URL (url = "http(s)://…")')
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 -- urllib checks the port when it is read
    except ValueError:
        raise InputError(f"{where}: the webhook URL has an invalid port") from None
    if not parts.hostname:
        raise InputError(f"{where}: the webhook URL has no host name")
    if any(ch.isspace() for ch in url):
        raise InputError(f"{where}: the webhook URL contains white space")
    if fmt not in ("json", "slack"):
        raise InputError(f"{where}: webhook format must be json or slack (got {fmt!r})")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout):
        raise InputError(f"{where}: webhook timeout must be a number of seconds (got {timeout!r})")
    if timeout <= 0:
        raise InputError(f"{where}: webhook timeout must be positive (got {timeout!r})")
    return WebhookConfig(url, fmt, float(timeout))


@dataclass(frozen=True)
class EmailConfig:
    host: str
    to: tuple[str, ...]
    sender: str
    port: int = 25
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password_env: str | None = None  # the password is read from this environment variable, never the file
    timeout_s: float = 10.0


@dataclass(frozen=True)
class NotifyConfig:
    webhooks: tuple[WebhookConfig, ...] = ()
    emails: tuple[EmailConfig, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.webhooks and not self.emails


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    sources: tuple[str, ...] = ()

    @property
    def enabled(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def rule(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)


def default_rules_text() -> str:
    return resources.files("pgdba.alerts").joinpath(DEFAULT_RULES_NAME).read_text(encoding="utf-8")


def load_rules(user_file: str | Path | None = None) -> RuleSet:
    """The default rules, with a user's rule file applied on top (when given)."""
    defaults = _parse_file(default_rules_text(), "default rules")
    rules = {r.name: r for r in _rules_from(defaults, default_rules_text(), "default rules", {})}
    notify = NotifyConfig()
    sources = ["default rules"]
    if user_file is not None:
        path = Path(user_file)
        text = read_text_file(path, "rule file")
        data = _parse_file(text, str(path))
        include = data.pop("include_defaults", True)
        if not isinstance(include, bool):
            raise InputError(
                f"{path} line {_line_of(text, 'include_defaults')}: include_defaults must be true or false"
            )
        if not include:
            rules = {}
        for rule in _rules_from(data, text, str(path), rules):
            rules[rule.name] = rule
        notify = _notify_from(data.get("notify", {}), text, str(path))
        sources.append(str(path))
    return RuleSet(tuple(rules.values()), notify, tuple(sources))


def _parse_file(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            f"{source}: invalid TOML: {exc}"
        ) from None  # tomllib's message names line and column


def _line_of(text: str, needle: str, after: int = 0) -> int:
    """1-based line of the first line containing `needle` at or after line `after` (0 when absent)."""
    for number, line in enumerate(text.splitlines(), 1):
        if number >= after and needle in line:
            return number
    return 0


def _rule_line(text: str, name: object) -> int:
    for quote in ('"', "'"):
        line = _line_of(text, f"name = {quote}{name}{quote}")
        if line:
            return line
    return _line_of(text, "[[rule]]")


def _rules_from(data: dict[str, Any], text: str, source: str, existing: dict[str, Rule]) -> list[Rule]:
    unknown_top = set(data) - {"rule", "notify", "include_defaults"}
    if unknown_top:
        key = sorted(unknown_top)[0]
        raise InputError(
            f"{source} line {_line_of(text, key)}: unknown top-level key {key!r} (use [[rule]] or [notify])"
        )
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        raise InputError(f"{source} line {_line_of(text, 'rule')}: rules are written as [[rule]] tables")
    out: list[Rule] = []
    seen: set[str] = set()
    for entry in entries:
        name = entry.get("name")
        line = _rule_line(text, name)
        where = f"{source} line {line}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise InputError(
                f"{where}: every rule needs a name of lower-case letters, digits and _ (got {name!r})"
            )
        if name in seen:
            raise InputError(f"{where}: rule {name!r} is defined twice in this file")
        seen.add(name)
        out.append(_rule_from(entry, existing.get(name), where, source))
    return out


def _number(value: object, key: str, rule: str, where: str) -> float:
    """A finite number from the rule file (TOML also has nan and inf, which no threshold can be)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: rule {rule!r}: {key} must be a number (got {value!r})")
    if not math.isfinite(value):
        raise InputError(f"{where}: rule {rule!r}: {key} must be a finite number (got {value!r})")
    return float(value)


def _rule_from(entry: dict[str, Any], base: Rule | None, where: str, source: str) -> Rule:
    name = entry["name"]
    metric = entry.get("metric", base.metric if base else None)
    if metric not in METRICS:
        known = ", ".join(sorted(METRICS))
        raise InputError(f"{where}: rule {name!r}: unknown metric {metric!r} (known: {known})")
    spec = METRICS[metric]
    unknown = set(entry) - _RULE_FIELDS - set(spec.params)
    if unknown:
        key = sorted(unknown)[0]
        allowed = ", ".join(sorted(_RULE_FIELDS | set(spec.params)))
        raise InputError(f"{where}: rule {name!r}: unknown field {key!r} (allowed: {allowed})")
    scope = entry.get("scope", base.scope if base else spec.scope)
    if scope not in SCOPES:
        raise InputError(f"{where}: rule {name!r}: scope must be one of {', '.join(SCOPES)} (got {scope!r})")
    if scope != spec.scope:
        raise InputError(
            f"{where}: rule {name!r}: metric {metric} is measured per {spec.scope}, not per {scope}"
        )
    op = entry.get("op", base.op if base else ">")
    if op not in OPS:
        raise InputError(f"{where}: rule {name!r}: op must be one of {' '.join(OPS)} (got {op!r})")
    warn = _number(entry["warn"], "warn", name, where) if "warn" in entry else (base.warn if base else None)
    crit = _number(entry["crit"], "crit", name, where) if "crit" in entry else (base.crit if base else None)
    if warn is None and crit is None:
        raise InputError(f"{where}: rule {name!r} needs warn or crit (or both)")
    _check_order(name, op, warn, crit, where)
    for_seconds = (
        _duration(entry["for"], "for", name, where) if "for" in entry else (base.for_seconds if base else 0.0)
    )
    hysteresis = (
        _number(entry["hysteresis"], "hysteresis", name, where)
        if "hysteresis" in entry
        else (base.hysteresis if base else 0.0)
    )
    if hysteresis < 0:
        raise InputError(f"{where}: rule {name!r}: hysteresis cannot be negative")
    params = dict(base.params) if base else {}
    for key in spec.params:
        if key in entry:
            params[key] = _param(name, key, entry[key], spec.params[key], where)
    enabled = entry.get("enabled", base.enabled if base else True)
    if not isinstance(enabled, bool):
        raise InputError(f"{where}: rule {name!r}: enabled must be true or false")
    summary = entry.get("summary", base.summary if base else "")
    tables = dict(base.tables) if base else {}
    if "tables" in entry:
        if scope != "table":
            raise InputError(f"{where}: rule {name!r}: per-table overrides need a table-scoped metric")
        for table, override in entry["tables"].items():
            tables[table] = _override(name, table, override, warn, crit, hysteresis, for_seconds, op, where)
    return Rule(
        name=name,
        metric=metric,
        scope=scope,
        op=op,
        warn=warn,
        crit=crit,
        for_seconds=for_seconds,
        hysteresis=hysteresis,
        summary=str(summary),
        enabled=enabled,
        params=params,
        tables=tables,
        source=source if base is None or base.source == source else f"{base.source} + {source}",
    )


def _duration(value: object, key: str, rule: str, where: str) -> float:
    """A duration from the rule file, in seconds: from 0 up to MAX_DURATION_SECONDS."""
    try:
        seconds = parse_duration(value)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        raise InputError(f"{where}: rule {rule!r}: {key}: {exc}") from None
    if not 0 <= seconds <= MAX_DURATION_SECONDS:
        raise InputError(
            f"{where}: rule {rule!r}: {key} must be from 0s to {format_duration(MAX_DURATION_SECONDS)} "
            f"(got {value!r})"
        )
    return seconds


def _param(rule: str, key: str, value: object, default: float | str, where: str) -> float | str:
    if isinstance(default, str):
        try:
            parse_duration(value)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            raise InputError(
                f"{where}: rule {rule!r}: {key} must be a duration like 1h (got {value!r})"
            ) from None
        _duration(value, key, rule, where)
        return value  # type: ignore[return-value]
    number = _number(value, key, rule, where)
    if number < 0:
        raise InputError(f"{where}: rule {rule!r}: {key} cannot be negative")
    return number


def _check_order(name: str, op: str, warn: float | None, crit: float | None, where: str) -> None:
    if warn is None or crit is None:
        return
    if op in (">", ">=") and crit < warn:
        raise InputError(
            f"{where}: rule {name!r}: with op {op} crit ({crit:g}) must not be below warn ({warn:g})"
        )
    if op in ("<", "<=") and crit > warn:
        raise InputError(
            f"{where}: rule {name!r}: with op {op} crit ({crit:g}) must not be above warn ({warn:g})"
        )


def _override(
    rule: str,
    table: str,
    override: object,
    warn: float | None,
    crit: float | None,
    hysteresis: float,
    for_seconds: float,
    op: str,
    where: str,
) -> Thresholds:
    if not isinstance(override, dict):
        raise InputError(
            f"{where}: rule {rule!r}: tables.{table} must be a table of warn / crit / hysteresis / for"
        )
    unknown = set(override) - _OVERRIDE_FIELDS
    if unknown:
        raise InputError(f"{where}: rule {rule!r}: tables.{table}: unknown field {sorted(unknown)[0]!r}")
    t_warn = _number(override["warn"], f"tables.{table}.warn", rule, where) if "warn" in override else warn
    t_crit = _number(override["crit"], f"tables.{table}.crit", rule, where) if "crit" in override else crit
    _check_order(f"{rule}.tables.{table}", op, t_warn, t_crit, where)
    t_for = (
        _duration(override["for"], f"tables.{table}.for", rule, where) if "for" in override else for_seconds
    )
    t_hyst = hysteresis
    if "hysteresis" in override:
        t_hyst = _number(override["hysteresis"], f"tables.{table}.hysteresis", rule, where)
        if t_hyst < 0:
            raise InputError(f"{where}: rule {rule!r}: tables.{table}.hysteresis cannot be negative")
    enabled = override.get("enabled", True)
    return Thresholds(t_warn, t_crit, t_hyst, t_for, bool(enabled))


def _notify_from(data: object, text: str, source: str) -> NotifyConfig:
    if not data:
        return NotifyConfig()
    where = f"{source} line {_line_of(text, '[notify')}"
    if not isinstance(data, dict) or set(data) - {"webhook", "email"}:
        raise InputError(f"{where}: [notify] takes [[notify.webhook]] and [[notify.email]] entries")
    webhooks = []
    for hook in _as_list(data.get("webhook", [])):
        webhooks.append(
            webhook_config(
                hook.get("url"), hook.get("format", "json"), hook.get("timeout", 10), where=f"{where}: notify"
            )
        )
    emails = []
    for mail in _as_list(data.get("email", [])):
        try:
            to = mail["to"]
            emails.append(
                EmailConfig(
                    host=str(mail["host"]),
                    to=tuple([to] if isinstance(to, str) else to),
                    sender=str(mail["from"]),
                    port=int(mail.get("port", 25)),
                    starttls=bool(mail.get("starttls", False)),
                    ssl=bool(mail.get("ssl", False)),
                    username=mail.get("username"),
                    password_env=mail.get("password_env"),
                    timeout_s=float(mail.get("timeout", 10)),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where}: notify.email needs host, from and to ({exc})") from None
        if not math.isfinite(emails[-1].timeout_s) or emails[-1].timeout_s <= 0:
            raise InputError(f"{where}: notify.email timeout must be a positive, finite number of seconds")
        if "password" in mail:
            raise InputError(
                f"{where}: notify.email: put the password in an environment variable named by password_env"
            )
    return NotifyConfig(tuple(webhooks), tuple(emails))


def _as_list(value: object) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    raise InputError("notify entries must be tables")


def with_thresholds(rule: Rule, **changes: Any) -> Rule:
    """A copy of a rule with some fields changed (tests and the API use it)."""
    return replace(rule, **changes)
