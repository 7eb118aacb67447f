"""The local control socket: the ``scan`` and ``status`` commands, and keyboard entry.

One JSON object per line each way. Requests:
``{"op": "scan", "text": "...", "scanner_id": "keyboard"}`` answers with the station's
feedback; ``{"op": "status"}`` answers with the agent's status document.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from agent.errors import ControlError
from agent.feedback import Feedback

log = structlog.get_logger("agent.socket")

MAX_REQUEST_BYTES = 64 * 1024
SCAN_TIMEOUT_S = 30.0


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False


class SocketSource:
    def __init__(
        self,
        path: Path,
        submit: Callable[[str, str], Feedback],
        status: Callable[[], dict[str, Any]],
    ) -> None:
        self._path = path
        self._submit = submit
        self._status = status
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if self._path.exists():
            self._path.unlink()  # a stale socket from a killed agent
        source = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(MAX_REQUEST_BYTES)
                reply = source._answer(line)
                self.wfile.write(json.dumps(reply).encode() + b"\n")

        self._server = _Server(str(self._path), Handler)
        os.chmod(self._path, 0o660)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="socket-source", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._path.exists():
            self._path.unlink()

    def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            op = request["op"]
        except (ValueError, KeyError, TypeError):
            return {"error": "bad_request", "message": "expected one JSON object with an 'op'"}
        if op == "status":
            return self._status()
        if op == "scan" and isinstance(request.get("text"), str):
            scanner_id = str(request.get("scanner_id") or "keyboard")[:128]
            try:
                return self._submit(request["text"], scanner_id).as_dict()
            except Exception as exc:  # the caller must hear "not kept", whatever went wrong
                log.exception("socket.scan_failed")
                return {"kept": False, "outcome": "store_error", "message": f"NOT kept: {exc}"}
        return {"error": "bad_request", "message": f"unknown op {op!r} or missing text"}


def request(path: Path, message: dict[str, Any], timeout: float = SCAN_TIMEOUT_S) -> dict[str, Any]:
    """Send one request to a running agent and return its answer, or raise ``ControlError``."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(json.dumps(message).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise ControlError(f"agent not reachable at {path}: {exc}") from exc
    try:
        answer = json.loads(data)
    except ValueError as exc:
        raise ControlError(f"agent at {path} gave no answer (it may have stopped)") from exc
    if not isinstance(answer, dict):
        raise ControlError(f"agent at {path} answered {answer!r}")
    return answer
