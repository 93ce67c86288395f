"""The demo data generator: one INSERT … SELECT generate_series per table, run inside PostgreSQL.

Distributions are skewed on purpose, as on a real learning platform: user activity follows a power law
(student n is picked with probability ~ n^-0.6, so the first 1 % of students produce ~16 % of the events),
course popularity too (a handful of courses hold most enrollments), most learners drop off after a few
lessons, and activity spreads over the last 90 days with a bias to recent days. Append-only tables
(BehaviorLog, Notification) are written in time order, as an application appends them.

Ids are derived from row numbers (md5(...)::uuid) and random() is seeded, so a build is repeatable.
Users are numbered: 1 is the admin, 2 .. students+1 are students (lower numbers are more active), the
last `instructors` users teach. Course c has lessons (c-1)*30+1 .. c*30; each module's last lesson has the quiz.
"""

from __future__ import annotations

from dataclasses import dataclass

# a skewed student number: 2 is the most active student, students+1 the least
_ACTIVE_STUDENT = "2 + floor(%(students)s::int * power(random(), 2.5))::int"
# a skewed course number: course 1 is the most popular
_POPULAR_COURSE = "1 + floor(%(courses)s::int * power(random(), 2.5))::int"


@dataclass(frozen=True)
class TableLoad:
    table: str
    sql: str


USER = TableLoad(
    "User",
    """
INSERT INTO "User" ("id", "email", "name", "passwordHash", "role", "emailVerified", "lastLoginAt", "createdAt", "updatedAt")
SELECT md5('user' || n)::uuid,
       'user' || n || '@example.com',
       CASE WHEN mod(n, 9) <> 0
            THEN (ARRAY['An', 'Binh', 'Chi', 'Dung', 'Hoa', 'Khoa', 'Linh', 'Minh', 'Nam', 'Thao'])[1 + mod(n, 10)]
                 || ' ' || (ARRAY['Nguyen', 'Tran', 'Le', 'Pham', 'Hoang', 'Vu', 'Smith', 'Garcia'])[1 + mod(n / 10, 8)]
       END,
       '$2b$10$' || substr(md5('salt' || n) || md5('hash' || n), 1, 53),
       (CASE WHEN n = 1 THEN 'ADMIN' WHEN n > %(students)s::int + 1 THEN 'INSTRUCTOR' ELSE 'STUDENT' END)::"Role",
       mod(n, 5) <> 0,
       %(anchor)s - interval '30 days' * random() * (n::float8 / %(users)s::int),
       %(anchor)s - interval '400 days' + interval '365 days' * (n::float8 / %(users)s::int),
       %(anchor)s - interval '30 days' * random()
FROM generate_series(1, %(users)s::int) AS n
""",
)

PROFILE = TableLoad(
    "Profile",
    """
INSERT INTO "Profile" ("id", "userId", "bio", "avatarUrl", "timezone", "locale", "dateOfBirth", "xp", "streakDays", "updatedAt")
SELECT md5('profile' || n)::uuid,
       md5('user' || n)::uuid,
       CASE WHEN mod(n, 3) = 0 THEN 'Learning personal finance one lesson at a time.' END,
       CASE WHEN mod(n, 4) <> 0 THEN 'https://cdn.example.com/avatars/' || n || '.png' END,
       (ARRAY['UTC', 'Asia/Ho_Chi_Minh', 'Europe/Berlin', 'America/New_York'])[1 + mod(n, 4)],
       (ARRAY['en', 'vi', 'de'])[1 + mod(n, 3)],
       CASE WHEN mod(n, 6) <> 0 THEN date '1975-01-01' + mod(n * 7919, 12000) END,
       floor(20000 * random() * power(1 - n::float8 / %(users)s::int, 6))::int,
       floor(60 * power(random(), 3))::int,
       %(anchor)s - interval '30 days' * random()
FROM generate_series(1, %(users)s::int) AS n
WHERE mod(n, 10) <> 7
""",
)

