"""Legacy partitioning by table inheritance: a parent that holds no rows and two children that hold them,
shared by the advisor's and the query report's tests."""

READINGS_SQL = """
CREATE TABLE readings (device int NOT NULL, at timestamptz NOT NULL, v float8);
CREATE TABLE readings_2025 () INHERITS (readings);
CREATE TABLE readings_2026 () INHERITS (readings);
INSERT INTO readings_2025 SELECT g % 1000, now() - interval '1 year' - g * interval '1 minute', g
  FROM generate_series(1, 30000) g;
INSERT INTO readings_2026 SELECT g % 1000, now() - g * interval '1 minute', g FROM generate_series(1, 50000) g;
ANALYZE readings, readings_2025, readings_2026;
"""
