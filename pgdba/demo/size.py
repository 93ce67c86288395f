"""How many rows the demo generator makes at a given scale."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pgdba.errors import InputError

MIN_SCALE = 0.001
MAX_SCALE = 50.0

# At scale 1.0: 20,000 users, 200 courses, a million BehaviorLog rows (the table the user watches grow).
USERS_AT_SCALE_1 = 20_000
COURSES_AT_SCALE_1 = 200
BEHAVIOR_LOGS_AT_SCALE_1 = 1_000_000
NOTIFICATIONS_AT_SCALE_1 = 300_000
USERS_PER_INSTRUCTOR = 400


@dataclass(frozen=True)
class DemoSize:
    """Row counts the generator aims at. Tables derived from enrollments (progress, attempts, payments,
    certificates) follow from these through the distributions in generate.py."""

    scale: float
    users: int
    instructors: int
    courses: int
    behavior_logs: int
    notifications: int
    modules_per_course: int = 5
    lessons_per_module: int = 6
    questions_per_quiz: int = 8
    achievements: int = 40

    @property
    def students(self) -> int:
        """Users 2 .. students + 1 are students; user 1 is the admin, the last ones are instructors."""
        return self.users - self.instructors - 1

    @property
    def lessons_per_course(self) -> int:
        return self.modules_per_course * self.lessons_per_module

    def sql_params(self) -> dict[str, int | float]:
        params: dict[str, int | float] = {k: v for k, v in asdict(self).items() if k != "scale"}
        params["students"] = self.students
        params["lessons_per_course"] = self.lessons_per_course
        return params


def demo_size(scale: float = 1.0) -> DemoSize:
    """The demo's size at `scale` (1.0 builds in well under a minute on a small machine)."""
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise InputError(f"scale must be between {MIN_SCALE} and {MAX_SCALE}, got {scale}")
    users = max(200, round(USERS_AT_SCALE_1 * scale))
    return DemoSize(
        scale=scale,
        users=users,
        instructors=max(5, round(users / USERS_PER_INSTRUCTOR)),
        courses=max(10, round(COURSES_AT_SCALE_1 * scale)),
        behavior_logs=round(BEHAVIOR_LOGS_AT_SCALE_1 * scale),
        notifications=round(NOTIFICATIONS_AT_SCALE_1 * scale),
    )
