from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from amazon_sim import SimConfig, create_app
from amazon_sim.testing import ACCOUNT, OTHER, Sim


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    app = create_app(SimConfig(accounts=[ACCOUNT, OTHER], seed=7, feed_queue_seconds=5,
                               feed_processing_seconds=5), background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        s = Sim(client)
        await s.login()
        yield s
