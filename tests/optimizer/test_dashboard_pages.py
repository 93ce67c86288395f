"""Dashboard pages render server-side from the library's reports (no JavaScript needed to read them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.config import load_databases
from pgdba.api.settings import ApiSettings
from pgdba.errors import InputError
from tests.conftest import TestDatabase


def test_space_page_shows_database_size_and_each_table(db: TestDatabase) -> None:
    db.execute("CREATE TABLE course (id serial PRIMARY KEY, title text)")
    db.execute("INSERT INTO course (title) SELECT 'c' || i FROM generate_series(1, 500) i")
    client = TestClient(create_app(ApiSettings(db.target)))
    page = client.get("/space")
    assert page.status_code == 200
    assert "public.course" in page.text and "<svg" in page.text
    api = client.get("/debug/query-optimizer/capacity/tables").json()
    assert next(t for t in api["tables"] if t["table"] == "course")["rows"] == 500


def test_a_panel_that_cannot_load_says_why_instead_of_failing(db: TestDatabase) -> None:
    db.execute("DROP EXTENSION pg_stat_statements")
    page = TestClient(create_app(ApiSettings(db.target))).get("/queries")
    assert page.status_code == 200
    assert "not available: pg_stat_statements is not available" in page.text


def test_database_selector_uses_the_config_file(db: TestDatabase, tmp_path: Path) -> None:
    config = tmp_path / "pgdba.toml"
    config.write_text(
        f'[[database]]\nname = "main"\ndsn = "{db.dsn}"\n\n[[database]]\nname = "other"\ndsn = "{db.dsn}"\n'
    )
    databases = load_databases(config)
    client = TestClient(create_app(ApiSettings(databases["main"], databases=databases)))
    page = client.get("/indexes", params={"db": "other"})
    assert page.status_code == 200 and '<option value="other" selected>' in page.text
    assert client.get("/indexes", params={"db": "missing"}).status_code == 404


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[database]]\nname = 'x'\n", "needs dsn"),
        ("not toml [", "line"),
        ("[other]\n", "one or more [[database]]"),
    ],
)
def test_malformed_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(InputError, match=message.replace("[", r"\[")):
        load_databases(config)
