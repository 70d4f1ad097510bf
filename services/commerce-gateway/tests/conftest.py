"""The Commerce simulator in process behind a fault switch and a model check, and the gateway's schema cleaned per test.

Every request a test makes the gateway send through `sim` is checked against Adobe's published 2.4.8 model (the
operation exists, its query parameters are declared, its body validates); a test that sent one the model refuses
fails at teardown, naming it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import asyncpg
import httpx
import pytest

from commerce_gateway.service import SERVICE
from servicekit import db as servicekit_db

SIM_TOKEN = "commerce-integration-token-7f3a"
SIM_BASE = "http://commerce.test"
STORE_URL = f"{SIM_BASE}/rest/default"
SCHEMA = servicekit_db.schema_name(SERVICE)


class Faulty(httpx.AsyncBaseTransport):
    """Answers 503 for the next `burst` calls, or every call while `down`, else passes to the simulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.burst = 0
        self.down = False
        self.fail_page: int | None = None
        self.failed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        page = request.url.params.get("searchCriteria[currentPage]")
        if self.burst > 0 or self.down or (self.fail_page is not None and page == str(self.fail_page)):
            self.burst = max(0, self.burst - 1)
            self.failed += 1
            return httpx.Response(503, json={"message": "Service temporarily unavailable."})
        return await self.inner.handle_async_request(request)


DRIVEN: set[tuple[str, str]] = set()  # (method, model path) of every request the tests sent, for the wire guard


class ModelCheck(httpx.AsyncBaseTransport):
    """Checks each request against the published model before passing it on; keeps what it found wrong."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.problems: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.problems += request_problems(request)
        return await self.inner.handle_async_request(request)


def request_problems(request: httpx.Request) -> list[str]:
    from magento_sim import model

    where = f"{request.method} {request.url.path}"
    if request.url.path.startswith("/_sim/"):
        return []
    path = model.match(request.method, request.url.path)
    if path is None:
        return [f"{where}: no operation of the published model"]
    DRIVEN.add((request.method, path))
    found = [f"{where}: {p}" for p in model.query_problems(request.method, path, request.url.params.multi_items())]
    validator = model.request_validator(request.method, path)
    if request.content:
        if validator is None:
            found.append(f"{where}: a body, but {request.method} {path} takes none")
        else:
            found += [f"{where}: {p}" for p in model.problems(validator, json.loads(request.content))]
    elif validator is not None:
        found.append(f"{where}: no body, but {request.method} {path} needs one")
    return found


@pytest.fixture
def kit() -> Any:
    """This module, so tests reach its helpers (with --import-mode=importlib conftest is not importable)."""
    return sys.modules[__name__]


@pytest.fixture
async def sim() -> AsyncIterator[tuple[httpx.AsyncClient, Faulty]]:
    """An HTTP client to a fresh in-process simulator (Luma sample catalogue) behind a fault switch."""
    magento_sim = pytest.importorskip("magento_sim")
    app = magento_sim.create_app(magento_sim.SimConfig(token=SIM_TOKEN))
    faulty = Faulty(httpx.ASGITransport(app=app))
    checked = ModelCheck(faulty)
    async with httpx.AsyncClient(transport=checked, base_url=SIM_BASE) as client:
        yield client, faulty
    assert not checked.problems, "requests the published model refuses:\n" + "\n".join(dict.fromkeys(checked.problems))


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The gateway's schema migrated, with no import, cursor, hash or outbox row left by another test."""
    p = await servicekit_db.create_pool(database_url, SCHEMA, min_size=1, max_size=4)
    await servicekit_db.migrate(p, SCHEMA, resources.files("commerce_gateway") / "migrations")
    await p.execute("TRUNCATE catalog_imports, catalog_cursors, product_hashes, _outbox")
    try:
        yield p
    finally:
        await p.close()
