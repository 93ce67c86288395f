"""`pgdba backup prune`: which backups to keep (count, age, daily/weekly/monthly tiers) and delete.

A tier keeps the newest backup of each of its N most recent periods that have a backup. Whatever the
rules say, the newest backup that passed a restore test is kept, and so is the newest complete backup.
Incomplete backups (no manifest) are deleted once older than a grace period, so a dump still running
is never touched; a backup whose manifest exists but could not be read is never deleted.

Each server's backups are a series of their own (server_identity.py): with two servers that each have a
database of the same name in one storage, one server's newer backups never push the other's out. Given a
server (--dsn), only its backups are judged, and the other servers' under the same name are counted and
left alone.

Every rule is optional (None: not given) and, when given, takes 1 or more: a rule of 0 would keep no
backup, so it is refused like a negative one (pgBackRest refuses a retention of 0 the same way) rather
than read as "no rule".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pgdba.backup.manifest import MANIFEST_NAME, BackupInfo
from pgdba.backup.server_identity import OtherServerBackups, backups_for_server, known_servers, series_key
from pgdba.backup.storage import Storage
from pgdba.errors import InputError

DEFAULT_INCOMPLETE_GRACE = timedelta(hours=24)
MAX_KEEP_COUNT = 100_000  # backups (or days, weeks, months with a backup): centuries of daily dumps
MAX_KEEP_WITHIN_DAYS = 36_500  # a hundred years
OTHER_SERVER_NOT_PRUNED = (
    "touched (a new identifier follows initdb or pg_upgrade; prune them with --dsn of that server, or "
    "without --dsn)"
)


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_within_days: int | None = None
    incomplete_grace: timedelta = DEFAULT_INCOMPLETE_GRACE

    def __post_init__(self) -> None:
        self.validate()  # before any listing or deleting: a policy that exists is a valid one

    def rules(self) -> dict[str, int]:
        """The rules given, by their option name."""
        given = {
            "--keep-last": self.keep_last,
            "--keep-daily": self.keep_daily,
            "--keep-weekly": self.keep_weekly,
            "--keep-monthly": self.keep_monthly,
            "--keep-within-days": self.keep_within_days,
        }
        return {option: value for option, value in given.items() if value is not None}

    def validate(self) -> None:
        rules = self.rules()
        if not rules:
            raise InputError(
                "no retention rule given: pass --keep-last, --keep-daily, --keep-weekly, --keep-monthly "
                "or --keep-within-days"
            )
        for option, value in rules.items():
            limit = MAX_KEEP_WITHIN_DAYS if option == "--keep-within-days" else MAX_KEEP_COUNT
            if value == 0:
                raise InputError(
                    f"{option} takes 1 to {limit}: 0 would keep no backup by this rule (leave the option out)"
                )
            if not 1 <= value <= limit:
                raise InputError(f"{option} takes 1 to {limit}, not {value}")


@dataclass
class PruneDecision:
    backup: BackupInfo
    keep: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.backup.database,
            "backup_id": self.backup.backup_id,
            "system_identifier": self.backup.system_identifier,
            "status": self.backup.status,
            "action": "keep" if self.keep else "delete",
            "reasons": self.reasons,
            "problem": self.backup.problem,
        }


_PERIODS: dict[str, Callable[[datetime], tuple[int, ...]]] = {
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar()[:2]),
    "monthly": lambda t: (t.year, t.month),
}


def plan_retention(
    backups: list[BackupInfo], policy: RetentionPolicy, now: datetime | None = None
) -> list[PruneDecision]:
    """A keep/delete decision with reasons for every backup; each database of each server (a series) is
    judged on its own."""
    now = now or datetime.now(UTC)
    known = known_servers(backups)
    series: dict[tuple[str, str], list[BackupInfo]] = {}
    for b in backups:
        database, server = series_key(b, known)
        series.setdefault((database, server or ""), []).append(b)
    decisions: list[PruneDecision] = []
    for key in sorted(series):
        newest_first = sorted(series[key], key=lambda b: b.taken_at, reverse=True)
        decisions.extend(_plan_one_database(newest_first, policy, now))
    return decisions


@dataclass
class RetentionPlan:
    """The decisions, for one server (system_identifier) or every server (None), and what to tell."""

    decisions: list[PruneDecision]
    system_identifier: str | None = None
    other_servers: list[OtherServerBackups] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_server_retention(
    backups: list[BackupInfo],
    policy: RetentionPolicy,
    system_identifier: str | None,
    now: datetime | None = None,
    own_databases: Iterable[str] = (),
) -> RetentionPlan:
    """The plan for the backups of the server `system_identifier` (those without a recorded one count as
    its own); the other servers' backups under the same database names (its backups' and own_databases)
    are counted, never judged."""
    server = backups_for_server(backups, system_identifier, own_databases)
    plan = RetentionPlan(plan_retention(server.backups, policy, now), system_identifier, server.other_servers)
    plan.notes.extend(other.note(OTHER_SERVER_NOT_PRUNED) for other in server.other_servers)
    if system_identifier is None:
        plan.notes.append(
            "this server's system identifier is not readable (pg_control_system()): every server's backups "
            "are judged, each server's on their own"
        )
    elif server.unattributed_note:
        plan.notes.append(server.unattributed_note)
    return plan


def plan_store_retention(
    backups: list[BackupInfo], policy: RetentionPolicy, now: datetime | None = None
) -> RetentionPlan:
    """The plan for every server's backups, each series on its own, saying where several servers share a
    database name."""
    plan = RetentionPlan(plan_retention(backups, policy, now))
    for database, servers in sorted(known_servers(backups).items()):
        if len(servers) > 1:
            shown = ", ".join(sorted(servers))
            plan.notes.append(
                f"database {database!r} holds backups of {len(servers)} servers (system identifiers {shown}): "
                "each server's are judged on their own"
            )
    return plan


def _plan_one_database(
    newest_first: list[BackupInfo], policy: RetentionPolicy, now: datetime
) -> list[PruneDecision]:
    reasons: dict[str, list[str]] = {b.backup_id: [] for b in newest_first}
    # a complete backup whose archive is not the size its manifest recorded was damaged after the fact
    complete = [b for b in newest_first if b.complete and b.stored_size_matches]
    if policy.keep_last is not None:
        for b in complete[: policy.keep_last]:
            reasons[b.backup_id].append(f"last {policy.keep_last}")
    for tier, count in (
        ("daily", policy.keep_daily),
        ("weekly", policy.keep_weekly),
        ("monthly", policy.keep_monthly),
    ):
        if count is None:
            continue
        seen: list[tuple[int, ...]] = []
        for b in complete:
            period = _PERIODS[tier](b.taken_at)
            if period in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(period)
            reasons[b.backup_id].append(tier)
    if policy.keep_within_days is not None:
        for b in complete:
            if now - b.taken_at <= timedelta(days=policy.keep_within_days):
                reasons[b.backup_id].append(f"within {policy.keep_within_days} days")
    tested = [b for b in complete if b.restore_test_passed]
    if tested:
        reasons[tested[0].backup_id].append("newest backup that passed a restore test")
    if complete:
        reasons[complete[0].backup_id].append("newest complete backup")
    for b in newest_first:
        if b.manifest is None and MANIFEST_NAME in b.objects:
            # a store error (500, 403, throttling) or a damaged file: never delete what could not be judged
            why = b.problem or "it vanished while listing"
            reasons[b.backup_id].append(f"manifest not readable, kept unjudged ({why})")
        elif not b.complete and now - b.taken_at < policy.incomplete_grace:
            reasons[b.backup_id].append("incomplete but recent (may still be running)")
    return [PruneDecision(b, bool(reasons[b.backup_id]), reasons[b.backup_id]) for b in newest_first]


def prune_backups(storage: Storage, decisions: list[PruneDecision], *, dry_run: bool) -> list[PruneDecision]:
    """Delete every object of the backups marked delete (manifest first, so a half-deleted backup reads
    as incomplete, never as good); returns the deleted ones."""
    deleted = []
    for decision in decisions:
        if decision.keep:
            continue
        if not dry_run:
            names = sorted(decision.backup.objects, key=lambda n: n != "manifest.json")
            for name in names:
                storage.delete(decision.backup.key(name))
        deleted.append(decision)
    return deleted
