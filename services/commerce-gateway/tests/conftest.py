"""The Commerce simulator in process, a fault switch in front of it, and the gateway's schema cleaned per test."""

from __future__ import annotations

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
    async with httpx.AsyncClient(transport=faulty, base_url=SIM_BASE) as client:
        yield client, faulty


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
