"""Feeding a stored archive to pg_restore while hashing it: one read of the object proves both that its
bytes are the ones pg_dump wrote (sha256) and that pg_restore can read all of it.

`pg_restore -l` only reads the table of contents and exits 0 on a truncated archive; reading every data
block (`-f /dev/null`, or a real restore) is what finds the damage.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pgdba.backup.directory import fetch_directory_archive, work_folder
from pgdba.backup.encryption import decrypt_argv
from pgdba.backup.manifest import Manifest
from pgdba.backup.storage import READ_CHUNK, Storage


@dataclass
class ArchiveRead:
    sha256: str
    size: int
    returncode: int
    errors: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def restore_ok(self) -> bool:
        return self.returncode == 0 and not self.errors


def pipe_archive(
    storage: Storage,
    key: str,
    argv: list[str],
    env: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    decrypt: list[str] | None = None,
    *,
    whole: bool = True,
) -> ArchiveRead:
    """Stream the object into `argv` (a pg_restore reading stdin), through `decrypt` (age -d) when given;
    the hash covers the whole stored object even when pg_restore stops early, unless whole=False: then
    reading stops with pg_restore (the hash and size are of what was read)."""
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(prefix="pgdba-pg_restore-", suffix=".err") as errfile:
        chain: list[subprocess.Popen[bytes]] = []
        if decrypt:
            chain.append(
                subprocess.Popen(decrypt, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errfile)
            )
            feeds = chain[0].stdout
        else:
            feeds = subprocess.PIPE  # type: ignore[assignment]
        chain.append(subprocess.Popen(argv, stdin=feeds, stdout=subprocess.DEVNULL, stderr=errfile, env=env))
        if decrypt and chain[0].stdout is not None:
            chain[0].stdout.close()  # pg_restore holds it now; age gets SIGPIPE if pg_restore quits
        sink = chain[0].stdin
        assert sink is not None
        sink_open = True
        try:
            with storage.open_read(key) as body:
                while chunk := body.read(READ_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    if progress is not None:
                        progress(size)
                    if sink_open:
                        try:
                            sink.write(chunk)
                        except BrokenPipeError:
                            sink_open = False  # the reader gave up; keep hashing
                    if not sink_open and not whole:
                        break
        except BaseException:
            for proc in chain:
                proc.kill()
                proc.wait()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                sink.close()
        codes = [proc.wait() for proc in chain]
        if decrypt and codes[-1] == 0 and codes[0] == -signal.SIGPIPE:
            # pg_restore had all it wanted (`--list` reads only the table of contents) and closed its
            # input: age, still writing, got SIGPIPE. The hash of the whole stored object still stands.
            codes[0] = 0
        with open(errfile.name, encoding="utf-8", errors="replace") as handle:
            lines = [line.rstrip() for line in handle if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    code = next((c for c in reversed(codes) if c != 0), 0)
    return ArchiveRead(digest.hexdigest(), size, code, errors, lines)


def read_archive(
    storage: Storage,
    manifest: Manifest,
    argv: list[str],
    env: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    age_identity: Path | None = None,
) -> ArchiveRead:
    """Give the backup's archive to `argv` (pg_restore): piped for the custom format, unpacked to a work
    folder for the directory format (whose pg_restore may then use --jobs)."""
    if manifest.encryption == "age":
        decrypt = decrypt_argv(age_identity)
        return pipe_archive(storage, manifest.dump_key, argv, env, progress, decrypt)
    if manifest.dump_format != "directory":
        return pipe_archive(storage, manifest.dump_key, argv, env, progress)
    with work_folder("pgdba-restore-") as tmp:
        sha256, size, error = fetch_directory_archive(storage, manifest.dump_key, Path(tmp), progress)
        if error is not None:
            return ArchiveRead(sha256, size, 1, [f"error: the directory archive cannot be unpacked: {error}"])
        out = subprocess.run([*argv, tmp], capture_output=True, env=env)
    lines = [line.rstrip() for line in out.stderr.decode(errors="replace").splitlines() if line.strip()]
    return ArchiveRead(
        sha256, size, out.returncode, [line for line in lines if "error" in line.lower()], lines
    )


def read_table_of_contents(
    storage: Storage,
    manifest: Manifest,
    pg_restore: str,
    env: dict[str, str] | None = None,
    age_identity: Path | None = None,
) -> str | None:
    """`pg_restore --list` of a custom-format archive, reading only as far as its table of contents (the
    start of the object); None for a directory-format one (its toc.dat comes last in the stored tar) or
    when pg_restore cannot read it."""
    if manifest.dump_format == "directory":
        return None
    decrypt = decrypt_argv(age_identity) if manifest.encryption == "age" else None
    with tempfile.TemporaryDirectory(prefix="pgdba-toc-") as tmp:
        listing = Path(tmp) / "list.txt"
        argv = [pg_restore, "--list", f"--file={listing}"]
        read = pipe_archive(storage, manifest.dump_key, argv, env, None, decrypt, whole=False)
        if not read.restore_ok or not listing.exists():
            return None
        return listing.read_text(encoding="utf-8", errors="replace")
