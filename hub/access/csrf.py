"""Cross-site request forgery: what a browser's form or script must send back.

A request that signs in with the session cookie and changes something must carry the
session's CSRF token (``X-CSRF-Token``, or a form's ``csrf`` field), which only the hub's
own pages hold. It is derived from the session's secret, so nothing more is stored, and a
page of another site, which cannot read the cookie, cannot make it. The cookie is also
SameSite=Strict; this is the second lock. Before sign-in, the form's token is checked
against a random cookie of its own (double submit). Pure: no request, no database.
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


def same(presented: str | None, expected: str | None) -> bool:
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())
