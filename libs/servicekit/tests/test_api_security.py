"""Who may call a running service: bearer tokens (API keys and OIDC access tokens), scopes, and no key
ever written to a log."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter
from pydantic import Field

from devstack.testing import TEST_KEYS, auth_headers
from servicekit import Service, ServiceSettings
from servicekit.auth import Principal, Scope, requires
from servicekit.config import ConfigKind, ConfigRegistry, ConfigSpec, config_router

PROBLEM = "application/problem+json"


class Threshold(ConfigSpec):
    limit: int = Field(ge=1)


def scoped_routes() -> APIRouter:
    router = APIRouter()

    def who(caller: Principal) -> dict[str, Any]:
        return {"name": caller.name, "kind": caller.kind, "scopes": sorted(caller.scopes)}

    @router.get("/things")
    async def read_things(caller: Principal = requires(Scope.READ)) -> dict[str, Any]:
        return who(caller)

    @router.post("/things:configure")
    async def configure_things(caller: Principal = requires(Scope.CONFIGURE)) -> dict[str, Any]:
        return who(caller)

    @router.post("/things:operate")
    async def operate_things(caller: Principal = requires(Scope.OPERATE)) -> dict[str, Any]:
        return who(caller)

    @router.post("/things:ingest")
    async def ingest_things(caller: Principal = requires(Scope.INGEST)) -> dict[str, Any]:
        return who(caller)

    @router.get("/things/{word}:explode", dependencies=[requires(Scope.OPERATE)])
    async def explode(word: str, note: str = "") -> None:
        raise RuntimeError(f"the upstream refused {word} ({note}) and {TEST_KEYS['all']}")

    return router


def build_service(topics_created: str, database_url: str, **settings: Any) -> Service[ServiceSettings]:
    service = Service(f"sec-{uuid.uuid4().hex[:8]}", ServiceSettings(
        kafka_bootstrap_servers=topics_created, database_url=database_url, gc_gen0_threshold=0, **settings))
    service.include_router(scoped_routes())
    service.include_router(config_router(service, ConfigRegistry(ConfigKind("Threshold", Threshold))))
    return service


@asynccontextmanager
async def running(service: Service[Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = service.asgi()
    await service.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://service") as client:
            yield client
    finally:
        await service.stop()


@pytest.fixture(scope="module")
async def client(topics_created: str, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(build_service(topics_created, database_url)) as client:
        yield client


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"] == "urn:saleschannel:problem:unauthorized"


# ------------------------------------------------------------------ API keys


async def test_no_token_a_bad_token_or_a_malformed_header_is_401(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await client.get("/things"))
    for authorization in ("Bearer sck_not-a-key-of-this-service", "Bearer " + TEST_KEYS["all"][:-1],
                          "Basic " + TEST_KEYS["all"], TEST_KEYS["all"], "Bearer", "Bearer  ", "bearer: x"):
        assert_unauthorized(await client.get("/things", headers={"Authorization": authorization}))
    assert_unauthorized(await client.put("/config/Threshold/low", json={"limit": 1}))
    assert_unauthorized(await client.get("/audit", headers={"Authorization": "Bearer eyJ.e30.sig"}))


@pytest.mark.parametrize(("method", "path", "scope"), [
    ("GET", "/things", "read"), ("POST", "/things:configure", "configure"),
    ("POST", "/things:operate", "operate"), ("POST", "/things:ingest", "ingest"),
])
async def test_each_route_needs_its_own_scope(client: httpx.AsyncClient, method: str, path: str, scope: str) -> None:
    for key in TEST_KEYS:
        response = await client.request(method, path, headers=auth_headers(key))
        if key in ("all", scope):
            assert response.status_code == 200, (key, response.text)
            assert response.json()["name"] == f"test-{key}" and response.json()["kind"] == "api_key"
            assert scope in response.json()["scopes"]
        else:
            assert response.status_code == 403, (key, response.text)
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["detail"] == f"test-{key} lacks the scope '{scope}'"


async def test_configuration_reads_need_read_and_changes_need_configure(client: httpx.AsyncClient) -> None:
    assert (await client.put("/config/Threshold/low", json={"limit": 1},
                             headers=auth_headers("read"))).status_code == 403
    assert (await client.post("/config:apply", json=[], headers=auth_headers("read"))).status_code == 403
    assert (await client.get("/config/Threshold", headers=auth_headers("configure"))).status_code == 403
    assert (await client.get("/audit", headers=auth_headers("operate"))).status_code == 403

    assert (await client.put("/config/Threshold/low", json={"limit": 1},
                             headers=auth_headers("configure"))).status_code == 200
    assert (await client.get("/config/Threshold/low", headers=auth_headers("read"))).json()["spec"] == {"limit": 1}
    assert (await client.post("/config:plan", json=[], headers=auth_headers("read"))).status_code == 200
    assert (await client.get("/audit", headers=auth_headers("read"))).status_code == 200
    assert (await client.delete("/config/Threshold/low", headers=auth_headers("read"))).status_code == 403
    assert (await client.delete("/config/Threshold/low", headers=auth_headers("configure"))).status_code == 200


async def test_health_metrics_and_the_api_document_need_no_token(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert (await client.get(path)).status_code == 200, path


def test_a_service_with_an_unscoped_route_refuses_to_build_its_app(topics_created: str, database_url: str) -> None:
    service = build_service(topics_created, database_url)
    careless = APIRouter()

    @careless.post("/things:forget")
    async def forget() -> None: ...

    service.include_router(careless)
    with pytest.raises(RuntimeError) as raised:
        service.asgi()
    assert "/things:forget" in str(raised.value) and "POST" in str(raised.value)
    assert "/things:operate" not in str(raised.value)


# ------------------------------------------------------------------ OIDC


ISSUER = "https://id.example.test/realms/saleschannel"
AUDIENCE = "saleschannel-api"
KID = "signing-1"


class JwksServer:
    """A JWKS endpoint on a free local port, in a thread."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key(), as_dict=True)
    server = JwksServer({"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]})
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture(scope="module")
async def oidc_client(topics_created: str, database_url: str, jwks_url: str) -> AsyncIterator[httpx.AsyncClient]:
    service = build_service(topics_created, database_url, oidc_issuer=ISSUER, oidc_jwks_url=jwks_url,
                            oidc_audience=AUDIENCE)
    async with running(service) as client:
        yield client


def token(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice@example.test", "iat": now, "exp": now + 300,
            "scope": "read configure", **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="RS256", headers={"kid": KID})


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def test_a_valid_access_token_is_accepted_with_its_scopes(oidc_client: httpx.AsyncClient, signing_key) -> None:
    response = await oidc_client.get("/things", headers=bearer(token(signing_key)))
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "alice@example.test", "kind": "oidc", "scopes": ["configure", "read"]}
    listed = await oidc_client.post("/things:configure", headers=bearer(token(signing_key, scope=["configure"])))
    assert listed.status_code == 200 and listed.json()["scopes"] == ["configure"]
    # API keys still work beside the issuer.
    assert (await oidc_client.get("/things", headers=auth_headers("read"))).status_code == 200


async def test_the_audit_trail_names_the_tokens_subject(oidc_client: httpx.AsyncClient, signing_key) -> None:
    changed = await oidc_client.put("/config/Threshold/oidc", json={"limit": 3},
                                    headers=bearer(token(signing_key, sub="bob@example.test")))
    assert changed.status_code == 200, changed.text
    trail = (await oidc_client.get("/audit", params={"target": "Threshold/oidc"},
                                   headers=bearer(token(signing_key)))).json()
    assert [(r["actor"], r["actor_kind"], r["action"]) for r in trail] == [
        ("bob@example.test", "oidc", "config.create")]


@pytest.mark.parametrize("claims", [
    {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
    {"iss": "https://id.example.test/realms/elsewhere"},
    {"aud": "another-api"},
    {"aud": None},
    {"exp": None},
], ids=["expired", "wrong issuer", "wrong audience", "no audience", "no expiry"])
async def test_a_token_failing_a_check_is_401(oidc_client: httpx.AsyncClient, signing_key, claims) -> None:
    assert_unauthorized(await oidc_client.get("/things", headers=bearer(token(signing_key, **claims))))


async def test_a_token_signed_by_another_key_is_401(oidc_client: httpx.AsyncClient) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_unauthorized(await oidc_client.get("/things", headers=bearer(token(impostor))))
    unsigned = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 300,
                           "scope": "read"}, None, algorithm="none", headers={"kid": KID})
    assert_unauthorized(await oidc_client.get("/things", headers=bearer(unsigned)))


