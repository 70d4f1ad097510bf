"""Login with Amazon: the token endpoint."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from amazon_sim.core import LwaError, Simulator


def register(app: FastAPI, sim: Simulator) -> None:
    @app.post("/auth/o2/token")
    async def lwa_token(request: Request) -> Response:
        raw = await request.body()
        fields: dict[str, str]
        if "json" in request.headers.get("content-type", ""):
            try:
                parsed = json.loads(raw or b"{}")
            except json.JSONDecodeError as exc:
                raise LwaError(400, "invalid_request", "The request body is not valid JSON") from exc
            if not isinstance(parsed, dict):
                raise LwaError(400, "invalid_request", "The request body must be a JSON object")
            fields = {k: str(v) for k, v in parsed.items() if v is not None}
        else:
            fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        return JSONResponse(sim.issue_token(fields), headers={"Cache-Control": "no-store"})
