"""API tokens: made here, shown once, kept only as a hash. Pure: no database, no clock.

A token is 256 random bits (``secrets``), so a plain SHA-256 of it is enough to keep: a
slow password hash guards guessable secrets, and these are not guessable. The prefix
lets a person, and a secret scanner, tell a scantrail token when one leaks.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "st_"
RANDOM_BYTES = 32  # 256 bits
MAX_TOKEN_CHARS = 128  # a presented value longer than this is not one of ours


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(RANDOM_BYTES)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
