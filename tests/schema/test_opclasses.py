"""Default operator classes: the committed tables (opclass_defaults.py) against the test cluster's own
catalog, and drizzle-kit pull — which names every index column's operator class, default or not — against
the database it read: no drift, while a real operator class change is still reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from oracle_models import drizzle_kit_pull

from pgdba.schema import check_schemas
from pgdba.schema.opclass_catalog import EXTENSIONS, probe_default_opclasses, probe_extension_opclasses
from pgdba.schema.opclass_defaults import CORE_DEFAULTS, EXTENSION_DEFAULTS
from pgdba.schema.opclasses import canonical_opclass, default_opclass

# defaults an extension version adds that another lacks (the tables hold the union over PostgreSQL 14-18)
VERSION_DEPENDENT = {("btree_gist", "gist", "boolean"), ("ltree", "hash", "ltree")}


@pytest.mark.catalog
def test_builtin_default_opclasses_are_the_catalogs(db: Any) -> None:
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        assert probe_default_opclasses(conn) == CORE_DEFAULTS


@pytest.mark.catalog
def test_extension_default_opclasses_are_the_catalogs(db: Any) -> None:
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        core = probe_default_opclasses(conn)
        probed = {extension: probe_extension_opclasses(conn, extension, core) for extension in EXTENSIONS}
    assert any(found is not None for found in probed.values()), "no contrib extension can be created"
    for extension, found in probed.items():
        if found is None:
            continue
        theirs = {(m, t, o) for m, defaults in found.items() for t, o in defaults.items()}
        ours = {
            (m, t, o) for m, defaults in EXTENSION_DEFAULTS[extension].items() for t, o in defaults.items()
        }
        assert theirs <= ours, (extension, theirs - ours)
        assert {(extension, m, t) for m, t, _ in ours - theirs} <= VERSION_DEPENDENT, extension


@pytest.mark.parametrize(
    ("method", "column_type", "opclass", "expected"),
    [
        ("btree", "mood", "enum_ops", ""),  # a user type: enum_ops can only be its default
        ("hash", '"Mood"', "enum_ops", ""),
        ("btree", "time(3) without time zone", "time_ops", ""),
        ("btree", "time with time zone", "timetz_ops", ""),
        ("btree", "interval day", "interval_ops", ""),
        ("btree", "macaddr", "macaddr_ops", ""),
        ("btree", "text[]", "array_ops", ""),
        ("btree", '"Mood"[]', "array_ops", ""),
        ("gin", "character varying(20)[]", "array_ops", ""),
        ("brin", "integer", "int4_minmax_ops", ""),
        ("brin", "integer", "int4_minmax_multi_ops", "int4_minmax_multi_ops"),
        ("btree", "character varying(20)", "text_ops", ""),  # resolved through the binary-coercible text
        ("btree", "character varying(20)", "varchar_pattern_ops", "varchar_pattern_ops"),
        ("btree", "cidr", "inet_ops", ""),
        ("gin", "jsonb", "jsonb_path_ops", "jsonb_path_ops"),
        ("gist", "integer[]", "gist__int_ops", ""),  # intarray's default for integer[]
        ("gin", "integer[]", "gin__int_ops", "gin__int_ops"),
        ("btree", "", "text_ops", ""),  # an expression: naming a default class means the default
        ("btree", "", "text_pattern_ops", "text_pattern_ops"),
        ("btree", "integer", "text_ops", "text_ops"),
    ],
)
def test_canonical_opclass(method: str, column_type: str, opclass: str, expected: str) -> None:
    assert canonical_opclass(method, column_type, opclass) == expected


def test_default_opclass_of_a_user_type_is_unknown() -> None:
    assert default_opclass("btree", "mood") is None
    assert default_opclass("gin", "integer") == "int4_ops"  # btree_gin's (without it there is none)
    assert default_opclass("spgist", "inet") == "inet_ops"


PULLED_DDL = """
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TABLE ops (
  id integer PRIMARY KEY, st mood NOT NULL, t time, ttz time with time zone, iv interval, mac macaddr,
  mac8 macaddr8, tags text[], n integer, vc varchar(20), ch char(3), ip inet, cid cidr, bo boolean,
  nu numeric, r real, d date, ts timestamp, tstz timestamptz, u uuid, js jsonb, pt point
);
CREATE INDEX ops_st ON ops (st);
CREATE INDEX ops_st_hash ON ops USING hash (st);
CREATE INDEX ops_t ON ops (t);
CREATE INDEX ops_ttz ON ops (ttz);
CREATE INDEX ops_iv ON ops (iv);
CREATE INDEX ops_mac ON ops (mac);
CREATE INDEX ops_mac8 ON ops (mac8);
CREATE INDEX ops_tags ON ops (tags);
CREATE INDEX ops_tags_gin ON ops USING gin (tags);
CREATE INDEX ops_n_brin ON ops USING brin (n);
CREATE INDEX ops_vc ON ops (vc);
CREATE INDEX ops_vc_brin ON ops USING brin (vc);
CREATE INDEX ops_vc_spgist ON ops USING spgist (vc);
CREATE INDEX ops_ch ON ops (ch);
CREATE INDEX ops_ip ON ops (ip);
CREATE INDEX ops_cid ON ops (cid);
CREATE INDEX ops_ip_brin ON ops USING brin (ip);
CREATE INDEX ops_bo ON ops (bo);
CREATE INDEX ops_nu ON ops (nu);
CREATE INDEX ops_r ON ops (r);
CREATE INDEX ops_d ON ops (d);
CREATE INDEX ops_ts ON ops (ts);
CREATE INDEX ops_ts_hash ON ops USING hash (ts);
CREATE INDEX ops_tstz ON ops (tstz);
CREATE INDEX ops_u ON ops (u);
CREATE INDEX ops_js_gin ON ops USING gin (js);
CREATE INDEX ops_pt ON ops USING spgist (pt);
CREATE INDEX ops_vc_pattern ON ops (vc varchar_pattern_ops);
"""


@pytest.mark.catalog
def test_drizzle_kit_pull_operator_classes_are_no_drift(db: Any, drizzle_workdir: Path) -> None:
    db.execute(PULLED_DDL)
    schema = drizzle_kit_pull(drizzle_workdir, db.dsn)
    text = schema.read_text()
    for written in ('.op("enum_ops")', '.op("time_ops")', '.op("interval_ops")', '.op("int4_minmax_ops")'):
        assert written in text  # drizzle-kit names the defaults
    result = check_schemas([f"drizzle:{schema}", "live"], dsn=db.dsn)
    pair = result.pairs[0]
    assert pair.compared.indexes == 28
    assert [f.title for f in pair.findings] == []
    # a real operator class change is still drift
    db.execute(
        "DROP INDEX ops_n_brin; CREATE INDEX ops_n_brin ON ops USING brin (n int4_minmax_multi_ops);"
        "DROP INDEX ops_vc_pattern; CREATE INDEX ops_vc_pattern ON ops (vc)"
    )
    drift = check_schemas([f"drizzle:{schema}", "live"], dsn=db.dsn).pairs[0].drift
    assert sorted((f.code, f.object, f.metrics["right"]) for f in drift) == [
        ("schema.index.definition", "ops.ops_n_brin", "USING brin (n int4_minmax_multi_ops)"),
        ("schema.index.definition", "ops.ops_vc_pattern", "(vc)"),
    ]