CATEGORY = TableLoad(
    "Category",
    """
INSERT INTO "Category" ("id", "name", "slug")
SELECT i,
       name,
       trim(BOTH '-' FROM regexp_replace(lower(name), '[^a-z]+', '-', 'g'))
FROM unnest(ARRAY['Personal Finance', 'Investing', 'Budgeting', 'Cryptocurrency', 'Banking', 'Taxes',
                  'Retirement', 'Real Estate', 'Entrepreneurship', 'Insurance', 'Credit and Debt',
                  'Money for Kids']) WITH ORDINALITY AS c(name, i)
""",
)

COURSE = TableLoad(
    "Course",
    """
INSERT INTO "Course" ("id", "categoryId", "instructorId", "title", "slug", "description", "level", "price", "tags", "isPublished", "publishedAt", "createdAt", "updatedAt")
SELECT c,
       CASE WHEN mod(c, 17) <> 0 THEN 1 + mod(c, 12) END,
       md5('user' || (%(students)s::int + 2 + mod(c, %(instructors)s::int)))::uuid,
       (ARRAY['Budgeting', 'Investing', 'Saving', 'Credit', 'Crypto', 'Taxes', 'Retirement', 'Insurance'])[1 + mod(c, 8)]
       || ' ' || (ARRAY['Basics', 'Essentials', 'Masterclass', 'Bootcamp', 'in Practice', 'for Beginners'])[1 + mod(c / 8, 6)]
       || ' #' || c,
       'course-' || c,
       'A practical course with video lessons, quizzes and a certificate.',
       (ARRAY['BEGINNER', 'INTERMEDIATE', 'ADVANCED'])[1 + mod(c, 3)]::"CourseLevel",
       CASE WHEN mod(c, 4) = 0 THEN 0 ELSE 9.99 + mod(c * 37, 190) END,
       ARRAY['finance', (ARRAY['budget', 'stocks', 'savings', 'credit'])[1 + mod(c, 4)]],
       mod(c, 10) <> 9,
       CASE WHEN mod(c, 10) <> 9
            THEN %(anchor)s - interval '393 days' + interval '300 days' * (c::float8 / %(courses)s::int)
       END,
       %(anchor)s - interval '400 days' + interval '300 days' * (c::float8 / %(courses)s::int),
       %(anchor)s - interval '60 days' * random()
FROM generate_series(1, %(courses)s::int) AS c
""",
)

MODULE = TableLoad(
    "Module",
    """
INSERT INTO "Module" ("id", "courseId", "title", "position", "createdAt")
SELECT (c - 1) * %(modules_per_course)s::int + m,
       c,
       'Module ' || m || ': ' || (ARRAY['Foundations', 'Core ideas', 'Tools', 'Case studies', 'Next steps'])[1 + mod(m - 1, 5)],
       m,
       %(anchor)s - interval '300 days'
FROM generate_series(1, %(courses)s::int) AS c,
     generate_series(1, %(modules_per_course)s::int) AS m
""",
)

LESSON = TableLoad(
    "Lesson",
    """
INSERT INTO "Lesson" ("id", "moduleId", "title", "content", "videoUrl", "durationSec", "position", "isPreview", "createdAt", "updatedAt")
SELECT (mo - 1) * %(lessons_per_module)s::int + l,
       mo,
       'Lesson ' || l || ' of module ' || mo,
       repeat('Compound interest rewards patience; spend less than you earn and invest the rest. ', 2 + mod(mo * l, 5)),
       'https://video.example.com/lessons/' || mo || '-' || l || '.mp4',
       240 + mod(mo * 31 + l * 17, 900),
       l,
       l = 1 AND mod(mo, %(modules_per_course)s::int) = 1,
       %(anchor)s - interval '300 days',
       %(anchor)s - interval '100 days'
FROM generate_series(1, %(courses)s::int * %(modules_per_course)s::int) AS mo,
     generate_series(1, %(lessons_per_module)s::int) AS l
""",
)

QUIZ = TableLoad(
    "Quiz",
    """
INSERT INTO "Quiz" ("id", "lessonId", "title", "passingScore", "timeLimitSec", "createdAt")
SELECT mo,
       mo * %(lessons_per_module)s::int,
       'Check your understanding: module ' || mo,
       CASE WHEN mod(mo, 5) = 0 THEN 80 ELSE 70 END,
       CASE WHEN mod(mo, 3) = 0 THEN 600 END,
       %(anchor)s - interval '300 days'
FROM generate_series(1, %(courses)s::int * %(modules_per_course)s::int) AS mo
""",
)

