"""S3 storage against moto's server on 127.0.0.1: streaming, failures mid-upload, an endpoint that is
down, and the client settings Cloudflare R2 needs."""

from __future__ import annotations

import socket

import boto3
import pytest

from pgdba.backup import BackupFailed, find_backup, list_backups, restore_test, run_backup, verify_backup
from pgdba.backup.storage import MIB, S3Storage, open_storage, part_size_for


def test_s3_client_sends_checksums_only_when_required_for_r2():
    storage = S3Storage("any", endpoint_url="https://account.r2.cloudflarestorage.com", region="auto")
    config = storage.client.meta.config
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.s3 == {"addressing_style": "path"}


def test_upload_requests_carry_no_default_checksum_headers(big_db, faulty_s3, bucket):
    """moto accepts boto3's default CRC checksums, R2 does not: check the wire, not only the Config."""
    storage = S3Storage(bucket, "pg", endpoint_url=faulty_s3.endpoint, region="us-east-1")
    run_backup(big_db.target, storage, include_globals=False, compress=0)
    uploads = [r for r in faulty_s3.seen if r.method == "PUT"]
    assert any("partNumber" in r.query for r in uploads)  # multipart happened
    for request in uploads:
        assert not [h for h in request.headers if h.startswith("x-amz-checksum") or "sdk-checksum" in h]


def test_backup_to_s3_streams_verifies_and_restore_tests(demo_db, s3_storage, moto_endpoint, bucket):
    manifest = run_backup(demo_db.target, s3_storage, exact=True)
    keys = {
        o["Key"]
        for o in boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").list_objects_v2(
            Bucket=bucket
        )["Contents"]
    }
    prefix = f"pg/prod/{demo_db.name}/{manifest.backup_id}"
    assert keys == {f"{prefix}/dump.pgdump", f"{prefix}/globals.sql", f"{prefix}/manifest.json"}
    info = find_backup(s3_storage, None, None)
    assert verify_backup(s3_storage, info).ok
    result = restore_test(s3_storage, info, demo_db.target)
    assert result.passed, result.to_dict()


def test_upload_failing_mid_way_retries_then_fails_cleanly(big_db, s3_storage, faulty_s3, bucket):
    good = run_backup(big_db.target, s3_storage, include_globals=False)
    faulty_s3.fail_when = lambda r: r.method == "PUT" and r.query.get("partNumber") == ["2"]
    through_proxy = S3Storage(
        bucket, "pg/prod", endpoint_url=faulty_s3.endpoint, region="us-east-1", max_attempts=3
    )
    with pytest.raises(BackupFailed, match="upload failed, backup discarded"):
        run_backup(big_db.target, through_proxy, include_globals=False, compress=0)
    assert len(faulty_s3.failed) == 3  # the failing part was retried, then given up
    assert any(r.method == "DELETE" and "uploadId" in r.query for r in faulty_s3.seen)  # multipart aborted
    backups = list_backups(s3_storage)
    assert [(b.backup_id, b.status) for b in backups] == [(good.backup_id, "complete")]
    assert verify_backup(s3_storage, backups[0]).ok


def test_endpoint_down_fails_cleanly_and_leaves_the_previous_backup(demo_db, s3_storage, bucket):
    good = run_backup(demo_db.target, s3_storage, include_globals=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    down = open_storage(
        f"s3://{bucket}/pg/prod",
        endpoint_url=f"http://127.0.0.1:{dead_port}",
        region="us-east-1",
        max_attempts=2,
    )
    with pytest.raises(BackupFailed, match=r"upload failed.*Could not connect"):
        run_backup(demo_db.target, down, include_globals=False)
    assert [(b.backup_id, b.status) for b in list_backups(s3_storage)] == [(good.backup_id, "complete")]


def test_part_size_keeps_large_dumps_within_the_part_limit():
    assert part_size_for(0) == 8 * MIB
    assert part_size_for(10 * 1024 * MIB) == 8 * MIB
    one_tib = 1024 * 1024 * MIB
    size = part_size_for(one_tib)
    assert size % MIB == 0 and 2 * one_tib / size <= 10_000
    assert part_size_for(100 * one_tib) == 5 * 1024 * MIB


def test_dump_killed_midway_on_s3_leaves_no_object_and_no_manifest(
    big_db, s3_storage, moto_endpoint, bucket, pg_dump_killer
):
    with pytest.raises(BackupFailed, match=r"pg_dump failed \(exit -9\)"):
        run_backup(
            big_db.target, s3_storage, include_globals=False, compress=0, progress=pg_dump_killer.progress
        )
    assert len(pg_dump_killer.killed) == 1
    listing = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").list_objects_v2(
        Bucket=bucket
    )
    assert listing.get("KeyCount") == 0


def test_manifest_write_failing_discards_the_dump(demo_db, faulty_s3, bucket, moto_endpoint):
    faulty_s3.fail_when = lambda r: r.method == "PUT" and r.path.endswith("/manifest.json")
    through_proxy = S3Storage(
        bucket, "pg", endpoint_url=faulty_s3.endpoint, region="us-east-1", max_attempts=2
    )
    with pytest.raises(BackupFailed, match="writing the manifest failed, backup discarded"):
        run_backup(demo_db.target, through_proxy)
    listing = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").list_objects_v2(
        Bucket=bucket
    )
    assert listing.get("KeyCount") == 0
