"""Benchmark of order-import: Amazon orders to Commerce order requests, and the whole way into magento-sim.

Two stacks, each with its own Tansu broker and database (bench/stack.py):

1. order-import alone (a subprocess). The bench publishes OrderPlaced (merchant-fulfilled, Unshipped, 1 to 3
   lines, the buyer's e-mail and shipping address; a store that builds customers and numbers orders with the
   Amazon id) straight to amazon.orders.v1 and reads CommerceOrderRequested on commerce.order-requests.v1:
   * throughput: N orders published at once; orders/s from the first publish to the last request's record
     timestamp (the relay's produce time);
   * latency at a steady offered rate (default 200/s): per order, its request's record timestamp minus the
     moment the bench handed the OrderPlaced to its producer;
   * baselines in the same run: the producer alone (publish rate), and a raw aiokafka loop consuming the same
     OrderPlaced records and producing one message each (what the broker allows a consume-and-produce service).
2. The whole path: order-import, commerce-gateway and magento-sim (the gear shelf, its stock raised so no order
   is refused) as subprocesses; the products come from commerce-gateway's catalogue import. M orders published
   at once; orders/s from the first publish until magento-sim holds all M; beside it, a bare httpx client
   creating orders in the same simulator with the gateway's concurrency (POST /V1/orders only).

Writes bench/results/orders.json.

    uv run python bench/orders.py [--orders 20000] [--rate 200] [--duration 30] [--path-orders 2000] [--keep]
    uv run --with py-spy python bench/orders.py --orders 20000 --path-orders 100 --profile /tmp/orders.txt
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition
from catalog import CpuWatch, postgres_pids
from stack import Stack, broker_version, exit_on_signal, machine, percentile

from contracts import Money, encode, topics
from contracts.events import Address, FulfillmentBy, OrderLine, OrderPlaced, ProductChanged, ProductStatus
from devstack import demo, infra
from devstack.processes import ProcessSpec, wait_ready
from order_import.buyers import new_key
from servicekit.outbox import headers

RESULTS = Path(__file__).resolve().parent / "results" / "orders.json"
PARTITIONS = 6
ACCOUNT, MARKETPLACE = "bench", "ATVPDKIKX0DER"
BENCH_SKUS = 500
BUYERS = 1_000  # distinct buyer e-mails: customers are found or built per e-mail
WARMUP = 200
SCRATCH_TOPIC = "bench.orders-scratch.v1"
STALL_TIMEOUT_S = 90.0
GATEWAY_CONCURRENCY = 4  # commerce-gateway's ORDER_CONCURRENCY default
SETTINGS = {"kind": "OrderSettings", "metadata": {"name": "bench.us"}, "spec": {
    "account_id": ACCOUNT, "marketplace_id": MARKETPLACE, "integration_date": "2026-01-01T00:00:00Z",
    "customer_creation": "build", "order_number_source": "amazon", "reserve_quantity": True}}
ADDRESS = Address(name="Ada Lovelace", line1="1 Main St", city="Seattle", region="Washington",
                  postal_code="98109-1234", country_code="US", phone="+1 206 555 0100")


# ---------------------------------------------------------------- messages


class Wire:
    """Encoded OrderPlaced of one phase, as they go on the wire."""

    def __init__(self, events: list[OrderPlaced]) -> None:
        self.ids = [e.amazon_order_id for e in events]
        self.messages = [(topics.ORDERS.key(e).encode(), encode(e), headers(e.event_type, e.event_id,
                                                                             e.correlation_id)) for e in events]


def orders(series: int, n: int, skus: list[str], prices: dict[str, Decimal]) -> Wire:
    """n merchant-fulfilled Unshipped orders of 1 to 3 lines; ids `<series>-<run>-<n>` in Amazon's 3-7-7 form."""
    run = secrets.randbelow(10_000_000)
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        amazon_order_id = f"{series:03d}-{run:07d}-{i:07d}"
        lines = []
        for j in range(1 + i % 3):
            sku = skus[(i * 7 + j * 13) % len(skus)]
            quantity = 1 + (i + j) % 2
            lines.append(OrderLine(order_item_id=f"{i:07d}{j:02d}", sku=sku, asin=f"B0BENCH{j:03d}",
                                   quantity=quantity, item_price=Money(amount=prices[sku] * quantity, currency="USD"),
                                   item_tax=Money(amount=Decimal("1.00"), currency="USD")))
        total = sum((line.item_price.amount + Decimal("1.00") for line in lines), Decimal("0"))
        out.append(OrderPlaced.new(
            producer="bench", account_id=ACCOUNT, marketplace_id=MARKETPLACE, amazon_order_id=amazon_order_id,
            purchase_date=now, order_status="Unshipped", fulfillment=FulfillmentBy.MFN,
            order_total=Money(amount=total, currency="USD"), lines=lines,
            buyer_email=f"buyer{i % BUYERS}@example.com", shipping_address=ADDRESS))
    return Wire(out)


