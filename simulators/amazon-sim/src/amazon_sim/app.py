"""The FastAPI application: the SP-API operations, the `/_sim` admin surface, and `/healthz`, `/readyz`,
`/metrics` and `/openapi.json` (docs at `/docs`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from amazon_sim import (
    admin,
    api_feeds,
    api_listings,
    api_lwa,
    api_notifications,
    api_orders,
    api_reports,
    api_sellers,
    ops,
)
from amazon_sim.config import SimConfig
from amazon_sim.core import LwaError, Simulator, SpApiError


def create_app(config: SimConfig | None = None, *, background: bool = True) -> FastAPI:
    sim = Simulator(config or SimConfig())

    @contextlib.asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_tick()), asyncio.create_task(sim.notifications.run())] if background else []
        running.state.background_tasks = tasks
        running.state.started = True
        try:
            yield
        finally:
            running.state.started = False
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _tick() -> None:
        while True:
            sim.tick()
            await asyncio.sleep(0.1)

    app = FastAPI(title="amazon-sim", lifespan=lifespan, docs_url="/docs", openapi_url="/openapi.json")
    app.state.sim = sim
    app.state.started = False

    @app.get("/_sim/openapi.json", include_in_schema=False)
    async def openapi_at_the_old_path() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.exception_handler(SpApiError)
    async def _sp_error(request: Request, exc: SpApiError) -> Response:
        operation = getattr(request.state, "operation", None)
        if operation:
            sim.calls[operation][str(exc.status)] += 1
        return JSONResponse(exc.body(), exc.status, sim.headers(request))

    @app.exception_handler(LwaError)
    async def _lwa_error(_request: Request, exc: LwaError) -> Response:
        return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "InvalidInput")
        return JSONResponse(SpApiError(exc.status_code, code, str(exc.detail)).body(), exc.status_code,
                            sim.headers(request))

    for module in (ops, api_lwa, api_sellers, api_listings, api_feeds, api_orders, api_notifications, api_reports,
                   admin):
        module.register(app, sim)
    return app
