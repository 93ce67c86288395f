"""The --out writer keeps what the user pointed at: a symlink stays a symlink, a file keeps its mode and
owner, a FIFO is written in place; and the readers name bad files."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from pgdba.errors import InputError
from pgdba.text_files import check_writable, read_text_file, write_text_atomically


def test_a_symlinked_out_file_writes_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "rules.yml"
    target.write_text("original\n")
    link = tmp_path / "link.yml"
    link.symlink_to(target)
    check_writable(link, "--out file")
    write_text_atomically(link, "new\n", "--out file")
    assert link.is_symlink() and target.read_text() == "new\n"


def test_an_existing_file_keeps_its_mode_and_owner(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text("old\n")
    os.chmod(report, 0o600)
    if os.geteuid() == 0:  # root may give the file away: the replacement must get it back
        os.chown(report, 65534, 65534)
    before = report.stat()
    write_text_atomically(report, "new\n", "--out file")
    after = report.stat()
    assert report.read_text() == "new\n"
    assert stat.S_IMODE(after.st_mode) == 0o600
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]  # no temporary file left


def test_a_fifo_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    check_writable(fifo, "--out file")
    write_text_atomically(fifo, "through the pipe\n", "--out file")
    reader.join(timeout=10)
    assert received == ["through the pipe\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_an_empty_out_name_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    empty = Path("")  # what a CLI option given '' becomes: Path("."), the same as "."
    with pytest.raises(InputError, match="--out file: an empty file name"):
        write_text_atomically(empty, "x", "--out file")
    with pytest.raises(InputError, match="an empty file name"):
        check_writable(empty, "--out file")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_utf8_is_named_with_the_offending_byte(tmp_path: Path) -> None:
    latin = tmp_path / "q.sql"
    latin.write_bytes("SELECT 'café';".encode("latin-1"))
    with pytest.raises(
        InputError, match=r"--queries file .*q\.sql is not UTF-8 text \(byte 0xe9 at offset 11\)"
    ):
        read_text_file(latin, "--queries file")