async def publish(bootstrap: str, wire: Wire, *, rate: float | None = None) -> dict[str, Any]:
    """Publish a phase's orders, at once or at `rate` per second; the send time of each order id."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id="bench-orders",
                                linger_ms=0 if rate else 20, max_batch_size=512 * 1024)
    sent_at: dict[str, float] = {}
    late = 0
    await producer.start()
    try:
        futures = []
        start = time.perf_counter() + 0.05
        t0 = time.time()
        for i, (order_id, (key, value, hdrs)) in enumerate(zip(wire.ids, wire.messages, strict=True)):
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.010:
                    late += 1
            sent_at[order_id] = time.time()
            futures.append(await producer.send(topics.ORDERS.name, value, key=key, headers=hdrs))
        await asyncio.gather(*futures)
        published = time.time()
    finally:
        await producer.stop()
    return {"t0": t0, "published": published, "sent_at": sent_at, "late": late}


class Requests:
    """Reads commerce.order-requests.v1 from the start: per Amazon order id, its request's record timestamp (the
    relay's produce time) and how many requests it got."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="bench-orders-reader",
                                         enable_auto_commit=False, fetch_max_wait_ms=20,
                                         max_partition_fetch_bytes=4 * 1024 * 1024)
        self.first: dict[str, float] = {}
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        tps = [TopicPartition(topics.COMMERCE_ORDER_REQUESTS.name, p) for p in range(PARTITIONS)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            got = await self.consumer.getmany(timeout_ms=100, max_records=5000)
            for records in got.values():
                for r in records:
                    self.count += 1
                    order_id = json.loads(r.value)["amazon_order_id"]
                    self.first.setdefault(order_id, r.timestamp / 1000)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.consumer.stop()

    async def wait_for(self, ids: Iterable[str]) -> float:
        """Until every id has its request; the last request's timestamp."""
        wanted = set(ids)
        seen, since = -1, time.monotonic()
        while True:
            have = sum(1 for i in wanted if i in self.first)
            if have == len(wanted):
                return max(self.first[i] for i in wanted)
            if have != seen:
                seen, since = have, time.monotonic()
            elif time.monotonic() - since > STALL_TIMEOUT_S:
                raise TimeoutError(f"{have} of {len(wanted)} orders requested; none more in {STALL_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.1)


async def raw_baseline(bootstrap: str, expected: int) -> dict[str, Any]:
    """Consume the first `expected` OrderPlaced records on amazon.orders.v1 (every partition from its start) and
    produce one message of the same size per record, acks awaited and offsets committed for a group of our own per
    batch (the service's consumer and producer settings: 1,000 records, acks=all, linger 5 ms)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-raw")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(SCRATCH_TOPIC, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
                                client_id="bench-raw", enable_auto_commit=False, fetch_max_wait_ms=25)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024,
                                client_id="bench-raw")
    await consumer.start()
    await producer.start()
    try:
        tps = [TopicPartition(topics.ORDERS.name, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        n = 0
        t0 = time.time()
        while n < expected:
            got = await consumer.getmany(timeout_ms=200, max_records=1000)
            futures = [await producer.send(SCRATCH_TOPIC, r.value, key=r.key, headers=list(r.headers))
                       for records in got.values() for r in records]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
                n += len(futures)
        seconds = time.time() - t0
    finally:
        await producer.stop()
        await consumer.stop()
    return {"events": n, "seconds": round(seconds, 3), "events_per_s": round(n / seconds, 1)}


def start_profiler(path: Path, pid: int) -> subprocess.Popen[bytes]:
    """py-spy on order-import while the throughput phase runs (py-spy on PATH: `uv run --with py-spy`)."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--profile needs py-spy on PATH: uv run --with py-spy python bench/orders.py ...")
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(path.suffix, "raw")
    return subprocess.Popen([exe, "record", "--nonblocking", "--rate", "100", "--format", fmt,
                             "--output", str(path), "--pid", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_profiler(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- part 1: order-import alone


async def wait_products(database_url: str, n: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + 120
        while await conn.fetchval("SELECT count(*) FROM order_import.products") < n:
            if time.monotonic() > deadline:
                raise TimeoutError("order-import did not learn the products")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def apply_settings(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=30, headers=stack.auth_headers) as http:
        (await http.post(f"{stack.http('order-import')}/config:apply", json=[SETTINGS])).raise_for_status()


async def importer_alone(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    skus = [f"bench-{i:04d}" for i in range(BENCH_SKUS)]
    prices = {sku: Decimal("9.99") + i % 40 for i, sku in enumerate(skus)}
    now = datetime.now(UTC)
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    try:
        for sku in skus:
            e = ProductChanged.new(producer="bench", sku=sku, name=f"Bench {sku}", status=ProductStatus.ENABLED,
                                   price=Money(amount=prices[sku], currency="USD"), quantity=10_000_000,
                                   updated_at=now)
            await producer.send(topics.PRODUCTS.name, encode(e), key=topics.PRODUCTS.key(e).encode(),
                                headers=headers(e.event_type, e.event_id, e.correlation_id))
        await producer.flush()
    finally:
        await producer.stop()
    await wait_products(stack.database_url, len(skus))
    await apply_settings(stack)

    reader = Requests(stack.bootstrap)
    await reader.start()
    pids = {"order_import": [stack.processes["order-import"].pid],
            "postgres": await postgres_pids(stack.database_url, stack.db_name),
            "broker": [stack.broker.pid] if stack.broker else []}
    try:
        warm = orders(101, WARMUP, skus, prices)
        await publish(stack.bootstrap, warm)
        await reader.wait_for(warm.ids)

        print(f"throughput: {args.orders} OrderPlaced published at once ...", flush=True)
        wire = orders(102, args.orders, skus, prices)
        profiler = start_profiler(args.profile, pids["order_import"][0]) if args.profile else None
        cpu = CpuWatch(pids)
        cpu.start()
        try:
            sent = await publish(stack.bootstrap, wire)
            last = await reader.wait_for(wire.ids)
        finally:
            usage = cpu.stop()
            if profiler is not None:
                stop_profiler(profiler)
        seconds = last - sent["t0"]
        throughput = {"orders": args.orders, "seconds": round(seconds, 3),
                      "orders_per_s": round(args.orders / seconds, 1),
                      "publish_per_s": round(args.orders / (sent["published"] - sent["t0"]), 1), **usage}
        print(f"  {throughput['orders_per_s']:.0f} orders/s (published at {throughput['publish_per_s']:.0f}/s)",
              flush=True)

        print("baseline: raw aiokafka consume-and-produce of the same OrderPlaced ...", flush=True)
        raw = await raw_baseline(stack.bootstrap, WARMUP + args.orders)
        print(f"  {raw['events_per_s']:.0f} events/s", flush=True)

        print(f"latency: {args.rate:g} orders/s offered for {args.duration:g} s ...", flush=True)
        n = int(args.rate * args.duration)
        wire = orders(103, n, skus, prices)
        cpu = CpuWatch(pids)
        cpu.start()
        sent = await publish(stack.bootstrap, wire, rate=args.rate)
        await reader.wait_for(wire.ids)
        usage = cpu.stop()
        lat = sorted((reader.first[i] - sent["sent_at"][i]) * 1000 for i in wire.ids)
        latency = {"offered_rate": args.rate, "duration_s": args.duration, "orders": n,
                   "achieved_rate": round(n / (sent["published"] - sent["t0"]), 1),
                   "sends_late_over_10ms": sent["late"],
                   "p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1),
                   "p99_ms": round(percentile(lat, 99), 1), "max_ms": round(lat[-1], 1), **usage}
        print(f"  p50 {latency['p50_ms']:.0f} ms, p99 {latency['p99_ms']:.0f} ms", flush=True)
        requests = {"records": reader.count, "orders": len(reader.first)}
    finally:
        await reader.stop()
    return {"throughput": throughput, "baseline_raw_aiokafka": raw, "latency": latency,
            "requests_on_topic": requests}


# ---------------------------------------------------------------- part 2: into magento-sim


def magento_body(i: int, skus: list[str]) -> dict[str, Any]:
    address = {"firstname": "Ada", "lastname": "Lovelace", "street": ["1 Main St"], "city": "Seattle",
               "region": "Washington", "region_code": "WA", "postcode": "98109", "country_id": "US",
               "telephone": "+1 206 555 0100"}
    ext = f"999-{secrets.randbelow(10_000_000):07d}-{i:07d}"
    return {"entity": {
        "ext_order_id": ext, "customer_email": f"{ext}@marketplace.amazon.invalid", "store_id": 1,
        "customer_firstname": "Ada", "customer_lastname": "Lovelace", "base_grand_total": 0, "grand_total": 0,
        "items": [{"sku": skus[(i + j) % len(skus)], "qty_ordered": 1, "price": 20, "ext_order_item_id": f"{i}-{j}"}
                  for j in range(1 + i % 3)],
        "billing_address": {**address, "address_type": "billing"},
        "payment": {"method": "checkmo", "additional_information": ["amazon"]},
        "extension_attributes": {"shipping_assignments": [{"shipping": {
            "address": {**address, "address_type": "shipping"}, "method": "flatrate_flatrate"}, "items": []}]}}}


async def bare_client(sim_url: str, token: str, skus: list[str], n: int) -> dict[str, Any]:
    """POST /V1/orders n times, GATEWAY_CONCURRENCY at once: what the simulator takes from a client doing nothing
    else."""
    bodies = [magento_body(i, skus) for i in range(n)]
    async with httpx.AsyncClient(base_url=f"{sim_url}/rest/default", timeout=60,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        queue = list(reversed(bodies))

        async def worker() -> None:
            while queue:
                r = await client.post("/V1/orders", json=queue.pop())
                r.raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(GATEWAY_CONCURRENCY)])
        seconds = time.perf_counter() - t0
    return {"orders": n, "seconds": round(seconds, 3), "orders_per_s": round(n / seconds, 1),
            "concurrency": GATEWAY_CONCURRENCY}


async def commerce_orders(http: httpx.AsyncClient, sim_url: str) -> int:
    return int((await http.get(f"{sim_url}/_sim/stats")).json()["orders"])


async def whole_path(stack: Stack, sim_url: str, sim_pid: int, token: str, args: argparse.Namespace
                     ) -> dict[str, Any]:
    products = demo.commerce_products(sim_url, token)
    skus = [p.sku for p in products]
    prices = {p.sku: p.price for p in products}
    async with httpx.AsyncClient(timeout=30) as http:
        for sku in skus:  # stock enough that no order is refused
            (await http.patch(f"{sim_url}/_sim/products/{sku}", json={"qty": 10_000_000})).raise_for_status()
        imported = demo.import_catalog(stack.http("commerce-gateway"), stack.api_key)
        assert imported["status"] == "done", imported
        await wait_products(stack.database_url, len(skus))
        await apply_settings(stack)

        async def wait_orders(expected: int) -> float:
            seen, since = -1, time.monotonic()
            while (have := await commerce_orders(http, sim_url)) < expected:
                if have != seen:
                    seen, since = have, time.monotonic()
                elif time.monotonic() - since > STALL_TIMEOUT_S:
                    raise TimeoutError(f"{have} of {expected} orders in magento-sim; none more in "
                                       f"{STALL_TIMEOUT_S:.0f} s")
                await asyncio.sleep(0.2)
            return time.time()

        warm = orders(201, 50, skus, prices)
        await publish(stack.bootstrap, warm)
        await wait_orders(50)
        calls_before = (await http.get(f"{sim_url}/_sim/stats")).json()["operations"]

        print(f"whole path: {args.path_orders} OrderPlaced published at once, until each is a magento-sim "
              "order ...", flush=True)
        reader = Requests(stack.bootstrap)
        await reader.start()
        pids = {"order_import": [stack.processes["order-import"].pid],
                "commerce_gateway": [stack.processes["commerce-gateway"].pid], "magento_sim": [sim_pid],
                "postgres": await postgres_pids(stack.database_url, stack.db_name),
                "broker": [stack.broker.pid] if stack.broker else []}
        try:
            wire = orders(202, args.path_orders, skus, prices)
            cpu = CpuWatch(pids)
            cpu.start()
            sent = await publish(stack.bootstrap, wire)
            last = await wait_orders(50 + args.path_orders)
            usage = cpu.stop()
            requested = await reader.wait_for(wire.ids)
        finally:
            await reader.stop()
        calls_after = (await http.get(f"{sim_url}/_sim/stats")).json()["operations"]
        seconds = last - sent["t0"]
        calls = {op: after.get("calls", 0) - calls_before.get(op, {}).get("calls", 0)
                 for op, after in calls_after.items()
                 if after.get("calls", 0) > calls_before.get(op, {}).get("calls", 0)}
        path = {"orders": args.path_orders, "seconds": round(seconds, 3),
                "orders_per_s": round(args.path_orders / seconds, 1),
                "all_requested_after_s": round(requested - sent["t0"], 3),
                "commerce_calls_per_operation": calls, **usage}
        print(f"  {path['orders_per_s']:.1f} orders/s into magento-sim (every request out after "
              f"{path['all_requested_after_s']:.1f} s)", flush=True)
        print("baseline: a bare httpx client creating orders in the same simulator ...", flush=True)
        bare = await bare_client(sim_url, token, skus, min(400, args.path_orders))
        print(f"  {bare['orders_per_s']:.0f} orders/s", flush=True)
    return {"whole_path": path, "baseline_bare_client": bare}


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000, help="throughput: OrderPlaced published at once")
    parser.add_argument("--rate", type=float, default=200.0, help="latency: offered orders/s")
    parser.add_argument("--duration", type=float, default=30.0, help="latency: seconds at --rate")
    parser.add_argument("--path-orders", type=int, default=2_000, help="whole path: orders into magento-sim")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (logs) afterwards")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy order-import during the throughput phase into this file (.svg flame graph, "
                             ".json speedscope, else raw collapsed stacks); needs `uv run --with py-spy`")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if min(args.orders, args.path_orders) < 1 or args.rate <= 0 or args.duration <= 0:
        parser.error("--orders, --path-orders, --rate and --duration must be positive")
    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGHUP, exit_on_signal)
    started = time.monotonic()
    host = machine()
    code = code_version()
    env = {"BUYER_DATA_KEYS": new_key()}

    stack = Stack("orders", partitions=PARTITIONS)
    ok = False
    try:
        stack.start(("order-import",), extra_env=env)
        alone = asyncio.run(importer_alone(stack, args))
        ok = True
    finally:
        stack.close(ok, args.keep)

    stack = Stack("orders-path", partitions=PARTITIONS)
    ok = False
    token = secrets.token_urlsafe(16)
    try:
        port = infra.free_port()
        sim_url = f"http://127.0.0.1:{port}"
        sim = ProcessSpec("magento-sim", [sys.executable, "-m", "magento_sim", "--port", str(port), "--catalog",
                                          demo.COMMERCE_CATALOG], {"MAGENTO_SIM_TOKEN": token}, f"{sim_url}/readyz")
        sim_proc = stack.sup.start(sim)
        wait_ready(sim.ready_url or "", timeout=60, proc=sim_proc)
        stack.start(("order-import", "commerce-gateway"), extra_env={
            **env, "COMMERCE_BASE_URL": f"{sim_url}/rest/{demo.COMMERCE_STORE}", "COMMERCE_TOKEN": token,
            "CATALOG_SYNC_ENABLED": "false", "CATALOG_RECONCILE_ENABLED": "false",
            "FULFILMENT_SYNC_ENABLED": "false"})
        path = asyncio.run(whole_path(stack, sim_url, sim_proc.pid, token, args))
        postgres = asyncio.run(_server_version(stack.database_url))
        ok = True
    finally:
        stack.close(ok, args.keep)

    result = {
        "name": "orders",
        "description": "OrderPlaced -> order-import -> CommerceOrderRequested (order-import alone), and the whole "
                       "path OrderPlaced -> order-import -> commerce-gateway -> an order in magento-sim",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": host, "broker": broker_version(), "postgres": postgres, "code": code,
        "parameters": {"orders": args.orders, "rate": args.rate, "duration_s": args.duration,
                       "path_orders": args.path_orders, "partitions": PARTITIONS, "warmup_orders": WARMUP,
                       "skus": BENCH_SKUS, "buyers": BUYERS, "order_settings": SETTINGS["spec"],
                       "service_settings": "defaults (ServiceSettings)", "profiled": args.profile is not None},
        "targets": {"orders_per_s": 2000, "p99_ms_at_200_per_s": 200},
        **alone, **path,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    tp, raw, lt, wp, bare = (result["throughput"], result["baseline_raw_aiokafka"], result["latency"],
                             result["whole_path"], result["baseline_bare_client"])
    print(f"\norders benchmark ({host['nproc']} cpu, {result['broker']}, postgres {postgres})\n"
          f"  order-import     {tp['orders_per_s']:>8.0f} orders/s OrderPlaced -> CommerceOrderRequested "
          f"({tp['orders']} in {tp['seconds']:.1f} s; raw consume-and-produce {raw['events_per_s']:.0f}/s)\n"
          f"  latency          at {lt['offered_rate']:.0f}/s: p50 {lt['p50_ms']:.0f} ms, p95 {lt['p95_ms']:.0f} ms, "
          f"p99 {lt['p99_ms']:.0f} ms, max {lt['max_ms']:.0f} ms\n"
          f"  into magento-sim {wp['orders_per_s']:>8.1f} orders/s ({wp['orders']} orders; a bare client "
          f"{bare['orders_per_s']:.0f}/s)\n"
          f"  written to {args.output} (run took {time.monotonic() - started:.0f} s)", flush=True)
    return 0


def code_version() -> dict[str, Any]:
    """The commit measured, and the files of the code under test that differed from it."""
    root = Path(__file__).resolve().parent.parent

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "services/order-import/src", "services/commerce-gateway/src",
                  "simulators/magento-sim/src", "libs")
    return {"commit": git("rev-parse", "HEAD") or None,
            "uncommitted_changes": [line[3:] for line in changed.splitlines()]}


async def _server_version(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.exit(main())
