"""Review of keeping pgdba running: the schedule's jobs agree on one history store, work from cron's and
systemd's working directories, and keep the settings the user put in the env file."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from pgdba.alerts.notify import Notification, send_email
from pgdba.alerts.rules import EmailConfig
from pgdba.alerts.schedule import cron_lines, schedule_jobs, systemd_units
from pgdba.backup.manifest import BACKUP_KIND
from pgdba.cli import main
from pgdba.history.store import open_store
from tests.alerts.test_notify import smtp_sink  # noqa: F401 (a fixture)
from tests.conftest import TestDatabase


def _job(jobs: list, name: str) -> tuple[str, ...]:
    return next(job.args for job in jobs if job.name == name)


def _run_job(args: tuple[str, ...], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(".venv/bin/pgdba").absolute()), *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_job_uses_the_store_given_to_the_schedule(db: TestDatabase, tmp_path: Path) -> None:
    store = tmp_path / "history.sqlite3"
    storage = tmp_path / "backups"
    storage.mkdir()
    jobs = schedule_jobs(env_file=str(tmp_path / "pgdba.env"), store=str(store))
    elsewhere = tmp_path / "default.sqlite3"  # where a job that forgets the store would write
    env = {"PGDBA_DSN": db.dsn, "PGDBA_BACKUP_STORAGE": f"file://{storage}", "PGDBA_HISTORY": str(elsewhere)}

    backup = _run_job(_job(jobs, "backup"), env, tmp_path)

    assert backup.returncode == 0, backup.stderr
    with open_store(str(store)) as history:
        recorded = history.records(db.target.key, BACKUP_KIND)
    # the alert check reads the backup's age from this store: the backup must be recorded there
    assert len(recorded) == 1
    assert not elsewhere.exists()
    for name in ("restore-test", "weekly-report"):
        args = _job(jobs, name)
        assert str(store) in args, (name, args)


def test_relative_paths_become_absolute_in_cron_lines_and_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    jobs = schedule_jobs(env_file="pgdba.env", rules_file="rules.toml", store="h.sqlite3")
    lines = "\n".join(cron_lines(jobs, Path("pgdba.env")))
    units = systemd_units(jobs, Path("pgdba.env"))
    # cron runs jobs in $HOME and systemd in /: a relative name would be another file or none
    assert f". {tmp_path / 'pgdba.env'};" in lines
    assert str(tmp_path / "rules.toml") in lines and str(tmp_path / "h.sqlite3") in lines
    assert f"EnvironmentFile={tmp_path / 'pgdba.env'}\n" in units["pgdba-snapshot.service"]
    assert str(tmp_path / "rules.toml") in units["pgdba-alerts-check.service"]


def test_apply_keeps_the_other_settings_of_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "pgdba.env"
    env_file.write_text(
        "PGDBA_DSN=postgresql://old@db/app\nPGDBA_BACKUP_STORAGE=s3://backups/pg\n", encoding="utf-8"
    )
    env_file.chmod(0o600)
    code = main(
        [
            "schedule",
            "--kind",
            "systemd",
            "--apply",
            "--dsn",
            "postgresql://monitor@db.example:5432/app",
            "--env-file",
            str(env_file),
            "--unit-dir",
            str(tmp_path / "units"),
        ]
    )
    assert code == 0
    lines = env_file.read_text(encoding="utf-8").splitlines()
    assert "PGDBA_BACKUP_STORAGE=s3://backups/pg" in lines  # the daily backup needs it
    assert [line for line in lines if line.startswith("PGDBA_DSN=")] == [
        "PGDBA_DSN=" + shlex.quote("postgresql://monitor@db.example:5432/app")
    ]


def test_an_email_about_a_table_whose_name_holds_a_newline_is_sent_on_one_subject_line(
    db: TestDatabase,
    smtp_sink: tuple[int, list[tuple[str, list[str], str]]],  # noqa: F811 (the imported fixture)
) -> None:
    port, received = smtp_sink
    db.execute('CREATE TABLE "orders\nBcc: someone@example.org" (id int)')
    with db.connect() as conn:
        row = conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'orders%'").fetchone()
    assert row is not None
    note = Notification(
        event="firing",
        rule="dead_tuple_ratio",
        object=f"public.{row[0]}",
        level="warning",
        value=42.0,
        unit="%",
        threshold=20.0,
        target="127.0.0.1:5432/app",
        at="2024-01-01T00:00:00+00:00",
        summary="dead tuples",
    )
    config = EmailConfig("127.0.0.1", ("dba@example.org",), "pgdba@example.org", port=port)

    send_email(config, note)  # raised ValueError: a header may not hold a line break

    (_, recipients, data) = received[0]
    assert recipients == ["<dba@example.org>"]
    headers = data.replace("\r\n", "\n").split("\n\n", 1)[0]
    unfolded = headers.replace("\n ", " ").splitlines()  # a long header continues on indented lines
    subject = next(line for line in unfolded if line.startswith("Subject:"))
    assert "orders Bcc: someone@example.org" in subject
    assert not any(line.startswith("Bcc:") for line in unfolded)


def test_the_weekly_index_advice_job_writes_its_file_whole_or_leaves_the_last_one(
    db: TestDatabase, tmp_path: Path
) -> None:
    db.execute(
        "CREATE TABLE lessons (id int PRIMARY KEY, course_id int NOT NULL, title text NOT NULL);"
        "INSERT INTO lessons SELECT g, g % 500, 'lesson ' || g FROM generate_series(1, 50000) g;"
        "ANALYZE lessons;"
    )
    jobs = schedule_jobs(env_file=str(tmp_path / "pgdba.env"), store=str(tmp_path / "history.sqlite3"))
    args = _job(jobs, "index-advice")
    scheduled = args[args.index("--out") + 1]
    assert Path(scheduled).name == "index-advice.md"
    advice = tmp_path / "index-advice.md"  # (the job's file in the state directory, here tmp_path)
    args = tuple(str(advice) if a == scheduled else a for a in args)
    env = {"PGDBA_DSN": db.dsn}

    # nothing in pg_stat_statements yet: the job fails with one line and writes nothing
    with db.connect() as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
    empty = _run_job(args, env, tmp_path)
    assert empty.returncode == 2 and "pg_stat_statements holds no query" in empty.stderr
    assert not advice.exists()

    with db.connect() as conn:
        for course in range(12):
            conn.execute("SELECT id, title FROM lessons WHERE course_id = %s", (course,))
    done = _run_job(args, env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {advice}: 1 to create, 0 search indexes, 0 to drop")
    text = advice.read_text(encoding="utf-8")
    assert "lessons" in text and 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "lessons_course_id' in text

    # a later run that fails (the server is unreachable) leaves last week's file as it was
    broken = _run_job(args, {"PGDBA_DSN": "postgresql://pgdba@127.0.0.1:1/none"}, tmp_path)
    assert broken.returncode == 2 and advice.read_text(encoding="utf-8") == text
    assert not list(tmp_path.glob(".index-advice.md.*"))  # no partial file left behind


PRISMA = """datasource db {
  provider = "postgresql"
}

