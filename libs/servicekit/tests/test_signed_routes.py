"""Routes a sender authenticates by signing the raw body (`auth.signed`) instead of a bearer token."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from servicekit import auth, problems

SECRET = b"shared-webhook-secret"
HEADER = "X-Sender-Signature"


def app() -> FastAPI:
    built = FastAPI()
    problems.install(built)
    seen: list[bytes] = []
    built.state.seen = seen

    @built.post("/hooks", dependencies=[auth.signed(HEADER, lambda: SECRET, scheme_name="sender")])
    async def hook(request: Request) -> dict[str, Any]:
        seen.append(await request.body())
        return {"principal": request.state.principal.kind, "scopes": sorted(request.state.principal.scopes)}

    return built


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def test_check_routes_accepts_a_signed_route_and_still_refuses_an_open_one() -> None:
    built = app()
    auth.check_routes(built.routes)

    @built.post("/open")
    async def open_route() -> None: ...

    with pytest.raises(RuntimeError) as raised:
        auth.check_routes(built.routes)
    assert "['POST'] /open" in str(raised.value) and "/hooks" not in str(raised.value)


def test_the_openapi_document_shows_the_signature_header_as_an_api_key_scheme() -> None:
    document = app().openapi()
    assert document["components"]["securitySchemes"]["sender"] == {
        "type": "apiKey", "in": "header", "name": HEADER,
        "description": "Hex HMAC-SHA256 of the raw body with the shared secret"}
    assert document["paths"]["/hooks"]["post"]["security"] == [{"sender": []}]


@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "is required"),
    ({HEADER: ""}, "is required"),
    ({HEADER: sign(b'{"other": 1}')}, "does not match"),
    ({HEADER: sign(b'{"sku": "MH01"}', b"another-secret")}, "does not match"),
    ({HEADER: "not hex at all \u00e9".encode("latin-1")}, "does not match"),
])
async def test_a_missing_or_wrong_signature_is_a_401_problem_and_the_handler_never_runs(
        headers: dict[str, Any], reason: str) -> None:
    built = app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=built), base_url="http://t") as client:
        r = await client.post("/hooks", content=b'{"sku": "MH01"}', headers=headers)
    assert r.status_code == 401 and r.headers["content-type"] == problems.MEDIA_TYPE
    assert reason in r.json()["detail"] and SECRET.decode() not in r.text
    assert built.state.seen == []


async def test_the_signature_of_the_raw_body_lets_the_request_in_as_an_ingesting_sender() -> None:
    built = app()
    body = b'{"sku":  "MH01"}'  # signed as sent, whitespace included
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=built), base_url="http://t") as client:
        r = await client.post("/hooks", content=body, headers={HEADER: sign(body).upper()})
    assert r.status_code == 200, r.text
    assert r.json() == {"principal": "signature", "scopes": ["ingest"]}
    assert built.state.seen == [body]
