"""The e-learning demo database as SQLAlchemy 2 declarative models (`Base.metadata`).

KEEP IN SYNC: schema.sql, schema.prisma, schema.ts (Drizzle) and models.py (SQLAlchemy) describe exactly the
same database; the schema verifier compares them. Change all four together.

Names follow Prisma's (quoted PascalCase tables, camelCase columns, `<Table>_<cols>_key|idx|fkey`); uniques are
unique indexes, as Prisma creates them. Ids Prisma fills on the client (`@default(uuid())`) have a Python-side
default and no server default; `@updatedAt` columns are set by SQLAlchemy, not by the database.
Deliberately imperfect (see pgdba/demo/planted.py): some indexes the workload needs are missing,
Transaction.status and BehaviorLog.sessionId are indexed but never read, User_email_idx duplicates
User_email_key and Lesson_moduleId_idx is covered by Lesson_moduleId_position_key.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, DOUBLE_PRECISION, JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLE = Enum("STUDENT", "INSTRUCTOR", "ADMIN", name="Role")
COURSE_LEVEL = Enum("BEGINNER", "INTERMEDIATE", "ADVANCED", name="CourseLevel")
ENROLLMENT_STATUS = Enum("ACTIVE", "COMPLETED", "CANCELLED", "EXPIRED", name="EnrollmentStatus")
PROGRESS_STATUS = Enum("NOT_STARTED", "IN_PROGRESS", "COMPLETED", name="ProgressStatus")
NOTIFICATION_TYPE = Enum(
    "SYSTEM", "COURSE_UPDATE", "ACHIEVEMENT", "REMINDER", "PAYMENT", name="NotificationType"
)
TRANSACTION_STATUS = Enum("PENDING", "SUCCEEDED", "FAILED", "REFUNDED", name="TransactionStatus")

TIMESTAMP3 = TIMESTAMP(precision=3)
NOW = text("CURRENT_TIMESTAMP")
RANDOM_UUID = text("gen_random_uuid()")


def _fk(column: str, *, on_delete: str, name: str) -> ForeignKey:
    """A foreign key with Prisma's name and actions (ON UPDATE CASCADE is Prisma's default)."""
    return ForeignKey(column, name=name, ondelete=on_delete, onupdate="CASCADE")


def _client_uuid() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "User"
    __table_args__ = (
        Index("User_email_key", "email", unique=True),
        Index("User_email_idx", "email"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=RANDOM_UUID)
    email: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    passwordHash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(ROLE, server_default=text("'STUDENT'"))
    emailVerified: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    lastLoginAt: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP3)
    createdAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)
    updatedAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, default=func.now(), onupdate=func.now())


class Profile(Base):
    __tablename__ = "Profile"
    __table_args__ = (Index("Profile_userId_key", "userId", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=RANDOM_UUID)
    userId: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), _fk("User.id", on_delete="CASCADE", name="Profile_userId_fkey")
    )
    bio: Mapped[str | None] = mapped_column(Text)
    avatarUrl: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text, server_default=text("'UTC'"))
    locale: Mapped[str] = mapped_column(String(10), server_default=text("'en'"))
    dateOfBirth: Mapped[dt.date | None] = mapped_column(Date)
    xp: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    streakDays: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    updatedAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, default=func.now(), onupdate=func.now())


class Category(Base):
    __tablename__ = "Category"
    __table_args__ = (
        Index("Category_name_key", "name", unique=True),
        Index("Category_slug_key", "slug", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(Text)


class Course(Base):
    __tablename__ = "Course"
    __table_args__ = (
        Index("Course_slug_key", "slug", unique=True),
        Index("Course_categoryId_idx", "categoryId"),
        Index("Course_instructorId_idx", "instructorId"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    categoryId: Mapped[int | None] = mapped_column(
        Integer, _fk("Category.id", on_delete="SET NULL", name="Course_categoryId_fkey")
    )
    instructorId: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), _fk("User.id", on_delete="RESTRICT", name="Course_instructorId_fkey")
    )
    title: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    level: Mapped[str] = mapped_column(COURSE_LEVEL, server_default=text("'BEGINNER'"))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2), server_default=text("0"))
    tags: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    isPublished: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    publishedAt: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP3)
    createdAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)
    updatedAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, default=func.now(), onupdate=func.now())


class Module(Base):
    __tablename__ = "Module"
    __table_args__ = (Index("Module_courseId_position_key", "courseId", "position", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    courseId: Mapped[int] = mapped_column(
        Integer, _fk("Course.id", on_delete="CASCADE", name="Module_courseId_fkey")
    )
    title: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    createdAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)


class Lesson(Base):
    __tablename__ = "Lesson"
    __table_args__ = (
        Index("Lesson_moduleId_idx", "moduleId"),
        Index("Lesson_moduleId_position_key", "moduleId", "position", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    moduleId: Mapped[int] = mapped_column(
        Integer, _fk("Module.id", on_delete="CASCADE", name="Lesson_moduleId_fkey")
    )
    title: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    videoUrl: Mapped[str | None] = mapped_column(Text)
    durationSec: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    position: Mapped[int] = mapped_column(Integer)
    isPreview: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    createdAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)
    updatedAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, default=func.now(), onupdate=func.now())


class Enrollment(Base):
    __tablename__ = "Enrollment"
    __table_args__ = (Index("Enrollment_userId_courseId_key", "userId", "courseId", unique=True),)

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=_client_uuid)
    userId: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), _fk("User.id", on_delete="CASCADE", name="Enrollment_userId_fkey")
    )
    courseId: Mapped[int] = mapped_column(
        Integer, _fk("Course.id", on_delete="CASCADE", name="Enrollment_courseId_fkey")
    )
    status: Mapped[str] = mapped_column(ENROLLMENT_STATUS, server_default=text("'ACTIVE'"))
    progress: Mapped[float] = mapped_column(DOUBLE_PRECISION, server_default=text("0"))
    enrolledAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)
    completedAt: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP3)
    updatedAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, default=func.now(), onupdate=func.now())


class LessonProgress(Base):
    __tablename__ = "LessonProgress"
    __table_args__ = (Index("LessonProgress_lessonId_idx", "lessonId"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    userId: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), _fk("User.id", on_delete="CASCADE", name="LessonProgress_userId_fkey")
    )
    lessonId: Mapped[int] = mapped_column(
        Integer, _fk("Lesson.id", on_delete="CASCADE", name="LessonProgress_lessonId_fkey")
    )
    status: Mapped[str] = mapped_column(PROGRESS_STATUS, server_default=text("'NOT_STARTED'"))
    progressPct: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    timeSpentSec: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    lastViewedAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)
    completedAt: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP3)
    updatedAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, default=func.now(), onupdate=func.now())


class Quiz(Base):
    __tablename__ = "Quiz"
    __table_args__ = (Index("Quiz_lessonId_key", "lessonId", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lessonId: Mapped[int] = mapped_column(
        Integer, _fk("Lesson.id", on_delete="CASCADE", name="Quiz_lessonId_fkey")
    )
    title: Mapped[str] = mapped_column(Text)
    passingScore: Mapped[int] = mapped_column(Integer, server_default=text("70"))
    timeLimitSec: Mapped[int | None] = mapped_column(Integer)
    createdAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)


class Question(Base):
    __tablename__ = "Question"
    __table_args__ = (Index("Question_quizId_position_key", "quizId", "position", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quizId: Mapped[int] = mapped_column(
        Integer, _fk("Quiz.id", on_delete="CASCADE", name="Question_quizId_fkey")
    )
    prompt: Mapped[str] = mapped_column(Text)
    options: Mapped[Any] = mapped_column(JSONB, nullable=False)
    correctIndex: Mapped[int] = mapped_column(SmallInteger)
    position: Mapped[int] = mapped_column(Integer)


class QuizAttempt(Base):
    __tablename__ = "QuizAttempt"
    __table_args__ = (Index("QuizAttempt_quizId_idx", "quizId"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=_client_uuid)
    userId: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), _fk("User.id", on_delete="CASCADE", name="QuizAttempt_userId_fkey")
    )
    quizId: Mapped[int] = mapped_column(
        Integer, _fk("Quiz.id", on_delete="CASCADE", name="QuizAttempt_quizId_fkey")
    )
    score: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    answers: Mapped[Any | None] = mapped_column(JSONB, nullable=True)
    startedAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)
    submittedAt: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP3)
    createdAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)


class BehaviorLog(Base):
    __tablename__ = "BehaviorLog"
    __table_args__ = (
        Index("BehaviorLog_sessionId_idx", "sessionId"),
        Index("BehaviorLog_timestamp_idx", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    userId: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), _fk("User.id", on_delete="CASCADE", name="BehaviorLog_userId_fkey")
    )
    sessionId: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[Any] = mapped_column(JSONB, nullable=False, server_default=text("'{}'"))
    durationMs: Mapped[int | None] = mapped_column(Integer)
    timestamp: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)


class Achievement(Base):
    __tablename__ = "Achievement"
    __table_args__ = (Index("Achievement_code_key", "code", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    points: Mapped[int] = mapped_column(Integer, server_default=text("10"))
    iconUrl: Mapped[str | None] = mapped_column(Text)
    createdAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)


class UserAchievement(Base):
    __tablename__ = "UserAchievement"
    __table_args__ = (Index("UserAchievement_achievementId_idx", "achievementId"),)

    userId: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        _fk("User.id", on_delete="CASCADE", name="UserAchievement_userId_fkey"),
        primary_key=True,
    )
    achievementId: Mapped[int] = mapped_column(
        Integer,
        _fk("Achievement.id", on_delete="CASCADE", name="UserAchievement_achievementId_fkey"),
        primary_key=True,
        autoincrement=False,
    )
    earnedAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)


class Notification(Base):
    __tablename__ = "Notification"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=RANDOM_UUID)
    userId: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), _fk("User.id", on_delete="CASCADE", name="Notification_userId_fkey")
    )
    type: Mapped[str] = mapped_column(NOTIFICATION_TYPE)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    isRead: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    createdAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)
    readAt: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP3)


class Transaction(Base):
    __tablename__ = "Transaction"
    __table_args__ = (
        Index("Transaction_providerRef_key", "providerRef", unique=True),
        Index("Transaction_userId_idx", "userId"),
        Index("Transaction_courseId_idx", "courseId"),
        Index("Transaction_status_idx", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=RANDOM_UUID)
    userId: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), _fk("User.id", on_delete="RESTRICT", name="Transaction_userId_fkey")
    )
    courseId: Mapped[int | None] = mapped_column(
        Integer, _fk("Course.id", on_delete="SET NULL", name="Transaction_courseId_fkey")
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(CHAR(3), server_default=text("'USD'"))
    status: Mapped[str] = mapped_column(TRANSACTION_STATUS, server_default=text("'PENDING'"))
    provider: Mapped[str] = mapped_column(String(32))
    providerRef: Mapped[str] = mapped_column(Text)
    paidAt: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True, precision=3))
    createdAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)


class Certificate(Base):
    __tablename__ = "Certificate"
    __table_args__ = (
        Index("Certificate_code_key", "code", unique=True),
        Index("Certificate_courseId_idx", "courseId"),
        Index("Certificate_userId_courseId_key", "userId", "courseId", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=RANDOM_UUID)
    userId: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), _fk("User.id", on_delete="CASCADE", name="Certificate_userId_fkey")
    )
    courseId: Mapped[int] = mapped_column(
        Integer, _fk("Course.id", on_delete="CASCADE", name="Certificate_courseId_fkey")
    )
    code: Mapped[str] = mapped_column(String(32))
    issuedAt: Mapped[dt.datetime] = mapped_column(TIMESTAMP3, server_default=NOW)
    pdfUrl: Mapped[str | None] = mapped_column(Text)
