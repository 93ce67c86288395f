"""The matrix's PostgreSQL builds: pinned per major, cached, and covering every major pgdba calls tested."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from pgdba.server import TESTED_MAJORS

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "pg-binaries.sh"


def _run_script(*majors: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *majors],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_matrix_and_default_build_cover_exactly_the_tested_majors() -> None:
    makefile = (REPO / "Makefile").read_text()
    match = re.search(r"^MATRIX_MAJORS \?= (.+)$", makefile, re.MULTILINE)
    assert match is not None
    matrix = {int(m) for m in match.group(1).split()}
    pinned = set(re.findall(r"\[(\d+)\]=", SCRIPT.read_text()))
    assert matrix | {15} == set(TESTED_MAJORS)
    assert matrix <= {int(m) for m in pinned}


def test_unknown_major_is_refused_with_the_known_ones() -> None:
    result = _run_script("12")
    assert result.returncode == 2
    assert "no pinned build for PostgreSQL 12" in result.stderr
    assert result.stdout == ""


@pytest.mark.catalog
def test_cached_build_is_reused_without_downloading() -> None:
    pg_bin = os.environ.get("PGDBA_PG_BIN")
    if not pg_bin or Path(pg_bin).parents[1].name != "pg":
        pytest.skip("the server under test is not a cached PyPI build (PGDBA_PG_BIN unset)")
    build = Path(pg_bin).parent
    # PYTHON=false: any attempt to download would fail the run
    result = _run_script(build.name, env={"PGDBA_PG_CACHE": str(build.parent), "PYTHON": "false"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == pg_bin
    assert (build / ".version").read_text().strip().startswith(f"{build.name}.")
