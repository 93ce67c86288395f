"""Replay the e-learning application's traffic against the demo database.

Worker threads share one connection pool whose sessions say `application_name=elearning-app`, as the real
backend's would. Traffic comes in rounds: each round is a shuffled mix of scenarios (lesson views, progress
updates, behaviour logging, quiz submissions, dashboards, sign-ins, catalogue browsing, an N+1 list page);
every few rounds a class starts and its students all open the same lesson at once (the surge).

The plan (who does what, with which parameters) comes from a seeded random generator, so two runs with the
same seed against the same database send the same statements. Timings are service times per scenario call,
measured from the moment a worker holds a connection.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import psycopg
from psycopg import conninfo
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from pgdba.demo import queries as q
from pgdba.errors import ConnectionFailed, InputError, NotAvailable
from pgdba.target import Target

APPLICATION_NAME = "elearning-app"
APP_STATEMENT_TIMEOUT_MS = 60_000  # the user's backend pool sets statement_timeout: 60000
DEFAULT_ROUNDS = 30
DEFAULT_SEED = 42
DEFAULT_WORKERS = 8
DEFAULT_SURGE_SIZE = 80
DEFAULT_SURGE_EVERY = 5
POOL_OPEN_TIMEOUT_S = 30.0

# Scenario calls per round: roughly the proportions of a learning app's traffic.
ROUND_MIX: dict[str, int] = {
    "lesson_view": 12,
    "progress_update": 12,
    "behavior_logging": 16,
    "quiz_submit": 3,
    "student_dashboard": 4,
    "notifications": 3,
    "login": 4,
    "catalog_browse": 4,
    "n_plus_one": 6,
    "instructor_dashboard": 1,
    "admin_dashboard": 1,
}
SURGE_SCENARIO = "class_start_surge"
ROSTER_SCENARIO = "class_roster"
SCENARIOS: tuple[str, ...] = (*ROUND_MIX, ROSTER_SCENARIO, SURGE_SCENARIO)

Progress = Callable[[str, int, int], None]


class WorkloadPool(Protocol):
    """What the workload needs from a pool: psycopg_pool.ConnectionPool, or pgdba's own pool."""

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]: ...

    def close(self) -> None: ...


PoolFactory = Callable[[str, int], WorkloadPool]
"""pool_factory(conninfo, size) -> an open pool of `size` autocommit connections to `conninfo`."""


@dataclass(frozen=True)
class ScenarioTiming:
    scenario: str
    calls: int
    statements: int
    errors: int
    total_ms: float
    mean_ms: float
    p50_ms: float
    p95_ms: float
    max_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "calls": self.calls,
            "statements": self.statements,
            "errors": self.errors,
            "total_ms": round(self.total_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "max_ms": round(self.max_ms, 3),
        }


@dataclass
class WorkloadResult:
    seed: int
    workers: int
    rounds: int
    elapsed_s: float
    scenarios: dict[str, ScenarioTiming]
    error_messages: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(t.calls for t in self.scenarios.values())

    @property
    def statements(self) -> int:
        return sum(t.statements for t in self.scenarios.values())

    @property
    def errors(self) -> int:
        return sum(t.errors for t in self.scenarios.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "workers": self.workers,
            "rounds": self.rounds,
            "elapsed_s": round(self.elapsed_s, 3),
            "calls": self.calls,
            "statements": self.statements,
            "errors": self.errors,
            "error_messages": list(self.error_messages),
            "scenarios": {name: timing.to_dict() for name, timing in self.scenarios.items()},
        }


# --- what the application knows about its data -------------------------------------------------------


@dataclass(frozen=True)
class Student:
    id: uuid.UUID
    email: str
    courses: tuple[int, ...]


@dataclass(frozen=True)
class Course:
    id: int
    instructor: uuid.UUID
    category: int | None
    modules: tuple[int, ...]
    lessons: tuple[int, ...]


