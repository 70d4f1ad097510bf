"""Fulfilment in: Commerce shipments and cancellations of the Amazon orders this gateway created become
ShipmentCreated (commerce.shipments.v1) and CommerceOrderCancelled (commerce.orders.v1), each exactly once.

A poll reads, each in entity_id order and page by page:

- shipments with `updated_at` after the shipments cursor less the overlap window (`GET /V1/shipments`), with their
  orders (`GET /V1/orders`, `entity_id in`), so that each is matched to a stored request and its items to Amazon's;
- the shipments held for want of a tracking number, again by id, until a track appears;
- orders in state `canceled` with `updated_at` after the cancellations cursor less the overlap window.

Each page's rows go to `fulfilment_shipments` / `fulfilment_cancellations` in the transaction that writes their
events to the outbox; a row already there writes nothing, so a re-read window or a second replica emits nothing new.
A cursor moves only after a complete pass, to the newest `updated_at` read. Before a feed has a cursor it starts at
the oldest stored request less the overlap. A call failing for good writes one CommunicationError, leaves the
cursor where it was and raises CommerceCallFailed; the poller carries on at the next interval, or on `wake()`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Query
from prometheus_client import Counter

from commerce_gateway import webhooks
from commerce_gateway.client import CommerceCallFailed, CommerceClient
from commerce_gateway.domain import fulfilment as domain
from commerce_gateway.domain import paging
from contracts import decode
from contracts.events import CommunicationError
from servicekit import Service, outbox
from servicekit.auth import Scope, requires
from servicekit.logging import get_logger
from servicekit.problems import ProblemError

log = get_logger(component="fulfilment-in")

FULFILMENT_EVENTS = Counter(
    "saleschannel_commerce_fulfilment_total", "Commerce shipments and cancellations of Amazon orders, by outcome "
    "(shipment_emitted, shipment_held, shipment_unmapped, cancelled)", ["service", "outcome"])

Json = dict[str, Any]
REQUEST_TYPES = frozenset({"CommerceOrderRequested"})
SHIPMENTS, CANCELLATIONS = "shipments", "cancellations"


@dataclass(frozen=True)
class PollResult:
    shipments_read: int = 0
    shipments_emitted: int = 0
    shipments_held: int = 0  # waiting for a tracking number after the poll
    orders_read: int = 0
    cancellations_emitted: int = 0


@dataclass
class _Tally:
    read: int = 0
    emitted: int = 0


@dataclass
class FulfilmentSync:
    pool: Any  # set by the service once it has started
    schema: str
    client: CommerceClient
    producer: str
    store_code: str = "default"
    page_size: int = 100
    overlap_s: float = 300.0
    _woken: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _one_at_a_time: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not paging.MIN_PAGE_SIZE <= self.page_size <= paging.MAX_PAGE_SIZE:
            raise ValueError(f"page size must be between {paging.MIN_PAGE_SIZE} and {paging.MAX_PAGE_SIZE}")

    def wake(self) -> None:
        """Poll now rather than at the next interval (a Commerce order or shipment webhook came in)."""
        self._woken.set()

    async def handle_webhook(self, body: Json) -> None:
        """A Commerce push of an order or a shipment: the poll it starts reads what changed, with its cursor and
        dedupe, so a push repeated, lost or out of order changes nothing."""
        self.wake()

    async def run_forever(self, interval_s: float) -> None:
        while True:
            self._woken.clear()
            try:
                await self.run_once()
            except CommerceCallFailed as exc:
                log.warning("fulfilment_poll_stopped", store_code=self.store_code, reason=str(exc))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: the next poll starts from the stored cursors
                log.warning("fulfilment_poll_error", store_code=self.store_code, error=repr(exc))
            try:
                await asyncio.wait_for(self._woken.wait(), interval_s)
            except TimeoutError:
                pass

    async def run_once(self) -> PollResult:
        """One poll of both feeds, one poller per store across replicas at a time (the others wait for it)."""
        async with self._one_at_a_time, self.pool.acquire() as lock_conn:
            key = (f"{self.schema}.fulfilment", self.store_code)
            await lock_conn.execute("SELECT pg_advisory_lock(hashtext($1), hashtext($2))", *key)
            try:
                return await self._poll()
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock(hashtext($1), hashtext($2))", *key)

    async def _poll(self) -> PollResult:
        feed = SHIPMENTS
        try:
            shipments = await self._shipments()
            feed = "held"
            await self._held(shipments)
            feed = CANCELLATIONS
            cancelled = await self._cancellations()
        except CommerceCallFailed as exc:
            async with self.pool.acquire() as conn, conn.transaction():
                await outbox.write(conn, self.schema, [CommunicationError.new(
                    producer=self.producer, system="commerce", operation=exc.fields["operation"],
                    code=exc.fields["code"], message=exc.fields["message"], attempts=exc.fields["attempts"],
                    request_ref=f"fulfilment-{feed}:{self.store_code}")])
            raise
        held = await self.pool.fetchval("SELECT count(*) FROM fulfilment_shipments WHERE status = 'held'")
        log.info("fulfilment_poll_done", store_code=self.store_code, shipments_read=shipments.read,
                 shipments_emitted=shipments.emitted, shipments_held=held, orders_read=cancelled.read,
                 cancellations_emitted=cancelled.emitted)
        return PollResult(shipments.read, shipments.emitted, held, cancelled.read, cancelled.emitted)

    # ------------------------------------------------------------ cursors

    async def _since(self, feed: str) -> tuple[datetime | None, str | None]:
        """(the cursor, the `updated_at gt` bound of this pass); no bound when no request was ever stored."""
        cursor: datetime | None = await self.pool.fetchval(
            "SELECT updated_at FROM fulfilment_cursors WHERE store_code = $1 AND feed = $2", self.store_code, feed)
        start = cursor or await self.pool.fetchval("SELECT min(received_at) FROM order_requests")
        return cursor, paging.updated_since(start, self.overlap_s) if start is not None else None

    async def _advance(self, feed: str, newest: datetime | None) -> None:
        if newest is None:
            return
        await self.pool.execute(
            "INSERT INTO fulfilment_cursors (store_code, feed, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (store_code, feed) DO UPDATE SET "
            "updated_at = GREATEST(fulfilment_cursors.updated_at, EXCLUDED.updated_at), polled_at = now()",
            self.store_code, feed, newest)

    async def _pages(self, read: Callable[[int], Awaitable[Json]],
                     work: Callable[[list[Json]], Awaitable[None]]) -> datetime | None:
        """Every page of a search, stopping on total_count; the newest updated_at read."""
        page, newest = 1, None
        while True:
            body = await read(page)
            total = body["total_count"]
            items = body["items"] if page <= paging.page_count(total, self.page_size) else []
            await work(items)
            newest = domain.newest(items, newest)
            if paging.is_last(page, total, self.page_size) or not items:
                return newest
            page += 1

    # ------------------------------------------------------------ shipments

    async def _shipments(self) -> _Tally:
        tally = _Tally()
        cursor, since = await self._since(SHIPMENTS)
        if since is None:
            return tally
        filters = (("updated_at", "gt", since),)

        async def work(items: list[Json]) -> None:
            tally.read += len(items)
            await self._record_shipments(items, tally)

        newest = await self._pages(
            lambda page: self.client.search_shipments(page=page, page_size=self.page_size, filters=filters), work)
        await self._advance(SHIPMENTS, max(filter(None, (newest, cursor)), default=None))
        return tally

    async def _held(self, tally: _Tally) -> None:
        """Shipments waiting for a tracking number, read again by id."""
        held = [r["commerce_shipment_id"] for r in await self.pool.fetch(
            "SELECT commerce_shipment_id FROM fulfilment_shipments WHERE status = 'held' "
            "ORDER BY commerce_shipment_id")]
        for start in range(0, len(held), self.page_size):
            ids = ",".join(held[start:start + self.page_size])
            body = await self.client.search_shipments(page=1, page_size=self.page_size,
                                                      filters=(("entity_id", "in", ids),))
            await self._record_shipments(body["items"], tally)

    async def _record_shipments(self, shipments: list[Json], tally: _Tally) -> None:
        ids = sorted({str(s["entity_id"]) for s in shipments if s.get("entity_id") not in (None, "")})
        if not ids:
            return
        settled = {r["commerce_shipment_id"] for r in await self.pool.fetch(
            "SELECT commerce_shipment_id FROM fulfilment_shipments WHERE commerce_shipment_id = ANY($1::text[]) "
            "AND status <> 'held'", ids)}
        fresh = {str(s["entity_id"]): s for s in shipments
                 if str(s.get("entity_id")) in ids and str(s["entity_id"]) not in settled}
        if not fresh:
            return
        orders = await self._orders({str(s["order_id"]) for s in fresh.values() if s.get("order_id") is not None})
        owners = await self._owners(list(orders.values()))
        decisions = []
        for shipment in fresh.values():
            order = orders.get(str(shipment.get("order_id")))
            amazon = owners.get(str(order["entity_id"])) if order else None
            if order is not None and amazon is not None:
                decisions.append(domain.shipment_decision(shipment, order, amazon, self.producer))
        if not decisions:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """
                INSERT INTO fulfilment_shipments (commerce_shipment_id, commerce_order_id, amazon_order_id, status,
                    event_id, carrier_code, carrier_name, tracking_number, items, shipped_at)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[],
                                     $7::text[], $8::text[], $9::jsonb[], $10::timestamptz[])
                ON CONFLICT (commerce_shipment_id) DO UPDATE SET
                    status = EXCLUDED.status, event_id = EXCLUDED.event_id, carrier_code = EXCLUDED.carrier_code,
                    carrier_name = EXCLUDED.carrier_name, tracking_number = EXCLUDED.tracking_number,
                    items = EXCLUDED.items, shipped_at = EXCLUDED.shipped_at, updated_at = now()
                WHERE fulfilment_shipments.status = 'held' AND EXCLUDED.status <> 'held'
                RETURNING commerce_shipment_id, status
                """,
                [d.commerce_shipment_id for d in decisions], [d.commerce_order_id for d in decisions],
                [d.amazon_order_id for d in decisions], [d.status.value for d in decisions],
                [d.event.event_id if d.event else None for d in decisions],
                [d.tracking.carrier_code if d.tracking else None for d in decisions],
                [d.tracking.carrier_name if d.tracking else None for d in decisions],
                [d.tracking.tracking_number if d.tracking else None for d in decisions],
                [json.dumps(d.items) for d in decisions], [d.shipped_at for d in decisions])
            written = {r["commerce_shipment_id"]: r["status"] for r in rows}
            events = [d.event for d in decisions if d.event is not None and d.commerce_shipment_id in written]
            await outbox.write(conn, self.schema, events)
        for d in decisions:
            if d.commerce_shipment_id in written:
                FULFILMENT_EVENTS.labels(self.producer, f"shipment_{d.status.value}").inc()
                log.info("commerce_shipment_" + d.status.value, order=d.amazon_order_id,
                         commerce_shipment_id=d.commerce_shipment_id, items=len(d.items))
        tally.emitted += len(events)

    async def _orders(self, order_ids: set[str]) -> dict[str, Json]:
        """The Commerce orders of these ids, by id."""
        ids = sorted(order_ids, key=lambda i: (len(i), i))
        out: dict[str, Json] = {}
        for start in range(0, len(ids), self.page_size):
            body = await self.client.list_orders(page=1, page_size=self.page_size, filters=(
                ("entity_id", "in", ",".join(ids[start:start + self.page_size])),))
            out.update({str(o["entity_id"]): o for o in body["items"] if o.get("entity_id") not in (None, "")})
        return out

    async def _owners(self, orders: Sequence[Json]) -> dict[str, domain.AmazonOrder]:
        """Commerce order id -> the Amazon order it was created for, for the orders of this gateway's requests."""
        entity_ids = [str(o["entity_id"]) for o in orders]
        ext_ids = [str(o["ext_order_id"]) for o in orders if o.get("ext_order_id")]
        rows = await self.pool.fetch(
            "SELECT request, commerce_order_id FROM order_requests "
            "WHERE commerce_order_id = ANY($1::text[]) OR (commerce_order_id IS NULL AND amazon_order_id = ANY($2))",
            entity_ids, ext_ids)
        known = [domain.AmazonOrder(decode(bytes(r["request"]), REQUEST_TYPES),  # type: ignore[arg-type]
                                    r["commerce_order_id"]) for r in rows]
        by_commerce = {k.commerce_order_id: k for k in known if k.commerce_order_id is not None}
        by_amazon = {k.amazon_order_id: k for k in known}
        out: dict[str, domain.AmazonOrder] = {}
        for order in orders:
            amazon = domain.owner(order, by_commerce, by_amazon)
            if amazon is not None:
                out[str(order["entity_id"])] = amazon
        return out

    # ------------------------------------------------------------ cancellations

    async def _cancellations(self) -> _Tally:
        tally = _Tally()
        cursor, since = await self._since(CANCELLATIONS)
        if since is None:
            return tally
        filters = (("state", "eq", domain.CANCELED_STATE), ("updated_at", "gt", since))

        async def work(items: list[Json]) -> None:
            tally.read += len(items)
            tally.emitted += await self._record_cancellations(items)

        newest = await self._pages(
            lambda page: self.client.list_orders(page=page, page_size=self.page_size, filters=filters), work)
        await self._advance(CANCELLATIONS, max(filter(None, (newest, cursor)), default=None))
        return tally

    async def _record_cancellations(self, orders: list[Json]) -> int:
        orders = [o for o in orders if o.get("entity_id") not in (None, "")]
        owners = await self._owners(orders)
        events = [e for e in (domain.cancellation(o, owners[str(o["entity_id"])], self.producer)
                              for o in orders if str(o["entity_id"]) in owners) if e is not None]
        if not events:
            return 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "INSERT INTO fulfilment_cancellations (commerce_order_id, amazon_order_id, increment_id, "
                "cancelled_at, event_id) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
                "$4::timestamptz[], $5::uuid[]) ON CONFLICT (commerce_order_id) DO NOTHING "
                "RETURNING commerce_order_id",
                [e.commerce_order_id for e in events], [e.amazon_order_id for e in events],
                [e.increment_id for e in events], [e.cancelled_at for e in events], [e.event_id for e in events])
            written = {r["commerce_order_id"] for r in rows}
            new = [e for e in events if e.commerce_order_id in written]
            await outbox.write(conn, self.schema, new)
        for e in new:
            FULFILMENT_EVENTS.labels(self.producer, "cancelled").inc()
            log.info("commerce_order_cancelled", order=e.amazon_order_id, commerce_order_id=e.commerce_order_id)
        return len(new)


