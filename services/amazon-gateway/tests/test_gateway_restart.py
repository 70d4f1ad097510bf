"""The gateway killed mid-drain and started again loses nothing and applies every newest price once, in order.

Both Amazon (the simulator) and the gateway run as real processes here; the gateway is killed with
SIGKILL twice: once while a JSON_LISTINGS_FEED is out, once while single calls are going out. Amazon
answers 20% of calls with 500/503, throttles patch and get harder than the published plan (429s), and
holds some calls past the gateway's timeout.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from contracts import decode, topics
from contracts.events import ListingUpdateKind, ListingUpdateRequested, ListingUpdateResult
from contracts.money import Money
from devstack.infra import free_port
from devstack.processes import wait_ready
from devstack.testing import eventually, publish, read_topic

pytestmark = pytest.mark.integration

US = "ATVPDKIKX0DER"
T0 = datetime(2026, 2, 1, tzinfo=UTC)


class Processes:
    """The simulator and the gateway as child processes, each logging to a file."""

    def __init__(self, tmp: Path, bootstrap: str, database_url: str, run: str) -> None:
        self.tmp = tmp
        self.run = run
        self.seller = f"A1RS{run.upper()}"
        self.account_id = f"acct-restart-{run}"
        self.sim_port = free_port()
        self.gateway_port = free_port()
        self.bootstrap = bootstrap
        self.database_url = database_url
        self.sim: subprocess.Popen[bytes] | None = None
        self.gateway: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(self.tmp / f"{name}.log", "ab") as log:
            return subprocess.Popen(argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def start_sim(self) -> None:
        secret, refresh = f"amzn1.oa2-cs.v1.rs{self.run}", f"Atzr|rs-{self.run}"
        config = {"accounts": [{"client_id": f"amzn1.application-oa2-client.rs{self.run}", "client_secret": secret,
                                "refresh_token": refresh, "seller_id": self.seller, "marketplaces": [US]}]}
        (self.tmp / "sim.json").write_text(json.dumps(config))
        self.sim = self._spawn("sim", [sys.executable, "-m", "amazon_sim", "--port", str(self.sim_port),
                                       "--config", str(self.tmp / "sim.json"), "--seed", "7"], {})
        wait_ready(f"{self.sim_url}/_sim/stats", timeout=60, proc=self.sim)

    def start_gateway(self) -> None:
        self.starts += 1
        account = {"account_id": self.account_id, "seller_id": self.seller, "region": "na",
                   "client_id": f"amzn1.application-oa2-client.rs{self.run}",
                   "client_secret": f"amzn1.oa2-cs.v1.rs{self.run}", "refresh_token": f"Atzr|rs-{self.run}",
                   "marketplace_ids": [US]}
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "DATABASE_URL": self.database_url,
            "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(self.gateway_port),
            "AMAZON_ACCOUNTS": json.dumps([account]), "AMAZON_API_BASE_URL": self.sim_url,
            "AMAZON_LWA_URL": f"{self.sim_url}/auth/o2/token",
            "AMAZON_TIMEOUT_S": "1.0", "AMAZON_MAX_ATTEMPTS": "12", "AMAZON_RETRY_BASE_DELAY_S": "0.05",
            "AMAZON_RETRY_MAX_DELAY_S": "0.5",
            # A write that timed out may still land at Amazon up to 0.3 s later: check after that.
            "VERIFY_DELAY_S": "0.5", "VERIFY_ATTEMPTS": "6",
            "FEED_BACKLOG_THRESHOLD": "30", "FEED_LINGER_S": "0.5", "FEED_POLL_S": "0.3", "FEED_POLL_MAX_S": "1",
            "SENDER_LEASE_S": "2", "SENDER_IDLE_S": "0.05", "SENDER_BATCH_SIZE": "10",
        }
        self.gateway = self._spawn(f"gateway-{self.starts}", [sys.executable, "-m", "amazon_gateway"], env)
        wait_ready(f"http://127.0.0.1:{self.gateway_port}/readyz", timeout=90, proc=self.gateway)

    def kill_gateway(self) -> None:
        assert self.gateway is not None and self.gateway.poll() is None, "the gateway died on its own"
        os.kill(self.gateway.pid, signal.SIGKILL)
        self.gateway.wait(10)

    def stop(self) -> None:
        for proc in (self.gateway, self.sim):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def price(p: Processes, sku: str, amount: str, minute: int) -> ListingUpdateRequested:
    return ListingUpdateRequested.new(
        producer="test", account_id=p.account_id, marketplace_id=US, sku=sku, kind=ListingUpdateKind.PRICE,
        price=Money(amount=amount, currency="USD"), requested_at=T0 + timedelta(minutes=minute))


def shuffled_prices(p: Processes, skus: list[str], minutes: list[int], rng: random.Random) -> list[ListingUpdateRequested]:
    requests = [price(p, sku, f"{10 + i % 50}.{m:02d}", m) for i, sku in enumerate(skus) for m in minutes]
    rng.shuffle(requests)  # out of requested_at order, and SKUs interleaved
    return requests


@pytest.fixture
async def processes(tmp_path: Path, topics_created: str, database_url: str, db: asyncpg.Connection) -> Any:
    for table in ("pending_updates", "sent_fields", "listing_feeds"):
        try:
            await db.execute(f"DELETE FROM amazon_gateway.{table}")
        except asyncpg.UndefinedTableError:
            pass
    p = Processes(tmp_path, topics_created, database_url, uuid.uuid4().hex[:8])
    try:
        yield p
    finally:
        p.stop()


async def test_killed_mid_drain_twice_loses_nothing_and_ends_with_newest_prices(
        processes: Processes, db: asyncpg.Connection) -> None:
    p = processes
    rng = random.Random(p.run)
    p.start_sim()
    sim = httpx.AsyncClient(base_url=p.sim_url, timeout=30)
    skus = [f"RS-{p.run}-{i}" for i in range(60)]
    for sku in skus:
        r = await sim.put(f"/_sim/listings/{p.seller}/{sku}", json={"productType": "HOME", "attributes": {
            "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                                   "our_price": [{"schedule": [{"value_with_tax": 1}]}]}]}})
        assert r.status_code == 200, r.text
    await sim.post("/_sim/ratelimits", json={"overrides": {"patchListingsItem": {"rate": 3, "burst": 2},
                                                           "getListingsItem": {"rate": 3, "burst": 2}}})
    await sim.post("/_sim/faults", json={"seed": 3, "error_rate": 0.2, "latency_ms": 1300, "latency_rate": 0.05})

    p.start_gateway()
    # Wave 1: a burst over 60 SKUs, more than the feed threshold: it goes as a feed.
    wave1 = shuffled_prices(p, skus, [0, 1, 2], rng)
    await publish(p.bootstrap, wave1)

    async def feed_out() -> bool:
        return bool(await db.fetchval(
            "SELECT count(*) FROM amazon_gateway.listing_feeds WHERE account_id = $1 AND status = 'submitted'",
            p.account_id))

    await eventually(feed_out, timeout=90, what="a feed submitted")
    p.kill_gateway()

    # Wave 2, while the gateway is down: newer prices for a third of the SKUs, few enough for single calls.
    few = skus[:20]
    wave2 = shuffled_prices(p, few, [3, 4, 5], rng)
    await publish(p.bootstrap, wave2)
    p.start_gateway()

    async def singles_under_way() -> bool:
        return bool(await db.fetchval(
            "SELECT count(*) FROM amazon_gateway.pending_updates WHERE request_id = ANY($1::uuid[]) "
            "AND status = 'done'", [r.event_id for r in wave2]))

    await eventually(singles_under_way, timeout=120, what="single calls under way")
    left = await db.fetchval(
        "SELECT count(*) FROM amazon_gateway.pending_updates WHERE request_id = ANY($1::uuid[]) "
        "AND status IN ('pending', 'in_flight')", [r.event_id for r in wave2])
    p.kill_gateway()
    assert left > 0, "the second kill came after the single calls had drained"
    p.start_gateway()

    requests = wave1 + wave2
    wanted = {str(r.event_id) for r in requests}

    def mine(records: list[Any]) -> list[ListingUpdateResult]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, ListingUpdateResult) and e.request_event_id in wanted]

    records = await read_topic(p.bootstrap, topics.LISTING_UPDATE_RESULTS.name, timeout=180,
                               until=lambda rs: {e.request_event_id for e in mine(rs)} == wanted)
    results = list({e.event_id: e for e in mine(records)}.values())  # a relay re-send after a kill is a copy
    per_request: dict[str, list[ListingUpdateResult]] = defaultdict(list)
    for result in results:
        per_request[result.request_event_id].append(result)
    assert {k: len(v) for k, v in per_request.items() if len(v) != 1} == {}
    assert set(per_request) == wanted

    by_id = {str(r.event_id): r for r in requests}
    newest = {sku: max((r for r in requests if r.sku == sku), key=lambda r: r.requested_at) for sku in skus}
    last_accepted: dict[str, datetime] = {}
    for result in results:  # in topic order, which is per-listing order
        request = by_id[result.request_event_id]
        if result.accepted:
            assert request.sku not in last_accepted or last_accepted[request.sku] < request.requested_at
            last_accepted[request.sku] = request.requested_at
        else:
            assert [i.code for i in result.issues] == ["Superseded"], result.issues
    for sku in skus:
        assert last_accepted[sku] == newest[sku].requested_at

    state = {x["sku"]: x for x in (await sim.get(f"/_sim/listings/{p.seller}")).json()["listings"]}
    wrong = {sku: (state[sku]["prices"], str(newest[sku].price.amount)) for sku in skus  # type: ignore[union-attr]
             if state[sku]["prices"] != {US: str(newest[sku].price.amount)}}  # type: ignore[union-attr]
    assert wrong == {}

    stats = (await sim.get("/_sim/stats")).json()
    assert stats["faults"]["errors"] > 0 and stats["throttled"] > 0
    assert stats["operations"]["createFeed"]["202"] >= 1
    await sim.aclose()
