"""One error format for every HTTP API: RFC 9457 problem details with field errors.

Every 4xx and 5xx any service answers is `application/problem+json`:

    {"type": "urn:saleschannel:problem:validation", "title": "Invalid request", "status": 422,
     "detail": "1 field is invalid", "instance": "/listings",
     "errors": [{"field": "query.limit", "reason": "Input should be less than or equal to 1000"}]}

`errors` names each field by its path (`query.limit`, `path.sku`, `body.spec.priority`; a
configuration resource's problems also carry its `kind` and `name`). Handlers raise
`ProblemError` (or FastAPI's `HTTPException`, which maps to the same shape); every OpenAPI
document lists the problem responses of each operation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from servicekit import inputs

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:saleschannel:problem:"

_TYPES = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
    406: "not-acceptable", 409: "conflict", 413: "too-large", 415: "unsupported-media-type",
    422: "validation", 429: "too-many-requests", 500: "internal", 503: "unavailable",
}


class FieldError(BaseModel):
    field: str = Field(description="Path of the offending field: `query.limit`, `path.sku`, `body.spec.priority`")
    reason: str
    kind: str | None = Field(default=None, description="For configuration resources: the resource's kind")
    name: str | None = Field(default=None, description="For configuration resources: the resource's name")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="`urn:saleschannel:problem:<validation|unauthorized|forbidden|not-found|...>`")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str = ""
    instance: str | None = Field(default=None, description="The request path")
    errors: list[FieldError] = Field(default=[], description="One entry per invalid field")


class ProblemError(Exception):
    """Raise from a handler to answer with a problem."""

    def __init__(
        self, status: int, detail: str = "", *, errors: Iterable[FieldError] = (),
        headers: dict[str, str] | None = None, title: str | None = None,
    ) -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers
        self.title = title


def field_error(field: str, reason: str) -> ProblemError:
    """A 422 naming one field."""
    return ProblemError(422, f"{field}: {reason}", errors=[FieldError(field=field, reason=reason)])


def problem_response(
    status: int, detail: str = "", *, errors: Sequence[FieldError] = (), instance: str | None = None,
    headers: dict[str, str] | None = None, title: str | None = None, extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    """A problem response; `extensions` adds members of the operation's own (RFC 9457 §3.2)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    problem = Problem(type=TYPE_PREFIX + _TYPES.get(status, "error"), title=title or phrase, status=status,
                      detail=detail, instance=instance, errors=list(errors))
    body = {**(extensions or {}), **problem.model_dump(exclude_none=True)}
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def validation_errors(errors: Iterable[dict[str, Any]]) -> list[FieldError]:
    """pydantic/FastAPI errors as field errors: loc ("query", "limit") -> `query.limit`."""
    return [FieldError(field=".".join(str(part) for part in e.get("loc", ())) or "request",
                       reason=str(e.get("msg", "invalid"))) for e in errors]


def install(app: FastAPI) -> None:
    """Answer every HTTP error of `app` as a problem."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.detail, errors=exc.errors, instance=request.url.path,
                                headers=exc.headers, title=exc.title)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        detail = "; ".join(f"{e.field}: {e.reason}" for e in errors[:5])
        return problem_response(422, detail, errors=errors, instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else ""
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(sorted(_allowed_methods(request.app.routes, request.scope)))
        return problem_response(exc.status_code, detail, instance=request.url.path, headers=headers)


def _allowed_methods(routes: Iterable[Any], scope: dict[str, Any]) -> set[str]:
    """Every method some route serves at the request's path (each method is a route of its own)."""
    methods: set[str] = set()
    for route in routes:
        if (included := getattr(route, "original_router", None)) is not None:
            methods |= _allowed_methods(included.routes, scope)
        elif getattr(route, "methods", None):
            match, _ = route.matches({**scope, "method": next(iter(route.methods))})
            if match == Match.FULL:
                methods |= set(route.methods)
    return methods


# ------------------------------------------------------------------ OpenAPI

_REF = {"$ref": "#/components/schemas/Problem"}


def document(app: FastAPI, *, public: Iterable[str] = ()) -> None:
    """List the problem responses on every operation of `app`'s OpenAPI document (the default 422
    shape replaced), so clients and fuzzers know every error's shape."""
    public = set(public)
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        defs = components["Problem"].pop("$defs", {})
        components.update(defs)
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                responses = operation["responses"]
                wanted: dict[str, str] = {}
                if path not in public:
                    wanted |= {"400": "Bad request: a control character, an out-of-range number",
                               "401": "Missing or invalid bearer token",
                               "403": "The token lacks the scope this operation needs",
                               "422": "Invalid parameters or body; `errors` names each field"}
                if "{" in path:
                    wanted["404"] = "Not found"
                if method in ("post", "put", "patch", "delete") and path not in public:
                    wanted["409"] = "Conflict with the current state"
                wanted["503"] = "The service is starting or cannot reach its database"
                for status, description in wanted.items():
                    existing = responses.get(status, {})
                    responses[status] = {"description": existing.get("description") or description,
                                         "content": {MEDIA_TYPE: {"schema": _REF}}}
        inputs.document(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
