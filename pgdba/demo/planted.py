"""The problems planted in the demo on purpose: what pgdba must find, and what it must leave alone.

Everything else in schema.sql is indexed for the workload, so a correct advisor proposes these and nothing
else (on a small table the planner may still prefer a sequential scan, so small indexes can look unused).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from pgdba.demo import queries


@dataclass(frozen=True)
class MissingIndex:
    """An index the workload needs and the schema lacks."""

    table: str
    columns: tuple[str, ...]
    queries: tuple[str, ...]
    reason: str
    where: str | None = None
    """A predicate when a partial index fits better than a full one."""

    @property
    def index_name(self) -> str:
        """The name Prisma would give it (`@@index([...])`)."""
        return f"{self.table}_{'_'.join(self.columns)}_idx"

    def create_statement(self) -> sql.Composed:
        """The fix as SQL, for measuring before/after (the advisor has to find it on its own)."""
        statement = sql.SQL("CREATE INDEX CONCURRENTLY {name} ON {table} ({columns})").format(
            name=sql.Identifier(self.index_name),
            table=sql.Identifier(self.table),
            columns=sql.SQL(", ").join(sql.Identifier(c) for c in self.columns),
        )
        if self.where:
            # a constant predicate written here, never user input
            statement += sql.SQL(" WHERE ") + sql.SQL(self.where)
        return statement


@dataclass(frozen=True)
class UnusedIndex:
    """A secondary index no workload query reads (it only costs writes and space)."""

    name: str
    table: str
    columns: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class DuplicateIndex:
    """An index that another index already provides (same columns, or a prefix of them)."""

    name: str
    table: str
    columns: tuple[str, ...]
    covered_by: str
    reason: str


PLANTED_MISSING_INDEXES: tuple[MissingIndex, ...] = (
    MissingIndex(
        table="BehaviorLog",
        columns=("userId", "timestamp"),
        queries=(queries.RECENT_ACTIVITY,),
        reason="a user's latest events: WHERE userId = $1 ORDER BY timestamp DESC LIMIT n on the largest table",
    ),
    MissingIndex(
        table="Enrollment",
        columns=("courseId",),
        queries=(queries.COURSE_ENROLLMENT_STATS, queries.COURSE_ROSTER),
        reason="foreign key Enrollment_courseId_fkey has no index; course rosters and stats scan the table",
    ),
    MissingIndex(
        table="LessonProgress",
        columns=("userId", "lessonId"),
        queries=(queries.LESSON_PROGRESS_OF_USER, queries.UPDATE_LESSON_PROGRESS),
        reason="every lesson view and progress update looks up one (user, lesson) row by scanning the table",
    ),
    MissingIndex(
        table="QuizAttempt",
        columns=("userId", "createdAt"),
        queries=(queries.RECENT_QUIZ_ATTEMPTS,),
        reason="a learner's latest attempts: WHERE userId = $1 ORDER BY createdAt DESC LIMIT 10",
    ),
    MissingIndex(
        table="Notification",
        columns=("userId",),
        where='"isRead" = false',
        queries=(queries.UNREAD_NOTIFICATIONS, queries.UNREAD_NOTIFICATION_COUNT),
        reason="unread notifications per user; most rows are read, so a partial index stays small",
    ),
)

PLANTED_UNUSED_INDEXES: tuple[UnusedIndex, ...] = (
    UnusedIndex(
        name="BehaviorLog_sessionId_idx",
        table="BehaviorLog",
        columns=("sessionId",),
        reason="no query filters by session; the index is large and slows every behaviour insert",
    ),
    UnusedIndex(
        name="Transaction_status_idx",
        table="Transaction",
        columns=("status",),
        reason="low selectivity and never queried on its own",
    ),
)

PLANTED_DUPLICATE_INDEXES: tuple[DuplicateIndex, ...] = (
    DuplicateIndex(
        name="User_email_idx",
        table="User",
        columns=("email",),
        covered_by="User_email_key",
        reason="@@index([email]) next to email @unique: the unique index already serves every lookup",
    ),
    DuplicateIndex(
        name="Lesson_moduleId_idx",
        table="Lesson",
        columns=("moduleId",),
        covered_by="Lesson_moduleId_position_key",
        reason="its column is the leading column of the unique (moduleId, position) index",
    ),
)

N_PLUS_ONE_QUERY = queries.COURSE_BY_ID
"""The per-row lookup of the enrollment list page: many calls, one row each."""