QUESTION = TableLoad(
    "Question",
    """
INSERT INTO "Question" ("id", "quizId", "prompt", "options", "correctIndex", "position")
SELECT (q - 1) * %(questions_per_quiz)s::int + p,
       q,
       'Question ' || p || ': which choice keeps more money working for you?',
       '["Spend it now", "Keep it in cash", "Invest it regularly", "Lend it without interest"]'::jsonb,
       mod(q * p, 4)::smallint,
       p
FROM generate_series(1, %(courses)s::int * %(modules_per_course)s::int) AS q,
     generate_series(1, %(questions_per_quiz)s::int) AS p
""",
)

ACHIEVEMENT = TableLoad(
    "Achievement",
    """
INSERT INTO "Achievement" ("id", "code", "name", "description", "points", "iconUrl", "createdAt")
SELECT a,
       'ACH_' || lpad(a::text, 3, '0'),
       (ARRAY['First Steps', 'Streak', 'Quiz Whiz', 'Saver', 'Investor'])[1 + mod(a, 5)] || ' ' || a,
       'Awarded for reaching milestone ' || a || '.',
       10 * (1 + mod(a, 5)),
       CASE WHEN mod(a, 4) <> 0 THEN 'https://cdn.example.com/badges/' || a || '.svg' END,
       %(anchor)s - interval '365 days'
FROM generate_series(1, %(achievements)s::int) AS a
""",
)

# Each student enrolls in 1..3 courses, the most active ones in up to 13; courses picked by popularity.
ENROLLMENT = TableLoad(
    "Enrollment",
    f"""
INSERT INTO "Enrollment" ("id", "userId", "courseId", "status", "progress", "enrolledAt", "completedAt", "updatedAt")
SELECT md5('enrollment' || n || ':' || c)::uuid::text,
       md5('user' || n)::uuid,
       c,
       status::"EnrollmentStatus",
       CASE WHEN status = 'COMPLETED' THEN 100 ELSE round((100 * power(r_progress, 5))::numeric, 1)::float8 END,
       enrolled,
       CASE WHEN status = 'COMPLETED' THEN least(%(anchor)s, enrolled + interval '10 days' + interval '40 days' * r_progress) END,
       enrolled
FROM (
    SELECT n,
           c,
           r_progress,
           %(anchor)s - interval '180 days' * r_enrolled AS enrolled,
           CASE WHEN r_status < 0.08 THEN 'COMPLETED'
                WHEN r_status < 0.14 THEN 'CANCELLED'
                WHEN r_status < 0.17 THEN 'EXPIRED'
                ELSE 'ACTIVE'
           END AS status
    FROM (
        SELECT n,
               c,
               random() AS r_status,
               random() AS r_progress,
               random() AS r_enrolled
        FROM (
            SELECT DISTINCT n,
                   {_POPULAR_COURSE} AS c
            FROM generate_series(2, %(students)s::int + 1) AS n,
                 generate_series(1, 1 + floor(random() * (2 + 10 * power(1 - n::float8 / %(students)s::int, 6)))::int) AS k
        ) AS picks
    ) AS draws
) AS enrollments
""",
)

# Learners work through a course in order; most stop after a few lessons.
LESSON_PROGRESS = TableLoad(
    "LessonProgress",
    """
INSERT INTO "LessonProgress" ("userId", "lessonId", "status", "progressPct", "timeSpentSec", "lastViewedAt", "completedAt", "updatedAt")
SELECT e."userId",
       (e."courseId" - 1) * %(lessons_per_course)s::int + k,
       (CASE WHEN finished THEN 'COMPLETED' ELSE 'IN_PROGRESS' END)::"ProgressStatus",
       CASE WHEN finished THEN 100 ELSE floor(95 * r)::int END,
       floor(120 + 1500 * r)::int,
       viewed,
       CASE WHEN finished THEN viewed END,
       viewed
FROM (
    SELECT e."userId",
           e."courseId",
           k,
           k < e.done OR e."status" = 'COMPLETED' AS finished,
           random() AS r,
           least(%(anchor)s, e."enrolledAt" + interval '1 day' * k * (0.2 + random())) AS viewed
    FROM (
        SELECT "userId",
               "courseId",
               "status",
               "enrolledAt",
               greatest(1, ceil("progress" * %(lessons_per_course)s::int / 100.0))::int AS done
        FROM "Enrollment"
        ORDER BY "enrolledAt"
    ) AS e,
         generate_series(1, e.done) AS k
) AS e
""",
)

