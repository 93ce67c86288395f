"""Where backups live: a folder (file:///path) or an S3-compatible bucket (s3://bucket/prefix).

Both stores take a stream (pg_dump's stdout) without a full local copy, and both make a half-written
object invisible or removed on failure: the folder writes to NAME.partial and renames at the end; S3
multipart uploads are aborted by s3transfer, and a completed object whose dump failed is deleted.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

from pgdba.errors import InputError, PgdbaError
from pgdba.target import mask_password

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024 * 1024
# S3 and R2: at most 10 000 parts; parts of 5 MiB .. 5 GiB (R2: equal sizes except the last).
MAX_PARTS = 10_000
MIN_PART_SIZE = 8 * MIB
MAX_PART_SIZE = 5 * 1024 * MIB
READ_CHUNK = 1 * MIB


class StorageError(PgdbaError):
    """The backup store could not be read or written."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


class Storage(Protocol):
    """What the backup code needs from a store; keys are '/'-separated paths below the store's root."""

    url: str

    def upload_stream(self, key: str, stream: IO[bytes], expected_size: int) -> None: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def open_read(self, key: str) -> contextlib.AbstractContextManager[IO[bytes]]: ...

    def list_objects(self, prefix: str = "") -> list[StoredObject]: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


def part_size_for(expected_size: int) -> int:
    """A multipart chunk size so that twice the expected size still fits in MAX_PARTS parts (whole MiB)."""
    needed = math.ceil(max(expected_size, 0) * 2 / MAX_PARTS)
    size = max(MIN_PART_SIZE, math.ceil(needed / MIB) * MIB)
    return min(size, MAX_PART_SIZE)


class FileStorage:
    """Backups in a local folder (or a mounted volume)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"file://{root}"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise InputError(f"key {key!r} leaves the backup folder")
        return path

    def upload_stream(self, key: str, stream: IO[bytes], expected_size: int) -> None:
        path = self._path(key)
        partial = path.with_name(path.name + ".partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as out:
                while chunk := stream.read(READ_CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StorageError(f"cannot write {partial}: {exc.strerror or exc}") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, path)

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = path.with_name(path.name + ".partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read {self._path(key)}: {exc.strerror or exc}") from None

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed below, after the caller's block
        except OSError as exc:
            raise StorageError(f"cannot read {self._path(key)}: {exc.strerror or exc}") from None
        with handle:
            yield handle

    def list_objects(self, prefix: str = "") -> list[StoredObject]:
        base = self.root / prefix if prefix else self.root
        if base.resolve() != self.root.resolve() and self.root.resolve() not in base.resolve().parents:
            raise InputError(f"prefix {prefix!r} leaves the backup folder")
        if not base.exists():
            return []
        found = []
        for path in sorted(base.rglob("*")):
            if path.is_file():
                found.append(StoredObject(path.relative_to(self.root).as_posix(), path.stat().st_size))
        return found

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        # remove the backup's folder once it is empty, so listings do not show ghosts
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def s3_client_config(max_attempts: int = 5) -> Any:
    """botocore Config that R2 and other S3-compatible stores accept.

    boto3 >= 1.36 sends CRC checksums on every upload by default; R2 and MinIO-class stores reject
    them, so checksums are only sent/validated when an operation requires them. pgdba keeps its own
    sha256 in the manifest instead (multipart ETags are not an MD5 of the object anyway).
    """
    from botocore.config import Config

    return Config(
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        s3={"addressing_style": "path"},
    )


class S3Storage:
    """Backups in an S3-compatible bucket (AWS S3, Cloudflare R2 via --endpoint-url, MinIO, …)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        max_attempts: int = 5,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.config = s3_client_config(max_attempts)
        self.client = _s3_client(endpoint_url, region, profile, self.config)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, action: str, key: str, exc: Exception) -> StorageError:
        return StorageError(f"cannot {action} s3://{self.bucket}/{self._key(key)}: {_s3_reason(exc)}")

    def upload_stream(self, key: str, stream: IO[bytes], expected_size: int) -> None:
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError
        from s3transfer.exceptions import S3UploadFailedError

        part = part_size_for(expected_size)
        transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=2)
        try:
            self.client.upload_fileobj(stream, self.bucket, self._key(key), Config=transfer)
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise self._fail("upload", key, exc) from None

    def put_bytes(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("write", key, exc) from None

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as body:
            return body.read()

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("read", key, exc) from None
        try:
            yield body  # type: ignore[misc]  # StreamingBody reads like a binary file
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("read", key, exc) from None
        finally:
            body.close()

    def list_objects(self, prefix: str = "") -> list[StoredObject]:
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(f"{self.prefix}/") if self.prefix else 0
        found: list[StoredObject] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            ):
                for item in page.get("Contents", []):
                    found.append(StoredObject(item["Key"][strip:], int(item["Size"])))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("list", prefix, exc) from None
        return sorted(found, key=lambda o: o.key)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail("stat", key, exc) from None
        except BotoCoreError as exc:
            raise self._fail("stat", key, exc) from None
        return True

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("delete", key, exc) from None


