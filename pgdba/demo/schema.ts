// The e-learning demo database as its Drizzle (pg-core) schema.
// KEEP IN SYNC: schema.sql, schema.prisma, schema.ts (Drizzle) and models.py (SQLAlchemy) describe exactly
// the same database; the schema verifier compares them. Change all four together.
// Constraint and index names are spelled out so they match the names Prisma gives them (as
// `drizzle-kit pull` writes them for a Prisma-made database).
// Deliberately imperfect (see pgdba/demo/planted.py): some indexes the workload needs are missing,
// Transaction.status and BehaviorLog.sessionId are indexed but never read, User_email_idx duplicates
// User_email_key and Lesson_moduleId_idx is covered by Lesson_moduleId_position_key.
import { randomUUID } from "node:crypto";
import {
  bigserial,
  boolean,
  char,
  date,
  doublePrecision,
  foreignKey,
  index,
  integer,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  primaryKey,
  serial,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";

export const role = pgEnum("Role", ["STUDENT", "INSTRUCTOR", "ADMIN"]);
export const courseLevel = pgEnum("CourseLevel", ["BEGINNER", "INTERMEDIATE", "ADVANCED"]);
export const enrollmentStatus = pgEnum("EnrollmentStatus", ["ACTIVE", "COMPLETED", "CANCELLED", "EXPIRED"]);
export const progressStatus = pgEnum("ProgressStatus", ["NOT_STARTED", "IN_PROGRESS", "COMPLETED"]);
export const notificationType = pgEnum("NotificationType", [
  "SYSTEM",
  "COURSE_UPDATE",
  "ACHIEVEMENT",
  "REMINDER",
  "PAYMENT",
]);
export const transactionStatus = pgEnum("TransactionStatus", ["PENDING", "SUCCEEDED", "FAILED", "REFUNDED"]);

export const user = pgTable(
  "User",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    email: text("email").notNull(),
    name: text("name"),
    passwordHash: text("passwordHash").notNull(),
    role: role("role").notNull().default("STUDENT"),
    emailVerified: boolean("emailVerified").notNull().default(false),
    lastLoginAt: timestamp("lastLoginAt", { precision: 3, mode: "date" }),
    createdAt: timestamp("createdAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
    updatedAt: timestamp("updatedAt", { precision: 3, mode: "date" })
      .notNull()
      .$onUpdate(() => new Date()),
  },
  (t) => [uniqueIndex("User_email_key").on(t.email), index("User_email_idx").on(t.email)],
);

export const profile = pgTable(
  "Profile",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("userId").notNull(),
    bio: text("bio"),
    avatarUrl: text("avatarUrl"),
    timezone: text("timezone").notNull().default("UTC"),
    locale: varchar("locale", { length: 10 }).notNull().default("en"),
    dateOfBirth: date("dateOfBirth", { mode: "string" }),
    xp: integer("xp").notNull().default(0),
    streakDays: integer("streakDays").notNull().default(0),
    updatedAt: timestamp("updatedAt", { precision: 3, mode: "date" })
      .notNull()
      .$onUpdate(() => new Date()),
  },
  (t) => [
    uniqueIndex("Profile_userId_key").on(t.userId),
    foreignKey({ name: "Profile_userId_fkey", columns: [t.userId], foreignColumns: [user.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
  ],
);

export const category = pgTable(
  "Category",
  {
    id: serial("id").primaryKey(),
    name: text("name").notNull(),
    slug: text("slug").notNull(),
  },
  (t) => [uniqueIndex("Category_name_key").on(t.name), uniqueIndex("Category_slug_key").on(t.slug)],
);

export const course = pgTable(
  "Course",
  {
    id: serial("id").primaryKey(),
    categoryId: integer("categoryId"),
    instructorId: uuid("instructorId").notNull(),
    title: varchar("title", { length: 255 }).notNull(),
    slug: text("slug").notNull(),
    description: text("description"),
    level: courseLevel("level").notNull().default("BEGINNER"),
    price: numeric("price", { precision: 12, scale: 2 }).notNull().default("0"),
    tags: text("tags").array(),
    isPublished: boolean("isPublished").notNull().default(false),
    publishedAt: timestamp("publishedAt", { precision: 3, mode: "date" }),
    createdAt: timestamp("createdAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
    updatedAt: timestamp("updatedAt", { precision: 3, mode: "date" })
      .notNull()
      .$onUpdate(() => new Date()),
  },
  (t) => [
    uniqueIndex("Course_slug_key").on(t.slug),
    index("Course_categoryId_idx").on(t.categoryId),
    index("Course_instructorId_idx").on(t.instructorId),
    foreignKey({ name: "Course_categoryId_fkey", columns: [t.categoryId], foreignColumns: [category.id] })
      .onDelete("set null")
      .onUpdate("cascade"),
    foreignKey({ name: "Course_instructorId_fkey", columns: [t.instructorId], foreignColumns: [user.id] })
      .onDelete("restrict")
      .onUpdate("cascade"),
  ],
);

// `module` would shadow the CommonJS global when drizzle-kit loads this file, hence courseModule.
export const courseModule = pgTable(
  "Module",
  {
    id: serial("id").primaryKey(),
    courseId: integer("courseId").notNull(),
    title: text("title").notNull(),
    position: integer("position").notNull(),
    createdAt: timestamp("createdAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("Module_courseId_position_key").on(t.courseId, t.position),
    foreignKey({ name: "Module_courseId_fkey", columns: [t.courseId], foreignColumns: [course.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
  ],
);

export const lesson = pgTable(
  "Lesson",
  {
    id: serial("id").primaryKey(),
    moduleId: integer("moduleId").notNull(),
    title: text("title").notNull(),
    content: text("content").notNull(),
    videoUrl: text("videoUrl"),
    durationSec: integer("durationSec").notNull().default(0),
    position: integer("position").notNull(),
    isPreview: boolean("isPreview").notNull().default(false),
    createdAt: timestamp("createdAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
    updatedAt: timestamp("updatedAt", { precision: 3, mode: "date" })
      .notNull()
      .$onUpdate(() => new Date()),
  },
  (t) => [
    index("Lesson_moduleId_idx").on(t.moduleId),
    uniqueIndex("Lesson_moduleId_position_key").on(t.moduleId, t.position),
    foreignKey({ name: "Lesson_moduleId_fkey", columns: [t.moduleId], foreignColumns: [courseModule.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
  ],
);

export const enrollment = pgTable(
  "Enrollment",
  {
    id: text("id")
      .primaryKey()
      .$defaultFn(() => randomUUID()),
    userId: uuid("userId").notNull(),
    courseId: integer("courseId").notNull(),
    status: enrollmentStatus("status").notNull().default("ACTIVE"),
    progress: doublePrecision("progress").notNull().default(0),
    enrolledAt: timestamp("enrolledAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
    completedAt: timestamp("completedAt", { precision: 3, mode: "date" }),
    updatedAt: timestamp("updatedAt", { precision: 3, mode: "date" })
      .notNull()
      .$onUpdate(() => new Date()),
  },
  (t) => [
    uniqueIndex("Enrollment_userId_courseId_key").on(t.userId, t.courseId),
    foreignKey({ name: "Enrollment_userId_fkey", columns: [t.userId], foreignColumns: [user.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
    foreignKey({ name: "Enrollment_courseId_fkey", columns: [t.courseId], foreignColumns: [course.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
  ],
);

export const lessonProgress = pgTable(
  "LessonProgress",
  {
    id: bigserial("id", { mode: "bigint" }).primaryKey(),
    userId: uuid("userId").notNull(),
    lessonId: integer("lessonId").notNull(),
    status: progressStatus("status").notNull().default("NOT_STARTED"),
    progressPct: integer("progressPct").notNull().default(0),
    timeSpentSec: integer("timeSpentSec").notNull().default(0),
    lastViewedAt: timestamp("lastViewedAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
    completedAt: timestamp("completedAt", { precision: 3, mode: "date" }),
    updatedAt: timestamp("updatedAt", { precision: 3, mode: "date" })
      .notNull()
      .$onUpdate(() => new Date()),
  },
  (t) => [
    index("LessonProgress_lessonId_idx").on(t.lessonId),
    foreignKey({ name: "LessonProgress_userId_fkey", columns: [t.userId], foreignColumns: [user.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
    foreignKey({ name: "LessonProgress_lessonId_fkey", columns: [t.lessonId], foreignColumns: [lesson.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
  ],
);

export const quiz = pgTable(
  "Quiz",
  {
    id: serial("id").primaryKey(),
    lessonId: integer("lessonId").notNull(),
    title: text("title").notNull(),
    passingScore: integer("passingScore").notNull().default(70),
    timeLimitSec: integer("timeLimitSec"),
    createdAt: timestamp("createdAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("Quiz_lessonId_key").on(t.lessonId),
    foreignKey({ name: "Quiz_lessonId_fkey", columns: [t.lessonId], foreignColumns: [lesson.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
  ],
);

export const question = pgTable(
  "Question",
  {
    id: serial("id").primaryKey(),
    quizId: integer("quizId").notNull(),
    prompt: text("prompt").notNull(),
    options: jsonb("options").notNull(),
    correctIndex: smallint("correctIndex").notNull(),
    position: integer("position").notNull(),
  },
  (t) => [
    uniqueIndex("Question_quizId_position_key").on(t.quizId, t.position),
    foreignKey({ name: "Question_quizId_fkey", columns: [t.quizId], foreignColumns: [quiz.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
  ],
);

export const quizAttempt = pgTable(
  "QuizAttempt",
  {
    id: text("id")
      .primaryKey()
      .$defaultFn(() => randomUUID()),
    userId: uuid("userId").notNull(),
    quizId: integer("quizId").notNull(),
    score: integer("score").notNull(),
    passed: boolean("passed").notNull().default(false),
    answers: jsonb("answers"),
    startedAt: timestamp("startedAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
    submittedAt: timestamp("submittedAt", { precision: 3, mode: "date" }),
    createdAt: timestamp("createdAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    index("QuizAttempt_quizId_idx").on(t.quizId),
    foreignKey({ name: "QuizAttempt_userId_fkey", columns: [t.userId], foreignColumns: [user.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
    foreignKey({ name: "QuizAttempt_quizId_fkey", columns: [t.quizId], foreignColumns: [quiz.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
  ],
);

export const behaviorLog = pgTable(
  "BehaviorLog",
  {
    id: bigserial("id", { mode: "bigint" }).primaryKey(),
    userId: uuid("userId").notNull(),
    sessionId: text("sessionId").notNull(),
    action: varchar("action", { length: 64 }).notNull(),
    path: text("path"),
    payload: jsonb("payload").notNull().default({}),
    durationMs: integer("durationMs"),
    timestamp: timestamp("timestamp", { precision: 3, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    index("BehaviorLog_sessionId_idx").on(t.sessionId),
    index("BehaviorLog_timestamp_idx").on(t.timestamp),
    foreignKey({ name: "BehaviorLog_userId_fkey", columns: [t.userId], foreignColumns: [user.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
  ],
);

export const achievement = pgTable(
  "Achievement",
  {
    id: serial("id").primaryKey(),
    code: varchar("code", { length: 64 }).notNull(),
    name: text("name").notNull(),
    description: text("description").notNull(),
    points: integer("points").notNull().default(10),
    iconUrl: text("iconUrl"),
    createdAt: timestamp("createdAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("Achievement_code_key").on(t.code)],
);

export const userAchievement = pgTable(
  "UserAchievement",
  {
    userId: uuid("userId").notNull(),
    achievementId: integer("achievementId").notNull(),
    earnedAt: timestamp("earnedAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: "UserAchievement_pkey", columns: [t.userId, t.achievementId] }),
    index("UserAchievement_achievementId_idx").on(t.achievementId),
    foreignKey({ name: "UserAchievement_userId_fkey", columns: [t.userId], foreignColumns: [user.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
    foreignKey({
      name: "UserAchievement_achievementId_fkey",
      columns: [t.achievementId],
      foreignColumns: [achievement.id],
    })
      .onDelete("cascade")
      .onUpdate("cascade"),
  ],
);

export const notification = pgTable(
  "Notification",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("userId").notNull(),
    type: notificationType("type").notNull(),
    title: text("title").notNull(),
    body: text("body").notNull(),
    isRead: boolean("isRead").notNull().default(false),
    createdAt: timestamp("createdAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
    readAt: timestamp("readAt", { precision: 3, mode: "date" }),
  },
  (t) => [
    foreignKey({ name: "Notification_userId_fkey", columns: [t.userId], foreignColumns: [user.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
  ],
);

export const transaction = pgTable(
  "Transaction",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("userId").notNull(),
    courseId: integer("courseId"),
    amount: numeric("amount", { precision: 12, scale: 2 }).notNull(),
    currency: char("currency", { length: 3 }).notNull().default("USD"),
    status: transactionStatus("status").notNull().default("PENDING"),
    provider: varchar("provider", { length: 32 }).notNull(),
    providerRef: text("providerRef").notNull(),
    paidAt: timestamp("paidAt", { precision: 3, withTimezone: true, mode: "date" }),
    createdAt: timestamp("createdAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("Transaction_providerRef_key").on(t.providerRef),
    index("Transaction_userId_idx").on(t.userId),
    index("Transaction_courseId_idx").on(t.courseId),
    index("Transaction_status_idx").on(t.status),
    foreignKey({ name: "Transaction_userId_fkey", columns: [t.userId], foreignColumns: [user.id] })
      .onDelete("restrict")
      .onUpdate("cascade"),
    foreignKey({ name: "Transaction_courseId_fkey", columns: [t.courseId], foreignColumns: [course.id] })
      .onDelete("set null")
      .onUpdate("cascade"),
  ],
);

export const certificate = pgTable(
  "Certificate",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("userId").notNull(),
    courseId: integer("courseId").notNull(),
    code: varchar("code", { length: 32 }).notNull(),
    issuedAt: timestamp("issuedAt", { precision: 3, mode: "date" }).notNull().defaultNow(),
    pdfUrl: text("pdfUrl"),
  },
  (t) => [
    uniqueIndex("Certificate_code_key").on(t.code),
    index("Certificate_courseId_idx").on(t.courseId),
    uniqueIndex("Certificate_userId_courseId_key").on(t.userId, t.courseId),
    foreignKey({ name: "Certificate_userId_fkey", columns: [t.userId], foreignColumns: [user.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
    foreignKey({ name: "Certificate_courseId_fkey", columns: [t.courseId], foreignColumns: [course.id] })
      .onDelete("cascade")
      .onUpdate("cascade"),
  ],
);
