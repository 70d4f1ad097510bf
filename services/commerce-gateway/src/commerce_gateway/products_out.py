"""Catalogue out: each CommerceProductRequested creates a Commerce product, or writes values into an existing one.

The consumer only stores the request in `product_requests` (one row per event) in its transaction. A sender
claims open rows, the oldest open one of each commerce_sku only, so one SKU's requests are worked in order and
never two at once; it talks to Commerce with no transaction open and records the outcome with its event in a
second one, while the row is still under its claim:

- create: the SKU is looked up first; a product that is there (the request came twice, an earlier answer was
  lost after Commerce saved it, or another request created it) is answered `exists` and nothing is written.
  Otherwise `POST /V1/products`, never repeated blindly: Commerce saves over an existing SKU, so after a failure
  worth another try the gateway waits (the client's backoff) and looks the SKU up again first. The lookup and
  the creation run under a PostgreSQL advisory lock on the SKU, so two replicas never both create it;
- update: the SKU is looked up (Commerce's `PUT` would create a missing product), then `PUT /V1/products/{sku}`
  with the fields given.

Every request gets one answer through the outbox: CommerceProductResult (created, updated, exists, or failed
with Commerce's message), or a CommunicationError when Commerce cannot be reached after the retries. A failed
request stays `failed` until `POST /replay/products`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter
from prometheus_client import Counter
from pydantic import BaseModel, Field

from commerce_gateway.client import CommerceCallFailed, CommerceClient
from commerce_gateway.domain import products_out as domain
from commerce_gateway.domain.retry import retryable
from contracts import Event, decode, encode
from contracts.events import CommerceProductRequested, CommerceProductResult, CommunicationError
from contracts.topics import Topic
from servicekit import Service, Tx, audit, outbox
from servicekit.auth import Principal, Scope, requires
from servicekit.logging import get_logger
from servicekit.problems import ProblemError

log = get_logger(component="products-out")

PRODUCTS_ANSWERED = Counter(
    "saleschannel_commerce_product_requests_total", "Product requests answered, by outcome (created, updated, "
    "exists, refused, unreachable)", ["service", "outcome"])

Json = dict[str, Any]
REQUEST_TYPES = frozenset({"CommerceProductRequested"})
NOT_FOUND = 404


# ---------------------------------------------------------------- consuming


async def on_product_requests(tx: Tx, events: list[CommerceProductRequested]) -> None:
    """Keep every request durably, one row per event: a repeat of a pending, sending or done request is counted
    and ignored; a repeat of a failed one is worked again."""
    first: dict[UUID, CommerceProductRequested] = {}
    repeats: dict[UUID, int] = {}
    for e in events:
        if e.event_id in first:
            repeats[e.event_id] = repeats.get(e.event_id, 0) + 1
        first.setdefault(e.event_id, e)
    batch = list(first.values())
    await tx.conn.execute(
        """
        INSERT INTO product_requests (request_id, commerce_sku, action, account_id, marketplace_id, sku, store_code,
                                      request, duplicates)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                             $8::bytea[], $9::int[])
        ON CONFLICT (request_id) DO UPDATE SET
            status = CASE WHEN product_requests.status = 'failed' THEN 'pending' ELSE product_requests.status END,
            duplicates = product_requests.duplicates + 1 + EXCLUDED.duplicates,
            updated_at = now()
        """,
        [e.event_id for e in batch], [e.commerce_sku for e in batch], [e.action for e in batch],
        [e.account_id for e in batch], [e.marketplace_id for e in batch], [e.sku for e in batch],
        [e.store_code for e in batch], [encode(e) for e in batch], [repeats.get(e.event_id, 0) for e in batch])


# ---------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    kind: str  # created | updated | exists | refused | unreachable
    product_id: int | None = None
    note: str | None = None  # attribute codes Commerce did not store
    failure: Json = field(default_factory=dict)  # operation, code, message, attempts

    @property
    def status(self) -> str:
        return "failed" if self.failure else "done"

    @property
    def error(self) -> str | None:
        return f"{self.failure['code']}: {self.failure['message']}" if self.failure else None


class _Failed(Exception):
    def __init__(self, kind: str, fields: Json) -> None:
        super().__init__(fields["message"])
        self.kind = kind
        self.fields = fields


def _refusal(operation: str, code: str, message: str) -> _Failed:
    return _Failed("refused", {"operation": operation, "code": code, "message": message, "attempts": 1})


def _failed(exc: CommerceCallFailed, attempts: int | None = None) -> _Failed:
    fields = exc.fields if attempts is None else {**exc.fields, "attempts": attempts}
    return _Failed("unreachable" if retryable(exc.status) else "refused", fields)


# ---------------------------------------------------------------- sending


class ProductSender:
    """Claims open rows in a short transaction, talks to Commerce outside any, records the outcome in another."""

    def __init__(
        self, *, pool: asyncpg.Pool | None, schema: str, producer: str, client: CommerceClient,
        base_currency: str | None = None, batch_size: int = 20, concurrency: int = 4, idle_s: float = 0.5,
        lease_s: float = 300.0, sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.pool: Any = pool  # set by the service once it has started
        self.schema = schema
        self.producer = producer
        self.client = client
        self.base_currency = base_currency
        self.batch_size = batch_size
        self.idle_s = idle_s
        self.lease = timedelta(seconds=lease_s)
        self.sleep = sleep or client.sleep
        self._slots = asyncio.Semaphore(concurrency)

    async def run(self) -> None:
        """Work open rows for the service's lifetime; nothing Commerce answers stops it."""
        while True:
            try:
                worked = await self.send_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: try again shortly
                log.warning("product_sender_failed", error=repr(exc))
                worked = 0
            if not worked:
                await asyncio.sleep(self.idle_s)

    async def send_once(self) -> int:
        """Claim the oldest open row of each SKU (pending, or sending under a claim that ran out), work them,
        record them."""
        claim = uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE product_requests SET status = 'sending', claim = $1, claimed_until = now() + $2::interval, "
                "attempts = attempts + 1, updated_at = now() WHERE request_id IN ("
                "SELECT r.request_id FROM product_requests r "
                "WHERE (r.status = 'pending' OR (r.status = 'sending' AND r.claimed_until < now())) "
                "AND NOT EXISTS (SELECT 1 FROM product_requests o WHERE o.commerce_sku = r.commerce_sku "
                "AND o.seq < r.seq AND o.status IN ('pending', 'sending')) "
                "ORDER BY r.seq LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING request",
                claim, self.lease, self.batch_size)
        if not rows:
            return 0
        requests: list[CommerceProductRequested] = [
            decode(bytes(r["request"]), REQUEST_TYPES) for r in rows]  # type: ignore[misc]
        keeping = asyncio.create_task(self._keep_claim(claim))
        try:
            outcomes = await asyncio.gather(*(self._guarded(r) for r in requests))
        finally:
            keeping.cancel()
        async with self.pool.acquire() as conn, conn.transaction():
            events = [await self._settle(conn, claim, r, o) for r, o in zip(requests, outcomes, strict=True)]
            await outbox.write(conn, self.schema, [e for e in events if e is not None])
        return len(rows)

    async def _keep_claim(self, claim: uuid.UUID) -> None:
        """Renew the claim while its requests are worked: only a sender that died lets another take them over."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                await self.pool.execute(
                    "UPDATE product_requests SET claimed_until = now() + $2::interval "
                    "WHERE claim = $1 AND status = 'sending'", claim, self.lease)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("product_claim_renewal_failed", error=repr(exc))

    async def _guarded(self, request: CommerceProductRequested) -> Outcome:
        async with self._slots:
            try:
                if request.action == "create":
                    return await self._locked_create(request)
                return await self.update(request)
            except _Failed as exc:
                return Outcome(exc.kind, failure=exc.fields)

    async def _locked_create(self, request: CommerceProductRequested) -> Outcome:
        key = f"commerce-product:{request.commerce_sku}"
        async with self.pool.acquire() as conn:  # one creator of a SKU across replicas
            await conn.execute("SELECT pg_advisory_lock(hashtext($1))", key)
            try:
                return await self.create(request)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    async def create(self, request: CommerceProductRequested) -> Outcome:
        """The product, unless it is there already: looked up, created once, looked up again after a lost answer."""
        try:
            body = domain.create_payload(request, self.base_currency)
        except domain.InvalidProductRequest as exc:
            raise _refusal("POST /V1/products", exc.code, str(exc)) from exc
        client = self.client.for_store(request.store_code)
        existing = await self._find(client, request.commerce_sku)
        if existing is not None:
            return Outcome("exists", existing.id)
        attempt = 0
        while True:
            attempt += 1
            try:
                created = domain.found_product(await client.create_product(body))
                return self._written("created", body, created)
            except CommerceCallFailed as exc:
                failure = exc
            delay = client.retry.next_delay(attempt, failure.status, client.rng)
            if delay is None:
                raise _failed(failure, attempt)
            log.info("commerce_product_retrying", commerce_sku=request.commerce_sku, attempt=attempt,
                     code=failure.fields["code"], delay_s=round(delay, 3))
            await self.sleep(delay)
            existing = await self._find(client, request.commerce_sku)  # the lost answer may have been a success
            if existing is not None:
                return self._written("created", body, existing)

    async def update(self, request: CommerceProductRequested) -> Outcome:
        """The given fields and attribute values written into the existing product."""
        try:
            domain.update_payload(request, self.base_currency)
        except domain.InvalidProductRequest as exc:
            raise _refusal("PUT /V1/products/{sku}", exc.code, str(exc)) from exc
        client = self.client.for_store(request.store_code)
        current = await self._find(client, request.commerce_sku)
        if current is None:
            raise _refusal("PUT /V1/products/{sku}", str(NOT_FOUND),
                           f"no such product: {request.commerce_sku} is not in Commerce")
        body = domain.update_payload(request, self.base_currency, current)
        try:
            updated = domain.found_product(await client.update_product(request.commerce_sku, body))
        except CommerceCallFailed as exc:
            raise _failed(exc) from exc
        return self._written("updated", body, updated)

    @staticmethod
    def _written(kind: str, body: Json, stored: domain.FoundProduct) -> Outcome:
        return Outcome(kind, stored.id, domain.unstored_note(domain.unstored_attributes(body, stored)))

    async def _find(self, client: CommerceClient, sku: str) -> domain.FoundProduct | None:
        try:
            return domain.found_product(await client.get_product(sku))
        except CommerceCallFailed as exc:
            if exc.status == NOT_FOUND:
                return None
            raise _failed(exc) from exc

    # ------------------------------------------------------------ recording

    async def _settle(self, conn: asyncpg.Connection, claim: uuid.UUID, request: CommerceProductRequested,
                      outcome: Outcome) -> Event | None:
        """The row's new status and the one event that answers it; None when the row is no longer under this
        claim (another sender answers it)."""
        row = await conn.fetchrow(
            "UPDATE product_requests SET status = $3, outcome = $4, commerce_product_id = COALESCE($5, "
            "commerce_product_id), last_error = $6, note = $7, claim = NULL, claimed_until = NULL, "
            "updated_at = now() WHERE request_id = $1 AND claim = $2 RETURNING request_id",
            request.event_id, claim, outcome.status, outcome.kind, outcome.product_id, outcome.error, outcome.note)
        if row is None:
            return None
        PRODUCTS_ANSWERED.labels(self.producer, outcome.kind).inc()
        common: Json = {"producer": self.producer, "caused_by": request, "account_id": request.account_id,
                        "marketplace_id": request.marketplace_id}
        f = outcome.failure
        if outcome.kind == "unreachable":
            log.warning("commerce_product_unreachable", commerce_sku=request.commerce_sku,
                        operation=f["operation"], code=f["code"])
            return CommunicationError.new(**common, system="commerce", operation=f["operation"], code=f["code"],
                                          message=f["message"], attempts=f["attempts"],
                                          request_ref=str(request.event_id))
        if f:
            log.warning("commerce_product_refused", commerce_sku=request.commerce_sku, operation=f["operation"],
                        code=f["code"])
            return CommerceProductResult.new(**common, sku=request.sku, request_event_id=request.event_id,
                                             commerce_sku=request.commerce_sku, outcome="failed",
                                             code=f["code"], message=f["message"])
        if outcome.note:
            log.warning("commerce_attributes_not_stored", commerce_sku=request.commerce_sku, note=outcome.note)
        log.info("commerce_product_answered", commerce_sku=request.commerce_sku, outcome=outcome.kind,
                 commerce_product_id=outcome.product_id)
        return CommerceProductResult.new(**common, sku=request.sku, request_event_id=request.event_id,
                                         commerce_sku=request.commerce_sku, outcome=outcome.kind,
                                         commerce_product_id=outcome.product_id, message=outcome.note)


async def replay_failed(conn: asyncpg.Connection | asyncpg.Pool, request_ids: Sequence[UUID] | None = None,
                        commerce_skus: Sequence[str] | None = None) -> int:
    """Failed requests (refused or unreachable) back to pending, all or those named by event id or SKU; a create
    looks the product up again first."""
    status = await conn.execute(
        "UPDATE product_requests SET status = 'pending', claim = NULL, claimed_until = NULL, updated_at = now() "
        "WHERE status = 'failed' AND ($1::uuid[] IS NULL OR request_id = ANY($1)) "
        "AND ($2::text[] IS NULL OR commerce_sku = ANY($2))",
        list(request_ids) if request_ids else None, list(commerce_skus) if commerce_skus else None)
    return int(status.split()[-1])


async def request_state(pool: asyncpg.Pool, request_id: UUID) -> Json | None:
    row = await pool.fetchrow(
        "SELECT request_id, commerce_sku, action, account_id, marketplace_id, sku, store_code, status, outcome, "
        "commerce_product_id, attempts, duplicates, last_error, note, received_at, updated_at "
        "FROM product_requests WHERE request_id = $1", request_id)
    if row is None:
        return None
    out = dict(row)
    out["request_id"] = str(out["request_id"])
    out["received_at"] = out["received_at"].isoformat()
    out["updated_at"] = out["updated_at"].isoformat()
    return out


# ---------------------------------------------------------------- wiring


class ReplayProducts(BaseModel):
    request_ids: list[UUID] | None = Field(
        default=None, max_length=1000, description="Only these requests (CommerceProductRequested event ids)")
    commerce_skus: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=1000, description="Only the requests of these Commerce SKUs")


def attach(service: Service[Any], sender: ProductSender, *, topic: Topic) -> None:
    """Consume product requests; work them in the background; replay failed ones on request."""
    async def run() -> None:
        sender.pool = service.pool
        await sender.run()

    service.subscribe(topic, on_product_requests)
    service.background("product-sender", run)
    service.include_router(_router(service))
    service.product_sender = sender  # type: ignore[attr-defined]


def _router(service: Service[Any]) -> APIRouter:
    router = APIRouter(tags=["products"])

    @router.post("/replay/products")
    async def replay_products(body: ReplayProducts | None = None,
                              caller: Principal = requires(Scope.OPERATE)) -> dict[str, Any]:
        """Put failed product requests (refused by Commerce or unreachable) back to work; a create looks the SKU
        up in Commerce first, so a replay never makes a second product."""
        ids = body.request_ids if body else None
        skus = body.commerce_skus if body else None
        target = "products " + (",".join([*map(str, ids or []), *(skus or [])]) or "*")

        async def work(conn: Any) -> dict[str, Any]:
            return {"replayed": await replay_failed(conn, ids, skus)}
        return await audit.act(service, caller, "replay.commerce_products", target, work)

    @router.get("/products/requests/{request_id}", dependencies=[requires(Scope.READ)])
    async def product_request(request_id: UUID) -> dict[str, Any]:
        """One product request: action, status, outcome, the Commerce product id, attempts, the last error."""
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        state = await request_state(service.pool, request_id)
        if state is None:
            raise ProblemError(404, f"no product request {request_id}")
        return state

    return router