def _s3_client(endpoint_url: str | None, region: str | None, profile: str | None, config: Any) -> S3Client:
    """A boto3 S3 client; settings boto3 rejects while building it (a malformed endpoint or region, an
    unknown profile, an unreadable AWS config file) are the user's input, so they become an InputError."""
    import boto3
    from botocore.exceptions import BotoCoreError, InvalidRegionError, ProfileNotFound

    try:
        session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
        return session.client("s3", endpoint_url=endpoint_url, region_name=region or None, config=config)
    except ProfileNotFound as exc:
        raise InputError(_unknown_profile_message(profile, exc)) from None
    except InvalidRegionError as exc:
        raise InputError(_invalid_region_message(region, exc)) from None
    except BotoCoreError as exc:
        raise InputError(
            f"cannot set up the S3 client: {mask_password(_s3_reason(exc))} "
            "(check --profile, --region and the AWS configuration files)"
        ) from None
    except ValueError as exc:  # botocore's "Invalid endpoint: URL" is a bare ValueError
        raise InputError(_invalid_endpoint_message(endpoint_url, exc)) from None


def _unknown_profile_message(profile: str | None, exc: Exception) -> str:
    if profile:
        return f"--profile {profile!r}: no such profile in the AWS configuration files (~/.aws/config)"
    return f"the AWS profile from AWS_PROFILE does not exist: {_s3_reason(exc)}"


def _invalid_region_message(region: str | None, exc: Exception) -> str:
    if region:
        return f"--region {region!r} is not a valid region name (e.g. us-east-1; auto for R2)"
    return f"the S3 region from AWS_DEFAULT_REGION or the AWS profile is not valid: {_s3_reason(exc)}"


def _invalid_endpoint_message(endpoint_url: str | None, exc: Exception) -> str:
    if endpoint_url:
        return (
            f"--endpoint-url {mask_password(endpoint_url)!r} (or PGDBA_S3_ENDPOINT_URL, AWS_ENDPOINT_URL) "
            "is not a valid URL: use https://host[:port]"
        )
    return f"the S3 endpoint from the AWS configuration is not valid: {mask_password(_s3_reason(exc))}"


def _s3_reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def require_existing_folder(storage: Storage) -> None:
    """A folder store that is read must exist: a missing one is a mistyped path, not an empty store (only
    `backup run` creates it; an S3 bucket is checked when it is listed)."""
    if isinstance(storage, FileStorage) and not storage.root.is_dir():
        raise InputError(
            f"backup storage {storage.url}: {storage.root} is not an existing folder "
            "(check --storage or PGDBA_BACKUP_STORAGE; pgdba backup run creates it)"
        )


def open_storage(
    url: str | None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    max_attempts: int = 5,
) -> Storage:
    """A store from `--storage URL` (else PGDBA_BACKUP_STORAGE): file:///path, a plain path, or s3://bucket/prefix."""
    location = url or os.environ.get("PGDBA_BACKUP_STORAGE") or ""
    if not location:
        raise InputError("no backup storage given: pass --storage file:///path or s3://bucket/prefix")
    parsed = urlparse(location)
    if parsed.scheme == "s3":
        if "@" in parsed.netloc:
            raise InputError(
                f"--storage {_without_userinfo(location)!r}: an s3:// URL must not carry credentials "
                "(user:password@); use --profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        if not parsed.netloc:
            raise InputError(f"--storage {location!r} has no bucket: use s3://bucket/prefix")
        endpoint = (
            endpoint_url or os.environ.get("PGDBA_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
        )
        return S3Storage(
            parsed.netloc,
            unquote(parsed.path),
            endpoint_url=endpoint,
            region=region,
            profile=profile,
            max_attempts=max_attempts,
        )
    if parsed.scheme == "file":
        if parsed.netloc or not parsed.path.startswith("/"):
            raise InputError(
                f"--storage {_without_userinfo(location)!r}: a folder URL is file:///absolute/path "
                "(three slashes)"
            )
        return FileStorage(Path(unquote(parsed.path)))
    if parsed.scheme == "":
        return FileStorage(Path(location).absolute())
    raise InputError(
        f"unsupported --storage scheme {parsed.scheme!r}: use file:///path or s3://bucket/prefix"
    )


def _without_userinfo(location: str) -> str:
    """The URL to show in a message: a `user:password@` part is dropped, so a secret is never echoed."""
    userinfo, at, _host = urlparse(location).netloc.rpartition("@")
    return location.replace(f"{userinfo}{at}", "", 1) if at else location
