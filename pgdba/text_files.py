"""Text files: reading those users hand pgdba (query, schema and rule files), writing its reports (--out)
so that a failure never leaves a half-written file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pgdba.errors import InputError


def read_text_file(path: Path, what: str) -> str:
    """The file's text, UTF-8 (a BOM is dropped); a missing, unreadable or non-UTF-8 file is an InputError
    naming `what` it is (e.g. "--queries file") and the path."""
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise InputError(f"cannot read {what} {path}: it is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {path} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})"
        ) from None


def check_writable(path: Path, what: str) -> None:
    """InputError unless a file can be created at path: its directory exists and takes a new file.

    Checked by creating (and removing) a file there, so read-only mounts and root count right."""
    if path.is_dir():
        raise InputError(f"cannot write {what} {path}: it is a directory")
    directory = path.parent
    if not directory.is_dir():
        raise InputError(f"cannot write {what} {path}: directory {directory} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=f".{path.name}.", suffix=".check"):
            pass
    except OSError as exc:
        raise InputError(f"cannot write {what} {path}: {exc.strerror or exc}") from None


def write_text_atomically(path: Path, text: str, what: str) -> None:
    """Write text to a temporary file beside path, then rename it over path: never a half-written file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "x", encoding="utf-8") as out:  # mode from the umask, as a plain write's
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise InputError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
