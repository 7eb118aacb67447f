"""Cross-site request forgery: what a browser's form or script must send back.

A request that signs in with the session cookie and changes something must carry the
session's CSRF token (``X-CSRF-Token``, or a form's ``csrf`` field), which only the hub's
own pages hold. It is derived from the session's secret, so nothing more is stored, and a
page of another site, which cannot read the cookie, cannot make it. The cookie is also
SameSite=Strict; this is the second lock. Before sign-in, the browser holds a random
pre-session cookie and the form a token derived from it with a key only this hub process
holds: a pair planted by someone who can set a cookie (a sibling subdomain, a cleartext
answer on the way) but cannot read the hub's key does not match. Pure: no request, no
database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

FIELD = "csrf"
HEADER = "x-csrf-token"
COOKIE = "scantrail_csrf"  # before sign-in only


def for_session(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"scantrail csrf", hashlib.sha256).hexdigest()


def new() -> str:
    return secrets.token_urlsafe(32)


def new_key() -> bytes:
    """The key that binds sign-in forms to their browsers: one per hub process, so a form
    shown before a restart is refused after it ("the form expired")."""
    return secrets.token_bytes(32)


def for_browser(key: bytes, pre_session: str) -> str:
    """The sign-in form's token for the browser whose pre-session cookie is ``pre_session``."""
    return hmac.new(key, pre_session.encode(), hashlib.sha256).hexdigest()


def same(presented: str | None, expected: str | None) -> bool:
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())
