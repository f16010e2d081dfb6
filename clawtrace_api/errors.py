"""Every error the API answers is `application/problem+json` (RFC 9457), built here and nowhere else.

Routes raise `Problem` (or a kernel error this module maps); FastAPI's own validation errors and unknown
routes go through the same handlers, so a client parses one shape for every failure.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from clawtrace_pipelines.core.errors import InvalidIdError
from clawtrace_pipelines.core.graph.client import (
    GraphQueryError,
    GraphResultTooLargeError,
    GraphTimeoutError,
    GraphUnavailableError,
)
from clawtrace_pipelines.core.graph.queries import QueryParameterError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://clawtrace.dev/problems/"


class ProblemBody(BaseModel):
    """An RFC 9457 problem: `type` names the kind, `detail` says what to change."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Problem(Exception):
    """An answer that is not a success: status, a short kind (`not-found`), a sentence for the caller."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.title = title or kind.replace("-", " ").capitalize()
        self.headers = headers or {}
        self.errors = errors


def not_found(what: str) -> Problem:
    """The same answer for an id that exists nowhere and one of another tenant: no existence leak."""
    return Problem(404, "not-found", f"{what} not found")


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    body = ProblemBody(
        type=_TYPE_BASE + problem.kind,
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        instance=str(request.url.path) if request is not None else None,
        errors=problem.errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


_HTTP_KINDS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-request",
    429: "too-many-requests",
}


def install(app: FastAPI) -> None:
    """Route every error through one problem+json shape."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else str(first["msg"])
        return problem_response(Problem(422, "invalid-request", detail, errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI answers a body it cannot decode (not UTF-8, not JSON) with 400; to a client that is one more
        # malformed request, documented everywhere as 422.
        status = 422 if exc.status_code == 400 else exc.status_code
        kind = _HTTP_KINDS.get(status, "error")
        headers = dict(exc.headers or {})
        return problem_response(Problem(status, kind, str(exc.detail), headers=headers), request)

    @app.exception_handler(QueryParameterError)
    async def _bad_param(request: Request, exc: QueryParameterError) -> JSONResponse:
        return problem_response(Problem(422, "invalid-request", str(exc)), request)

    @app.exception_handler(InvalidIdError)
    async def _bad_id(request: Request, exc: InvalidIdError) -> JSONResponse:
        return problem_response(Problem(422, "invalid-request", str(exc)), request)

    @app.exception_handler(GraphTimeoutError)
    async def _timeout(request: Request, exc: GraphTimeoutError) -> JSONResponse:
        return problem_response(Problem(504, "graph-timeout", "the graph query ran longer than its timeout"), request)

    @app.exception_handler(GraphResultTooLargeError)
    async def _too_large(request: Request, exc: GraphResultTooLargeError) -> JSONResponse:
        return problem_response(
            Problem(422, "result-too-large", f"the answer is larger than the row limit: {exc}; narrow the request"),
            request,
        )

    @app.exception_handler(GraphUnavailableError)
    async def _unavailable(request: Request, exc: GraphUnavailableError) -> JSONResponse:
        log.warning("graph unavailable: %s", exc)
        return problem_response(
            Problem(503, "graph-unavailable", "the graph cannot be reached; retry later", headers={"Retry-After": "5"}),
            request,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Our bug, never the caller's: logged with its traceback, answered in the same shape as every error.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(Problem(500, "internal", "an unexpected error; it has been logged"), request)

    @app.exception_handler(GraphQueryError)
    async def _graph_query(request: Request, exc: GraphQueryError) -> JSONResponse:
        # A catalog query the engine refuses is our bug, not the caller's: log it, answer without its text.
        log.error("graph refused a catalog query: %s", exc)
        return problem_response(Problem(500, "internal", "the graph refused a query"), request)
