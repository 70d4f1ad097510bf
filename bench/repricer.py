"""End-to-end benchmark of the repricer on an embedded stack.

OfferPriceObserved on amazon.offers.v1 -> repricer (inbox, offers, rules, prices, outbox) ->
PriceChanged on repricer.prices.v1 (with ListingUpdateRequested and CompetitivePriceObserved).

The repricer runs with its default settings, configured over its HTTP API (listing price
settings with MAP, MSRP and guards; standard, discard and intelligent rules), and knows
--asins products and listings (seeded through its topics first; not measured). Then:

* throughput: publish N OfferPriceObserved as fast as one producer can and wait until the
  repricer has committed all of them and emptied its outbox; offers/s = N / (done - first publish);
* baseline: a raw aiokafka loop consumes the same N messages from the same broker with its own
  group and produces one message of the same size per record, committing per batch;
  ratio = repricer / raw;
* latency: offers at a steady rate, each moving the competitors' prices; latency = arrival of the
  PriceChanged it caused (causation_id) at a bench consumer - the moment it was sent.

Starts its own broker (Tansu), database and repricer in a temporary directory and tears it all
down afterwards. Writes bench/results/repricer.json.

    uv run python bench/repricer.py [--asins N] [--events N] [--rate R] [--duration S] [--quick]
"""

# This file is bench/repricer.py: while it runs, `import repricer` would find this script rather
# than the service's package. Nothing here imports it; the repricer runs as its own process and
# is configured over HTTP.

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import RecordMetadata, TopicPartition
from stack import Stack, broker_version, exit_on_signal, log_issues, machine, percentile

from contracts import Money, encode, topics
from contracts.envelope import Event
from contracts.events import (
    FulfillmentChannel,
    ListingChanged,
    ListingStatus,
    Offer,
    OfferPriceObserved,
    ProductChanged,
    ProductStatus,
)
from devstack import infra
from devstack.processes import service_spec, wait_ready
from servicekit.outbox import headers

RESULTS = Path(__file__).resolve().parent / "results" / "repricer.json"
SERVICE = "repricer"
SCHEMA = "repricer"
GROUP = "repricer"  # the service's consumer group (its name)
PARTITIONS = 6
MARKET = "ATVPDKIKX0DER"
ACCOUNT = "bench-acct"
SELLER = "BENCHSELLER"  # our seller id; our own offer is in every offer set
SCRATCH_TOPIC = "bench.raw-scratch.v1"
STALL_TIMEOUT_S = 90.0  # give up when the repricer makes no progress for this long
POLL_INTERVAL_S = 0.05
OUTPUT_TOPICS = {"price_changed": topics.PRICES.name, "listing_updates": topics.LISTING_UPDATES.name,
                 "competitive_prices": topics.COMPETITIVE_PRICES.name}

# Our listings' conditions (Amazon condition_type) and their weights.
LISTING_CONDITIONS = [("new_new", 70), ("used_very_good", 9), ("used_good", 7), ("used_like_new", 5),
                      ("refurbished_refurbished", 5), ("collectible_like_new", 4)]
# Competitor offers: (condition, sub_condition, price factor range, weight).
OFFER_CONDITIONS = [
    ("new", None, (1.00, 1.25), 60), ("used", "like_new", (0.80, 0.95), 7),
    ("used", "very_good", (0.75, 0.90), 7), ("used", "good", (0.70, 0.85), 6),
    ("used", "acceptable", (0.60, 0.75), 5), ("refurbished", None, (0.85, 0.95), 8),
    ("collectible", "like_new", (1.10, 1.40), 5), ("club", None, (0.90, 1.00), 2),
]
SHIPPING = [Decimal("0"), Decimal("2.99"), Decimal("4.99")]
LEVEL_RANGE = (0.80, 1.10)  # competitors' price level, as a share of the Commerce price
STEP_RANGE = (0.03, 0.08)  # how far the level moves between two events of one ASIN


# ---------------------------------------------------------------- configuration


def rule(name: str, priority: int, action: dict[str, Any], conditions: dict[str, Any] | None = None,
         **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"account_id": ACCOUNT, "marketplace_id": MARKET, "priority": priority,
                            "action": action, **extra}
    if conditions is not None:
        spec["conditions"] = conditions
    return {"kind": "PricingRule", "metadata": {"name": name}, "spec": spec}


def categories(*ids: int) -> dict[str, Any]:
    return {"attribute": "category_ids", "operator": "()", "value": [str(i) for i in ids]}


FLOOR = {"source_attribute": "cost", "action": "increase", "percent": "5"}
CEILING = {"source_attribute": "msrp", "action": "match"}

