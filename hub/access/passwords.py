"""People's passwords, hashed with argon2 (argon2-cffi's defaults: RFC 9106's second
recommended profile). Pure: no database."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_CHARS = 10
MAX_CHARS = 256  # argon2 takes any length; a bound keeps a sign-in form from being a DoS

_hasher = PasswordHasher()
# Checked when the username is unknown, so a wrong name costs as long as a wrong password
# and the time a refusal takes does not tell which names exist.
_DECOY = _hasher.hash("scantrail-decoy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """True when ``password`` is the one ``stored`` was made from; None: no such user."""
    try:
        return _hasher.verify(stored or _DECOY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_CHARS:
        return f"a password needs at least {MIN_CHARS} characters"
    if len(password) > MAX_CHARS:
        return f"a password has at most {MAX_CHARS} characters"
    return None
