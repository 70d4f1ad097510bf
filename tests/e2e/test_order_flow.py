"""Amazon orders into Commerce and back, across every service, each a process of its own.

Buyers order on the SP-API simulator; amazon-gateway polls the orders (woken by the simulator's ORDER_CHANGE
pushes); order-import decides under the store's OrderSettings and asks commerce-gateway, which creates each order
in magento-sim. A shipment made in magento-sim goes back the same way and is confirmed on "Amazon" with its
tracking number; a cancel through order-import's API reaches "Amazon" with its reason. Then, with a fifth of the
calls to both simulators failing (and some Commerce answers lost after the order was made) and order-import
killed with SIGKILL mid-stream and started again, every eligible order is in Commerce exactly once and no other.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from devstack import demo, infra
from devstack.processes import SERVICES, ProcessSpec, Supervisor, service_spec, wait_ready
from devstack.testing import TEST_KEYS, auth_headers, eventually, with_database
from order_import.buyers import new_key
from servicekit.topics import create_topics

SELLER, MARKETPLACE, ACCOUNT = demo.DEMO_SELLER, demo.DEMO_MARKETPLACE, "demo-seller"
COMMERCE_TOKEN = "e2e-commerce-token"
SKUS = [p.sku for p in demo.sample_products()]
# Amazon allows getOrders once a minute after a burst of 20; the simulator is told a higher rate, which its
# x-amzn-RateLimit-Limit header passes on to the gateway, so a poll per ORDER_CHANGE is never held a minute.
RATE_LIMITS = {"getOrders": {"rate": 5, "burst": 20}, "getOrderItems": {"rate": 20, "burst": 50}}
# A fifth of the calls fail: 5xx from both simulators; from magento-sim, some orders made whose answer is lost.
AMAZON_FAULTS = {"seed": 10, "error_rate": 0.2, "error_statuses": [500, 503]}
COMMERCE_FAULTS = {"seed": 10, "error_rate": 0.15, "error_statuses": [500, 502, 503],
                   "timeout_after_commit_rate": 0.05, "timeout_mode": "close"}
RETRIES = {"COMMERCE_MAX_ATTEMPTS": "8", "COMMERCE_RETRY_BASE_DELAY_S": "0.1", "COMMERCE_RETRY_MAX_DELAY_S": "2",
           "AMAZON_MAX_ATTEMPTS": "8", "AMAZON_RETRY_BASE_DELAY_S": "0.1", "AMAZON_RETRY_MAX_DELAY_S": "2"}


@pytest.fixture(scope="module")
def stack(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Both simulators and every service, with a broker and a database of their own; the demo seller's listings
    on "Amazon", the gear shelf in "Commerce", imported, and the store's OrderSettings."""
    run_dir = tmp_path_factory.mktemp("order-flow")
    sup = Supervisor(run_dir)
    broker_port = infra.free_port()
    sup.start(ProcessSpec("broker", infra.tansu_argv(broker_port)))
    infra.wait_for_port("127.0.0.1", broker_port)
    bootstrap = f"127.0.0.1:{broker_port}"
    asyncio.run(create_topics(bootstrap, partitions=3))
    database = f"orders_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(postgres_server_url, f'CREATE DATABASE "{database}"'))
    database_url = with_database(postgres_server_url, database)

    urls = {name: f"http://127.0.0.1:{infra.free_port()}" for name in [*SERVICES, "amazon-sim", "magento-sim"]}
    simulator = {**demo.simulator_config(), "order_pending_seconds": 2, "afn_ship_seconds": 2}
    (run_dir / "amazon-sim.json").write_text(json.dumps(simulator))
    specs = [
        ProcessSpec("amazon-sim", [sys.executable, "-m", "amazon_sim", "--port", urls["amazon-sim"].rsplit(":", 1)[1],
                                   "--config", str(run_dir / "amazon-sim.json"),
                                   "--push-url", f"{urls['amazon-gateway']}/notifications"],
                    env={"AMAZON_SIM_PUSH_TOKEN": TEST_KEYS["ingest"]}, ready_url=f"{urls['amazon-sim']}/readyz"),
        ProcessSpec("magento-sim", [sys.executable, "-m", "magento_sim", "--port",
                                    urls["magento-sim"].rsplit(":", 1)[1], "--catalog", demo.COMMERCE_CATALOG,
                                    "--webhook-url", f"{urls['commerce-gateway']}/webhooks/commerce"],
                    env={"MAGENTO_SIM_TOKEN": COMMERCE_TOKEN, "MAGENTO_SIM_WEBHOOK_SECRET": "e2e-webhook-secret"},
                    ready_url=f"{urls['magento-sim']}/readyz"),
    ]
    extra = {
        "amazon-gateway": {"AMAZON_API_BASE_URL": urls["amazon-sim"],
                           "AMAZON_LWA_URL": f"{urls['amazon-sim']}/auth/o2/token",
                           "AMAZON_ACCOUNTS": json.dumps(demo.gateway_accounts(ACCOUNT)),
                           "ORDER_POLL_INTERVAL_S": "5", "ORDER_FEED_CHECK_S": "1", **RETRIES},
        "commerce-gateway": {"COMMERCE_BASE_URL": f"{urls['magento-sim']}/rest/{demo.COMMERCE_STORE}",
                             "COMMERCE_TOKEN": COMMERCE_TOKEN, "COMMERCE_WEBHOOK_SECRET": "e2e-webhook-secret",
                             "FULFILMENT_SYNC_INTERVAL_S": "3", **RETRIES},
        "order-import": {"BUYER_DATA_KEYS": new_key(), "SCHEDULE_INTERVAL_S": "1", "BLOCKED_RETRY_S": "2"},
    }
    for name in SERVICES:
        specs.append(service_spec(name, bootstrap=bootstrap, database_url=database_url,
                                  port=int(urls[name].rsplit(":", 1)[1]), extra_env=extra.get(name)))
    try:
        procs = {spec.name: (spec, sup.start(spec)) for spec in specs}
        for spec, proc in procs.values():
            wait_ready(spec.ready_url or "", timeout=120, proc=proc)
        httpx.post(f"{urls['amazon-sim']}/_sim/ratelimits", json={"overrides": RATE_LIMITS},
                   timeout=10).raise_for_status()
        demo.seed_simulator(urls["amazon-sim"])
        imported = demo.import_catalog(urls["commerce-gateway"], TEST_KEYS["all"])
        assert imported["status"] == "done", imported
        settings = {"kind": "OrderSettings", "metadata": {"name": "demo-seller.us"}, "spec": {
            "account_id": ACCOUNT, "marketplace_id": MARKETPLACE,
            "integration_date": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
            "customer_creation": "build", "order_number_source": "amazon"}}
        httpx.post(f"{urls['order-import']}/config:apply", json=[settings], headers=auth_headers(),
                   timeout=10).raise_for_status()
        yield {"urls": urls, "sup": sup, "procs": procs, "database_url": database_url}
    finally:
        sup.stop_all()
        asyncio.run(_admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class Shop:
    """The two simulators as the test drives and reads them."""

    def __init__(self, urls: dict[str, str], http: httpx.AsyncClient) -> None:
        self.amazon, self.commerce, self.order_import = urls["amazon-sim"], urls["magento-sim"], urls["order-import"]
        self.http = http
        self.placed = 0

    async def order(self, *, fulfillment: str = "MFN", status: str = "Unshipped", lines: int = 1) -> str:
        """A buyer's order of `lines` demo products; its Amazon order id."""
        first = self.placed * 3
        self.placed += 1
        r = await self.http.post(f"{self.amazon}/_sim/orders", json={
            "sellerId": SELLER, "marketplaceId": MARKETPLACE, "fulfillmentChannel": fulfillment,
            "orderStatus": status,
            "lines": [{"sku": SKUS[(first + i) % len(SKUS)], "quantity": 1 + i} for i in range(lines)]})
        assert r.status_code == 201, r.text
        return str(r.json()["AmazonOrderId"])

    async def on_amazon(self, amazon_order_id: str) -> dict[str, Any]:
        r = await self.http.get(f"{self.amazon}/_sim/orders/{amazon_order_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def in_commerce(self) -> Counter[str]:
        """Commerce orders per Amazon order id (ext_order_id)."""
        orders = (await self.http.get(f"{self.commerce}/_sim/orders")).json()
        return Counter(o["ext_order_id"] for o in orders if o.get("ext_order_id"))

    async def commerce_order(self, amazon_order_id: str) -> dict[str, Any]:
        (order,) = (await self.http.get(f"{self.commerce}/_sim/orders",
                                        params={"ext_order_id": amazon_order_id})).json()
        return dict(order)


async def import_states(database_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(database_url)
    try:
        return {r["amazon_order_id"]: r["import_state"]
                for r in await conn.fetch("SELECT amazon_order_id, import_state FROM order_import.orders")}
    finally:
        await conn.close()


async def test_orders_reach_commerce_once_and_shipments_and_cancels_reach_amazon(stack: dict[str, Any]) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        shop = Shop(stack["urls"], http)
        mfn = [await shop.order(lines=1 + n % 2) for n in range(4)]
        afn = await shop.order(fulfillment="AFN")  # ships by itself, then is imported complete, for the record

        async def all_in_commerce() -> bool:
            return set(await shop.in_commerce()) >= {*mfn, afn}

        await eventually(all_in_commerce, timeout=90, what="the orders in Commerce")
        assert await shop.in_commerce() == Counter({*mfn, afn})
        first = await shop.commerce_order(mfn[0])
        assert (first["increment_id"], first["state"]) == (mfn[0], "processing")  # Amazon's number, invoiced
        assert len(first["items"]) == 1 and first["customer_is_guest"] == 0  # a customer built for the buyer
        assert (await shop.commerce_order(afn))["state"] == "complete"

        # shipped in Commerce: confirmed on Amazon with the carrier and the tracking number
        shipped = await http.post(f"{shop.commerce}/_sim/orders/{first['entity_id']}/ship", json={
            "tracks": [{"carrier_code": "ups", "title": "UPS", "track_number": "1ZE2E0000000000001"}]})
        assert shipped.status_code == 200, shipped.text

        async def shipped_on_amazon() -> bool:
            return (await shop.on_amazon(mfn[0]))["OrderStatus"] == "Shipped"

        await eventually(shipped_on_amazon, timeout=60, what="the shipment on Amazon")
        packages = (await shop.on_amazon(mfn[0]))["Shipments"]
        assert [(p["carrierCode"], p["trackingNumber"]) for p in packages] == [("UPS", "1ZE2E0000000000001")]
        assert sum(packages[0]["orderItems"].values()) == 1

        # cancelled through order-import: Canceled on Amazon with the reason
        r = await http.post(f"{shop.order_import}/orders/{mfn[1]}/cancel", json={"reason": "NoInventory"},
                            headers=auth_headers())
        assert r.status_code == 202, r.text

        async def cancelled_on_amazon() -> bool:
            return (await shop.on_amazon(mfn[1]))["OrderStatus"] == "Canceled"

        await eventually(cancelled_on_amazon, timeout=60, what="the cancellation on Amazon")
        assert (await shop.on_amazon(mfn[1]))["CancelReason"] == "NoInventory"
        assert (await shop.on_amazon(mfn[2]))["OrderStatus"] == "Unshipped"  # the others untouched


async def test_with_faults_and_a_killed_order_import_nothing_is_lost_or_doubled(stack: dict[str, Any]) -> None:
    urls, database_url = stack["urls"], stack["database_url"]
    spec, proc = stack["procs"]["order-import"]
    async with httpx.AsyncClient(timeout=10) as http:
        shop = Shop(urls, http)
        shop.placed = 10
        before = await shop.in_commerce()
        for url, faults in ((urls["amazon-sim"], AMAZON_FAULTS), (urls["magento-sim"], COMMERCE_FAULTS)):
            (await http.post(f"{url}/_sim/faults", json=faults)).raise_for_status()
        eligible: list[str] = []
        never: list[str] = []
        try:
            async def a_stream(n: int) -> None:
                for i in range(n):
                    if i % 7 == 3:  # cancelled on Amazon while still Pending: never imported
                        order = await shop.order(status="Pending")
                        r = await http.post(f"{urls['amazon-sim']}/_sim/orders/{order}/status",
                                            json={"orderStatus": "Canceled"})
                        assert r.status_code == 200, r.text
                        never.append(order)
                    elif i % 5 == 4:
                        eligible.append(await shop.order(fulfillment="AFN"))
                    else:
                        eligible.append(await shop.order(status="Pending" if i % 3 == 0 else "Unshipped",
                                                         lines=1 + i % 2))
                    await asyncio.sleep(0.1)

            await a_stream(15)

            async def some_requested() -> bool:
                states = await import_states(database_url)
                return sum(states.get(o) in ("requested", "created") for o in eligible) >= 4

            await eventually(some_requested, timeout=60, what="order-import part way through")
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
            states = await import_states(database_url)
            assert sum(states.get(o) == "created" for o in eligible) < len(eligible)

            await a_stream(15)
            proc = stack["sup"].start(spec)
            stack["procs"]["order-import"] = (spec, proc)
            wait_ready(spec.ready_url or "", timeout=60, proc=proc)

            async def every_eligible_order_imported() -> bool:
                states = await import_states(database_url)
                in_commerce = await shop.in_commerce()
                return (all(states.get(o) == "created" for o in eligible)
                        and all(in_commerce[o] for o in eligible))

            await eventually(every_eligible_order_imported, timeout=150, what="every eligible order in Commerce")
        finally:
            await http.delete(f"{urls['amazon-sim']}/_sim/faults")
            await http.post(f"{urls['magento-sim']}/_sim/faults", json={})
        await asyncio.sleep(3)  # anything still under way after the last order arrived would show now
        in_commerce = await shop.in_commerce() - before
        assert in_commerce == Counter(eligible), {o: n for o, n in in_commerce.items() if n != 1}
        assert not set(never) & set(in_commerce)
        states = await import_states(database_url)
        assert not {states.get(o) for o in never} & {"requested", "created"}
        for url in (urls["amazon-sim"], urls["magento-sim"]):  # both simulators did fail calls
            injected = (await http.get(f"{url}/_sim/stats")).json()["faults"]
            assert sum(injected.values()) > 0, (url, injected)
