"""The SQL the demo application sends, with bind parameters (pg_stat_statements shows them as $1, $2 …).

Each constant is one statement an e-learning backend (Prisma-style: quoted PascalCase tables, camelCase
columns) would run. The comments name the index each query leans on; "MISSING" marks the ones planted
without their index (see planted.py).
"""

from __future__ import annotations

# --- lesson view -----------------------------------------------------------------------------------

LESSON_BY_ID = """
SELECT "id", "moduleId", "title", "content", "videoUrl", "durationSec", "position"
FROM "Lesson"
WHERE "id" = %s
"""

ENROLLMENT_OF_USER_IN_COURSE = """
SELECT "id", "status", "progress"
FROM "Enrollment"
WHERE "userId" = %s
  AND "courseId" = %s
"""

# MISSING: LessonProgress("userId", "lessonId")
LESSON_PROGRESS_OF_USER = """
SELECT "id", "status", "progressPct", "timeSpentSec", "lastViewedAt"
FROM "LessonProgress"
WHERE "userId" = %s
  AND "lessonId" = %s
"""

QUIZ_OF_LESSON = """
SELECT "id", "title", "passingScore", "timeLimitSec"
FROM "Quiz"
WHERE "lessonId" = %s
"""

QUESTIONS_OF_QUIZ = """
SELECT "id", "prompt", "options", "position"
FROM "Question"
WHERE "quizId" = %s
ORDER BY "position"
"""

# --- progress updates --------------------------------------------------------------------------------

# MISSING: LessonProgress("userId", "lessonId")
UPDATE_LESSON_PROGRESS = """
UPDATE "LessonProgress"
SET "progressPct" = %s,
    "status" = %s::"ProgressStatus",
    "timeSpentSec" = "timeSpentSec" + %s,
    "lastViewedAt" = CURRENT_TIMESTAMP,
    "updatedAt" = CURRENT_TIMESTAMP
WHERE "userId" = %s
  AND "lessonId" = %s
"""

INSERT_LESSON_PROGRESS = """
INSERT INTO "LessonProgress" ("userId", "lessonId", "status", "progressPct", "timeSpentSec", "lastViewedAt", "updatedAt")
VALUES (%s, %s, %s::"ProgressStatus", %s, %s, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)
"""

UPDATE_ENROLLMENT_PROGRESS = """
UPDATE "Enrollment"
SET "progress" = %s,
    "updatedAt" = CURRENT_TIMESTAMP
WHERE "userId" = %s
  AND "courseId" = %s
"""

# --- behaviour logging -------------------------------------------------------------------------------

INSERT_BEHAVIOR_LOG = """
INSERT INTO "BehaviorLog" ("userId", "sessionId", "action", "path", "payload", "durationMs", "timestamp")
VALUES (%s, %s, %s, %s, %s, %s, CURRENT_TIMESTAMP)
"""

# --- quizzes -----------------------------------------------------------------------------------------

INSERT_QUIZ_ATTEMPT = """
INSERT INTO "QuizAttempt" ("id", "userId", "quizId", "score", "passed", "answers", "startedAt", "submittedAt", "createdAt")
VALUES (%s, %s, %s, %s, %s, %s, CURRENT_TIMESTAMP - interval '10 minutes', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)
"""

# MISSING: QuizAttempt("userId", "createdAt")
RECENT_QUIZ_ATTEMPTS = """
SELECT "id", "quizId", "score", "passed", "createdAt"
FROM "QuizAttempt"
WHERE "userId" = %s
ORDER BY "createdAt" DESC
LIMIT 10
"""

# --- student dashboard -------------------------------------------------------------------------------

PROFILE_OF_USER = """
SELECT "id", "bio", "avatarUrl", "timezone", "locale", "xp", "streakDays"
FROM "Profile"
WHERE "userId" = %s
"""

ENROLLMENTS_WITH_COURSES = """
SELECT e."id", e."courseId", e."status", e."progress", c."title", c."slug"
FROM "Enrollment" AS e
JOIN "Course" AS c
  ON c."id" = e."courseId"
WHERE e."userId" = %s
ORDER BY e."enrolledAt" DESC
"""

# MISSING: Notification("userId") WHERE "isRead" = false (a partial index fits: most notifications are read)
UNREAD_NOTIFICATIONS = """
SELECT "id", "type", "title", "createdAt"
FROM "Notification"
WHERE "userId" = %s
  AND "isRead" = false
ORDER BY "createdAt" DESC
LIMIT 20
"""

# MISSING: Notification("userId") WHERE "isRead" = false
UNREAD_NOTIFICATION_COUNT = """
SELECT count(*)
FROM "Notification"
WHERE "userId" = %s
  AND "isRead" = false
"""

