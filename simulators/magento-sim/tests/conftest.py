from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from magento_sim import SimConfig, create_app
from magento_sim.testing import AUTH


class Client:
    """A client of one in-process simulator; `call` sends the integration token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def call(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        return await self.client.request(method, path, headers=AUTH, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def sim() -> AsyncIterator[Client]:
    app = create_app(SimConfig(seed=3, clock_start="2024-03-06 10:00:00"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        yield Client(client)
