"""Text files: reading those users hand pgdba (query, schema and rule files), writing its reports (--out)
so that a failure never leaves a half-written file."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from pgdba.errors import InputError


def read_text_file(path: Path, what: str) -> str:
    """The file's text, UTF-8 (a BOM is dropped); a missing, unreadable or non-UTF-8 file is an InputError
    naming `what` it is (e.g. "--queries file") and the path."""
    with byte_lines(path, what) as lines:
        return utf8_text(lines.read(), path, what)


def utf8_text(data: bytes, path: Path, what: str) -> str:
    """`data` (a file's) as UTF-8 text, a BOM dropped; an InputError naming the first byte that is not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {path} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})"
        ) from None


@contextlib.contextmanager
def byte_lines(path: Path, what: str) -> Iterator[BinaryIO]:
    """The file open for reading, once (a pipe, `<(zcat postgresql.log.gz)`, cannot be read twice), line by
    line for a file too large to read whole; a missing or unreadable file is an InputError naming `what`
    it is and the path."""
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed below)
    except IsADirectoryError:
        raise InputError(f"cannot read {what} {path}: it is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    with file:
        yield file


def lenient_lines(lines: Iterable[bytes]) -> Iterator[str]:
    """Lines of a file as UTF-8, a BOM at its start dropped, a byte that is not UTF-8 read as U+FFFD (a
    server's log holds the statements of its databases in other encodings too)."""
    first = True
    for line in lines:
        text = line.decode("utf-8", errors="replace")
        if first:
            text, first = text.removeprefix("\ufeff"), False
        yield text


def _output_path(path: Path, what: str) -> Path:
    """Where an --out really goes: a symlink is followed (the link stays, its target is written); an
    empty name is an InputError."""
    if not str(path) or not Path(path).name:
        raise InputError(f"{what}: an empty file name")
    return Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)


def _is_special(path: Path) -> bool:
    """A FIFO, a device or a socket (e.g. /dev/stdout): written in place, never replaced."""
    return path.exists() and not path.is_file() and not path.is_dir()


def check_writable(path: Path, what: str) -> None:
    """InputError unless the file can be written: an existing FIFO or device must be writable; otherwise
    its directory must exist and take a new file (checked by creating and removing one there, so
    read-only mounts and root count right)."""
    real = _output_path(path, what)
    if real.is_dir():
        raise InputError(f"cannot write {what} {path}: it is a directory")
    if _is_special(real):
        if not os.access(real, os.W_OK):
            raise InputError(f"cannot write {what} {path}: permission denied")
        return
    directory = real.parent
    if not directory.is_dir():
        raise InputError(f"cannot write {what} {path}: directory {directory} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=f".{real.name}.", suffix=".check"):
            pass
    except OSError as exc:
        raise InputError(f"cannot write {what} {path}: {exc.strerror or exc}") from None


def write_text_atomically(path: Path, text: str, what: str) -> None:
    """Write text to a temporary file beside the file, then rename it over the file: never a half-written
    file. A symlink is followed and kept; an existing file keeps its mode (and owner, where allowed); a FIFO
    or device (/dev/stdout) is written in place."""
    real = _output_path(path, what)
    try:
        if _is_special(real):
            with open(real, "w", encoding="utf-8") as out:
                out.write(text)
            return
    except OSError as exc:
        raise InputError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    partial = real.with_name(f".{real.name}.{os.getpid()}.partial")
    try:
        with open(partial, "x", encoding="utf-8") as out:  # mode from the umask, as a plain write's
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        _keep_mode_and_owner(real, partial)
        os.replace(partial, real)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise InputError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _keep_mode_and_owner(existing: Path, replacement: Path) -> None:
    """The replacement of an existing file gets its permission bits, and its owner when we may set it."""
    try:
        status = existing.stat()
    except FileNotFoundError:
        return
    os.chmod(replacement, stat.S_IMODE(status.st_mode))
    if (status.st_uid, status.st_gid) != (os.geteuid(), os.getegid()):
        with contextlib.suppress(PermissionError):  # not root: ours, with the old permission bits
            os.chown(replacement, status.st_uid, status.st_gid)
