"""The FastAPI application: the Commerce REST operations, the `/_sim` admin surface, and `/healthz`, `/readyz`,
`/metrics` and `/openapi.json` (docs at `/docs`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from magento_sim import admin, api, ops
from magento_sim.config import SimConfig
from magento_sim.core import MagentoError, Simulator


def create_app(config: SimConfig | None = None, *,
               webhook_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    sim = Simulator(config or SimConfig(), webhook_transport)

    @contextlib.asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[None]:
        running.state.started = True
        try:
            yield
        finally:
            running.state.started = False
            await sim.webhooks.drain()

    app = FastAPI(title="magento-sim", lifespan=lifespan, docs_url="/docs", openapi_url="/openapi.json")
    app.state.sim = sim
    app.state.started = False

    @app.exception_handler(MagentoError)
    async def _magento_error(request: Request, exc: MagentoError) -> Response:
        operation = getattr(request.state, "operation", None)
        if operation:
            sim.calls[operation][str(exc.status)] += 1
        return JSONResponse(exc.body(), exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 405):
            return JSONResponse({"message": "Request does not match any route."}, 404)
        return JSONResponse({"message": str(exc.detail)}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = "/".join(str(x) for x in first.get("loc", ()) if x != "body")
        return JSONResponse({"message": 'The "%fieldName" value is invalid: %fieldValue',
                             "parameters": [{"fieldName": where, "fieldValue": str(first.get("msg", ""))}]}, 400)

    for module in (ops, api, admin):
        module.register(app, sim)
    return app
