"""Correctness review of backups: retention must never act on what it could not read, and a restore
test must not fail a healthy backup."""

from __future__ import annotations

from datetime import timedelta

from pgdba.backup import list_backups, restore_test, run_backup, verify_backup
from pgdba.backup.retention import RetentionPolicy, plan_retention, prune_backups
from pgdba.backup.storage import S3Storage


def test_prune_keeps_backups_whose_manifest_the_store_failed_to_return(
    demo_db, s3_storage, faulty_s3, bucket
):
    """A 500/403 on GET manifest.json says nothing about the backup: pruning must not delete it."""
    older = run_backup(demo_db.target, s3_storage, include_globals=False)
    newer = run_backup(demo_db.target, s3_storage, include_globals=False)
    faulty_s3.fail_when = lambda r: r.method == "GET" and r.path.endswith("/manifest.json")
    flaky = S3Storage(bucket, "pg/prod", endpoint_url=faulty_s3.endpoint, region="us-east-1", max_attempts=1)
    listed = list_backups(flaky)
    two_days_later = max(b.taken_at for b in listed) + timedelta(days=2)
    decisions = plan_retention(listed, RetentionPolicy(keep_last=7), two_days_later)
    prune_backups(flaky, decisions, dry_run=False)
    assert faulty_s3.failed
    problem = verify_backup(flaky, listed[0]).problems[0]
    assert problem.startswith("cannot read s3://") and "manifest.json" in problem  # not "never finished"
    assert all(d.keep for d in decisions), [(d.backup.backup_id, d.reasons) for d in decisions]
    assert [(b.backup_id, b.status) for b in list_backups(s3_storage)] == [
        (older.backup_id, "complete"),
        (newer.backup_id, "complete"),
    ]


def test_restore_test_of_a_table_emptied_before_the_dump_passes(db, file_storage):
    """DELETE of every row leaves reltuples at the old count until (auto)vacuum/analyze: a dump taken in
    between holds an empty table, which is what the source had, not a failed restore."""
    db.execute(
        "CREATE TABLE job_queue (id bigint, payload text) WITH (autovacuum_enabled = off);"
        "INSERT INTO job_queue SELECT g, 'x' FROM generate_series(1, 5000) AS g;"
        "ANALYZE job_queue;"
    )
    with db.connect() as conn:
        conn.execute("DELETE FROM job_queue")
        conn.execute("SELECT pg_stat_force_next_flush()")  # the counters reach shared stats before idle
    manifest = run_backup(db.target, file_storage, include_globals=False)
    (queue,) = [t for t in manifest.tables if t.name == "job_queue"]
    assert queue.row_estimate == 5000  # the planner still believes the old count
    (info,) = list_backups(file_storage)
    result = restore_test(file_storage, info, db.target)
    assert result.passed, result.to_dict()
    assert {t.table: t.restored_rows for t in result.tables}["public.job_queue"] == 0
    rows = next(c for c in result.checks if c.name == "rows.estimate")
    assert rows.status == "warn" and "public.job_queue empty, ~5000 planned" in rows.detail
    assert "0 live and 5000 dead rows" in rows.detail


def test_prune_never_keeps_a_truncated_archive_in_place_of_the_last_intact_one(db, file_storage):
    """A dump cut short after its manifest was written (a sync tool, a full disk, a bad copy) is not the
    backup the manifest describes: it must not take the place of the newest intact backup."""
    intact = run_backup(db.target, file_storage, include_globals=False)
    damaged = run_backup(db.target, file_storage, include_globals=False)
    dump = file_storage.root / damaged.dump_key
    dump.write_bytes(dump.read_bytes()[: damaged.dump_size // 2])
    listed = list_backups(file_storage)
    size = damaged.dump_size
    assert listed[-1].problem == f"dump.pgdump is {size // 2} bytes, the manifest says {size}"
    decisions = {d.backup.backup_id: d for d in plan_retention(listed, RetentionPolicy(keep_last=1))}
    assert decisions[intact.backup_id].keep
    assert decisions[intact.backup_id].reasons == ["last 1", "newest complete backup"]
    assert not decisions[damaged.backup_id].keep
