"""Security headers on every answer the hub gives, pages and API alike.

The pages load nothing from another host and run no inline script or style (the one
script and the style sheets are files under /static), so the policy can be the strictest
that still shows them: everything from the hub itself, in no frame. A page that tried
more (an injected script, a form posting elsewhere) is refused by the browser.
"""

from __future__ import annotations

from typing import Any

POLICY = "; ".join(
    (
        "default-src 'self'",
        # Swagger UI's style sheet draws its icons as data: SVG images; an image cannot
        # run script.
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    )
)
HEADERS = (
    (b"content-security-policy", POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
)


class SecurityHeaders:
    """ASGI middleware: adds ``HEADERS`` to every HTTP answer that does not set its own."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                added = [(name, value) for name, value in HEADERS if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, sending)
