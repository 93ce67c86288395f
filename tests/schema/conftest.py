"""Fixtures of the schema verifier's tests: the npm oracles (installed by scripts/npm-oracles.sh) and the
schema fixtures under tests/schema/fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from schema_test_paths import NPM_ORACLES, ROOT


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The oracle packages' node_modules; fails (never skips) when npm cannot provide them."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail(
            "the schema oracle tests need node and npm (apt-get install -y nodejs npm); they are not installed"
        )
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "npm-oracles.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"scripts/npm-oracles.sh failed (npm registry unreachable?): {done.stderr.strip()[-500:]}"
        )
    modules = NPM_ORACLES / "node_modules"
    for package in ("@prisma/prisma-schema-wasm", "drizzle-kit", "drizzle-orm"):
        if not (modules / package / "package.json").is_file():
            pytest.fail(f"{package} missing from {modules} after scripts/npm-oracles.sh")
    return modules


@pytest.fixture
def drizzle_workdir(tmp_path: Path, node_modules: Path) -> Path:
    """A folder where drizzle-kit can import drizzle-orm: node_modules linked in, schemas go in ./schema."""
    os.symlink(node_modules, tmp_path / "node_modules")
    (tmp_path / "schema").mkdir()
    return tmp_path
