"""End-to-end benchmark of the catalog flow on an embedded stack.

ProductChanged on commerce.products.v1 -> catalog-sync (inbox, upserts, outbox) -> ListingChanged
on catalog.listings.v1 -> reporting (reporting.listings, reporting.listing_changes).

Two measurements, each with its own SKUs:

* throughput: publish N new products as fast as one aiokafka producer can, then wait until
  reporting has recorded every one of them; events/s = N / (last arrival - first publish).
* latency: publish at a steady offered rate well below saturation for a fixed time; each event's
  latency = the first reporting.listing_changes row it caused (recorded_at, the database clock)
  - the moment the bench handed it to the producer (time.time(), same host clock).

Starts its own broker (Tansu), database and services in a temporary directory and tears it all
down afterwards. Writes bench/results/flow.json.

    uv run python bench/flow.py [--events N] [--rate R] [--duration S] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from stack import Stack, broker_version, exit_on_signal, machine, percentile

from contracts import Money, encode, topics
from contracts.events import ProductChanged, ProductStatus
from servicekit.outbox import headers

RESULTS = Path(__file__).resolve().parent / "results" / "flow.json"
SERVICES = ("catalog-sync", "reporting")
PARTITIONS = 6
WARMUP_EVENTS = 200
STALL_TIMEOUT_S = 60.0  # give up when nothing new arrives in reporting for this long
POLL_INTERVAL_S = 0.25


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class Message:
    event_id: uuid.UUID
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def build_messages(prefix: str, n: int) -> list[Message]:
    """n ProductChanged for n SKUs never seen before, encoded as they go on the wire."""
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        e = ProductChanged.new(
            producer="bench", sku=f"{prefix}{i}", name=f"Bench product {i}",
            status=ProductStatus.ENABLED, price=Money(amount=Decimal("19.99"), currency="USD"),
            quantity=1 + i % 100, updated_at=now, attributes={"category": "bench"},
        )
        out.append(Message(e.event_id, topics.PRODUCTS.key(e).encode(), encode(e),
                           headers(e.event_type, e.event_id, e.correlation_id)))
    return out


async def send(producer: AIOKafkaProducer, m: Message) -> asyncio.Future[object]:
    return await producer.send(topics.PRODUCTS.name, m.value, key=m.key, headers=m.headers)


# ---------------------------------------------------------------- reporting side


async def arrivals(pool: asyncpg.Pool, prefix: str) -> tuple[int, float | None]:
    """(events of this prefix reporting has recorded, epoch of the last row written)."""
    row = await pool.fetchrow(
        "SELECT count(DISTINCT causation_id) AS n, extract(epoch FROM max(recorded_at))::float8 AS last "
        "FROM reporting.listing_changes WHERE sku LIKE $1",
        prefix + "%",
    )
    return int(row["n"]), row["last"]


async def listings_count(pool: asyncpg.Pool) -> int:
    """Listings in reporting: one per SKU, written in the same transaction as its change rows.

    Cheap enough to poll while the services work (unlike a DISTINCT over listing_changes).
    """
    return int(await pool.fetchval("SELECT count(*) FROM reporting.listings"))


async def wait_arrived(pool: asyncpg.Pool, prefix: str, expected: int, before: int) -> float:
    """Wait until the `expected` new SKUs of `prefix` are in reporting; return the last arrival.

    `before` is the listings count before the phase published anything.
    """
    seen, stalled_since = -1, time.monotonic()
    while True:
        n = await listings_count(pool) - before
        if n >= expected:
            got, last = await arrivals(pool, prefix)
            if got >= expected and last is not None:
                return last
            n = got
        if n != seen:
            seen, stalled_since = n, time.monotonic()
        elif time.monotonic() - stalled_since > STALL_TIMEOUT_S:
            raise TimeoutError(
                f"{n}/{expected} events of {prefix!r} reached reporting; none more in "
                f"{STALL_TIMEOUT_S:.0f}s"
            )
        await asyncio.sleep(POLL_INTERVAL_S)


# ---------------------------------------------------------------- the two measurements


async def throughput(bootstrap: str, pool: asyncpg.Pool, prefix: str, n: int) -> dict[str, float]:
    messages = build_messages(prefix, n)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024,
        client_id="bench-throughput",
    )
    before = await listings_count(pool)
    await producer.start()
    try:
        t0 = time.time()
        futures = [await send(producer, m) for m in messages]
        await asyncio.gather(*futures)
        published = time.time()
    finally:
        await producer.stop()
    last = await wait_arrived(pool, prefix, n, before)
    seconds = last - t0
    return {
        "events": n,
        "seconds": round(seconds, 3),
        "events_per_s": round(n / seconds, 1),
        "publish_seconds": round(published - t0, 3),
        "publish_per_s": round(n / (published - t0), 1),
    }


async def latency(bootstrap: str, pool: asyncpg.Pool, prefix: str, rate: float,
                  duration: float) -> dict[str, float]:
    n = int(rate * duration)
    messages = build_messages(prefix, n)
    sent_at: dict[uuid.UUID, float] = {}
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=0, client_id="bench-latency",
    )
    before = await listings_count(pool)
    await producer.start()
    try:
        futures = []
        late = 0
        start = time.perf_counter() + 0.05
        for i, m in enumerate(messages):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.010:
                late += 1
            sent_at[m.event_id] = time.time()
            futures.append(await send(producer, m))
        offered_seconds = time.perf_counter() - start
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    await wait_arrived(pool, prefix, n, before)

    rows = await pool.fetch(
        "SELECT causation_id, extract(epoch FROM min(recorded_at))::float8 AS first, "
        "extract(epoch FROM min(created_at))::float8 AS emitted "
        "FROM reporting.listing_changes WHERE sku LIKE $1 GROUP BY causation_id",
        prefix + "%",
    )
    lat = sorted((r["first"] - sent_at[r["causation_id"]]) * 1000 for r in rows)
    assert len(lat) == n, f"{len(lat)} of {n} events arrived"
    # Split at the moment catalog-sync created the ListingChanged (its occurred_at, stored by
    # reporting as created_at): publish -> catalog-sync handler, then outbox relay -> reporting.
    hop1 = sorted((r["emitted"] - sent_at[r["causation_id"]]) * 1000 for r in rows)
    hop2 = sorted((r["first"] - r["emitted"]) * 1000 for r in rows)
    return {
        "offered_rate": rate,
        "achieved_rate": round(n / offered_seconds, 1),
        "sends_late_over_10ms": late,
        "duration_s": duration,
        "count": len(lat),
        "p50_ms": round(percentile(lat, 50), 1),
        "p95_ms": round(percentile(lat, 95), 1),
        "p99_ms": round(percentile(lat, 99), 1),
        "max_ms": round(lat[-1], 1),
        "min_ms": round(lat[0], 1),
        "listings_at_start": before,
        "to_catalog_sync_p50_ms": round(percentile(hop1, 50), 1),
        "to_catalog_sync_p99_ms": round(percentile(hop1, 99), 1),
        "catalog_sync_to_reporting_p50_ms": round(percentile(hop2, 50), 1),
        "catalog_sync_to_reporting_p99_ms": round(percentile(hop2, 99), 1),
    }


async def measure(args: argparse.Namespace, bootstrap: str, database_url: str,
                  run_id: str) -> dict[str, object]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        # Warm-up: both consumer groups joined and assigned, connections and code paths hot.
        warm = f"bench-{run_id}-w-"
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await asyncio.gather(*[await send(producer, m) for m in build_messages(warm, WARMUP_EVENTS)])
        finally:
            await producer.stop()
        await wait_arrived(pool, warm, WARMUP_EVENTS, 0)

        print(f"throughput: publishing {args.events} events as fast as possible ...", flush=True)
        tp = await throughput(bootstrap, pool, f"bench-{run_id}-t-", args.events)
        print(f"  {tp['events_per_s']:.0f} events/s end to end, published at "
              f"{tp['publish_per_s']:.0f}/s", flush=True)
        if args.rate > 0.5 * tp["events_per_s"]:
            print(f"  warning: offered rate {args.rate}/s is over half the measured throughput; "
                  "latency will include queueing", flush=True)

        print(f"latency: {args.rate}/s for {args.duration}s ...", flush=True)
        lt = await latency(bootstrap, pool, f"bench-{run_id}-l-", args.rate, args.duration)
        lt["rate_fraction_of_throughput"] = round(args.rate / tp["events_per_s"], 3)
        server_version = await pool.fetchval("SHOW server_version")
    finally:
        await pool.close()
    return {"throughput": tp, "latency": lt, "postgres": server_version}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="throughput: events to publish")
    parser.add_argument("--rate", type=float, default=500.0, help="latency: offered events/s")
    parser.add_argument("--duration", type=float, default=30.0, help="latency: seconds at --rate")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) afterwards")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.events < 1 or args.rate <= 0 or args.duration <= 0 or args.rate * args.duration < 1:
        parser.error("--events, --rate and --duration must be positive")

    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGHUP, exit_on_signal)
    stack = Stack("flow", partitions=PARTITIONS)
    ok = False
    started = time.monotonic()
    host = machine()
    try:
        stack.start(SERVICES)
        pg_source = stack.pg_source
        measured = asyncio.run(measure(args, stack.bootstrap, stack.database_url, stack.run_id))
        result = {
            "name": "flow",
            "description": "ProductChanged -> catalog-sync -> ListingChanged -> reporting, "
                           "end to end on the embedded stack",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": host,
            "broker": broker_version(),
            "postgres": measured["postgres"],
            "parameters": {
                "events": args.events, "rate": args.rate, "duration_s": args.duration,
                "partitions": PARTITIONS, "warmup_events": WARMUP_EVENTS,
                "services": list(SERVICES), "postgres_source": pg_source,
                "service_settings": "defaults (ServiceSettings)",
            },
            "throughput": measured["throughput"],
            "latency": measured["latency"],
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
        tp, lt = result["throughput"], result["latency"]
        print(
            f"\nflow benchmark ({result['machine']['nproc']} cpu, {result['broker']}, "
            f"postgres {result['postgres']})\n"
            f"  throughput  {tp['events_per_s']:>8.0f} events/s end to end "
            f"({tp['events']} events in {tp['seconds']:.1f}s; published at {tp['publish_per_s']:.0f}/s)\n"
            f"  latency     at {lt['offered_rate']:.0f}/s for {lt['duration_s']:.0f}s, "
            f"{lt['count']} events: p50 {lt['p50_ms']:.0f} ms, p95 {lt['p95_ms']:.0f} ms, "
            f"p99 {lt['p99_ms']:.0f} ms, max {lt['max_ms']:.0f} ms\n"
            f"  written to  {args.output}  (run took {time.monotonic() - started:.0f}s)",
            flush=True,
        )
        ok = True
    finally:
        stack.close(ok, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
