"""Input no handler sees (control characters, integers beyond int64, non-finite numbers), every error as
a problem, unexpected errors logged once, and an OpenAPI document that says all of it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field

from devstack.testing import TEST_KEYS, auth_headers
from servicekit import Service, ServiceSettings
from servicekit.auth import Scope, requires
from servicekit.config import ConfigKind, ConfigRegistry, ConfigSpec, config_router
from servicekit.inputs import INT64_MAX, INT64_MIN, PARAM_PATTERN
from servicekit.logging import REDACTED

PROBLEM = "application/problem+json"
TOO_BIG = str(INT64_MAX + 1)  # 9223372036854775808


class Note(BaseModel):
    z: str
    tags: list[str] = []
    weight: float = 1.0
    count: int = 0


class Threshold(ConfigSpec):
    limit: int = Field(ge=1)


def routes() -> APIRouter:
    router = APIRouter(dependencies=[requires(Scope.READ)])

    @router.get("/echo/{x}")
    async def echo(x: str, y: str = "") -> dict[str, str]:
        return {"x": x, "y": y}

    @router.post("/notes")
    async def add_note(note: Note) -> Note:
        return note

    @router.get("/count")
    async def count(n: int = 0) -> dict[str, int]:
        return {"n": n}

    @router.get("/label")
    async def label(n: str = "") -> dict[str, str]:
        return {"n": n}

    @router.get("/explode")
    async def explode() -> None:
        raise RuntimeError(f"the upstream refused the key {TEST_KEYS['operate']}")

    return router


@pytest.fixture(scope="module")
async def client(topics_created: str, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    service = Service(f"inputs-{uuid.uuid4().hex[:8]}", ServiceSettings(
        kafka_bootstrap_servers=topics_created, database_url=database_url, gc_gen0_threshold=0))
    service.include_router(routes())
    service.include_router(config_router(service, ConfigRegistry(ConfigKind("Threshold", Threshold))))
    app = service.asgi()
    await service.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://service",
                                     headers=auth_headers()) as client:
            yield client
    finally:
        await service.stop()


def assert_refused(response: httpx.Response, *fields: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "urn:saleschannel:problem:validation" and problem["status"] == 422
    assert [e["field"] for e in problem["errors"]] == list(fields)
    return problem  # type: ignore[no-any-return]


# ------------------------------------------------------------------ refused input


@pytest.mark.parametrize("char", ["%00", "%01", "%09", "%0A", "%1B", "%1F", "%7F"])
async def test_control_characters_in_a_path_parameter_are_refused(client: httpx.AsyncClient, char: str) -> None:
    problem = assert_refused(await client.get(f"/echo/a{char}b"), "path.x")
    assert problem["errors"][0]["reason"].startswith("must not contain the control character U+00")
    assert problem["instance"].startswith("/echo/")


@pytest.mark.parametrize("char", ["\x00", "\x07", "\t", "\n", "\x7f"])
async def test_control_characters_in_a_query_parameter_are_refused(client: httpx.AsyncClient, char: str) -> None:
    problem = assert_refused(await client.get("/echo/a", params={"y": f"b{char}c"}), "query.y")
    assert problem["errors"][0]["reason"] == f"must not contain the control character U+{ord(char):04X}"
    assert_refused(await client.get("/echo/a", params={f"y{char}": "c"}), f"query.{'y' + char!r}")


async def test_control_characters_in_body_strings_are_refused_but_whitespace_is_not(client: httpx.AsyncClient) -> None:
    assert_refused(await client.post("/notes", json={"z": "a\x00b"}), "body.z")
    assert_refused(await client.post("/notes", json={"z": "ok", "tags": ["fine", "bell\x07"]}), "body.tags.1")
    assert_refused(await client.post("/notes", json={"z": "\x1b[31m", "tags": ["\x7f"]}), "body.z", "body.tags.0")
    accepted = await client.post("/notes", json={"z": "two\tcolumns\r\nand lines", "tags": ["é", "日本"]})
    assert accepted.status_code == 200 and accepted.json()["z"] == "two\tcolumns\r\nand lines"


async def test_an_integer_beyond_int64_is_refused_naming_the_parameter(client: httpx.AsyncClient) -> None:
    problem = assert_refused(await client.get("/count", params={"n": TOO_BIG}), "query.n")
    assert "64 bits" in problem["errors"][0]["reason"]
    assert_refused(await client.get("/count", params={"n": str(INT64_MIN - 1)}), "query.n")
    assert (await client.get("/count", params={"n": str(INT64_MAX)})).json() == {"n": INT64_MAX}
    assert (await client.get("/label", params={"n": TOO_BIG})).json() == {"n": TOO_BIG}
    assert_refused(await client.post("/notes", json={"z": "a", "count": INT64_MAX + 1}), "body.count")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
async def test_non_finite_numbers_in_a_body_are_refused(client: httpx.AsyncClient, number: str) -> None:
    response = await client.post("/notes", content=f'{{"z": "a", "weight": {number}}}',
                                 headers={"Content-Type": "application/json"})
    problem = assert_refused(response, "body.weight")
    assert problem["errors"][0]["reason"] == "must be a finite number"


async def test_ordinary_validation_errors_are_problems_naming_the_field(client: httpx.AsyncClient) -> None:
    assert_refused(await client.get("/count", params={"n": "seven"}), "query.n")
    assert_refused(await client.post("/notes", json={"tags": []}), "body.z")
    not_found = await client.get("/nowhere")
    assert not_found.status_code == 404 and not_found.headers["content-type"] == PROBLEM


async def test_a_405_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.post("/config/Threshold/low", json={"limit": 1})
    assert response.status_code == 405 and response.headers["content-type"] == PROBLEM
    assert response.headers["allow"] == "DELETE, GET, PUT"
    assert response.json()["type"] == "urn:saleschannel:problem:method-not-allowed"
    assert (await client.delete("/echo/a")).headers["allow"] == "GET"


# ------------------------------------------------------------------ unexpected errors



async def test_an_unexpected_error_is_a_500_problem_logged_once(client: httpx.AsyncClient, json_logs, capsys) -> None:
    response = await client.get("/explode")
    assert response.status_code == 500 and response.headers["content-type"] == PROBLEM
    assert response.json() == {"type": "urn:saleschannel:problem:internal", "title": "Internal Server Error",
                                "status": 500, "detail": "internal error; it has been logged", "instance": "/explode",
                                "errors": []}
    assert TEST_KEYS["operate"] not in response.text

    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    about = [line for line in lines if "RuntimeError" in json.dumps(line)]
    assert len(about) == 1, out
    (line,) = about
    assert line["event"] == "http_unhandled_error" and line["level"] == "error"
    assert line["path"] == "/explode" and line["method"] == "GET" and line["service"] == "servicekit-test"
    (exception,) = line["exception"]
    assert exception["exc_type"] == "RuntimeError"
    assert exception["exc_value"] == f"the upstream refused the key {REDACTED}"
    assert exception["frames"] and any(frame["name"] == "explode" for frame in exception["frames"])
    assert all("locals" not in frame for frame in exception["frames"])
    assert TEST_KEYS["operate"] not in out


# ------------------------------------------------------------------ OpenAPI


async def test_the_api_document_lists_problems_and_input_rules(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]

    protected = [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()
                 if path not in ("/healthz", "/readyz", "/metrics")]
    assert {("/echo/{x}", "get"), ("/notes", "post"), ("/audit", "get"), ("/config/Threshold/{name}", "put")} <= {
        (path, method) for path, method, _ in protected}
    for path, method, op in protected:
        for status in ("401", "403", "422"):
            assert op["responses"][status]["content"][PROBLEM]["schema"] == problem_ref, (path, method, status)
        assert {"bearer": []} in op.get("security", []), (path, method)
    for public in ("/healthz", "/readyz", "/metrics"):
        responses = schema["paths"][public]["get"]["responses"]
        assert not {"401", "403", "422"} & responses.keys(), public

    echo = {p["name"]: p["schema"] for p in schema["paths"]["/echo/{x}"]["get"]["parameters"]}
    assert echo["x"]["pattern"] == echo["y"]["pattern"] == PARAM_PATTERN
    count = schema["paths"]["/count"]["get"]["parameters"][0]["schema"]
    assert (count["minimum"], count["maximum"]) == (INT64_MIN, INT64_MAX)
    note = schema["components"]["schemas"]["Note"]["properties"]
    assert note["z"]["pattern"] == note["tags"]["items"]["pattern"] == "^[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F]*$"