@dataclass(frozen=True)
class AppCatalog:
    """Ids the traffic is drawn from. Students are ordered most active first; courses most popular first."""

    students: tuple[Student, ...]
    courses: tuple[Course, ...]
    quiz_of_lesson: dict[int, int]
    categories: tuple[int, ...]
    achievements: tuple[int, ...]


# Plain scans, joined in Python: pgdba's own one-off reads must not look like slow application queries.
_CATALOG_STUDENTS = """
SELECT "id", "email"
FROM "User"
WHERE "role" = 'STUDENT'
ORDER BY "createdAt", "id"
"""

_CATALOG_ENROLLMENTS = """
SELECT "userId", "courseId"
FROM "Enrollment"
"""

_CATALOG_COURSES = """
SELECT "id", "instructorId", "categoryId"
FROM "Course"
ORDER BY "id"
"""

_CATALOG_LESSONS = """
SELECT m."courseId", m."id", l."id"
FROM "Module" AS m
JOIN "Lesson" AS l
  ON l."moduleId" = m."id"
ORDER BY m."courseId", m."position", l."position"
"""

_CATALOG_QUIZZES = """
SELECT "lessonId", "id"
FROM "Quiz"
ORDER BY "lessonId"
"""

_CATALOG_CATEGORIES = """
SELECT "id"
FROM "Category"
ORDER BY "id"
"""

_CATALOG_ACHIEVEMENTS = """
SELECT "id"
FROM "Achievement"
ORDER BY "id"
"""


def load_catalog(target: Target) -> AppCatalog:
    """Read the ids the workload draws from (pgdba's own read-only session, not application traffic)."""
    try:
        with target.connect() as conn:
            users = conn.execute(_CATALOG_STUDENTS).fetchall()
            enrollments = conn.execute(_CATALOG_ENROLLMENTS).fetchall()
            course_rows = conn.execute(_CATALOG_COURSES).fetchall()
            lesson_rows = conn.execute(_CATALOG_LESSONS).fetchall()
            quiz_of_lesson = {row[0]: row[1] for row in conn.execute(_CATALOG_QUIZZES)}
            categories = tuple(row[0] for row in conn.execute(_CATALOG_CATEGORIES))
            achievements = tuple(row[0] for row in conn.execute(_CATALOG_ACHIEVEMENTS))
    except psycopg.errors.UndefinedTable:
        raise NotAvailable(
            f"{target.database!r} has no demo schema: build it first (build_demo_database)"
        ) from None

    courses_of_user: dict[uuid.UUID, list[int]] = {}
    enrolled_in: dict[int, int] = {}
    for user, course in enrollments:
        courses_of_user.setdefault(user, []).append(course)
        enrolled_in[course] = enrolled_in.get(course, 0) + 1
    students = tuple(
        Student(user, email, tuple(sorted(courses_of_user[user])))
        for user, email in users
        if user in courses_of_user
    )
    modules: dict[int, list[int]] = {}
    lessons: dict[int, list[int]] = {}
    for course, module, lesson in lesson_rows:
        if module not in modules.setdefault(course, []):
            modules[course].append(module)
        lessons.setdefault(course, []).append(lesson)
    courses = tuple(
        sorted(
            (
                Course(course, instructor, category, tuple(modules[course]), tuple(lessons[course]))
                for course, instructor, category in course_rows
                if course in lessons
            ),
            key=lambda c: (-enrolled_in.get(c.id, 0), c.id),
        )
    )
    if not students or not courses:
        raise NotAvailable(f"{target.database!r} has no demo data: build it first (build_demo_database)")
    return AppCatalog(students, courses, quiz_of_lesson, categories, achievements)


# --- the plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    scenario: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Surge:
    course: int
    lesson: int
    size: int


@dataclass(frozen=True)
class Round:
    tasks: tuple[Task, ...]
    surge: Surge | None


