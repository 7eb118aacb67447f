"""How much a request may send, checked while its body streams in and before anyone asks
who sent it: a body past its limit is refused with 413 having held at most the limit in
memory, and a JSON body nested deeper than ``MAX_DEPTH`` with 400, before a parser
recurses into it. The hub process that serves this also acks scans.

Small by default; an import (``…/import``, a site's catalogue as a file) may send
``IMPORT_BYTES``.
"""

from __future__ import annotations

import json
from typing import Any

from hub.web.errors import ApiError, Malformed, TooLarge, body

DEFAULT_BYTES = 1024 * 1024
IMPORT_BYTES = 5 * 1024 * 1024  # a hospital's catalogue is far smaller
MAX_DEPTH = 64  # the API's deepest body is a few levels


def limit_for(path: str) -> int:
    return IMPORT_BYTES if path.endswith("/import") else DEFAULT_BYTES


def too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON text opens more than ``limit`` arrays and objects inside each other.
    A scan of the bytes, not a parse: brackets inside strings do not count."""
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


class BodyLimit:
    """ASGI middleware: reads a request's body up to its limit, then hands it on whole."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, TooLarge, f"a body here is at most {limit} bytes")
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(send, TooLarge, f"a body here is at most {limit} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        data = b"".join(chunks)
        json_body = headers.get(b"content-type", b"").split(b";")[0].strip().endswith(b"json")
        if json_body and too_deep(data):
            message = f"a JSON body nests at most {MAX_DEPTH} arrays and objects"
            await _refuse(send, Malformed, message)
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)


async def _refuse(send: Any, error: type[ApiError], message: str) -> None:
    content = json.dumps(body(error.code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
