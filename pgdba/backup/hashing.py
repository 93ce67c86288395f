"""A reader that hashes and counts the bytes passing through it (dumps are hashed while they stream)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import IO

from pgdba.backup.storage import READ_CHUNK

Progress = Callable[[int], None]


class HashingReader:
    """A file-like reader over a stream that hashes and counts what passes through it."""

    def __init__(self, stream: IO[bytes], progress: Progress | None = None) -> None:
        self.stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        if chunk:
            self.sha256.update(chunk)
            self.size += len(chunk)
            if self.progress is not None:
                self.progress(self.size)
        return chunk

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        """Read (and hash) whatever the consumer left unread."""
        while self.read(READ_CHUNK):
            pass
