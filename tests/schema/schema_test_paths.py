"""Where the schema verifier's test material lives."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
ORACLE_SCRIPTS = Path(__file__).parent / "oracles"
NPM_ORACLES = ROOT / ".cache" / "npm-oracles"
