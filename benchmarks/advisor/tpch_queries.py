"""Print the 22 TPC-H queries of DuckDB's tpch extension as JSON (run with the benchmark venv's python)."""

import glob
import json
import os

import duckdb
import duckdb_extension_tpch

extension = glob.glob(
    os.path.join(os.path.dirname(duckdb_extension_tpch.__file__), "extensions", "*", "tpch.duckdb_extension")
)[0]
con = duckdb.connect()
con.execute(f"INSTALL '{extension}'")
con.execute("LOAD tpch")
print(
    json.dumps(
        {nr: text for nr, text in con.execute("SELECT query_nr, query FROM tpch_queries()").fetchall()}
    )
)
