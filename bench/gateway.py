"""Benchmark of amazon-gateway's outbound listings: a burst of price changes to the SP-API simulator.

N ListingUpdateRequested (price) over M SKUs of one seller account are published at once, each SKU
getting N/M changes with distinct `requested_at` in shuffled order. The gateway (a subprocess, its
default settings except feed polling) coalesces them and sends them to the simulator (a subprocess,
Amazon's published rate limits on). Measured:

* the SP-API calls the simulator served, per operation, and the 429s it answered;
* the time from the first publish until the simulator holds every SKU's final price, and until
  every request has its answer (rows `done` or `superseded` in the gateway);
* whether every final price equals the newest price requested for its SKU.

Starts its own broker (Tansu), database, simulator and gateway in a temporary directory and tears it
all down afterwards. Writes bench/results/gateway.json (`--quick`: 10,000 changes over 1,000 SKUs,
a smoke run about 30 s long, printed and written only where `--output` says).

    uv run python bench/gateway.py [--changes N] [--skus M] [--quick] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from stack import Stack, broker_version, exit_on_signal, machine

from contracts import Money, encode, topics
from contracts.events import ListingUpdateKind, ListingUpdateRequested
from devstack import infra
from devstack.processes import ProcessSpec, wait_ready
from servicekit.outbox import headers

RESULTS = Path(__file__).resolve().parent / "results" / "gateway.json"
PARTITIONS = 6
US = "ATVPDKIKX0DER"
SELLER = "A1BENCHSELLER01"
ACCOUNT = {"account_id": "bench", "seller_id": SELLER, "region": "na",
           "client_id": "amzn1.application-oa2-client.bench", "client_secret": "amzn1.oa2-cs.v1.benchsecret",
           "refresh_token": "Atzr|bench-refresh-token", "marketplace_ids": [US]}
# The simulator finishes a feed in about a second; Amazon takes minutes, which the defaults (30 s, then
# up to 300 s between getFeed calls) are made for. Polling faster here shows the gateway, not the wait.
GATEWAY_ENV = {"FEED_POLL_S": "1", "FEED_POLL_MAX_S": "5"}
STALL_TIMEOUT_S = 120.0
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def load() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------- the burst


def build_burst(changes: int, skus: list[str], seed: int) -> tuple[list[ListingUpdateRequested], dict[str, str]]:
    """The price changes in publish order, and each SKU's newest requested price."""
    rng = random.Random(seed)
    requests = []
    for i in range(changes):
        sku = skus[i % len(skus)]
        amount = Decimal(rng.randrange(500, 10_000)) / 100
        requests.append(ListingUpdateRequested.new(
            producer="bench", account_id=ACCOUNT["account_id"], marketplace_id=US, sku=sku,
            kind=ListingUpdateKind.PRICE, price=Money(amount=amount, currency="USD"),
            requested_at=T0 + timedelta(seconds=i // len(skus), microseconds=i % len(skus))))
    newest = {}
    for r in sorted(requests, key=lambda r: r.requested_at):
        newest[r.sku] = format(r.price.amount.quantize(Decimal("0.01")), "f")  # type: ignore[union-attr]
    rng.shuffle(requests)
    return requests, newest


async def publish(bootstrap: str, requests: list[ListingUpdateRequested]) -> tuple[float, float]:
    """Publish every request; returns (epoch of the first send, seconds until every ack)."""
    wire = [(topics.LISTING_UPDATES.key(r).encode(), encode(r), headers(r.event_type, r.event_id, r.correlation_id))
            for r in requests]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        started, t0 = time.time(), time.monotonic()
        futures = [await producer.send(topics.LISTING_UPDATES.name, v, key=k, headers=h) for k, v, h in wire]
        await asyncio.gather(*futures)
        return started, time.monotonic() - t0
    finally:
        await producer.stop()


# ---------------------------------------------------------------- the simulator


async def seed_listings(sim: httpx.AsyncClient, skus: list[str]) -> None:
    """Every SKU exists at Amazon with a price no change asks for."""
    gate = asyncio.Semaphore(32)

    async def one(sku: str) -> None:
        async with gate:
            r = await sim.put(f"/_sim/listings/{SELLER}/{sku}", json={"productType": "PRODUCT", "attributes": {
                "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                                       "our_price": [{"schedule": [{"value_with_tax": 1}]}]}]}})
            r.raise_for_status()

    await asyncio.gather(*(one(s) for s in skus))


async def prices_at_amazon(sim: httpx.AsyncClient) -> dict[str, str | None]:
    listings = (await sim.get(f"/_sim/listings/{SELLER}")).json()["listings"]
    return {x["sku"]: x["prices"].get(US) for x in listings}


async def wait_final_prices(sim: httpx.AsyncClient, newest: dict[str, str]) -> tuple[float, int]:
    """Poll the simulator until every SKU holds its newest price; (epoch when seen, mismatches then)."""
    best, stalled_since = -1, time.monotonic()
    while True:
        held = await prices_at_amazon(sim)
        seen = time.time()
        right = sum(1 for sku, price in newest.items() if held.get(sku) == price)
        if right == len(newest):
            return seen, 0
        if right > best:
            best, stalled_since = right, time.monotonic()
        elif time.monotonic() - stalled_since > STALL_TIMEOUT_S:
            return seen, len(newest) - right
        await asyncio.sleep(0.5)


async def wait_answered(pool: asyncpg.Pool, changes: int) -> tuple[float, dict[str, int]]:
    """Poll the gateway until every request has its answer; (epoch, rows per status)."""
    seen_done, stalled_since = -1, time.monotonic()
    while True:
        rows = await pool.fetch("SELECT status, count(*) AS n FROM amazon_gateway.pending_updates "
                                "WHERE account_id = $1 GROUP BY status", ACCOUNT["account_id"])
        counts = {r["status"]: int(r["n"]) for r in rows}
        answered = counts.get("done", 0) + counts.get("superseded", 0) + counts.get("failed", 0)
        if answered >= changes:
            return time.time(), counts
        if answered > seen_done:
            seen_done, stalled_since = answered, time.monotonic()
        elif time.monotonic() - stalled_since > STALL_TIMEOUT_S:
            return time.time(), counts
        await asyncio.sleep(0.5)


# ---------------------------------------------------------------- one run


async def measure(stack: Stack, sim_url: str, changes: int, sku_count: int, seed: int) -> dict[str, Any]:
    skus = [f"BENCH-{i:06d}" for i in range(sku_count)]
    async with httpx.AsyncClient(base_url=sim_url, timeout=120) as sim:
        t = time.monotonic()
        await seed_listings(sim, skus)
        seeded_s = time.monotonic() - t
        before = (await sim.get("/_sim/stats")).json()
        requests, newest = build_burst(changes, skus, seed)
        load_before = load()
        started, publish_s = await publish(stack.bootstrap, requests)
        final_at, mismatched = await wait_final_prices(sim, newest)
        pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=2)
        try:
            answered_at, statuses = await wait_answered(pool, changes)
            feeds = [dict(r) for r in await pool.fetch(
                "SELECT id, status, processing_status, polls, (SELECT count(*) FROM jsonb_object_keys(messages)) "
                "AS messages, extract(epoch FROM submitted_at - created_at)::float8 AS submit_s, "
                "extract(epoch FROM finished_at - created_at)::float8 AS total_s "
                "FROM amazon_gateway.listing_feeds ORDER BY id")]
        finally:
            await pool.close()
        after = (await sim.get("/_sim/stats")).json()
        held = await prices_at_amazon(sim)
    calls = {op: int(c.get("calls", 0)) - int(before["operations"].get(op, {}).get("calls", 0))
             for op, c in after["operations"].items()}
    calls = {op: n for op, n in sorted(calls.items()) if n}
    wrong = sorted(sku for sku, price in newest.items() if held.get(sku) != price)
    return {
        "seeded_listings_s": round(seeded_s, 2),
        "publish_s": round(publish_s, 3),
        "seconds_to_final_prices": round(final_at - started, 2),
        "seconds_to_all_answered": round(answered_at - started, 2),
        "sp_api_calls": calls,
        "sp_api_calls_total": sum(calls.values()),
        "listing_calls": sum(n for op, n in calls.items() if "Listings" in op),
        "feed_calls": sum(n for op, n in calls.items() if "Feed" in op),
        "feeds_created": calls.get("createFeed", 0),
        "throttled_429": int(after["throttled"]) - int(before["throttled"]),
        "feeds": feeds,
        "request_statuses": statuses,
        "final_prices_match_newest": not wrong and mismatched == 0,
        "final_price_mismatches": len(wrong),
        "mismatch_examples": [{"sku": s, "held": held.get(s), "newest": newest[s]} for s in wrong[:5]],
        "load_1m_before_publish": load_before,
        "load_1m_at_end": load(),
    }


def start_sim(stack: Stack) -> str:
    port = infra.free_port()
    config = stack.run_dir / "sim.json"
    config.write_text(json.dumps({"accounts": [{
        "client_id": ACCOUNT["client_id"], "client_secret": ACCOUNT["client_secret"],
        "refresh_token": ACCOUNT["refresh_token"], "seller_id": SELLER, "marketplaces": [US]}]}))
    url = f"http://127.0.0.1:{port}"
    spec = ProcessSpec("amazon-sim", [sys.executable, "-m", "amazon_sim", "--port", str(port), "--config",
                                      str(config), "--seed", "1"], {}, f"{url}/_sim/stats")
    proc = stack.sup.start(spec)
    wait_ready(spec.ready_url or "", timeout=60, proc=proc)
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=None, help="price changes to publish (default 100,000)")
    parser.add_argument("--skus", type=int, default=None, help="SKUs they spread over (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 changes over 1,000 SKUs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) afterwards")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    changes = args.changes or (10_000 if args.quick else 100_000)
    sku_count = args.skus or (1_000 if args.quick else 10_000)
    output = args.output if args.output or args.quick else RESULTS
    if changes < sku_count or sku_count < 1:
        parser.error("--changes must be at least --skus, and --skus at least 1")

    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGHUP, exit_on_signal)
    stack = Stack("gateway", partitions=PARTITIONS)
    ok = False
    started = time.monotonic()
    host = machine()
    try:
        sim_url = start_sim(stack)
        env = {"AMAZON_ACCOUNTS": json.dumps([ACCOUNT]), "AMAZON_API_BASE_URL": sim_url,
               "AMAZON_LWA_URL": f"{sim_url}/auth/o2/token", **GATEWAY_ENV}
        stack.start(("amazon-gateway",), extra_env=env)
        measured = asyncio.run(measure(stack, sim_url, changes, sku_count, args.seed))
        result = {
            "name": "gateway",
            "description": "a burst of price changes for one account through amazon-gateway to the SP-API "
                           "simulator with Amazon's published rate limits",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": host,
            "broker": broker_version(),
            "parameters": {"changes": changes, "skus": sku_count, "changes_per_sku": changes // sku_count,
                           "partitions": PARTITIONS, "seed": args.seed, "gateway_settings": GATEWAY_ENV,
                           "simulator": "rate limits on (published usage plans), no faults, feeds queue 0.5 s "
                                        "and process 0.5 s", "postgres_source": stack.pg_source,
                           "run_id": stack.run_id},
            "result": measured,
        }
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(result, indent=2) + "\n")
        else:
            print(json.dumps(result, indent=2))
        m = measured
        print(f"\ngateway benchmark ({host['nproc']} cpu, load {m['load_1m_before_publish']})\n"
              f"  {changes} price changes over {sku_count} SKUs\n"
              f"  SP-API calls {m['sp_api_calls_total']} {m['sp_api_calls']}, 429s {m['throttled_429']}\n"
              f"  final prices at Amazon after {m['seconds_to_final_prices']} s, every request answered after "
              f"{m['seconds_to_all_answered']} s; all newest: {m['final_prices_match_newest']}\n"
              f"  written to {output} (run took {time.monotonic() - started:.0f}s)", flush=True)
        ok = bool(m["final_prices_match_newest"])
    finally:
        stack.close(ok, args.keep)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