class _Planner:
    """Draws each round's scenario calls from a seeded generator."""

    def __init__(self, catalog: AppCatalog, seed: int, surge_size: int, surge_every: int) -> None:
        self.catalog = catalog
        self.seed = seed
        self.rng = random.Random(seed)
        self.surge_size = surge_size
        self.surge_every = surge_every
        self.course_by_id = {c.id: c for c in catalog.courses}

    def _skewed(self, items: Sequence[Any], exponent: float = 2.5) -> Any:
        """Pick from items listed most-likely first: a power law, like the generator's activity skew."""
        return items[min(len(items) - 1, int(len(items) * self.rng.random() ** exponent))]

    def _session(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def _student_lesson(self) -> tuple[Student, Course, int]:
        student: Student = self._skewed(self.catalog.students)
        course = self.course_by_id[self.rng.choice(student.courses)]
        # learners are mostly in the first lessons of a course
        lesson = self._skewed(course.lessons, 1.8)
        return student, course, lesson

    def round(self, index: int) -> Round:
        tasks: list[Task] = []
        for scenario, count in ROUND_MIX.items():
            tasks.extend(Task(scenario, getattr(self, scenario)()) for _ in range(count))
        self.rng.shuffle(tasks)
        surge = None
        if self.surge_size and index % self.surge_every == self.surge_every // 2:
            course: Course = self._skewed(self.catalog.courses, 1.5)
            module_start = course.lessons[:: len(course.lessons) // len(course.modules)]
            surge = Surge(course.id, self.rng.choice(module_start), self.surge_size)
        return Round(tuple(tasks), surge)

    def lesson_view(self) -> tuple[Any, ...]:
        student, course, lesson = self._student_lesson()
        duration = self.rng.randint(5_000, 900_000)
        return (
            student.id,
            course.id,
            lesson,
            self.catalog.quiz_of_lesson.get(lesson),
            self._session(),
            duration,
        )

    def progress_update(self) -> tuple[Any, ...]:
        student, course, lesson = self._student_lesson()
        pct = min(100, self.rng.choice((25, 50, 75, 100, 100)))
        position = course.lessons.index(lesson) + 1
        course_progress = round(100.0 * position / len(course.lessons), 1)
        return (student.id, course.id, lesson, pct, self.rng.randint(30, 900), course_progress)

    def behavior_logging(self) -> tuple[Any, ...]:
        student, course, lesson = self._student_lesson()
        session = self._session()
        events = []
        for _ in range(self.rng.randint(2, 4)):
            action = self.rng.choice(("page_view", "video_play", "video_pause", "click", "click", "search"))
            path = f"/courses/{course.id}/lessons/{lesson}" if action == "page_view" else None
            payload = {"courseId": course.id, "lessonId": lesson, "device": self.rng.choice(("web", "ios"))}
            duration = self.rng.randint(1_000, 600_000) if action == "video_play" else None
            events.append((student.id, session, action, path, payload, duration))
        return (tuple(events),)

    def quiz_submit(self) -> tuple[Any, ...]:
        student, course, _ = self._student_lesson()
        quiz_lessons = [lesson for lesson in course.lessons if lesson in self.catalog.quiz_of_lesson]
        quiz = self.catalog.quiz_of_lesson[self.rng.choice(quiz_lessons)]
        answers = [self.rng.randint(0, 3) for _ in range(8)]
        score = 40 + self.rng.randint(0, 60)
        return (student.id, quiz, score, answers)

    def student_dashboard(self) -> tuple[Any, ...]:
        student: Student = self._skewed(self.catalog.students)
        return (student.id, self.rng.random() < 0.3)

    def notifications(self) -> tuple[Any, ...]:
        student: Student = self._skewed(self.catalog.students, 1.8)
        return (student.id,)

    def login(self) -> tuple[Any, ...]:
        student: Student = self._skewed(self.catalog.students)
        return (student.email, student.id)

    def catalog_browse(self) -> tuple[Any, ...]:
        course: Course = self._skewed(self.catalog.courses, 1.5)
        return (self.rng.choice(self.catalog.categories), course.id, self.rng.choice(course.modules))

    def n_plus_one(self) -> tuple[Any, ...]:
        # the list page matters most to the most active learners, who have the longest lists
        student: Student = self._skewed(self.catalog.students, 3.0)
        return (student.id,)

    def instructor_dashboard(self) -> tuple[Any, ...]:
        course: Course = self.rng.choice(self.catalog.courses)
        lesson = self.rng.choice(course.lessons)
        quiz_lessons = [lesson for lesson in course.lessons if lesson in self.catalog.quiz_of_lesson]
        quiz = self.catalog.quiz_of_lesson[self.rng.choice(quiz_lessons)]
        return (course.instructor, course.id, lesson, quiz)

    def admin_dashboard(self) -> tuple[Any, ...]:
        return (timedelta(hours=self.rng.choice((1, 6, 24))), self.rng.choice(self.catalog.achievements))


def plan_rounds(
    catalog: AppCatalog,
    rounds: int,
    *,
    seed: int = DEFAULT_SEED,
    surge_size: int = DEFAULT_SURGE_SIZE,
    surge_every: int = DEFAULT_SURGE_EVERY,
) -> list[Round]:
    """The first `rounds` rounds of traffic for `seed` (the same seed gives the same plan)."""
    planner = _Planner(catalog, seed, surge_size, surge_every)
    return [planner.round(i) for i in range(rounds)]


# --- the scenarios ------------------------------------------------------------------------------------


def _lesson_view(
    conn: psycopg.Connection[Any],
    user: uuid.UUID,
    course: int,
    lesson: int,
    quiz: int | None,
    session: str,
    duration: int,
) -> int:
    conn.execute(q.LESSON_BY_ID, (lesson,)).fetchall()
    conn.execute(q.ENROLLMENT_OF_USER_IN_COURSE, (user, course)).fetchall()
    conn.execute(q.LESSON_PROGRESS_OF_USER, (user, lesson)).fetchall()
    statements = 3
    if quiz is not None:
        conn.execute(q.QUIZ_OF_LESSON, (lesson,)).fetchall()
        conn.execute(q.QUESTIONS_OF_QUIZ, (quiz,)).fetchall()
        statements += 2
    payload = Jsonb({"courseId": course, "lessonId": lesson, "device": "web"})
    path = f"/courses/{course}/lessons/{lesson}"
    conn.execute(q.INSERT_BEHAVIOR_LOG, (user, session, "lesson_view", path, payload, duration))
    return statements + 1


def _save_progress(conn: psycopg.Connection[Any], user: uuid.UUID, lesson: int, pct: int, spent: int) -> int:
    """Prisma-style upsert without a unique key: update, and insert when nothing was there."""
    status = "COMPLETED" if pct >= 100 else "IN_PROGRESS"
    updated = conn.execute(q.UPDATE_LESSON_PROGRESS, (pct, status, spent, user, lesson)).rowcount
    if updated:
        return 1
    conn.execute(q.INSERT_LESSON_PROGRESS, (user, lesson, status, pct, spent))
    return 2


def _progress_update(
    conn: psycopg.Connection[Any],
    user: uuid.UUID,
    course: int,
    lesson: int,
    pct: int,
    spent: int,
    course_progress: float,
) -> int:
    with conn.transaction():
        statements = _save_progress(conn, user, lesson, pct, spent)
        conn.execute(q.UPDATE_ENROLLMENT_PROGRESS, (course_progress, user, course))
    return statements + 1


def _behavior_logging(conn: psycopg.Connection[Any], events: tuple[tuple[Any, ...], ...]) -> int:
    with conn.cursor() as cursor:
        cursor.executemany(
            q.INSERT_BEHAVIOR_LOG,
            [
                (user, session, action, path, Jsonb(payload), duration)
                for user, session, action, path, payload, duration in events
            ],
        )
    return len(events)


def _quiz_submit(
    conn: psycopg.Connection[Any], user: uuid.UUID, quiz: int, score: int, answers: list[int]
) -> int:
    # the client makes the id (Prisma's @default(uuid())); a fresh one each run, so runs can repeat
    attempt_id = str(uuid.uuid4())
    conn.execute(q.INSERT_QUIZ_ATTEMPT, (attempt_id, user, quiz, score, score >= 70, Jsonb(answers)))
    conn.execute(q.RECENT_QUIZ_ATTEMPTS, (user,)).fetchall()
    return 2


def _student_dashboard(conn: psycopg.Connection[Any], user: uuid.UUID, with_billing: bool) -> int:
    conn.execute(q.PROFILE_OF_USER, (user,)).fetchall()
    conn.execute(q.ENROLLMENTS_WITH_COURSES, (user,)).fetchall()
    conn.execute(q.RECENT_QUIZ_ATTEMPTS, (user,)).fetchall()
    conn.execute(q.UNREAD_NOTIFICATIONS, (user,)).fetchall()
    conn.execute(q.UNREAD_NOTIFICATION_COUNT, (user,)).fetchall()
    conn.execute(q.RECENT_ACTIVITY, (user, 20)).fetchall()
    conn.execute(q.BADGES_OF_USER, (user,)).fetchall()
    if with_billing:
        conn.execute(q.BILLING_HISTORY, (user,)).fetchall()
        return 8
    return 7


def _notifications(conn: psycopg.Connection[Any], user: uuid.UUID) -> int:
    unread = conn.execute(q.UNREAD_NOTIFICATIONS, (user,)).fetchall()
    if not unread:
        return 1
    conn.execute(q.MARK_NOTIFICATION_READ, (unread[0][0],))
    return 2


def _login(conn: psycopg.Connection[Any], email: str, user: uuid.UUID) -> int:
    conn.execute(q.USER_BY_EMAIL, (email,)).fetchall()
    conn.execute(q.TOUCH_LAST_LOGIN, (user,))
    return 2


def _catalog_browse(conn: psycopg.Connection[Any], category: int, course: int, module: int) -> int:
    conn.execute(q.COURSES_IN_CATEGORY, (category,)).fetchall()
    conn.execute(q.COURSE_OUTLINE, (course,)).fetchall()
    conn.execute(q.LESSONS_OF_MODULE, (module,)).fetchall()
    return 3


def _n_plus_one(conn: psycopg.Connection[Any], user: uuid.UUID) -> int:
    """The enrollment list page as an ORM writes it lazily: the list, then each row's course and teacher."""
    enrollments = conn.execute(q.ENROLLMENT_LIST, (user,)).fetchall()
    statements = 1
    for enrollment in enrollments:
        course = conn.execute(q.COURSE_BY_ID, (enrollment[1],)).fetchone()
        statements += 1
        if course is not None:
            conn.execute(q.INSTRUCTOR_NAME, (course[5],)).fetchone()
            statements += 1
    return statements


def _instructor_dashboard(
    conn: psycopg.Connection[Any], instructor: uuid.UUID, course: int, lesson: int, quiz: int
) -> int:
    conn.execute(q.COURSES_OF_INSTRUCTOR, (instructor,)).fetchall()
    conn.execute(q.COURSE_ENROLLMENT_STATS, (course,)).fetchall()
    conn.execute(q.COURSE_REVENUE, (course,)).fetchall()
    conn.execute(q.COURSE_CERTIFICATE_COUNT, (course,)).fetchall()
    conn.execute(q.LESSON_COMPLETION, (lesson,)).fetchall()
    conn.execute(q.QUIZ_SCORES, (quiz,)).fetchall()
    return 6


def _admin_dashboard(conn: psycopg.Connection[Any], window: timedelta, achievement: int) -> int:
    conn.execute(q.ACTIVITY_BY_ACTION, (window,)).fetchall()
    conn.execute(q.BADGE_HOLDER_COUNT, (achievement,)).fetchall()
    return 2


def _surge_student(
    conn: psycopg.Connection[Any], user: uuid.UUID, course: int, lesson: int, session: str
) -> int:
    """One student of the class opening the lesson the teacher just started."""
    conn.execute(q.ENROLLMENT_OF_USER_IN_COURSE, (user, course)).fetchall()
    conn.execute(q.LESSON_BY_ID, (lesson,)).fetchall()
    with conn.transaction():
        statements = _save_progress(conn, user, lesson, 0, 0)
    payload = Jsonb({"courseId": course, "lessonId": lesson, "device": "web", "live": True})
    path = f"/courses/{course}/lessons/{lesson}"
    conn.execute(q.INSERT_BEHAVIOR_LOG, (user, session, "lesson_start", path, payload, None))
    return statements + 3


_SCENARIO_FUNCTIONS: dict[str, Callable[..., int]] = {
    "lesson_view": _lesson_view,
    "progress_update": _progress_update,
    "behavior_logging": _behavior_logging,
    "quiz_submit": _quiz_submit,
    "student_dashboard": _student_dashboard,
    "notifications": _notifications,
    "login": _login,
    "catalog_browse": _catalog_browse,
    "n_plus_one": _n_plus_one,
    "instructor_dashboard": _instructor_dashboard,
    "admin_dashboard": _admin_dashboard,
    SURGE_SCENARIO: _surge_student,
}


# --- running it ---------------------------------------------------------------------------------------


class _Recorder:
    """Collects per-call timings from the worker threads."""

    MAX_MESSAGES = 5

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.durations: dict[str, list[float]] = {name: [] for name in SCENARIOS}
        self.statements: dict[str, int] = dict.fromkeys(SCENARIOS, 0)
        self.errors: dict[str, int] = dict.fromkeys(SCENARIOS, 0)
        self.messages: list[str] = []

    def record(self, scenario: str, ms: float, statements: int) -> None:
        with self._lock:
            self.durations[scenario].append(ms)
            self.statements[scenario] += statements

    def fail(self, scenario: str, error: BaseException) -> None:
        with self._lock:
            self.errors[scenario] += 1
            message = f"{scenario}: {type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
            if len(self.messages) < self.MAX_MESSAGES and message not in self.messages:
                self.messages.append(message)

    def timings(self) -> dict[str, ScenarioTiming]:
        result = {}
        for name in SCENARIOS:
            values = sorted(self.durations[name])
            if not values and not self.errors[name]:
                continue
            total = sum(values)
            result[name] = ScenarioTiming(
                scenario=name,
                calls=len(values),
                statements=self.statements[name],
                errors=self.errors[name],
                total_ms=total,
                mean_ms=total / len(values) if values else 0.0,
                p50_ms=_percentile(values, 0.50),
                p95_ms=_percentile(values, 0.95),
                max_ms=values[-1] if values else 0.0,
            )
        return result


def _percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for no values)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def application_conninfo(target: Target) -> str:
    """The target's connection string as the application would use it: its own name and timeout, read-write."""
    params = target.params()
    options = f"{params.get('options') or ''} -c statement_timeout={APP_STATEMENT_TIMEOUT_MS}".strip()
    params.update(application_name=APPLICATION_NAME, options=options)
    params.setdefault("connect_timeout", target.connect_timeout_s)
    return conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


def open_application_pool(conninfo_string: str, size: int) -> ConnectionPool:
    """The default pool: psycopg_pool with `size` autocommit connections, opened and filled."""
    pool = ConnectionPool(
        conninfo_string,
        min_size=size,
        max_size=size,
        kwargs={"autocommit": True},
        open=False,
        name=APPLICATION_NAME,
    )
    try:
        pool.open(wait=True, timeout=POOL_OPEN_TIMEOUT_S)
    except PoolTimeout:
        pool.close()
        raise
    return pool


def run_workload(
    target: Target,
    *,
    rounds: int | None = None,
    duration_s: float | None = None,
    workers: int = DEFAULT_WORKERS,
    seed: int = DEFAULT_SEED,
    surge_size: int = DEFAULT_SURGE_SIZE,
    surge_every: int = DEFAULT_SURGE_EVERY,
    pool_factory: PoolFactory | None = None,
    progress: Progress | None = None,
) -> WorkloadResult:
    """Replay the application's traffic for `rounds` rounds (default 30), or for about `duration_s` seconds.

    Writes to the database (behaviour logs, progress, attempts): run it against the demo database only.
    """
    if rounds is not None and duration_s is not None:
        raise InputError("give either rounds or duration_s, not both")
    if rounds is None and duration_s is None:
        rounds = DEFAULT_ROUNDS
    if rounds is not None and rounds < 1:
        raise InputError(f"rounds must be at least 1, got {rounds}")
    if duration_s is not None and duration_s <= 0:
        raise InputError(f"duration_s must be positive, got {duration_s}")
    if not 1 <= workers <= 64:
        raise InputError(f"workers must be between 1 and 64, got {workers}")
    if surge_size < 0 or surge_every < 1:
        raise InputError("surge_size must be >= 0 and surge_every >= 1")

    catalog = load_catalog(target)
    planner = _Planner(catalog, seed, surge_size, surge_every)
    recorder = _Recorder()
    factory = pool_factory or open_application_pool
    try:
        pool = factory(application_conninfo(target), workers)
    except (PoolTimeout, psycopg.OperationalError):
        raise ConnectionFailed(f"the workload pool cannot connect to {target.masked_dsn}") from None

    started = time.perf_counter()
    done = 0
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="elearning-app") as executor:
            while True:
                elapsed = time.perf_counter() - started
                if rounds is not None and done >= rounds:
                    break
                if duration_s is not None and elapsed >= duration_s:
                    break
                plan = planner.round(done)
                _run_round(executor, pool, plan, recorder, seed, done)
                done += 1
                if progress:
                    if rounds is not None:
                        progress("workload", done, rounds)
                    else:
                        progress(
                            "workload",
                            min(int(time.perf_counter() - started), int(duration_s or 0)),
                            int(duration_s or 0),
                        )
    finally:
        pool.close()
    elapsed = time.perf_counter() - started

    timings = recorder.timings()
    if timings and all(t.calls == 0 for t in timings.values()):
        raise NotAvailable("every workload call failed: " + "; ".join(recorder.messages))
    return WorkloadResult(seed, workers, done, elapsed, timings, list(recorder.messages))