MARK_NOTIFICATION_READ = """
UPDATE "Notification"
SET "isRead" = true,
    "readAt" = CURRENT_TIMESTAMP
WHERE "id" = %s
"""

# MISSING: BehaviorLog("userId", "timestamp") — the query in the user's own optimizer report
RECENT_ACTIVITY = """
SELECT "id", "action", "path", "payload", "timestamp"
FROM "BehaviorLog"
WHERE "userId" = %s
ORDER BY "timestamp" DESC
LIMIT %s
"""

BADGES_OF_USER = """
SELECT a."code", a."name", a."points", ua."earnedAt"
FROM "UserAchievement" AS ua
JOIN "Achievement" AS a
  ON a."id" = ua."achievementId"
WHERE ua."userId" = %s
ORDER BY ua."earnedAt" DESC
"""

BILLING_HISTORY = """
SELECT "id", "courseId", "amount", "currency", "status", "createdAt"
FROM "Transaction"
WHERE "userId" = %s
ORDER BY "createdAt" DESC
LIMIT 20
"""

# --- sign-in and catalogue ---------------------------------------------------------------------------

USER_BY_EMAIL = """
SELECT "id", "passwordHash", "role", "emailVerified"
FROM "User"
WHERE "email" = %s
"""

TOUCH_LAST_LOGIN = """
UPDATE "User"
SET "lastLoginAt" = CURRENT_TIMESTAMP
WHERE "id" = %s
"""

COURSES_IN_CATEGORY = """
SELECT "id", "title", "slug", "level", "price"
FROM "Course"
WHERE "categoryId" = %s
  AND "isPublished" = true
ORDER BY "createdAt" DESC
LIMIT 20
"""

COURSE_OUTLINE = """
SELECT m."id", m."title", m."position", l."id", l."title", l."durationSec", l."position"
FROM "Module" AS m
JOIN "Lesson" AS l
  ON l."moduleId" = m."id"
WHERE m."courseId" = %s
ORDER BY m."position", l."position"
"""

LESSONS_OF_MODULE = """
SELECT "id", "title", "durationSec", "isPreview"
FROM "Lesson"
WHERE "moduleId" = %s
ORDER BY "position"
"""

# --- N+1: a list page, then one lookup per row ---------------------------------------------------------

ENROLLMENT_LIST = """
SELECT "id", "courseId", "status", "progress", "enrolledAt"
FROM "Enrollment"
WHERE "userId" = %s
ORDER BY "enrolledAt" DESC
"""

# the N+1 lookup: one call per enrollment row, one row each
COURSE_BY_ID = """
SELECT "id", "title", "slug", "level", "price", "instructorId"
FROM "Course"
WHERE "id" = %s
"""

INSTRUCTOR_NAME = """
SELECT "id", "name"
FROM "User"
WHERE "id" = %s
"""

# --- instructor and admin dashboards -----------------------------------------------------------------

COURSES_OF_INSTRUCTOR = """
SELECT "id", "title", "isPublished", "price"
FROM "Course"
WHERE "instructorId" = %s
ORDER BY "createdAt" DESC
"""

# MISSING: Enrollment("courseId") — a foreign key without an index
COURSE_ENROLLMENT_STATS = """
SELECT "status", count(*), avg("progress")
FROM "Enrollment"
WHERE "courseId" = %s
GROUP BY "status"
"""

COURSE_REVENUE = """
SELECT "currency", sum("amount")
FROM "Transaction"
WHERE "courseId" = %s
  AND "status" = 'SUCCEEDED'
GROUP BY "currency"
"""

COURSE_CERTIFICATE_COUNT = """
SELECT count(*)
FROM "Certificate"
WHERE "courseId" = %s
"""

LESSON_COMPLETION = """
SELECT "status", count(*)
FROM "LessonProgress"
WHERE "lessonId" = %s
GROUP BY "status"
"""

QUIZ_SCORES = """
SELECT count(*), avg("score"), count(*) FILTER (WHERE "passed")
FROM "QuizAttempt"
WHERE "quizId" = %s
"""

ACTIVITY_BY_ACTION = """
SELECT "action", count(*)
FROM "BehaviorLog"
WHERE "timestamp" >= LOCALTIMESTAMP - %s
GROUP BY "action"
ORDER BY count(*) DESC
"""

BADGE_HOLDER_COUNT = """
SELECT count(*)
FROM "UserAchievement"
WHERE "achievementId" = %s
"""

# --- class-start surge -------------------------------------------------------------------------------

# MISSING: Enrollment("courseId")
COURSE_ROSTER = """
SELECT "userId"
FROM "Enrollment"
WHERE "courseId" = %s
  AND "status" = 'ACTIVE'
ORDER BY "enrolledAt"
LIMIT %s
"""
