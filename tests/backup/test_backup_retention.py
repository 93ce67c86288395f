"""Retention: count, age and daily/weekly/monthly tiers; the newest restore-tested backup survives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pgdba.backup import list_backups, run_backup
from pgdba.backup.manifest import BackupInfo, Manifest
from pgdba.backup.retention import MAX_KEEP_COUNT, MAX_KEEP_WITHIN_DAYS, RetentionPolicy, plan_retention
from pgdba.cli import main
from pgdba.errors import InputError

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _backup(when: datetime, *, complete: bool = True, tested: bool | None = None) -> BackupInfo:
    backup_id = when.strftime("%Y%m%dT%H%M%S.%fZ")
    manifest = Manifest(
        backup_id,
        "app",
        "h:5432/app",
        "15.8",
        150008,
        "pg_dump 15",
        when,
        when,
        f"app/{backup_id}/dump.pgdump",
        1,
        "0" * 64,
    )
    return BackupInfo(
        "app",
        backup_id,
        {"dump.pgdump": 1, **({"manifest.json": 1} if complete else {})},
        manifest if complete else None,
        None if tested is None else {"passed": tested},
    )


def _kept(decisions) -> list[str]:  # type: ignore[no-untyped-def]
    return [d.backup.taken_at.strftime("%m-%d %H") for d in decisions if d.keep]


def test_daily_weekly_monthly_tiers_keep_the_newest_of_each_period():
    # two backups a day for 90 days
    backups = [_backup(NOW - timedelta(hours=12 * i)) for i in range(180)]
    decisions = plan_retention(backups, RetentionPolicy(keep_daily=3, keep_weekly=2, keep_monthly=3), NOW)
    kept = _kept(decisions)
    # daily: 28th 12h, 27th 12h, 26th 12h; weekly: this ISO week's newest (28th) and last week's (22nd);
    # monthly: November (28th), October 31st, September 30th
    assert kept == ["11-28 12", "11-27 12", "11-26 12", "11-22 12", "10-31 12", "09-30 12"]
    reasons = {d.backup.taken_at.strftime("%m-%d %H"): d.reasons for d in decisions if d.keep}
    assert reasons["10-31 12"] == ["monthly"]
    assert "weekly" in reasons["11-22 12"]


def test_newest_backup_that_passed_a_restore_test_is_never_deleted():
    backups = [
        _backup(NOW - timedelta(days=10), tested=True),
        _backup(NOW - timedelta(days=5), tested=False),
        _backup(NOW - timedelta(days=1)),
        _backup(NOW),
    ]
    decisions = plan_retention(backups, RetentionPolicy(keep_last=2), NOW)
    by_day = {d.backup.taken_at.day: d for d in decisions}
    assert by_day[18].keep and by_day[18].reasons == ["newest backup that passed a restore test"]
    assert not by_day[23].keep
    assert by_day[27].keep and by_day[28].keep


def test_incomplete_backups_go_after_the_grace_period_and_age_rule():
    backups = [
        _backup(NOW - timedelta(days=3), complete=False),
        _backup(NOW - timedelta(hours=1), complete=False),
        _backup(NOW - timedelta(days=40)),
        _backup(NOW - timedelta(days=2)),
    ]
    decisions = plan_retention(backups, RetentionPolicy(keep_within_days=30), NOW)
    actions = {(d.backup.taken_at, d.backup.status): d.keep for d in decisions}
    assert actions == {
        (NOW - timedelta(hours=1), "incomplete"): True,
        (NOW - timedelta(days=2), "complete"): True,
        (NOW - timedelta(days=3), "incomplete"): False,
        (NOW - timedelta(days=40), "complete"): False,
    }


def test_no_rule_is_refused_rather_than_deleting_everything():
    with pytest.raises(InputError, match="no retention rule"):
        plan_retention([_backup(NOW)], RetentionPolicy(), NOW)


@pytest.mark.parametrize(
    ("rule", "limit"),
    [
        ("keep_last", MAX_KEEP_COUNT),
        ("keep_daily", MAX_KEEP_COUNT),
        ("keep_weekly", MAX_KEEP_COUNT),
        ("keep_monthly", MAX_KEEP_COUNT),
        ("keep_within_days", MAX_KEEP_WITHIN_DAYS),
    ],
)
def test_every_keep_rule_takes_one_up_to_its_limit(rule, limit):
    option = "--" + rule.replace("_", "-")
    with pytest.raises(InputError, match=f"^{option} takes 1 to {limit}: 0 would keep no backup"):
        RetentionPolicy(**{rule: 0})
    for wrong in (-1, limit + 1):
        with pytest.raises(InputError, match=f"^{option} takes 1 to {limit}, not {wrong}$"):
            RetentionPolicy(**{rule: wrong})
    decisions = plan_retention([_backup(NOW)], RetentionPolicy(**{rule: limit}), NOW)
    assert [d.keep for d in decisions] == [True]


def test_prune_dry_run_deletes_nothing_and_real_run_keeps_the_tested_backup(db, file_storage, capsys):
    tested, middle, newest = (run_backup(db.target, file_storage, include_globals=False) for _ in range(3))
    record = file_storage.root / tested.database / tested.backup_id / "restore-test.json"
    record.write_text(json.dumps({"passed": True}))
    url = str(file_storage.root)
    assert (
        main(["backup", "prune", "--storage", url, "--keep-last", "1", "--dry-run", "--format", "json"]) == 0
    )
    plan = {b["backup_id"]: b["action"] for b in json.loads(capsys.readouterr().out)["backups"]}
    assert plan == {tested.backup_id: "keep", middle.backup_id: "would delete", newest.backup_id: "keep"}
    assert len(list_backups(file_storage)) == 3
    assert main(["backup", "prune", "--storage", url, "--keep-last", "1"]) == 0
    assert [b.backup_id for b in list_backups(file_storage)] == [tested.backup_id, newest.backup_id]
    assert not (file_storage.root / middle.database / middle.backup_id).exists()