def _run_round(
    executor: ThreadPoolExecutor, pool: WorkloadPool, plan: Round, recorder: _Recorder, seed: int, index: int
) -> None:
    futures = [executor.submit(_run_call, pool, task.scenario, task.args, recorder) for task in plan.tasks]
    _wait(futures)
    if plan.surge is None:
        return
    students = _roster(pool, plan.surge, recorder)
    # every student of the class at once: the whole burst is queued before the first one finishes
    surge_calls = [
        executor.submit(
            _run_call,
            pool,
            SURGE_SCENARIO,
            (student, plan.surge.course, plan.surge.lesson, _surge_session(seed, index, student)),
            recorder,
        )
        for student in students
    ]
    _wait(surge_calls)


def _roster(pool: WorkloadPool, surge: Surge, recorder: _Recorder) -> list[uuid.UUID]:
    try:
        with pool.connection() as conn:
            started = time.perf_counter()
            rows = conn.execute(q.COURSE_ROSTER, (surge.course, surge.size)).fetchall()
            recorder.record(ROSTER_SCENARIO, (time.perf_counter() - started) * 1000, 1)
    except (psycopg.Error, PoolTimeout) as exc:
        recorder.fail(ROSTER_SCENARIO, exc)
        return []
    return [row[0] for row in rows]


def _surge_session(seed: int, index: int, student: uuid.UUID) -> str:
    return hashlib.md5(f"{seed}:{index}:{student}".encode(), usedforsecurity=False).hexdigest()[:16]


def _run_call(pool: WorkloadPool, scenario: str, args: tuple[Any, ...], recorder: _Recorder) -> None:
    try:
        with pool.connection() as conn:
            started = time.perf_counter()
            statements = _SCENARIO_FUNCTIONS[scenario](conn, *args)
            recorder.record(scenario, (time.perf_counter() - started) * 1000, statements)
    except (psycopg.Error, PoolTimeout) as exc:
        recorder.fail(scenario, exc)


def _wait(futures: list[Future[None]]) -> None:
    for future in futures:
        future.result()