model Lesson {
  id       Int    @id
  courseId Int    @map("course_id")
  title    String

  @@map("lessons")
}
"""


def test_the_weekly_index_advice_carries_the_orm_patch_of_the_schema_named(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(
        # autovacuum off: a visibility map it sets would make the covering variant the cheaper advice
        "CREATE TABLE lessons (id int PRIMARY KEY, course_id int NOT NULL, title text NOT NULL)"
        " WITH (autovacuum_enabled = off);"
        "INSERT INTO lessons SELECT g, g % 500, 'lesson ' || g FROM generate_series(1, 50000) g;"
        "ANALYZE lessons;"
    )
    schema = tmp_path / "schema.prisma"
    schema.write_text(PRISMA)
    assert main(["schedule", "--state-dir", str(tmp_path), "--orm-schema", str(schema)]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if "advise indexes" in line]
    assert f"--emit prisma --schema {schema}" in line
    jobs = schedule_jobs(
        env_file=str(tmp_path / "pgdba.env"), runtime=None, orm_schema=("prisma", str(schema))
    )
    args = _job(jobs, "index-advice")
    args = tuple(str(tmp_path / "advice.md") if a.endswith("index-advice.md") else a for a in args)
    with db.connect() as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        for course in range(12):
            conn.execute("SELECT id, title FROM lessons WHERE course_id = %s", (course,))
    done = _run_job(args, {"PGDBA_DSN": db.dsn}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "+  @@index([courseId])" in (tmp_path / "advice.md").read_text(encoding="utf-8")
    assert schema.read_text() == PRISMA  # the patch is in the advice; the schema file is not touched
    # a schema file that is not one is refused when the schedule is made, not every Monday
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["schedule", "--orm-schema", str(tmp_path / "notes.txt")]) == 2
    assert "use a .prisma file or a Drizzle .ts file" in capsys.readouterr().err