CONFIG: list[dict[str, Any]] = [
    {"kind": "ListingPriceSettings", "metadata": {"name": f"{ACCOUNT}-us"},
     "spec": {"account_id": ACCOUNT, "marketplace_id": MARKET, "marketplace_currency": "USD",
              "seller_id": SELLER, "map_attribute": "map", "msrp_attribute": "msrp",
              "guards": {"enforce_band": True, "limit_step": True, "max_step_percent": "20",
                         "detect_price_war": True, "skip_small_changes": True}}},
    # Standard, before the competitor rules: 1.00 off in categories 12 and 13 from 20 up.
    rule("std-decrease-fixed", 1,
         {"type": "standard", "direction": "decrease", "apply_as": "fixed", "amount": "1.00"},
         {"aggregator": "all", "value": True, "conditions": [
             categories(12, 13), {"attribute": "price", "operator": ">=", "value": "20"}]}),
    # Clearance items: 8 % off, and no rule after this one.
    rule("clearance-discard", 2,
         {"type": "standard", "direction": "decrease", "apply_as": "percent", "amount": "8"},
         {"aggregator": "all", "value": True, "conditions": [
             {"attribute": "clearance", "operator": "==", "value": "yes"}]},
         discard_subsequent=True),
    # Categories 10 and 12: match the Buy Box, between cost + 5 % and the MSRP.
    rule("buybox-match", 3,
         {"type": "intelligent", "competitor_source": "buy_box", "adjustment": "match",
          "floor": FLOOR, "ceiling": CEILING},
         {"aggregator": "any", "value": True, "conditions": [categories(10, 12)]}),
    # Categories 11 and 13: 1 % under the lowest well-rated competitor, other conditions
    # weighted by their variance.
    rule("lowest-variance", 4,
         {"type": "intelligent", "competitor_source": "lowest", "min_feedback_percent": 90,
          "min_feedback_count": 50, "variance_mode": "apply_variance",
          "condition_variances": {"refurbished_refurbished": "95", "used_like_new": "90",
                                  "used_very_good": "85", "used_good": "80", "used_acceptable": "70",
                                  "collectible_like_new": "120", "club_club": "90"},
          "adjustment": "decrease", "apply_as": "percent", "amount": "1",
          "floor": FLOOR, "ceiling": CEILING},
         {"aggregator": "all", "value": True, "conditions": [categories(11, 13)]}),
    # Standard, after the competitor rules: 3 % up in categories 10 and 11.
    rule("std-increase-pct", 5,
         {"type": "standard", "direction": "increase", "apply_as": "percent", "amount": "3"},
         {"aggregator": "all", "value": True, "conditions": [categories(10, 11)]}),
]
RULE_NAMES = [d["metadata"]["name"] for d in CONFIG if d["kind"] == "PricingRule"]


# ---------------------------------------------------------------- the market


@dataclass(frozen=True)
class Competitor:
    seller_id: str
    condition: str
    sub_condition: str | None
    channel: FulfillmentChannel
    shipping: Money
    rating: int
    count: int
    factor: float  # price relative to the competitors' level


@dataclass
class Item:
    """One ASIN: its Commerce product, our listing, and the offers on it."""

    index: int
    price: Decimal
    category: int  # 10..13, which decides the rules that apply
    clearance: bool
    condition: str  # our listing's condition_type
    competitors: list[Competitor]
    buy_box: int  # index of the winning competitor; -1: our own offer holds the Buy Box
    level: float
    down: bool = True  # the direction of the next move
    events: int = 0

    @property
    def asin(self) -> str:
        return f"B0{self.index:08d}"

    @property
    def sku(self) -> str:
        return f"BENCH-{self.index:07d}"

    @property
    def repriced_on_offers(self) -> bool:
        """Whether a move of the competitors should move our price: no discard rule stops the
        competitor rules and a competitor holds the Buy Box."""
        return not self.clearance and self.buy_box >= 0


