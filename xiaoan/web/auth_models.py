"""Staff accounts of the console and their failed sign-in attempts."""

from __future__ import annotations

import secrets

from sqlalchemy import Boolean, CheckConstraint, Column, Integer, String

from xiaoan.db import Base, UTCDateTime, utcnow

# maintainer: edits the knowledge base; agent: answers citizens in the inbox;
# supervisor: oversees both; admin: everything, including staff accounts
ROLES = ("maintainer", "agent", "supervisor", "admin")


def _new_session_epoch() -> str:
    return secrets.token_hex(16)


class StaffUser(Base):
    """A member of staff who signs in to the console."""

    __tablename__ = "staff_users"
    __table_args__ = (
        CheckConstraint("role IN ('maintainer', 'agent', 'supervisor', 'admin')", name="ck_staff_users_role"),
    )

    id = Column(Integer, primary_key=True)
    username = Column(String(32), nullable=False, unique=True)
    """Lower-case login name."""
    display_name = Column(String(64), nullable=False)
    role = Column(String(16), nullable=False)
    password_hash = Column(String(255), nullable=False)
    """werkzeug.security hash (scrypt); never the password."""
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    session_epoch = Column(String(32), nullable=False, default=_new_session_epoch)
    """Copied into the signed session cookie at sign-in; changed on sign-out and password change,
    which invalidates every cookie issued before (cookies are stateless otherwise)."""

    def __repr__(self) -> str:
        return f"<StaffUser {self.username} {self.role}>"


class StaffLoginFailure(Base):
    """One failed sign-in attempt, for throttling (rows older than the window are pruned)."""

    __tablename__ = "staff_login_failures"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, index=True)
    """As typed (lower-cased), also for names that do not exist."""
    failed_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