async def test_a_token_lacking_the_scope_is_403(oidc_client: httpx.AsyncClient, signing_key) -> None:
    response = await oidc_client.post("/things:configure", headers=bearer(token(signing_key, scope="read")))
    assert response.status_code == 403 and response.headers["content-type"] == PROBLEM
    assert "alice@example.test lacks the scope 'configure'" in response.json()["detail"]
    no_claim = await oidc_client.get("/things", headers=bearer(token(signing_key, scope=None)))
    assert no_claim.status_code == 403
    unknown = await oidc_client.get("/things", headers=bearer(token(signing_key, scope="admin openid")))
    assert unknown.status_code == 403


# ------------------------------------------------------------------ logs



async def test_no_key_is_ever_written_to_the_log(client: httpx.AsyncClient, json_logs, capsys) -> None:
    statuses = []
    for key in TEST_KEYS.values():
        statuses.append((await client.get("/things", headers=bearer(key))).status_code)
        statuses.append((await client.get("/things", headers=bearer(key + "x"))).status_code)
        statuses.append((await client.get("/things", headers={"Authorization": f"Basic {key}"})).status_code)
        statuses.append((await client.get(f"/things/{key}:explode", params={"note": key},
                                          headers=auth_headers("operate"))).status_code)
    assert set(statuses) == {200, 401, 403, 500}

    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    failures = [line for line in lines if line.get("event") == "http_unhandled_error"]
    assert len(failures) == len(TEST_KEYS)
    assert all("[redacted]" in json.dumps(line["exception"]) for line in failures)
    for name, key in TEST_KEYS.items():
        assert key not in out, f"the {name} key is in the log"
        assert key[4:] not in out, f"the {name} key's body is in the log"
