"""`python -m amazon_gateway import-listings` as an operator runs it: a process of its own, configured by the
environment, against the simulator serving over HTTP with the demo seller's listings."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import decode, topics
from contracts.events import AmazonListingObserved
from devstack import demo, infra
from devstack.testing import read_topic

pytestmark = pytest.mark.integration

ACCOUNT = "demo-seller"


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "sim.json"
    config.write_text(json.dumps(demo.simulator_config()))
    port = infra.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "amazon_sim", "--port", str(port), "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not infra.port_open("127.0.0.1", port):
            if proc.poll() is not None:
                raise RuntimeError(f"simulator exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                raise TimeoutError("simulator not listening after 60 s")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "amazon_gateway", "import-listings", *args],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


async def test_the_command_imports_the_demo_sellers_listings(
        simulator: str, topics_created: str, database_url: str, db: Any) -> None:
    listings = await asyncio.to_thread(demo.seed_simulator, simulator)
    env = {"AMAZON_ACCOUNTS": json.dumps(demo.gateway_accounts(ACCOUNT)), "DATABASE_URL": database_url,
           "KAFKA_BOOTSTRAP_SERVERS": topics_created, "AMAZON_API_BASE_URL": simulator,
           "AMAZON_LWA_URL": f"{simulator}/auth/o2/token"}
    done = await asyncio.to_thread(run_cli, env, "--account", ACCOUNT, "--restart")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"{ACCOUNT} {demo.DEMO_MARKETPLACE}: imported {listings} listings of " \
                                           f"{listings}"
    assert demo.DEMO_CLIENT_SECRET not in done.stdout + done.stderr
    run_id = await db.fetchval("SELECT run_id FROM amazon_gateway.listing_imports WHERE account_id = $1", ACCOUNT)

    def mine(records: list[Any]) -> list[AmazonListingObserved]:
        events = [decode(r.value) for r in records]
        return [e for e in events if isinstance(e, AmazonListingObserved) and e.correlation_id == run_id]

    records = await read_topic(topics_created, topics.AMAZON_LISTINGS.name, timeout=60,
                               until=lambda rs: len(mine(rs)) >= listings)
    events = mine(records)
    assert len({e.sku for e in events}) == listings
    assert all(e.price is not None and e.price.currency == "USD" and e.condition == "new_new" for e in events)
    async with httpx.AsyncClient(base_url=simulator) as sim:
        stats = (await sim.get("/_sim/stats")).json()["operations"]["searchListingsItems"]
    assert stats["200"] == -(-listings // 20)  # pages of 20, the most Amazon allows

    refused = await asyncio.to_thread(run_cli, {**env, "AMAZON_ACCOUNTS": "[{"}, "--account", ACCOUNT)
    assert refused.returncode == 2 and "cannot read the accounts" in refused.stderr
