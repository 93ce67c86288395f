-- A demo-like e-learning slice for the pool benchmark (table names follow pgdba's demo schema; integer
-- keys keep the generator simple). Sizes are small on purpose: the machine has 2 shared cores.
CREATE TABLE "User" (
    "id" int PRIMARY KEY,
    "email" text NOT NULL,
    "lastLoginAt" timestamp(3)
);
CREATE TABLE "Course" (
    "id" int PRIMARY KEY,
    "title" varchar(255) NOT NULL
);
CREATE TABLE "Module" (
    "id" int PRIMARY KEY,
    "courseId" int NOT NULL REFERENCES "Course",
    "position" int NOT NULL
);
CREATE TABLE "Lesson" (
    "id" int PRIMARY KEY,
    "moduleId" int NOT NULL REFERENCES "Module",
    "title" text NOT NULL,
    "position" int NOT NULL
);
CREATE TABLE "Enrollment" (
    "userId" int NOT NULL REFERENCES "User",
    "courseId" int NOT NULL REFERENCES "Course",
    "progress" double precision NOT NULL DEFAULT 0,
    PRIMARY KEY ("userId", "courseId")
);
CREATE TABLE "BehaviorLog" (
    "id" bigserial PRIMARY KEY,
    "userId" int NOT NULL,
    "sessionId" text NOT NULL,
    "action" varchar(64) NOT NULL,
    "path" text,
    "timestamp" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX ON "Module" ("courseId");
CREATE INDEX ON "Lesson" ("moduleId");
CREATE INDEX ON "BehaviorLog" ("userId", "timestamp");

INSERT INTO "User" SELECT g, 'student' || g || '@example.edu', now() FROM generate_series(1, 5000) g;
INSERT INTO "Course" SELECT g, 'Course ' || g FROM generate_series(1, 40) g;
INSERT INTO "Module" SELECT g, 1 + g % 40, g / 40 FROM generate_series(1, 400) g;
INSERT INTO "Lesson" SELECT g, 1 + g % 400, 'Lesson ' || g, g / 400 FROM generate_series(1, 4000) g;
INSERT INTO "Enrollment" SELECT u, 1 + (u * 7 + c) % 40, random() FROM generate_series(1, 5000) u, generate_series(1, 4) c
    ON CONFLICT DO NOTHING;
INSERT INTO "BehaviorLog" ("userId", "sessionId", "action", "path")
SELECT 1 + g % 5000, md5(g::text), 'view_lesson', '/lessons/' || (1 + g % 4000) FROM generate_series(1, 100000) g;
ANALYZE;
