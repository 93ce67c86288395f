"""`--verify`'s throwaway copy keeps the target database's collation and each column's own: under "C" a plain
btree serves `LIKE 'abc%'` and sorts differ from a locale's, so a copy under another collation would measure
other plans than the target runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from pgdba.advisor.catalog import load_tables, user_table_oids
from pgdba.advisor.scratch_copy import copy_tables, create_scratch_database
from pgdba.target import Target
from tests.conftest import TestDatabase


@pytest.fixture
def locale_database(db: TestDatabase) -> Iterator[Target]:
    """A database whose default collation is glibc's C.UTF-8 (not "C" to the planner), beside the test's."""
    name = f"{db.name}_locale"
    with psycopg.connect(db.cluster.dsn(), autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
            "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
        )
    yield db.target.with_database(name)
    with psycopg.connect(db.cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.catalog
def test_the_scratch_database_gets_the_target_databases_collation(locale_database: Target) -> None:
    scratch = locale_database.with_database("pgdba_verify_collation_test")
    create_scratch_database(locale_database, "pgdba_verify_collation_test")
    try:
        with scratch.connect() as conn:
            row = conn.execute(
                "SELECT datcollate, datctype, pg_encoding_to_char(encoding) FROM pg_database"
                " WHERE datname = current_database()"
            ).fetchone()
        assert row == ("C.UTF-8", "C.UTF-8", "UTF8")
    finally:
        with psycopg.connect(locale_database.dsn, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "pgdba_verify_collation_test" WITH (FORCE)')


@pytest.mark.catalog
def test_copied_columns_keep_their_own_collations_and_user_collations_are_made_again(
    db: TestDatabase,
) -> None:
    db.execute(
        """
        CREATE SCHEMA app;
        CREATE COLLATION app.by_locale (provider = libc, locale = 'C.UTF-8');
        CREATE TABLE users (
            id int PRIMARY KEY,
            email text COLLATE app.by_locale NOT NULL,
            code varchar(10) COLLATE "POSIX",
            nick text
        );
        INSERT INTO users VALUES (1, 'a@example.com', 'x', 'n');
        CREATE INDEX users_email_pattern ON users (email text_pattern_ops);
        """
    )
    with _copy_of_every_table(db) as scratch, scratch.connect() as conn:
        collations = dict(
            conn.execute(
                "SELECT a.attname, coalesce(n.nspname || '.' || c.collname, '')"
                "  FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation"
                "  LEFT JOIN pg_namespace n ON n.oid = c.collnamespace"
                " WHERE a.attrelid = 'public.users'::regclass AND a.attnum > 0"
            ).fetchall()
        )
        definition = conn.execute("SELECT pg_get_indexdef('public.users_email_pattern'::regclass)").fetchone()
    assert collations == {
        "id": "",
        "email": "app.by_locale",
        "code": "pg_catalog.POSIX",
        "nick": "pg_catalog.default",
    }
    assert definition is not None and "text_pattern_ops" in definition[0]


@pytest.mark.catalog
def test_enums_domains_and_extension_types_of_the_copied_columns_are_made_again(db: TestDatabase) -> None:
    """Before, only an enum (or an array of one) was made again: a domain's or an extension type's column
    (citext, Rails' and Django's case-insensitive email) failed the copy, so --verify failed."""
    db.execute(
        """
        CREATE EXTENSION citext;
        CREATE SCHEMA app;
        CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
        CREATE DOMAIN app.email AS citext CHECK (VALUE LIKE '%@%');
        CREATE DOMAIN app.work_email AS app.email;
        CREATE DOMAIN app.code AS varchar(8) COLLATE "C";
        CREATE DOMAIN app.moods AS app.mood[];
        CREATE TABLE people (
            id int PRIMARY KEY,
            email app.work_email NOT NULL,
            nick citext,
            code app.code,
            moods app.moods
        );
        INSERT INTO people VALUES (1, 'Ann@Example.com', 'Ann', 'X1', '{ok,happy}');
        """
    )
    with _copy_of_every_table(db) as scratch, scratch.connect() as conn:
        row = conn.execute(
            "SELECT email = 'ann@example.com', nick = 'ANN', pg_typeof(email)::text, "
            "       pg_typeof(code)::text, moods[2]::text, pg_collation_for(code) "
            "  FROM people"
        ).fetchone()
    assert row == (True, True, "app.work_email", "app.code", "happy", '"C"')


@contextmanager
def _copy_of_every_table(db: TestDatabase) -> Iterator[Target]:
    """A scratch database (create_scratch_database) holding copies of the test database's tables
    (copy_tables), dropped afterwards."""
    name = f"{db.name}_copy"
    create_scratch_database(db.target, name)
    try:
        with db.target.connect() as conn:
            tables = load_tables(conn, user_table_oids(conn))
        scratch = db.target.with_database(name)
        copy_tables(db.target, scratch, list(tables.values()))
        yield scratch
    finally:
        with psycopg.connect(db.cluster.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
