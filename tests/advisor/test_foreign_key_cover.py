"""An advised index whose leading keys are an unindexed foreign key's columns says it indexes that key too,
so a user does not also create the check-up's index.missing_fk index (the pair would be redundant)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.advisor.candidates import Candidate
from pgdba.advisor.foreign_key_cover import foreign_keys_served
from pgdba.cli import main
from pgdba.stats.foreign_keys import ForeignKey
from tests.advisor.helpers import advise
from tests.conftest import TestDatabase

SCHEMA = """
CREATE TABLE course (id int PRIMARY KEY, title text NOT NULL);
INSERT INTO course SELECT g, 'course ' || g FROM generate_series(1, 500) g;
CREATE TABLE enrollment (
    id int PRIMARY KEY,
    course_id int NOT NULL REFERENCES course (id),
    user_id int NOT NULL,
    status text NOT NULL
) WITH (autovacuum_enabled = off);  -- no visibility map: plans do not depend on autovacuum's timing
INSERT INTO enrollment SELECT g, 1 + g % 500, g % 7000, (ARRAY['active', 'done', 'dropped'])[1 + g % 3]
  FROM generate_series(1, 60000) g;
ANALYZE;
"""
QUERY = "SELECT id, user_id FROM enrollment WHERE course_id = $1 AND status = $2"


def fk(columns: tuple[str, ...], *, has_index: bool = False) -> ForeignKey:
    return ForeignKey(
        "public", "enrollment", "fk_" + "_".join(columns), columns, "public", "x", columns, 1, 1, has_index
    )


def test_only_plain_full_keys_leading_with_the_key_columns_in_any_order_serve_it() -> None:
    pair = fk(("course_id", "user_id"))
    assert foreign_keys_served(
        Candidate("public", "enrollment", ("user_id", "course_id", "status")), [pair]
    ) == ["fk_course_id_user_id"]
    assert foreign_keys_served(Candidate("public", "enrollment", ("user_id", "status")), [pair]) == []
    single = fk(("course_id",))
    assert foreign_keys_served(Candidate("public", "enrollment", ("status", "course_id")), [single]) == []
    partial = Candidate("public", "enrollment", ("course_id",), (), "status", "active")
    assert foreign_keys_served(partial, [single]) == []
    assert (
        foreign_keys_served(
            Candidate("public", "enrollment", ("course_id",)), [fk(("course_id",), has_index=True)]
        )
        == []
    )
    other_table = Candidate("public", "course", ("course_id",))
    assert foreign_keys_served(other_table, [single]) == []


@pytest.mark.hypopg
def test_the_advice_says_which_foreign_key_its_index_also_serves(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(SCHEMA)
    advice = advise(db, [QUERY])
    [recommendation] = advice.recommendations
    assert recommendation.candidate.columns[0] == "course_id"
    assert recommendation.serves_foreign_keys == ["enrollment_course_id_fkey"]
    assert recommendation.to_dict()["serves_foreign_keys"] == ["enrollment_course_id_fkey"]
    [finding] = [f for f in advice.findings() if f.code == "advisor.create_index"]
    assert "also indexes foreign key enrollment_course_id_fkey" in finding.recommendation
    workload = tmp_path / "workload.sql"
    workload.write_text(QUERY + ";\n")
    assert main(["advise", "indexes", "--dsn", db.dsn, "--queries", str(workload)]) == 0
    assert "also indexes foreign key enrollment_course_id_fkey" in capsys.readouterr().out
    # once the key has an index of its own, nothing is said
    db.execute("CREATE INDEX enrollment_course_id_idx ON enrollment (course_id)")
    assert all(not r.serves_foreign_keys for r in advise(db, [QUERY]).recommendations)