# ---------------------------------------------------------------- reading


async def order_fulfilment(pool: asyncpg.Pool, amazon_order_id: str) -> Json | None:
    """What Commerce shipped and cancelled of one Amazon order, as announced (or held); None when the gateway was
    never asked for the order."""
    if not await pool.fetchval("SELECT true FROM order_requests WHERE amazon_order_id = $1", amazon_order_id):
        return None
    shipments = await pool.fetch(
        "SELECT commerce_shipment_id, commerce_order_id, status, event_id, carrier_code, carrier_name, "
        "tracking_number, items, shipped_at, first_seen_at, updated_at FROM fulfilment_shipments "
        "WHERE amazon_order_id = $1 ORDER BY first_seen_at, commerce_shipment_id", amazon_order_id)
    cancelled = await pool.fetchrow(
        "SELECT commerce_order_id, increment_id, cancelled_at, event_id, recorded_at FROM fulfilment_cancellations "
        "WHERE amazon_order_id = $1", amazon_order_id)
    return {"amazon_order_id": amazon_order_id, "shipments": [_json_row(r) for r in shipments],
            "cancellation": _json_row(cancelled) if cancelled else None}


def _json_row(row: asyncpg.Record) -> Json:
    out: Json = {}
    for name, value in dict(row).items():
        if isinstance(value, datetime):
            out[name] = value.isoformat()
        elif name == "items":
            out[name] = json.loads(value) if isinstance(value, str) else value
        else:
            out[name] = str(value) if value is not None and name == "event_id" else value
    return out


