-- One request of the class-start surge: a student opens the course page, checks their enrollment,
-- reads their recent activity, and the app logs the visit (request i runs statement i mod 4).
SELECT l."id", l."title"
  FROM "Lesson" AS l
  JOIN "Module" AS m ON m."id" = l."moduleId"
 WHERE m."courseId" = 1 + (random() * 39)::int
 ORDER BY m."position", l."position";
SELECT e."courseId", e."progress"
  FROM "Enrollment" AS e
 WHERE e."userId" = 1 + (random() * 4999)::int;
SELECT b."action", b."path", b."timestamp"
  FROM "BehaviorLog" AS b
 WHERE b."userId" = 1 + (random() * 4999)::int
 ORDER BY b."timestamp" DESC
 LIMIT 20;
INSERT INTO "BehaviorLog" ("userId", "sessionId", "action", "path")
VALUES (1 + (random() * 4999)::int, md5(random()::text), 'class_start', '/courses/1');