# One to three attempts at the quiz of each module a learner reached the end of.
QUIZ_ATTEMPT = TableLoad(
    "QuizAttempt",
    """
INSERT INTO "QuizAttempt" ("id", "userId", "quizId", "score", "passed", "answers", "startedAt", "submittedAt", "createdAt")
SELECT md5('attempt' || id || ':' || a)::uuid::text,
       "userId",
       quiz,
       score,
       score >= 70,
       (ARRAY['[0,1,2,3,0,1,2,3]', '[2,2,1,0,3,1,2,0]', '[1,3,2,0,2,1,0,3]'])[1 + mod(a, 3)]::jsonb,
       created - interval '12 minutes',
       created,
       created
FROM (
    SELECT lp."id",
           lp."userId",
           lp."lessonId" / %(lessons_per_module)s::int AS quiz,
           a,
           40 + floor(61 * random())::int AS score,
           least(%(anchor)s, lp."lastViewedAt" + interval '1 hour' * a) AS created
    FROM "LessonProgress" AS lp,
         generate_series(1, 1 + floor(2.5 * random())::int) AS a
    WHERE mod(lp."lessonId", %(lessons_per_module)s::int) = 0
) AS attempts
""",
)

BEHAVIOR_LOG = TableLoad(
    "BehaviorLog",
    f"""
WITH users AS MATERIALIZED (
    -- the user ids once, as an array: far cheaper than md5() for every one of a million rows
    SELECT array_agg(md5('user' || n)::uuid ORDER BY n) AS ids
    FROM generate_series(1, %(users)s::int) AS n
)
INSERT INTO "BehaviorLog" ("userId", "sessionId", "action", "path", "payload", "durationMs", "timestamp")
SELECT (SELECT ids FROM users)[u],
       lpad(to_hex(u::bigint * 1048576 + floor(age_hours)::bigint), 12, '0'),
       action,
       CASE WHEN action IN ('page_view', 'lesson_view') THEN '/courses/' || course || '/lessons/' || lesson END,
       jsonb_build_object('courseId', course, 'lessonId', lesson, 'device', device),
       CASE WHEN action IN ('lesson_view', 'video_play') THEN floor(1000 + 600000 * r)::int END,
       %(anchor)s - interval '1 hour' * age_hours
FROM (
    SELECT {_ACTIVE_STUDENT} AS u,
           (ARRAY['page_view', 'page_view', 'lesson_view', 'lesson_view', 'lesson_view', 'video_play',
                  'video_pause', 'quiz_start', 'quiz_submit', 'search', 'click', 'click'])[1 + floor(12 * random())::int] AS action,
           2160 * power(1 - i::float8 / %(behavior_logs)s::int, 1.15) AS age_hours,
           {_POPULAR_COURSE} AS course,
           1 + floor(%(lessons_per_course)s::int * random())::int AS lesson,
           (ARRAY['web', 'ios', 'android'])[1 + floor(3 * random())::int] AS device,
           random() AS r
    FROM generate_series(1, %(behavior_logs)s::int) AS i
) AS events
""",
)

# Old notifications are mostly read, the last week's mostly not.
NOTIFICATION = TableLoad(
    "Notification",
    """
INSERT INTO "Notification" ("id", "userId", "type", "title", "body", "isRead", "createdAt", "readAt")
SELECT md5('notification' || i)::uuid,
       md5('user' || u)::uuid,
       type::"NotificationType",
       CASE type WHEN 'REMINDER' THEN 'Keep your streak going'
                 WHEN 'ACHIEVEMENT' THEN 'You earned a badge'
                 WHEN 'PAYMENT' THEN 'Payment received'
                 WHEN 'COURSE_UPDATE' THEN 'New lesson available'
                 ELSE 'Scheduled maintenance'
       END,
       'Open the app to see the details.',
       is_read,
       created,
       CASE WHEN is_read THEN created + interval '6 hours' * r END
FROM (
    SELECT i,
           u,
           type,
           created,
           r,
           r < CASE WHEN created < %(anchor)s - interval '7 days' THEN 0.95 ELSE 0.4 END AS is_read
    FROM (
        SELECT i,
               2 + floor(%(students)s::int * power(random(), 1.8))::int AS u,
               (ARRAY['REMINDER', 'REMINDER', 'COURSE_UPDATE', 'COURSE_UPDATE', 'ACHIEVEMENT', 'PAYMENT', 'SYSTEM'])[1 + floor(7 * random())::int] AS type,
               %(anchor)s - interval '90 days' * power(1 - i::float8 / %(notifications)s::int, 1.2) AS created,
               random() AS r
        FROM generate_series(1, %(notifications)s::int) AS i
    ) AS drawn
) AS notifications
""",
)

