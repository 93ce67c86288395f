"""Writing the bench's report files (--out JSON, --chart SVG): checked before the run, replaced atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pgdba.errors import InputError


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
