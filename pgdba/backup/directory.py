"""Directory-format dumps (`pg_dump -Fd --jobs N`): dumped in parallel to a local work folder, stored as
one uncompressed tar stream (the files inside are already compressed), and unpacked to a work folder
again before pg_restore reads them (with --jobs too). This needs local disk for one copy of the dump;
the custom format needs none."""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from pgdba.backup.hashing import HashingReader
from pgdba.backup.storage import Storage


def dump_directory(argv: list[str], env: dict[str, str], work_dir: Path) -> tuple[int, str]:
    """Run pg_dump -Fd into work_dir/dump; (exit code, stderr)."""
    out = subprocess.run([*argv, f"--file={work_dir / 'dump'}"], capture_output=True, env=env)
    return out.returncode, out.stderr.decode(errors="replace")


def upload_directory_as_tar(
    storage: Storage,
    key: str,
    folder: Path,
    expected_size: int,
    reader_factory: Callable[[IO[bytes]], IO[bytes]],
) -> None:
    """Stream a tar of `folder` into the store through `reader_factory` (which hashes), no tar file on disk."""
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def write_tar() -> None:
        try:
            with os.fdopen(write_fd, "wb") as pipe, tarfile.open(fileobj=pipe, mode="w|") as tar:
                for path in sorted(folder.iterdir()):
                    tar.add(path, arcname=path.name)
        except BaseException as exc:  # surfaced below; a broken pipe means the upload side gave up
            failure.append(exc)

    writer = threading.Thread(target=write_tar, daemon=True)
    writer.start()
    with os.fdopen(read_fd, "rb") as pipe:
        try:
            storage.upload_stream(key, reader_factory(pipe), expected_size)
        finally:
            pipe.close()
            writer.join()
    if failure and not isinstance(failure[0], BrokenPipeError):
        raise failure[0]


def fetch_directory_archive(
    storage: Storage, key: str, into: Path, progress: Callable[[int], None] | None = None
) -> tuple[str, int, str | None]:
    """Unpack the stored tar into `into` (safe extraction: no paths outside it); (sha256, size, error)
    of the whole object, error being why the tar could not be unpacked (None when it could)."""
    error: str | None = None
    with storage.open_read(key) as body:
        stream = HashingReader(body, progress)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
                tar.extractall(into, filter="data")
        except (tarfile.TarError, EOFError, OSError) as exc:
            error = str(exc) or type(exc).__name__
        stream.drain()
    return stream.sha256.hexdigest(), stream.size, error


def work_folder(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A private scratch folder under PGDBA_WORK_DIR (else the system temp dir) for directory dumps."""
    return tempfile.TemporaryDirectory(prefix=prefix, dir=os.environ.get("PGDBA_WORK_DIR") or None)
