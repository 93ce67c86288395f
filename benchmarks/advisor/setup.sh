#!/usr/bin/env bash
# Creates the benchmark's own virtualenv (not a project dependency): TPC-H data and query generators.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${BENCH_VENV:-$here/../../.cache/bench-advisor-venv}"
if [ ! -x "$venv/bin/tpchgen-cli" ] || ! "$venv/bin/python" -c "import duckdb_extension_tpch" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet tpchgen-cli duckdb==1.5.5 duckdb-extension-tpch==1.5.5
fi
echo "$venv"
