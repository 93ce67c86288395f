"""What each scenario of the demo application sends: the statements of one call, on one pooled connection.

Each function returns how many statements it ran. The SQL is in queries.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgdba.demo import queries as q
from pgdba.demo.traffic_plan import SURGE_SCENARIO


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


SCENARIO_FUNCTIONS: dict[str, Callable[..., int]] = {
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
