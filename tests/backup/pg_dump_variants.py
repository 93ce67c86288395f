"""A real pg_dump run with extra options, as a bin directory pgdba can be given (PgTools): how a backup
ends up without some data (`--exclude-table-data` also drops a sequence's value, `--no-blobs` the large
objects) while pgdba's own facts about the source are still recorded."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from pgdba.backup.tools import PgTools, tool_version


def pg_dump_with_options(real: PgTools, bin_dir: Path, *options: str) -> PgTools:
    """`bin_dir` with a pg_dump that runs the real one with `options` added after pgdba's (pg_dump reads
    --version only as its first argument), and the real pg_restore and pg_dumpall beside it."""
    return _with_pg_dump_script(
        real, bin_dir, f'#!/bin/sh\nexec {shlex.quote(real.pg_dump)} "$@" {shlex.join(options)}\n'
    )


def pg_dump_output_altered(real: PgTools, bin_dir: Path, old: bytes, new: bytes) -> PgTools:
    """`bin_dir` with a pg_dump whose output has every `old` turned into `new` (same length) on its way to
    pgdba: an archive damaged before pgdba hashed it (a faulty pipe, memory, or a pg_dump bug), so its
    sha256 matches the manifest and pg_restore reads it without complaint."""
    assert len(old) == len(new)
    rewrite = f"import sys; sys.stdout.buffer.write(sys.stdin.buffer.read().replace({old!r}, {new!r}))"
    return _with_pg_dump_script(
        real,
        bin_dir,
        "#!/bin/bash\nset -o pipefail\n"
        f'{shlex.quote(real.pg_dump)} "$@" | {shlex.quote(sys.executable)} -c {shlex.quote(rewrite)}\n',
    )


def _with_pg_dump_script(real: PgTools, bin_dir: Path, script: str) -> PgTools:
    """`bin_dir` holding `script` as its pg_dump, and the real pg_restore and pg_dumpall beside it."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "pg_dump"
    wrapper.write_text(script)
    wrapper.chmod(0o755)
    for program in ("pg_restore", "pg_dumpall"):
        os.symlink(real.bin_dir / program, bin_dir / program)
    version = tool_version(wrapper)
    assert version is not None
    return PgTools(bin_dir, *version)
