"""The API's one error body, ``{"error": {"code", "message", "details"}}``, and the errors
the web edge raises on purpose. FastAPI's and Starlette's own errors are mapped here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.errors import DatabaseUnavailable, HubError

MAX_ECHO_CHARS = 200  # an offending input is echoed back cut to this


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error the API answers with, so the schema says what comes back."""

    error: ErrorDetail


# Declared on every route: what the guard, validation and lookups may answer.
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in (
        (401, "no live token"),
        (403, "the token's role lacks this route's permission"),
        (404, "not found"),
        (409, "it was done already"),
        (422, "a parameter is invalid"),
    )
}


class ApiError(HubError):
    status = 500
    code = "internal"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthenticated(ApiError):
    status = 401
    code = "unauthenticated"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Invalid(ApiError):
    status = 422
    code = "invalid_request"


class Malformed(ApiError):
    """A body that cannot be read as what it says it is (JSON nested past the limit)."""

    status = 400
    code = "malformed_body"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"


class TooLarge(ApiError):
    status = 413
    code = "too_large"


class TooMany(ApiError):
    status = 429
    code = "too_many"


class UnsupportedType(ApiError):
    status = 415
    code = "unsupported_media_type"


NO_NUL = "^[^\\x00]*$"  # ECMA-262, as OpenAPI patterns are


def declare_no_nul(schema: dict[str, Any]) -> dict[str, Any]:
    """Say in the schema what ``no_nul`` enforces: every string parameter without a
    pattern of its own gets one that excludes NUL."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                declared = parameter.get("schema", {})
                for option in declared.get("anyOf", [declared]):
                    if option.get("type") == "string" and "pattern" not in option:
                        option["pattern"] = NO_NUL
    return schema


def no_nul(request: Request) -> None:
    """An app-wide dependency: PostgreSQL cannot hold a NUL in text, and no code, key or
    name has one, so a request carrying one in its path or query is refused here."""
    query = request.query_params.multi_items()
    if "\x00" in request.url.path or any("\x00" in k + v for k, v in query):
        raise Invalid("a NUL character is not allowed in a path or query")


_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "unavailable",
}


def body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


# What a person reads when a page or code is not there, or not theirs to see.
_PAGE_TITLES = {404: "Not found", 403: "Not allowed", 405: "Not found", 422: "Not understood"}
ErrorPage = Callable[[Request, int, str, str], Response]


def install(app: FastAPI, login_path: str, page: ErrorPage | None = None) -> None:
    """Every error the app answers with takes the one body; a browser that is not signed
    in is sent to ``login_path`` instead of a 401, and one that asks for a page or code
    that is not there gets ``page``: the navigation and what to try, not JSON."""

    def for_person(request: Request, status: int, message: str) -> Response | None:
        if page is None or status not in _PAGE_TITLES or not _browser(request):
            return None
        return page(request, status, _PAGE_TITLES[status], message)

    @app.exception_handler(ApiError)
    def api_error(request: Request, exc: ApiError) -> Response:
        if isinstance(exc, Unauthenticated) and _browser(request):
            return RedirectResponse(login_path, status_code=303)
        shown = for_person(request, exc.status, exc.message)
        if shown is not None:
            return shown
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            shown = for_person(request, 404, f"There is no page at {request.url.path[:200]}.")
            if shown is not None:
                return shown
        code = _CODES.get(exc.status_code, "error")
        return JSONResponse(
            body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> Response:
        details = [
            {"where": list(e.get("loc", ())), "problem": e.get("msg"), "got": _echo(e)}
            for e in exc.errors()
        ]
        message = "; ".join(
            f"{'.'.join(str(p) for p in d['where'])}: {d['problem']}" for d in details
        )
        return JSONResponse(
            jsonable_encoder(body("invalid_request", message, details)), status_code=422
        )

    @app.exception_handler(DatabaseUnavailable)
    @app.exception_handler(OperationalError)
    def unavailable(request: Request, exc: Exception) -> Response:
        # Connection refused or lost, disk full, locked: the caller may try again later.
        message = "the database is unavailable; try again shortly"
        return JSONResponse(body("unavailable", message), status_code=503)

    @app.exception_handler(Exception)
    def crashed(request: Request, exc: Exception) -> Response:
        # The hub's log has the traceback (uvicorn logs it); the caller gets no internals.
        return JSONResponse(body("internal", "the hub failed to answer; see its log"), 500)


def _browser(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def _echo(error: Any) -> Any:
    value = error.get("input")
    text = value if isinstance(value, str) else None
    return text[:MAX_ECHO_CHARS] if text is not None else None
