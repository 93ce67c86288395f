"""What the demo application knows about its data: the ids its traffic is drawn from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg

from pgdba.errors import NotAvailable
from pgdba.target import Target


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
