"""One error shape for every failure, mapped from exceptions in one place.

Every error body is `{"detail": ..., "code": ..., "errors": [...]}`; a 422
is the seeds' `ValidationErrorResponse` (with `errors[{field, message,
type}]`), every other status leaves `errors` empty. Domain errors from
`revue.common.contracts.errors`, reported in a reply's `ErrorInfo`, become
HTTP statuses here and nowhere else (`raise_for_failure`).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from revue.common.contracts.events import ErrorInfo

log = structlog.get_logger("revue.gateway.errors")

validation_errors_total = Counter(
    "validation_errors_total", "Requests refused by validation", ["endpoint", "field"]
)
validation_success_total = Counter(
    "validation_success_total", "Requests that passed validation", ["endpoint"]
)


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class ErrorResponse(BaseModel):
    detail: str
    code: str
    errors: list[FieldError] = Field(default_factory=list)


class ValidationErrorResponse(ErrorResponse):
    """The seeds' name for the 422 shape: `ValidationErrorResponse(detail=..., errors=[...])`."""

    code: str = "validation_error"


CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    502: "bad_gateway",
    503: "unavailable",
    504: "timeout",
}


class ApiError(Exception):
    """Raised by handlers for any non-2xx answer."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or CODES.get(status, "error")
        self.headers = headers or {}
        self.errors = errors or []


def error_body(status: int, detail: str, code: str | None = None, errors: Any = ()) -> dict:
    return ErrorResponse(
        detail=detail, code=code or CODES.get(status, "error"), errors=list(errors)
    ).model_dump()


def raise_for_failure(error: ErrorInfo | None) -> None:
    """Turn a failed reply into the HTTP error a client should see."""
    if error is None:
        raise ApiError(502, "analysis failed without a reason")
    retry = {"Retry-After": str(max(1, round(error.retry_after_s or 5)))}
    if error.code == "timeout":
        raise ApiError(504, "analysis timed out", code="timeout")
    if error.code == "provider_rejected":
        raise ApiError(
            422, f"the analysis provider refused this input: {error.message}", code=error.code
        )
    if error.code in ("reply_too_large", "analysis_timeout"):
        raise ApiError(422, error.message, code=error.code)
    if error.retryable:
        detail = "the analysis provider is unavailable; try again later"
        if error.code == "circuit_open":
            detail = "the analysis provider is failing; requests are paused"
        raise ApiError(503, detail, code=error.code, headers=retry)
    raise ApiError(502, error.message, code=error.code)


def route_of(request: Request) -> str:
    """The route's template (`/api/v1/analyses/{analysis_id}`), never the raw path:
    a label per distinct path would let a client make unbounded metric series."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def field_label(problem: Any, field: str) -> str:
    """The model's top-level field; a client's own unknown key is not a label value."""
    if problem.get("type") == "extra_forbidden":
        return "(unknown field)"
    return field.split(".")[0][:64]


METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """Every method some route takes on this path, asked of the routes themselves."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_failed(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = []
        for problem in error.errors():
            location = [str(part) for part in problem.get("loc", ())]
            if (
                location
                and location[0] in {"body", "query", "path", "header"}
                and len(location) > 1
            ):
                location = location[1:]
            field = ".".join(location) or "body"
            errors.append(
                FieldError(
                    field=field,
                    message=str(problem.get("msg", ""))[:500],
                    type=str(problem.get("type", "value_error")),
                )
            )
            validation_errors_total.labels(route_of(request), field_label(problem, field)).inc()
        body = error_body(422, "Validation failed", errors=[e.model_dump() for e in errors[:50]])
        return JSONResponse(body, status_code=422)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(
                error.status, error.detail, error.code, [e.model_dump() for e in error.errors]
            ),
            status_code=error.status,
            headers=error.headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = error.detail if isinstance(error.detail, str) else "request refused"
        headers = dict(getattr(error, "headers", None) or {})
        if error.status_code == 405:
            # Starlette names the methods of the first route on the path only; a
            # path served by several routes (GET and POST /analyses) allows them all.
            headers["Allow"] = allowed_methods(request)
        return JSONResponse(
            error_body(error.status_code, detail), status_code=error.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path, error=type(error).__name__)
        return JSONResponse(error_body(500, "internal error", "internal_error"), status_code=500)