def _weighted(rng: random.Random, choices: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    return rng.choices(choices, weights=[c[-1] for c in choices])[0]


def usd(amount: Decimal) -> Money:
    return Money(amount=amount, currency="USD")


class Market:
    """Products, listings and offer sets of --asins ASINs; each event moves one ASIN's prices."""

    def __init__(self, asins: int, offers_min: int, offers_max: int, seed: int) -> None:
        rng = random.Random(seed)
        self.rng = rng
        shipping = [usd(s) for s in SHIPPING]
        self.items: list[Item] = []
        for i in range(asins):
            n = rng.randint(offers_min, offers_max) - 1  # one of the offers is ours
            competitors = []
            sellers = rng.sample(range(1, 20_000), n)
            for j in range(n):
                cond, sub, (lo, hi), _ = OFFER_CONDITIONS[0] if j == 0 else _weighted(rng, OFFER_CONDITIONS)
                fba = j == 0 or rng.random() < 0.5
                competitors.append(Competitor(
                    seller_id=f"S{sellers[j]:05d}", condition=cond, sub_condition=sub,
                    channel=FulfillmentChannel.AMAZON if fba else FulfillmentChannel.MERCHANT,
                    shipping=shipping[0] if fba else rng.choice(shipping),
                    rating=rng.randint(75, 100), count=rng.randint(0, 20_000),
                    factor=rng.uniform(lo, hi),
                ))
            self.items.append(Item(
                index=i, price=Decimal(rng.randint(1500, 25000)) / 100, category=10 + i % 4,
                clearance=rng.random() < 0.10, condition=_weighted(rng, LISTING_CONDITIONS)[0],
                competitors=competitors, buy_box=-1 if rng.random() < 0.05 else 0,
                level=rng.uniform(*LEVEL_RANGE),
            ))
        self.clock = datetime.now(UTC)

    def _observed_at(self) -> datetime:
        """Strictly increasing, so no notification is older than the one before it."""
        self.clock += timedelta(microseconds=10)
        return self.clock

    def product(self, item: Item) -> ProductChanged:
        p = item.price
        return ProductChanged.new(
            producer="bench", sku=item.sku, name=f"Bench product {item.index}", status=ProductStatus.ENABLED,
            price=usd(p), quantity=1 + item.index % 50, updated_at=self.clock,
            attributes={"cost": str((p * Decimal("0.60")).quantize(Decimal("0.01"))),
                        "msrp": str((p * Decimal("1.35")).quantize(Decimal("0.01"))),
                        "map": str((p * Decimal("0.70")).quantize(Decimal("0.01"))),
                        "category_ids": f"2,{item.category}", "clearance": "yes" if item.clearance else "no",
                        "brand": f"brand-{item.index % 40}"},
        )

    def listing(self, item: Item) -> ListingChanged:
        return ListingChanged.new(
            producer="bench", account_id=ACCOUNT, marketplace_id=MARKET, sku=item.sku, product_sku=item.sku,
            asin=item.asin, condition=item.condition, status=ListingStatus.ACTIVE, quantity=5, price=None,
            version=1, changes=[],
        )

    def move(self, item: Item) -> None:
        """Competitors move 3-8 %, alternately down and up: at most every other notification
        undercuts us, and with the defaults an ASIN gets at most three, too few for the
        price-war guard (3 cuts against one seller within an hour) to hold a price."""
        step = self.rng.uniform(*STEP_RANGE)
        level = item.level * (1 - step if item.down else 1 + step)
        if not LEVEL_RANGE[0] <= level <= LEVEL_RANGE[1]:
            level = item.level * (1 + step if item.down else 1 - step)
        item.level, item.down, item.events = level, not item.down, item.events + 1

    def offers(self, item: Item) -> OfferPriceObserved:
        self.move(item)
        base = float(item.price) * item.level
        offers = [
            Offer(seller_id=c.seller_id, is_ours=False, condition=c.condition, sub_condition=c.sub_condition,
                  fulfillment_channel=c.channel,
                  listing_price=usd(Decimal(max(1, round(base * c.factor * 100))) / 100),
                  shipping=c.shipping, feedback_rating=c.rating, feedback_count=c.count,
                  is_buy_box_winner=j == item.buy_box, is_prime=c.channel is FulfillmentChannel.AMAZON)
            for j, c in enumerate(item.competitors)
        ]
        family, _, grade = item.condition.partition("_")
        offers.insert(self.rng.randrange(len(offers) + 1), Offer(
            seller_id=SELLER, is_ours=True, condition=family,
            sub_condition=grade if family in ("used", "collectible") else None,
            fulfillment_channel=FulfillmentChannel.MERCHANT, listing_price=usd(item.price),
            shipping=usd(Decimal(0)), feedback_rating=99, feedback_count=1200,
            is_buy_box_winner=item.buy_box < 0))
        return OfferPriceObserved.new(producer="bench", marketplace_id=MARKET, asin=item.asin,
                                      account_id=ACCOUNT, observed_at=self._observed_at(), offers=offers)


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class Message:
    event_id: str
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = field(repr=False)


def message(event: Event) -> Message:
    topic = topics.topic_for(event)
    return Message(str(event.event_id), topic.name, topic.key(event).encode(), encode(event),
                   headers(event.event_type, event.event_id, event.correlation_id))


async def send(producer: AIOKafkaProducer, m: Message) -> asyncio.Future[Any]:
    return await producer.send(m.topic, m.value, key=m.key, headers=m.headers)


Offsets = dict[TopicPartition, int]


@dataclass(frozen=True)
class Published:
    seconds: float
    starts: Offsets  # per partition, the first offset written
    ends: Offsets  # per partition, the offset after the last one written

    @classmethod
    def of(cls, seconds: float, acks: Iterable[RecordMetadata]) -> Published:
        starts: Offsets = {}
        ends: Offsets = {}
        for md in acks:
            tp = TopicPartition(md.topic, md.partition)
            starts[tp] = min(starts.get(tp, md.offset), md.offset)
            ends[tp] = max(ends.get(tp, 0), md.offset + 1)
        return cls(seconds, starts, ends)

    @property
    def count(self) -> int:
        return sum(self.ends.values()) - sum(self.starts.values())


async def publish(bootstrap: str, messages: Iterable[Message], client_id: str) -> Published:
    """Publish as fast as one producer goes; wait for every ack.

    Where the messages landed comes from the acks: Tansu's ListOffsets answers the same (wrong)
    end offset for every partition, so the bench never asks it for end offsets.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=512 * 1024, client_id=client_id)
    await producer.start()
    try:
        t0 = time.time()
        acks = await asyncio.gather(*[await send(producer, m) for m in messages])
        return Published.of(time.time() - t0, acks)
    finally:
        await producer.stop()


# ---------------------------------------------------------------- watching the repricer


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _cpu_or_none(pid: int) -> float | None:
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return None


class CpuMeter:
    """CPU of each group of processes (the repricer's replicas together), and of the machine. A
    process that ended meanwhile counts for nothing."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.start = time.monotonic()
        self.cpu = {pid: _cpu_or_none(pid) for group in pids.values() for pid in group}
        self.busy = machine_busy()

    def _used(self, pid: int) -> float:
        before, now = self.cpu.get(pid), _cpu_or_none(pid)
        return 0.0 if before is None or now is None else now - before

    def read(self) -> dict[str, float]:
        seconds = time.monotonic() - self.start
        out = {f"{name}_cpu_percent": round(100 * sum(map(self._used, group)) / seconds, 1)
               for name, group in self.pids.items()}
        busy, total = machine_busy()
        out["machine_busy_percent"] = round(100 * (busy - self.busy[0]) / max(1, total - self.busy[1]), 1)
        return out


class Watch:
    """The repricer's committed offsets, tables and metrics (summed over its replicas), polled cheaply."""

    def __init__(self, bootstrap: str, pool: asyncpg.Pool, https: list[str]) -> None:
        self.pool = pool
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-watch")
        self.https = [httpx.AsyncClient(base_url=http, timeout=30) for http in https]
        self.coordinator: int | None = None

    async def start(self) -> None:
        await self.admin.start()
        self.coordinator = await self.admin.find_coordinator(GROUP)

    async def stop(self) -> None:
        for http in self.https:
            await http.aclose()
        await self.admin.close()

    async def metrics(self) -> dict[str, float]:
        """The repricer's Prometheus samples, by name and labels, added up over the replicas
        (only counters are read)."""
        out: dict[str, float] = {}
        for http in self.https:
            for line in (await http.get("/metrics")).text.splitlines():
                if line and not line.startswith("#"):
                    name, _, value = line.rpartition(" ")
                    out[name] = out.get(name, 0.0) + float(value)
        return out

    async def committed(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        got = await self.admin.list_consumer_group_offsets(GROUP, self.coordinator, partitions=tps)
        return {tp: max(0, got[tp].offset) if tp in got else 0 for tp in tps}

    async def outbox(self) -> int:
        # Along the primary key: a plain count(*) walks every relayed (deleted) row until a vacuum,
        # and polling it every 50 ms took a large share of PostgreSQL's CPU.
        return int(await self.pool.fetchval(
            f"SELECT count(*) FROM {SCHEMA}._outbox WHERE id >= (SELECT min(id) FROM {SCHEMA}._outbox)"))

    async def count(self, table: str) -> int:
        return int(await self.pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.{table}"))

    async def until_handled(self, targets: Offsets, what: str) -> tuple[float, float]:
        """Wait until the repricer committed up to `targets` and its outbox is empty.

        Returns (when the offsets were committed, when the outbox was empty), epoch seconds, to
        POLL_INTERVAL_S. The offsets are read before the outbox: a batch's events are in the
        outbox by the time its offsets are committed.
        """
        handled_at = None
        progress, stalled_since = None, time.monotonic()
        while True:
            committed = await self.committed(list(targets))
            behind = sum(max(0, targets[tp] - committed[tp]) for tp in targets)
            if behind == 0 and handled_at is None:
                handled_at = time.time()
            backlog = await self.outbox()
            if behind == 0 and backlog == 0:
                assert handled_at is not None
                return handled_at, time.time()
            if (behind, backlog) != progress:
                progress, stalled_since = (behind, backlog), time.monotonic()
            elif time.monotonic() - stalled_since > STALL_TIMEOUT_S:
                raise TimeoutError(f"{what}: {behind} messages not handled, {backlog} in the outbox; "
                                   f"no progress in {STALL_TIMEOUT_S:.0f}s")
            await asyncio.sleep(POLL_INTERVAL_S)


def config_loaded(log_path: Path, rules: int) -> bool:
    """Whether the repricer logged that it loaded our settings and rules."""
    for line in log_path.read_text(errors="replace").splitlines():
        if '"config_loaded"' in line:
            entry = json.loads(line)
            if entry.get("stores") == 1 and entry.get("rules") == rules:
                return True
    return False


async def wait_config(log_path: Path, rules: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not config_loaded(log_path, rules):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the repricer did not load the configuration within {timeout:.0f}s")
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- the measurements


async def seed_products(bootstrap: str, market: Market) -> tuple[float, Published]:
    """Publish the products; returns when that started (epoch) and where they landed."""
    t0 = time.time()
    return t0, await publish(bootstrap, [message(market.product(i)) for i in market.items], "bench-seed")


async def seed_listings(bootstrap: str, watch: Watch, market: Market, t0: float,
                        products: Published) -> dict[str, Any]:
    """Once the products are stored, the listings: each is priced once, its product known."""
    n = len(market.items)
    products_at = await _until_rows(watch, "products", n)
    listings = await publish(bootstrap, [message(market.listing(i)) for i in market.items], "bench-seed")
    await _until_rows(watch, "listings", n)
    await watch.until_handled({**products.ends, **listings.ends}, "seeding")
    priced = await watch.count("prices")
    return {"products": n, "listings": n, "priced": priced, "products_seconds": round(products_at - t0, 1),
            "seconds": round(time.time() - t0, 1)}


async def _until_rows(watch: Watch, table: str, n: int) -> float:
    seen, stalled_since = -1, time.monotonic()
    while (got := await watch.count(table)) < n:
        if got != seen:
            seen, stalled_since = got, time.monotonic()
        elif time.monotonic() - stalled_since > STALL_TIMEOUT_S:
            raise TimeoutError(f"{got}/{n} {table} stored; none more in {STALL_TIMEOUT_S:.0f}s")
        await asyncio.sleep(0.25)
    return time.time()


def _sample(samples: dict[str, float], name: str, topic: str) -> float:
    return samples.get(f'{name}{{service="{SERVICE}",topic="{topic}"}}', 0.0)


async def counters(watch: Watch) -> dict[str, float]:
    """Events the repricer relayed per output topic, offers handled, and its batch timings."""
    m = await watch.metrics()
    out = {name: _sample(m, "saleschannel_outbox_published_total", topic) for name, topic in OUTPUT_TOPICS.items()}
    offers = topics.OFFERS.name
    out["handled"] = _sample(m, "saleschannel_messages_handled_total", offers)
    out["batches"] = _sample(m, "saleschannel_handler_duration_seconds_count", offers)
    out["handler_seconds"] = _sample(m, "saleschannel_handler_duration_seconds_sum", offers)
    return out


async def throughput(bootstrap: str, watch: Watch, messages: list[Message], pids: dict[str, list[int]],
                     profile: Path | None) -> tuple[dict[str, Any], Published]:
    n = len(messages)
    before = await counters(watch)
    inbox_before = await _inbox_offers(watch)
    profiler = start_profiler(profile, pids[SERVICE][0]) if profile else None
    cpu = CpuMeter({**pids, "postgres": await backend_pids(watch.pool)})
    try:
        t0 = time.time()
        published = await publish(bootstrap, messages, "bench-throughput")
        handled_at, drained_at = await watch.until_handled(published.ends, "throughput")
    finally:
        if profiler is not None:
            stop_profiler(profiler)
    usage = cpu.read()
    after = await counters(watch)
    inbox = await _inbox_offers(watch) - inbox_before
    assert published.count == n, f"{published.count} of {n} offers on the topic"
    assert inbox == n, f"the repricer's inbox holds {inbox} of the {n} offers"
    delta = {k: after[k] - before[k] for k in after}
    produced = {k: int(delta[k]) for k in OUTPUT_TOPICS}
    seconds = drained_at - t0
    publish_seconds = published.seconds
    return {
        "events": n,
        "seconds": round(seconds, 3),
        "offers_per_s": round(n / seconds, 1),
        "handled_seconds": round(handled_at - t0, 3),
        "handled_per_s": round(n / (handled_at - t0), 1),
        "publish_seconds": round(publish_seconds, 3),
        "publish_per_s": round(n / publish_seconds, 1),
        "inbox_rows": inbox,
        **produced,
        "price_changed_per_offer": round(produced["price_changed"] / n, 3),
        "mean_offer_bytes": round(sum(len(m.value) for m in messages) / n),
        "batches": int(delta["batches"]),
        "mean_batch": round(delta["handled"] / max(1, delta["batches"]), 1),
        "mean_batch_ms": round(1000 * delta["handler_seconds"] / max(1, delta["batches"]), 1),
        # Per replica: the share of the phase each spent handling batches, on average.
        "handler_busy_percent": round(100 * delta["handler_seconds"] / seconds / len(pids[SERVICE]), 1),
        **usage,
    }, published


async def backend_pids(pool: asyncpg.Pool) -> list[int]:
    """PostgreSQL's server processes for this run's database (the repricer's pool and outbox relay,
    and the bench's own), as connected now: what the database spends on the repricer's work."""
    rows = await pool.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    return [r["pid"] for r in rows]


async def _inbox_offers(watch: Watch) -> int:
    return int(await watch.pool.fetchval(
        f"SELECT count(*) FROM {SCHEMA}._inbox WHERE topic = $1", topics.OFFERS.name))


async def raw_baseline(bootstrap: str, run_id: str, phase: Published) -> dict[str, Any]:
    """Consume exactly the throughput phase's offers with a group of our own, produce one message
    of the same size (value, key, headers) per record, wait for the acks, commit; per batch.
    Consumer and producer settings as the service's (max 1000 records, acks=all, linger 5 ms)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-raw")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(SCRATCH_TOPIC, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"bench-raw-{run_id}",
                                client_id="bench-raw", enable_auto_commit=False, fetch_max_wait_ms=25)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=256 * 1024, client_id="bench-raw")
    starts, ends = phase.starts, phase.ends
    await consumer.start()
    await producer.start()
    try:
        consumer.assign(list(starts))
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        remaining = {tp for tp in starts if ends[tp] > starts[tp]}
        n, batches = 0, 0
        t0 = time.time()
        while remaining:
            got = await consumer.getmany(timeout_ms=200, max_records=1000)
            futures = []
            for tp, records in got.items():
                for r in records:
                    if r.offset < ends[tp]:
                        futures.append(await producer.send(SCRATCH_TOPIC, r.value, key=r.key,
                                                           headers=list(r.headers)))
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
                n += len(futures)
                batches += 1
        seconds = time.time() - t0
    finally:
        await producer.stop()
        await consumer.stop()
    expected = phase.count
    assert n == expected, f"raw loop saw {n} of {expected} messages"
    return {"events": n, "seconds": round(seconds, 3), "offers_per_s": round(n / seconds, 1),
            "batches": batches}


class PriceCollector:
    """Reads repricer.prices.v1 from a fence on; first arrival per causation_id.

    A fence is a record the bench writes to every partition (Tansu cannot say where a partition
    ends): the collector starts after one and has read everything relayed before another once
    it is past it. Fences carry no causation_id; nothing else reads the topic in this stack.
    """

    MARK = b'"causation_id":"'
    FENCE = b"bench-fence"

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="bench-latency-prices",
                                         enable_auto_commit=False, fetch_max_wait_ms=5)
        self.arrivals: dict[str, tuple[float, float]] = {}  # causation -> (arrival, produced)
        self.records = 0
        self.tps = [TopicPartition(topics.PRICES.name, p) for p in range(PARTITIONS)]
        self._task: asyncio.Task[None] | None = None

    async def fence(self) -> Offsets:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", client_id="bench-fence")
        await producer.start()
        try:
            acks = [await producer.send_and_wait(tp.topic, self.FENCE, partition=tp.partition) for tp in self.tps]
        finally:
            await producer.stop()
        return {TopicPartition(md.topic, md.partition): md.offset for md in acks}

    async def start(self) -> None:
        fences = await self.fence()
        await self.consumer.start()
        self.consumer.assign(self.tps)
        for tp in self.tps:
            self.consumer.seek(tp, fences[tp] + 1)
        self._task = asyncio.create_task(self._run())

    def _causation(self, value: bytes) -> str | None:
        at = value.find(self.MARK)
        if at < 0:
            return None  # a fence, or a PriceChanged nothing caused
        at += len(self.MARK)
        return value[at:at + 36].decode()

    async def _run(self) -> None:
        while True:
            got = await self.consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in got.values():
                for r in records:
                    self.records += 1
                    cause = self._causation(r.value)
                    if cause and cause not in self.arrivals:
                        self.arrivals[cause] = (now, r.timestamp / 1000)

    async def catch_up(self) -> None:
        """Until everything relayed so far has been read."""
        fences = await self.fence()
        deadline = time.monotonic() + STALL_TIMEOUT_S
        for tp in self.tps:
            while await self.consumer.position(tp) <= fences[tp]:
                if time.monotonic() > deadline:
                    raise TimeoutError("the bench consumer did not catch up with repricer.prices.v1")
                await asyncio.sleep(POLL_INTERVAL_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.consumer.stop()


async def latency(bootstrap: str, watch: Watch, messages: list[Message], rate: float,
                  duration: float, pids: dict[str, list[int]]) -> dict[str, Any]:
    n = len(messages)
    sent_at: dict[str, float] = {}
    collector = PriceCollector(bootstrap)
    await collector.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                                client_id="bench-latency")
    await producer.start()
    cpu = CpuMeter({**pids, "postgres": await backend_pids(watch.pool)})
    try:
        futures: list[asyncio.Future[RecordMetadata]] = []
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
        sent = Published.of(offered_seconds, await asyncio.gather(*futures))
        last_sent = time.time()
        usage = cpu.read()
        _, drained_at = await watch.until_handled(sent.ends, "latency")
        await collector.catch_up()
    finally:
        await producer.stop()
        await collector.stop()

    matched = [(sent_at[c], arrival, produced) for c, (arrival, produced) in collector.arrivals.items()
               if c in sent_at]
    assert matched, "no PriceChanged arrived for any offer"
    lat = sorted((a - s) * 1000 for s, a, _ in matched)
    hop1 = sorted((p - s) * 1000 for s, _, p in matched)
    hop2 = sorted((a - p) * 1000 for _, a, p in matched)
    return {
        "offered_rate": rate,
        "achieved_rate": round(n / offered_seconds, 1),
        "sends_late_over_10ms": late,
        "duration_s": duration,
        "offers": n,
        "count": len(lat),
        "offers_without_price_changed": n - len(lat),
        # Above zero by more than a poll interval when the repricer fell behind the offered rate.
        "drained_after_last_send_s": round(drained_at - last_sent, 2),
        "p50_ms": round(percentile(lat, 50), 1),
        "p95_ms": round(percentile(lat, 95), 1),
        "p99_ms": round(percentile(lat, 99), 1),
        "max_ms": round(lat[-1], 1),
        "min_ms": round(lat[0], 1),
        # Split at the moment the repricer's outbox relay handed the PriceChanged to its producer
        # (the record's CreateTime): offer -> consumed, decided, committed, relayed; then
        # broker -> bench consumer.
        "to_relayed_p50_ms": round(percentile(hop1, 50), 1),
        "to_relayed_p99_ms": round(percentile(hop1, 99), 1),
        "relayed_to_bench_p50_ms": round(percentile(hop2, 50), 1),
        "relayed_to_bench_p99_ms": round(percentile(hop2, 99), 1),
        **usage,
    }


async def rules_applied(pool: asyncpg.Pool) -> dict[str, Any]:
    """Share of listings whose latest decision went through each rule (from the stored traces)."""
    columns = ", ".join(
        f"count(*) FILTER (WHERE position($${name} (priority$$ IN decision::text) > 0) AS \"{name}\""
        for name in RULE_NAMES)
    row = await pool.fetchrow(f"SELECT count(*) AS listings, {columns} FROM {SCHEMA}.prices")
    total = row["listings"] or 1
    return {"listings_priced": row["listings"],
            **{name: round(row[name] / total, 3) for name in RULE_NAMES}}


# ---------------------------------------------------------------- profiling (optional)


def start_profiler(path: Path, pid: int) -> subprocess.Popen[bytes]:
    """py-spy on the repricer while the throughput phase runs (py-spy must be on PATH, e.g.
    `uv run --with py-spy python bench/repricer.py --profile /tmp/repricer.txt`)."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--profile needs py-spy on PATH: uv run --with py-spy python bench/repricer.py ...")
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


# ---------------------------------------------------------------- the run


def code_version() -> dict[str, Any]:
    """The commit measured, and the files of the code under test that differed from it."""
    root = Path(__file__).resolve().parent.parent

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "services/repricer/src", "libs")
    return {"commit": git("rev-parse", "HEAD") or None,
            "uncommitted_changes": [line[3:] for line in changed.splitlines()]}



async def measure(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    bootstrap = stack.bootstrap
    pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=2)
    assert pool is not None
    replicas = replica_names(args.replicas)
    watch = Watch(bootstrap, pool, [stack.http(name) for name in replicas])
    await watch.start()
    pids = {SERVICE: [stack.processes[name].pid for name in replicas]}
    if stack.broker is not None:
        pids["broker"] = [stack.broker.pid]
    try:
        async with httpx.AsyncClient(base_url=stack.http(SERVICE), timeout=30, headers=stack.auth_headers) as client:
            applied = await client.post("/config:apply", json=CONFIG)
            if applied.status_code != 200:
                raise RuntimeError(f"config:apply answered {applied.status_code}: {applied.text[:500]}")
        for name in replicas:
            await wait_config(stack.sup.log_path(name), len(RULE_NAMES))

        print(f"market: {args.asins} ASINs with {args.offers_min}-{args.offers_max} offers each ...", flush=True)
        market = Market(args.asins, args.offers_min, args.offers_max, args.seed)
        print("seeding: products, then listings ...", flush=True)
        seed_t0, seed_products_published = await seed_products(bootstrap, market)
        # Encode the offers while the repricer stores the products: warm-up, throughput and
        # latency events in the order they are sent, so each ASIN's notifications are in time order.
        items = market.items
        warm = [message(market.offers(items[-1 - i % len(items)])) for i in range(args.warmup)]
        tp_messages = [message(market.offers(items[i % len(items)])) for i in range(args.events)]
        eligible = [i for i in items if i.repriced_on_offers] or items
        n_lat = int(args.rate * args.duration)
        lat_items = [eligible[(len(eligible) // 3 + i) % len(eligible)] for i in range(n_lat)]
        lat_messages = [message(market.offers(i)) for i in lat_items]
        seeded = await seed_listings(bootstrap, watch, market, seed_t0, seed_products_published)
        print(f"  {seeded['listings']} listings, {seeded['priced']} priced, in {seeded['seconds']:.0f}s",
              flush=True)

        # Warm-up: code paths and connections hot; the group is assigned since seeding.
        warmed = await publish(bootstrap, warm, "bench-warmup")
        await watch.until_handled(warmed.ends, "warm-up")

        print(f"throughput: publishing {args.events} offer notifications as fast as possible ...", flush=True)
        tp, phase = await throughput(bootstrap, watch, tp_messages, pids, args.profile)
        print(f"  {tp['offers_per_s']:.0f} offers/s end to end, published at {tp['publish_per_s']:.0f}/s; "
              f"{tp['price_changed']} PriceChanged", flush=True)

        print("baseline: raw aiokafka consume-and-produce of the same messages ...", flush=True)
        raw = await raw_baseline(bootstrap, stack.run_id, phase)
        print(f"  {raw['offers_per_s']:.0f} offers/s", flush=True)
        if args.rate > 0.5 * tp["offers_per_s"]:
            print(f"  warning: offered rate {args.rate}/s is over half the measured throughput; "
                  "latency will include queueing", flush=True)

        print(f"latency: {args.rate}/s for {args.duration}s ...", flush=True)
        listings = await watch.count("listings")
        lt = await latency(bootstrap, watch, lat_messages, args.rate, args.duration, pids)
        lt["listings_at_start"] = listings
        lt["rate_fraction_of_throughput"] = round(args.rate / tp["offers_per_s"], 3)
        applied_rules = await rules_applied(pool)
        server_version = await pool.fetchval("SHOW server_version")
    finally:
        await watch.stop()
        await pool.close()
    return {"seed": seeded, "throughput": tp, "baseline": raw, "latency": lt, "rules": applied_rules,
            "postgres": server_version, "eligible_share": round(len(eligible) / len(items), 3)}


def replica_names(replicas: int) -> list[str]:
    return [SERVICE, *(f"{SERVICE}-{i}" for i in range(2, replicas + 1))]


def start_replicas(stack: Stack, replicas: int) -> None:
    """More repricer processes in the same consumer group (the service's name), each with an HTTP
    port of its own; the broker shares the partitions out among them."""
    started = []
    for name in replica_names(replicas)[1:]:
        port = infra.free_port()
        spec = replace(service_spec(SERVICE, bootstrap=stack.bootstrap, database_url=stack.database_url,
                                    port=port), name=name)
        stack.ports[name] = port
        stack.processes[name] = stack.sup.start(spec)
        started.append((spec, stack.processes[name]))
    for spec, proc in started:
        wait_ready(spec.ready_url or "", timeout=90, proc=proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asins", type=int, default=100_000, help="ASINs = products = listings")
    parser.add_argument("--events", type=int, default=100_000, help="throughput: offer notifications")
    parser.add_argument("--rate", type=float, default=2_000.0, help="latency: offered notifications/s")
    parser.add_argument("--duration", type=float, default=20.0, help="latency: seconds at --rate")
    parser.add_argument("--offers-min", type=int, default=5, help="offers per ASIN, ours included")
    parser.add_argument("--offers-max", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=500, help="notifications before measuring")
    parser.add_argument("--replicas", type=int, default=2,
                        help="repricer processes in the service's consumer group, one per core by default "
                             f"(the topics have {PARTITIONS} partitions)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the market")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 5,000 ASINs, 5,000 events, 300/s for 5 s (unless given)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy the repricer during the throughput phase into this file "
                             "(.svg flame graph, .json speedscope, else raw collapsed stacks)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) afterwards")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"default {RESULTS} ({tempfile.gettempdir()}/repricer-quick.json with --quick)")
    args = parser.parse_args(argv)
    if args.quick:
        given = set(argv if argv is not None else sys.argv[1:])
        for flag, value in (("--asins", 5_000), ("--events", 5_000), ("--rate", 300.0), ("--duration", 5.0),
                            ("--warmup", 100)):
            if flag not in given:
                setattr(args, flag[2:], value)
    if args.output is None:
        args.output = Path(tempfile.gettempdir()) / "repricer-quick.json" if args.quick else RESULTS
    if min(args.asins, args.events, args.warmup + 1) < 1 or args.rate <= 0 or args.duration <= 0 \
            or args.rate * args.duration < 1:
        parser.error("--asins, --events, --rate and --duration must be positive")
    if not 1 <= args.replicas <= PARTITIONS:
        parser.error(f"--replicas must be 1-{PARTITIONS} (one partition each at least)")
    if not 2 <= args.offers_min <= args.offers_max:
        parser.error("need 2 <= --offers-min <= --offers-max (one offer is ours)")

    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGHUP, exit_on_signal)
    stack = Stack("repricer", partitions=PARTITIONS)
    ok = False
    started = time.monotonic()
    host = machine()
    code = code_version()
    try:
        stack.start((SERVICE,))
        start_replicas(stack, args.replicas)
        measured = asyncio.run(measure(args, stack))
        tp, raw, lt = measured["throughput"], measured["baseline"], measured["latency"]
        issues = log_issues(stack.sup.log_dir)
        result = {
            "name": "repricer",
            "description": "OfferPriceObserved -> repricer (inbox, rules, prices, outbox) -> PriceChanged, "
                           "end to end on the embedded stack, beside a raw aiokafka consume-and-produce loop",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": host,
            "code": code,
            "broker": broker_version(),
            "postgres": measured["postgres"],
            "parameters": {
                "asins": args.asins, "products": args.asins, "listings": args.asins,
                "offers_per_asin": [args.offers_min, args.offers_max], "events": args.events,
                "rate": args.rate, "duration_s": args.duration, "warmup_events": args.warmup,
                "seed": args.seed, "partitions": PARTITIONS, "services": [SERVICE],
                "repricer_processes": args.replicas,
                "postgres_source": stack.pg_source, "service_settings": "defaults (Settings)",
                "rules": RULE_NAMES, "profiled": args.profile is not None,
                "latency_asins": "ASINs whose listing no discard rule stops and whose Buy Box a competitor "
                                 f"holds ({measured['eligible_share']:.0%} of them)",
            },
            "seed": measured["seed"],
            "rules_applied_share": measured["rules"],
            "throughput": tp,
            "baseline_raw_aiokafka": raw,
            "ratio": round(tp["offers_per_s"] / raw["offers_per_s"], 3),
            "latency": lt,
            "targets": {"offers_per_s": 10_000, "p99_ms": 250,
                        "offers_per_s_met": tp["offers_per_s"] >= 10_000, "p99_met": lt["p99_ms"] <= 250},
            "log_issues": {name: lines[0] for name, lines in issues.items()},
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
        print(
            f"\nrepricer benchmark ({host['nproc']} cpu, {result['broker']}, postgres {result['postgres']})\n"
            f"  market      {args.asins} ASINs/products/listings, {args.offers_min}-{args.offers_max} offers each; "
            f"rules applied: " + ", ".join(f"{k} {v:.0%}" for k, v in measured["rules"].items()
                                           if k != "listings_priced") + "\n"
            f"  throughput  {tp['offers_per_s']:>8.0f} offers/s end to end ({tp['events']} in {tp['seconds']:.1f}s; "
            f"published at {tp['publish_per_s']:.0f}/s; {tp['price_changed']} PriceChanged, "
            f"{args.replicas} repricer process(es) {tp[f'{SERVICE}_cpu_percent']:.0f}% cpu)\n"
            f"  raw         {raw['offers_per_s']:>8.0f} offers/s aiokafka consume-and-produce, same messages\n"
            f"  ratio       {result['ratio']:>8.3f} (repricer / raw)\n"
            f"  latency     at {lt['offered_rate']:.0f}/s for {lt['duration_s']:.0f}s (achieved {lt['achieved_rate']:.0f}/s), "
            f"{lt['count']} of {lt['offers']} offers with a PriceChanged: p50 {lt['p50_ms']:.0f} ms, "
            f"p95 {lt['p95_ms']:.0f} ms, p99 {lt['p99_ms']:.0f} ms, max {lt['max_ms']:.0f} ms\n"
            f"  targets     >= 10,000 offers/s: {'met' if result['targets']['offers_per_s_met'] else 'NOT met'}; "
            f"p99 <= 250 ms: {'met' if result['targets']['p99_met'] else 'NOT met'}\n"
            f"  written to  {args.output}  (run took {time.monotonic() - started:.0f}s)",
            flush=True,
        )
        ok = True
    finally:
        stack.close(ok, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