# ---------------------------------------------------------------- wiring


def attach(service: Service[Any], sync: FulfilmentSync, *, interval_s: float) -> None:
    """Poll at start and every `interval_s` in the background, and at once when Commerce pushes an order or a
    shipment (`POST /webhooks/commerce`); `GET /shipments` reads what was announced."""
    async def run() -> None:
        sync.pool = service.pool
        await sync.run_forever(interval_s)

    service.background("fulfilment-sync", run)
    registry = webhooks.handlers(service)
    for entity in ("order", "shipment"):
        registry.register(entity, sync.handle_webhook)
    service.include_router(_router(service))
    service.fulfilment = sync  # type: ignore[attr-defined]


def _router(service: Service[Any]) -> APIRouter:
    router = APIRouter(tags=["fulfilment"])

    @router.get("/shipments", dependencies=[requires(Scope.READ)])
    async def shipments(amazon_order_id: str = Query(min_length=1, max_length=64)) -> Json:
        """One Amazon order's Commerce shipments (emitted with carrier and tracking number, held until one has a
        track, or unmapped) and its cancellation, as the gateway announced them."""
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        found = await order_fulfilment(service.pool, amazon_order_id)
        if found is None:
            raise ProblemError(404, f"no request for Amazon order {amazon_order_id}")
        return found

    return router
