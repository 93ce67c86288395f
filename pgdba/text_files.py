"""Reading the text files users hand pgdba (query files, schema files, rule files, configs)."""

from __future__ import annotations

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
