"""The demo application's traffic, planned: which scenario runs when, for whom, with which parameters.

Traffic comes in rounds: each round is a shuffled mix of scenario calls (ROUND_MIX); every few rounds a class
starts and its students all open the same lesson at once (the surge). The plan comes from a seeded random
generator, so the same seed against the same database gives the same calls.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pgdba.demo.app_catalog import AppCatalog, Course, Student

DEFAULT_SEED = 42
DEFAULT_SURGE_SIZE = 80
DEFAULT_SURGE_EVERY = 5

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


class TrafficPlanner:
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
    planner = TrafficPlanner(catalog, seed, surge_size, surge_every)
    return [planner.round(i) for i in range(rounds)]
