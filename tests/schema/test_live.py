"""The live source against the DDL the ORM tools generate: no false positives (the tool's own DDL, applied
to the real cluster, is consistent with the schema it came from) and no false negatives (every
single-change mutation of that database is reported, with the right code)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from oracle_models import drizzle_kit_generate, prisma_ddl
from schema_test_paths import FIXTURES

from pgdba.schema import check_schemas, compare_all
from pgdba.schema.drizzle_source import load_drizzle
from pgdba.schema.live_source import load_live
from pgdba.schema.sqlalchemy_source import metadata_model

DRIZZLE_FOLDER = FIXTURES / "drizzle" / "folder"


@pytest.fixture(scope="session")
def drizzle_ddl(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> str:
    workdir = tmp_path_factory.mktemp("drizzle-kit")
    (workdir / "node_modules").symlink_to(node_modules)
    shutil.copytree(DRIZZLE_FOLDER, workdir / "schema")
    _snapshot, sql = drizzle_kit_generate(workdir)
    assert "CREATE TABLE" in sql
    return sql


def _drift(db: Any) -> list[tuple[str, str]]:
    result = check_schemas([f"drizzle:{DRIZZLE_FOLDER}", "live"], dsn=db.dsn)
    return sorted((f.code, f.object) for pair in result.pairs for f in pair.drift)


@pytest.mark.catalog
def test_drizzle_kit_ddl_is_consistent_with_its_schema(db: Any, drizzle_ddl: str) -> None:
    db.execute(drizzle_ddl)
    db.execute('CREATE TABLE "__drizzle_migrations" (id serial PRIMARY KEY, hash text)')  # bookkeeping
    result = check_schemas([f"drizzle:{DRIZZLE_FOLDER}", "live"], dsn=db.dsn)
    pair = result.pairs[0]
    assert pair.compared.tables == 4 and pair.compared.columns == 33 and pair.compared.foreign_keys == 5
    assert [f.title for f in pair.findings] == []
    assert result.consistent


# stays >= 15, not for the statistics delay: single.ts declares UNIQUE NULLS NOT DISTINCT (authors.nick),
# syntax PostgreSQL 15 introduced; 14 rejects the generated DDL
@pytest.mark.catalog
@pytest.mark.pg(">= 15")
def test_drizzle_single_file_ddl_is_consistent(db: Any, drizzle_workdir: Path) -> None:
    shutil.copy(FIXTURES / "drizzle" / "single.ts", drizzle_workdir / "schema" / "single.ts")
    _snapshot, sql = drizzle_kit_generate(drizzle_workdir)
    db.execute(sql)
    result = check_schemas([f"drizzle:{FIXTURES / 'drizzle' / 'single.ts'}", "live"], dsn=db.dsn)
    assert result.pairs[0].compared.indexes == 5
    assert [f.title for f in result.pairs[0].findings] == []


@pytest.mark.catalog
def test_sqlalchemy_create_all_is_consistent_with_its_models(db: Any) -> None:
    from fixtures.sqlalchemy_models import metadata  # type: ignore[import-not-found]

    engine = sa.create_engine(db.dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    metadata.create_all(engine)
    engine.dispose()
    models = [metadata_model(metadata), load_live(db.target, {"public"})]
    result = compare_all(models)
    pair = result.pairs[0]
    assert pair.compared.tables == 2 and pair.compared.indexes == 6 and pair.compared.foreign_keys == 1
    assert [f.title for f in pair.findings] == []


MUTATIONS = {
    "type": (
        "ALTER TABLE app_users ALTER COLUMN name TYPE varchar(200)",
        "schema.column.type",
        "app_users.name",
    ),
    "nullability": (
        "ALTER TABLE app_users ALTER COLUMN weight SET NOT NULL",
        "schema.column.nullable",
        "app_users.weight",
    ),
    "default changed": (
        "ALTER TABLE app_users ALTER COLUMN level SET DEFAULT 2",
        "schema.column.default",
        "app_users.level",
    ),
    "default dropped": (
        "ALTER TABLE app_users ALTER COLUMN active DROP DEFAULT",
        "schema.column.default",
        "app_users.active",
    ),
    "default added": (
        "ALTER TABLE posts ALTER COLUMN title SET DEFAULT 'x'",
        "schema.column.default",
        "posts.title",
    ),
    "index dropped": ("DROP INDEX users_name_idx", "schema.index.missing", "app_users.users_name_idx"),
    "index redefined": (
        "DROP INDEX users_name_idx; CREATE INDEX users_name_idx ON app_users (name DESC, email)",
        "schema.index.definition",
        "app_users.users_name_idx",
    ),
    "index predicate": (
        "DROP INDEX users_active_partial; CREATE INDEX users_active_partial ON app_users (email) WHERE NOT active",
        "schema.index.definition",
        "app_users.users_active_partial",
    ),
    "unique dropped": (
        "ALTER TABLE auth.sessions DROP CONSTRAINT sessions_token_unique",
        "schema.unique.missing",
        "auth.sessions.sessions_token_unique",
    ),
    "foreign key action": (
        "ALTER TABLE auth.sessions DROP CONSTRAINT sessions_user_id_app_users_id_fk; "
        "ALTER TABLE auth.sessions ADD CONSTRAINT sessions_user_id_app_users_id_fk FOREIGN KEY (user_id) "
        "REFERENCES app_users(id) ON DELETE SET NULL",
        "schema.foreign_key.action",
        "auth.sessions.sessions_user_id_app_users_id_fk",
    ),
    "foreign key dropped": (
        "ALTER TABLE posts DROP CONSTRAINT posts_author_fk",
        "schema.foreign_key.missing",
        "posts.posts_author_fk",
    ),
    "enum value added": ("ALTER TYPE status ADD VALUE 'deleted'", "schema.enum.values", "status"),
    "enum value renamed": (
        "ALTER TYPE status RENAME VALUE 'archived' TO 'hidden'",
        "schema.enum.values",
        "status",
    ),
    "column dropped": (
        "ALTER TABLE app_users DROP COLUMN weight",
        "schema.column.missing",
        "app_users.weight",
    ),
    "column renamed": (
        "ALTER TABLE app_users RENAME COLUMN password_hash TO password",
        "schema.column.renamed",
        "app_users.password_hash",
    ),
    "check changed": (
        "ALTER TABLE app_users DROP CONSTRAINT users_score_positive; "
        "ALTER TABLE app_users ADD CONSTRAINT users_score_positive CHECK (score > 0)",
        "schema.check.definition",
        "app_users.users_score_positive",
    ),
    "primary key dropped": (
        "ALTER TABLE app_follows DROP CONSTRAINT app_follows_follower_id_followee_id_pk",
        "schema.primary_key",
        "app_follows",
    ),
    "identity dropped": (
        "ALTER TABLE posts ALTER COLUMN id DROP IDENTITY",
        "schema.column.identity",
        "posts.id",
    ),
    "table dropped": ("DROP TABLE app_follows", "schema.table.missing", "app_follows"),
}


@pytest.mark.catalog
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_every_single_change_to_the_database_is_reported(mutation: str, db: Any, drizzle_ddl: str) -> None:
    statement, code, obj = MUTATIONS[mutation]
    db.execute(drizzle_ddl)
    assert _drift(db) == []
    with db.connect() as conn:
        for part in statement.split("; "):
            conn.execute(part)  # type: ignore[arg-type]
    assert _drift(db) == [(code, obj)]


def test_drizzle_loader_reads_the_folder_without_notes() -> None:
    model = load_drizzle(DRIZZLE_FOLDER)
    assert model.notes == []


@pytest.mark.catalog
def test_prisma_implicit_many_to_many_join_table_is_noted_not_reported(db: Any, tmp_path: Path) -> None:
    schema = tmp_path / "m2m.prisma"
    schema.write_text(
        'datasource db {\n  provider = "postgresql"\n}\n'
        "model Post {\n  id   Int   @id\n  tags Tag[]\n}\n"
        "model Tag {\n  id    Int    @id\n  posts Post[]\n}\n"
    )
    db.execute(
        'CREATE TABLE "Post" (id int CONSTRAINT "Post_pkey" PRIMARY KEY);'
        'CREATE TABLE "Tag" (id int CONSTRAINT "Tag_pkey" PRIMARY KEY);'
        'CREATE TABLE "_PostToTag" ("A" int NOT NULL REFERENCES "Post"(id), "B" int NOT NULL REFERENCES "Tag"(id))'
    )
    result = check_schemas([f"prisma:{schema}", "live"], dsn=db.dsn)
    assert result.consistent and result.pairs[0].compared.tables == 2
    assert [n.split(": ", 1)[1] for n in result.sources[0].notes] == [
        "implicit many-to-many relation Post.tags: its join table _PostToTag is not compared"
    ]
    db.execute('DROP TABLE "_PostToTag"; CREATE TABLE "Extra" (id int)')
    assert [f.code for f in check_schemas([f"prisma:{schema}", "live"], dsn=db.dsn).pairs[0].drift] == [
        "schema.table.missing"
    ]


@pytest.mark.catalog
@pytest.mark.parametrize("case", ["features.prisma", "relation_mode.prisma", "multi"])
def test_prisma_engine_ddl_is_consistent_with_its_schema(case: str, db: Any, node_modules: Path) -> None:
    schema = FIXTURES / "prisma" / case
    db.execute(prisma_ddl(node_modules, schema, db.dsn))
    db.execute('CREATE TABLE "_prisma_migrations" (id varchar(36) PRIMARY KEY)')  # bookkeeping
    result = check_schemas([f"prisma:{schema}", "live"], dsn=db.dsn)
    pair = result.pairs[0]
    assert pair.compared.tables == len(result.sources[0].tables) > 0
    assert [f.title for f in pair.findings] == []


PRISMA_MUTATIONS = {
    "type": ('ALTER TABLE "Post" ALTER COLUMN title TYPE varchar(250)', "schema.column.type", "Post.title"),
    "nullability": (
        "ALTER TABLE users ALTER COLUMN name SET NOT NULL",
        "schema.column.nullable",
        "users.name",
    ),
    "default": (
        "ALTER TABLE users ALTER COLUMN ratio SET DEFAULT 2.5",
        "schema.column.default",
        "users.ratio",
    ),
    "index": ("DROP INDEX user_name_email", "schema.index.missing", "users.user_name_email"),
    "foreign key action": (
        'ALTER TABLE "Profile" DROP CONSTRAINT "Profile_userId_fkey"; '
        'ALTER TABLE "Profile" ADD CONSTRAINT "Profile_userId_fkey" FOREIGN KEY ("userId") REFERENCES users(id) '
        "ON DELETE CASCADE ON UPDATE NO ACTION",
        "schema.foreign_key.action",
        "Profile.Profile_userId_fkey",
    ),
    "enum value": ("ALTER TYPE user_role ADD VALUE 'guest'", "schema.enum.values", "user_role"),
    "dropped column": ("ALTER TABLE users DROP COLUMN avatar", "schema.column.missing", "users.avatar"),
}


@pytest.mark.catalog
@pytest.mark.parametrize("mutation", sorted(PRISMA_MUTATIONS))
def test_every_single_change_to_a_prisma_made_database_is_reported(
    mutation: str, db: Any, node_modules: Path
) -> None:
    schema = FIXTURES / "prisma" / "features.prisma"
    db.execute(prisma_ddl(node_modules, schema, db.dsn))
    statement, code, obj = PRISMA_MUTATIONS[mutation]
    with db.connect() as conn:
        for part in statement.split("; "):
            conn.execute(part)  # type: ignore[arg-type]
    result = check_schemas([f"prisma:{schema}", "live"], dsn=db.dsn)
    assert sorted((f.code, f.object) for f in result.pairs[0].drift) == [(code, obj)]
