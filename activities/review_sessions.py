"""Review page login state in the store, shared by every replica of the page: one row per
login session (listed and revoked one by one) and one row per failed login attempt per
rate-limit bucket (a sliding window, counted with one indexed query).

Times are unix seconds (floats), so SQLite and PostgreSQL compare them alike. Bucket keys
are stored as SHA-256 digests: a typed "identity" may be a token pasted into the wrong
field, and nothing an attacker typed is stored as text.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from activities.store import create_schema

MAX_ADDRESS_CHARS = 64
MAX_AGENT_CHARS = 200
KEEP_ENDED_SECONDS = 7 * 86400  # ended sessions stay listed (and auditable) this long
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # PostgreSQL refuses NUL; no one needs these


class ReviewSessionRow(SQLModel, table=True):
    __tablename__ = "review_sessions"

    id: str = Field(primary_key=True, max_length=64)
    reviewer: str = Field(index=True, max_length=254)
    created_at: float
    last_seen_at: float
    expires_at: float
    client_address: str = Field(max_length=MAX_ADDRESS_CHARS)
    user_agent: str = Field(max_length=MAX_AGENT_CHARS)
    revoked_at: float | None = None


class LoginFailureRow(SQLModel, table=True):
    __tablename__ = "review_login_failures"

    id: int | None = Field(default=None, primary_key=True)
    bucket: str = Field(index=True, max_length=64)  # sha256 hex of "<scope>:<key>"
    at: float = Field(index=True)


TABLES = [ReviewSessionRow.__table__, LoginFailureRow.__table__]


@dataclass(frozen=True)
class SessionRecord:
    """One login session as the page shows it."""

    id: str
    reviewer: str
    created_at: float
    last_seen_at: float
    expires_at: float
    client_address: str
    user_agent: str
    revoked_at: float | None

    def active(self, now: float) -> bool:
        return self.revoked_at is None and self.expires_at > now


def clean(text: str, limit: int) -> str:
    """Printable text of at most `limit` characters (headers are attacker input)."""
    return CONTROL.sub("", text)[:limit]


def bucket_key(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}:{key}".encode(errors="replace")).hexdigest()


def _record(row: ReviewSessionRow) -> SessionRecord:
    return SessionRecord(**row.model_dump())


class ReviewSessions:
    """Sessions and failed-login counts over one store engine (synchronous; the page calls
    it from a thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_schema(engine, TABLES)

    # --- sessions

    def create(
        self, reviewer: str, now: float, lifetime: float, address: str, agent: str
    ) -> SessionRecord:
        row = ReviewSessionRow(
            id=secrets.token_hex(16),
            reviewer=reviewer,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            client_address=clean(address, MAX_ADDRESS_CHARS),
            user_agent=clean(agent, MAX_AGENT_CHARS),
        )
        with Session(self.engine) as s:
            s.exec(
                delete(ReviewSessionRow).where(
                    ReviewSessionRow.expires_at < now - KEEP_ENDED_SECONDS
                )
            )
            s.add(row)
            s.commit()
            s.refresh(row)
            return _record(row)

    def get(self, session_id: str) -> SessionRecord | None:
        with Session(self.engine) as s:
            row = s.get(ReviewSessionRow, session_id[:64])
            return _record(row) if row else None

    def touch(self, session_id: str, now: float) -> None:
        with Session(self.engine) as s:
            s.exec(
                update(ReviewSessionRow)
                .where(ReviewSessionRow.id == session_id)
                .values(last_seen_at=now)
            )
            s.commit()

    def revoke(self, session_id: str, reviewer: str, now: float) -> bool:
        """End one of `reviewer`'s sessions; False when there is no such active session of
        theirs (someone else's id is refused like an unknown one)."""
        with Session(self.engine) as s:
            done = s.exec(
                update(ReviewSessionRow)
                .where(ReviewSessionRow.id == session_id[:64])
                .where(ReviewSessionRow.reviewer == reviewer)
                .where(ReviewSessionRow.revoked_at.is_(None))  # type: ignore[union-attr]
                .values(revoked_at=now)
            )
            s.commit()
            return done.rowcount == 1

    def of_reviewer(self, reviewer: str) -> list[SessionRecord]:
        """A reviewer's sessions, newest first (ended ones for KEEP_ENDED_SECONDS)."""
        with Session(self.engine) as s:
            q = select(ReviewSessionRow).where(ReviewSessionRow.reviewer == reviewer)
            q = q.order_by(ReviewSessionRow.created_at.desc(), ReviewSessionRow.id)  # type: ignore[attr-defined]
            return [_record(r) for r in s.exec(q)]

    # --- failed logins

    def failures(self, bucket: str, since: float, limit: int) -> list[float]:
        """When the bucket's last `limit` failures since `since` happened, newest first."""
        with Session(self.engine) as s:
            q = select(LoginFailureRow.at).where(LoginFailureRow.bucket == bucket)
            q = q.where(LoginFailureRow.at > since)
            q = q.order_by(LoginFailureRow.at.desc()).limit(limit)  # type: ignore[attr-defined]
            return list(s.exec(q))

    def fail(self, buckets: list[str], now: float, forget_before: float) -> None:
        """Count one failed attempt in each bucket; drop failures older than any window."""
        with Session(self.engine) as s:
            s.exec(delete(LoginFailureRow).where(LoginFailureRow.at <= forget_before))
            s.add_all(LoginFailureRow(bucket=b, at=now) for b in buckets)
            s.commit()
