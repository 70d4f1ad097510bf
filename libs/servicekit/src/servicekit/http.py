"""The HTTP app every service serves: health, readiness and metrics in the open; everything else
authenticated and scoped (`servicekit.auth`), errors as problem details (`servicekit.problems`),
configuration changes and operating actions audited (`servicekit.audit`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import problems
from servicekit.auth import PUBLIC_PATHS, Authenticator
from servicekit.logging import get_logger

if TYPE_CHECKING:
    from servicekit.app import Service

log = get_logger(component="http")


def protect(app: FastAPI, settings: Any) -> FastAPI:
    """Problem details for every error, unhandled errors logged once, and the credentials `settings` name
    (API keys, OIDC) for the routes' `requires` dependencies."""
    app.state.authenticator = Authenticator.from_settings(settings)
    problems.install(app)
    app.add_middleware(UnhandledErrors)
    return app


def create_app(service: Service[Any], lifespan: Any) -> FastAPI:
    app = protect(FastAPI(title=service.name, version=service.version, lifespan=lifespan), service.settings)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers. No token needed."""
        return {"status": "ok", "service": service.name}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "Not ready; `checks` says why"}})
    async def readyz() -> JSONResponse:
        """Readiness: started, database and broker reachable, outbox relay running. No token needed."""
        checks = await service.ready()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
    async def prometheus_metrics() -> Response:
        """Prometheus text exposition. No token needed."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    problems.document(app, public=PUBLIC_PATHS)
    return app


class UnhandledErrors:
    """An exception no handler answered: logged once with its traceback, answered as a 500 problem,
    and not passed on (the server would log it a second time, without the request's context)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("http_unhandled_error", method=scope.get("method"), path=scope.get("path"))
            if not started:
                response = problems.problem_response(500, "internal error; it has been logged",
                                                     instance=scope.get("path"))
                await response(scope, receive, send)
