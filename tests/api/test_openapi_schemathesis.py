"""schemathesis (its CLI, as CI runs it) against /openapi.json of a live server: no 5xx, no schema violation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.api.conftest import TOKEN, LiveDashboard

REPORT_DIR = Path("test-artifacts/schemathesis").resolve()
CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_dashboard: LiveDashboard) -> None:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(CONFIG),
            "run",
            f"{live_dashboard.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            "all",
            "--max-examples",
            "15",
            "--seed",
            "7",
            "--workers",
            "1",
            "--no-color",
            "--generation-database",
            "none",
            "--report",
            "junit",
            "--report-dir",
            str(REPORT_DIR),
        ],
        cwd=REPORT_DIR,  # schemathesis keeps a .schemathesis cache in its working folder: not in the repo
        capture_output=True,
        text=True,
        timeout=600,
    )
    (REPORT_DIR / "output.txt").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-6000:]