# One payment per enrollment in a paid course.
TRANSACTION = TableLoad(
    "Transaction",
    """
INSERT INTO "Transaction" ("id", "userId", "courseId", "amount", "currency", "status", "provider", "providerRef", "paidAt", "createdAt")
SELECT md5('transaction' || e."id")::uuid,
       e."userId",
       e."courseId",
       c."price",
       'USD',
       status::"TransactionStatus",
       (ARRAY['stripe', 'momo', 'vnpay', 'paypal'])[1 + mod(abs(hashtext(e."id")), 4)],
       'pay_' || substr(md5('ref' || e."id"), 1, 24),
       CASE WHEN status IN ('SUCCEEDED', 'REFUNDED') THEN e."enrolledAt" END,
       e."enrolledAt"
FROM (
    SELECT "id",
           "userId",
           "courseId",
           "enrolledAt",
           CASE WHEN r < 0.90 THEN 'SUCCEEDED'
                WHEN r < 0.95 THEN 'FAILED'
                WHEN r < 0.98 THEN 'REFUNDED'
                ELSE 'PENDING'
           END AS status
    FROM (
        SELECT "id",
               "userId",
               "courseId",
               "enrolledAt",
               random() AS r
        FROM "Enrollment"
        ORDER BY "enrolledAt"
    ) AS drawn
) AS e
JOIN "Course" AS c
  ON c."id" = e."courseId"
WHERE c."price" > 0
""",
)

# Active students collect far more badges.
USER_ACHIEVEMENT = TableLoad(
    "UserAchievement",
    """
INSERT INTO "UserAchievement" ("userId", "achievementId", "earnedAt")
SELECT md5('user' || n)::uuid,
       a,
       %(anchor)s - interval '90 days' * random()
FROM generate_series(2, %(students)s::int + 1) AS n,
     generate_series(1, %(achievements)s::int) AS a
WHERE random() < 0.02 + 0.3 * power(1 - n::float8 / %(students)s::int, 8)
""",
)

CERTIFICATE = TableLoad(
    "Certificate",
    """
INSERT INTO "Certificate" ("id", "userId", "courseId", "code", "issuedAt", "pdfUrl")
SELECT md5('certificate' || "id")::uuid,
       "userId",
       "courseId",
       upper(substr(md5('code' || "id"), 1, 16)),
       "completedAt",
       'https://cdn.example.com/certificates/' || "id" || '.pdf'
FROM "Enrollment"
WHERE "status" = 'COMPLETED'
""",
)

# Order matters: derived tables read the ones loaded before them.
TABLE_LOADS: tuple[TableLoad, ...] = (
    USER,
    PROFILE,
    CATEGORY,
    COURSE,
    MODULE,
    LESSON,
    QUIZ,
    QUESTION,
    ACHIEVEMENT,
    ENROLLMENT,
    LESSON_PROGRESS,
    QUIZ_ATTEMPT,
    BEHAVIOR_LOG,
    NOTIFICATION,
    TRANSACTION,
    USER_ACHIEVEMENT,
    CERTIFICATE,
)

# Tables loaded with explicit serial ids: their sequences must continue after the generated rows.
SERIAL_TABLES: tuple[str, ...] = ("Category", "Course", "Module", "Lesson", "Quiz", "Question", "Achievement")

SET_SEQUENCE = """
SELECT setval(pg_get_serial_sequence(%(table)s, 'id'), coalesce(max("id"), 0) + 1, false)
FROM {table}
"""
