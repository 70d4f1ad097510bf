"""Orders out: each CommerceOrderRequested becomes one Commerce order, never two.

The consumer only stores the request in `order_requests` (one row per Amazon order) in its transaction. A
sender claims open rows in a short transaction, talks to Commerce with no transaction open, and records the
outcome with its event in a second one, while the row is still under its claim:

- the Amazon order id is looked up first (`ext_order_id`): an order that exists, because the request came
  twice, because an earlier answer was lost after Commerce committed, or because a sender died mid-call,
  is answered as created and not made again;
- when the request asks for a customer, the customer of that email on the store's website is found or
  created, under a PostgreSQL advisory lock on the email so that two orders never create it twice;
- `POST /V1/orders` and `POST /V1/customers` are never repeated blindly: after a failure worth another try
  the gateway waits (the client's backoff) and looks again before sending again.

Every request gets one answer through the outbox: CommerceOrderCreated, CommerceOrderFailed with Commerce's
message when Commerce refuses, or a CommunicationError when Commerce cannot be reached after the retries.
The last two leave the row `failed` until `POST /replay/orders`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from prometheus_client import Counter

from commerce_gateway.client import CommerceCallFailed, CommerceClient
from commerce_gateway.domain import orders as domain
from commerce_gateway.domain.retry import retryable
from contracts import Event, decode, encode
from contracts.events import CommerceOrderCreated, CommerceOrderFailed, CommerceOrderRequested, CommunicationError
from servicekit import Tx, outbox
from servicekit.logging import get_logger

log = get_logger(component="orders-out")

ORDERS_ANSWERED = Counter(
    "saleschannel_commerce_orders_total", "Order requests answered, by outcome (created, found, refused, "
    "unreachable)", ["service", "outcome"])
INVOICES = Counter(
    "saleschannel_commerce_invoices_total", "Merchant-fulfilled orders invoiced on import, or left uninvoiced",
    ["service", "outcome"])

Json = dict[str, Any]
REQUEST_TYPES = frozenset({"CommerceOrderRequested"})


# ---------------------------------------------------------------- consuming


async def on_order_requests(tx: Tx, events: list[CommerceOrderRequested]) -> None:
    """Keep every request durably, one row per Amazon order: a repeat of a pending, sending or done order is
    counted and ignored; a repeat of a failed one is worked again."""
    first: dict[str, CommerceOrderRequested] = {}
    repeats: dict[str, int] = {}
    for e in events:
        if e.amazon_order_id in first:
            repeats[e.amazon_order_id] = repeats.get(e.amazon_order_id, 0) + 1
        first.setdefault(e.amazon_order_id, e)
    batch = list(first.values())
    await tx.conn.execute(
        """
        INSERT INTO order_requests (amazon_order_id, request_id, account_id, marketplace_id, store_code, request,
                                    duplicates)
        SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::int[])
        ON CONFLICT (amazon_order_id) DO UPDATE SET
            request_id = CASE WHEN order_requests.status = 'failed' THEN EXCLUDED.request_id
                              ELSE order_requests.request_id END,
            request = CASE WHEN order_requests.status = 'failed' THEN EXCLUDED.request ELSE order_requests.request END,
            store_code = CASE WHEN order_requests.status = 'failed' THEN EXCLUDED.store_code
                              ELSE order_requests.store_code END,
            status = CASE WHEN order_requests.status = 'failed' THEN 'pending' ELSE order_requests.status END,
            duplicates = order_requests.duplicates + 1 + EXCLUDED.duplicates,
            updated_at = now()
        """,
        [e.amazon_order_id for e in batch], [e.event_id for e in batch], [e.account_id for e in batch],
        [e.marketplace_id for e in batch], [e.store_code for e in batch], [encode(e) for e in batch],
        [repeats.get(e.amazon_order_id, 0) for e in batch])


# ---------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    kind: str  # created | found | refused | unreachable
    order: domain.CreatedOrder | None = None
    customer_id: int | None = None
    failure: Json = field(default_factory=dict)  # operation, code, message, attempts
    remark: str | None = None  # what went wrong after the order was made (it was not invoiced)

    @property
    def status(self) -> str:
        return "done" if self.kind in ("created", "found") else "failed"

    @property
    def note(self) -> str | None:
        return f"{self.failure['code']}: {self.failure['message']}" if self.failure else self.remark


class _Unreachable(Exception):
    def __init__(self, fields: Json) -> None:
        super().__init__(fields["message"])
        self.fields = fields


class _Refused(Exception):
    def __init__(self, fields: Json) -> None:
        super().__init__(fields["message"])
        self.fields = fields


def _refusal(operation: str, code: str, message: str) -> _Refused:
    return _Refused({"operation": operation, "code": code, "message": message, "attempts": 1})


def _failed(exc: CommerceCallFailed) -> Exception:
    return _Unreachable(exc.fields) if retryable(exc.status) else _Refused(exc.fields)


# ---------------------------------------------------------------- sending


class OrderSender:
    """Claims open rows in a short transaction, talks to Commerce outside any, records the outcome in another."""

    def __init__(
        self, *, pool: asyncpg.Pool | None, schema: str, producer: str, client: CommerceClient,
        options: domain.OrderOptions = domain.OrderOptions(), batch_size: int = 20, concurrency: int = 4,
        idle_s: float = 0.5, lease_s: float = 300.0,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.pool: Any = pool  # set by the service once it has started
        self.schema = schema
        self.producer = producer
        self.client = client
        self.options = options
        self.batch_size = batch_size
        self.idle_s = idle_s
        self.lease = timedelta(seconds=lease_s)
        self.sleep = sleep or client.sleep
        self._slots = asyncio.Semaphore(concurrency)
        self._stores: dict[str, domain.StoreView] = {}
        self._email_locks: dict[str, asyncio.Lock] = {}

    async def run(self) -> None:
        """Work open rows for the service's lifetime; nothing Commerce answers stops it."""
        while True:
            try:
                worked = await self.send_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: try again shortly
                log.warning("order_sender_failed", error=repr(exc))
                worked = 0
            if not worked:
                await asyncio.sleep(self.idle_s)

    async def send_once(self) -> int:
        """Claim open rows (pending, or sending under a claim that ran out), create their orders, record them."""
        claim = uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE order_requests SET status = 'sending', claim = $1, claimed_until = now() + $2::interval, "
                "attempts = attempts + 1, updated_at = now() WHERE amazon_order_id IN (SELECT amazon_order_id "
                "FROM order_requests WHERE status = 'pending' OR (status = 'sending' AND claimed_until < now()) "
                "ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING request",
                claim, self.lease, self.batch_size)
        if not rows:
            return 0
        requests: list[CommerceOrderRequested] = [decode(bytes(r["request"]), REQUEST_TYPES)  # type: ignore[misc]
                                                  for r in rows]
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
        """Renew the claim while its requests are being worked, so that no other sender takes them over and sends
        an order a second time; only a sender that died lets its claim run out."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                await self.pool.execute(
                    "UPDATE order_requests SET claimed_until = now() + $2::interval "
                    "WHERE claim = $1 AND status = 'sending'", claim, self.lease)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("order_claim_renewal_failed", error=repr(exc))

    async def _guarded(self, request: CommerceOrderRequested) -> Outcome:
        async with self._slots:
            try:
                outcome = await self.create(request)
            except _Refused as exc:
                return Outcome("refused", failure=exc.fields)
            except _Unreachable as exc:
                return Outcome("unreachable", failure=exc.fields)
            if outcome.order is not None and domain.wants_invoice(request, outcome.order, self.options):
                outcome.remark = await self._invoice(request, outcome.order)
            return outcome

    async def _invoice(self, request: CommerceOrderRequested, order: domain.CreatedOrder) -> str | None:
        """Invoice the order once; after a lost answer look at the order again instead of invoicing blindly. The
        order stands whatever happens here: a refusal or an unreachable Commerce is a remark on the request (an
        admin can invoice it), never a failed import."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.client.invoice_order(order.entity_id, domain.invoice_payload())
                INVOICES.labels(self.producer, "invoiced").inc()
                return None
            except CommerceCallFailed as exc:
                failure = exc
            delay = self.client.retry.next_delay(attempt, failure.status, self.client.rng)
            if delay is None:
                INVOICES.labels(self.producer, "not_invoiced").inc()
                log.warning("commerce_order_not_invoiced", order=request.amazon_order_id, code=failure.fields["code"],
                            attempts=attempt)
                return f"not invoiced: {failure.fields['code']}: {failure.fields['message']}"
            await self.sleep(delay)
            try:
                again = await self._find_order(request.amazon_order_id)
            except (_Refused, _Unreachable):
                continue
            if again is None or not again.to_invoice:
                INVOICES.labels(self.producer, "invoiced").inc()
                return None

    async def create(self, request: CommerceOrderRequested) -> Outcome:
        """The request's order: found by its Amazon order id, else created (with its customer when asked)."""
        try:
            domain.order_lines(request)
        except domain.InvalidOrderRequest as exc:
            raise _refusal("POST /V1/orders", "InvalidOrderRequest", str(exc)) from exc
        existing = await self._find_order(request.amazon_order_id)
        if existing is not None:
            return Outcome("found", existing)
        store = await self._store(request.store_code)
        customer = await self._customer(request, store) if domain.wants_customer(request) else None
        try:
            payload = domain.order_payload(request, store, customer, self.options)
        except domain.InvalidOrderRequest as exc:
            raise _refusal("POST /V1/orders", "InvalidOrderRequest", str(exc)) from exc
        attempt = 0
        while True:
            attempt += 1
            try:
                body = await self.client.create_order(payload)
                return Outcome("created", domain.created_order(body), customer.id if customer else None)
            except CommerceCallFailed as exc:
                failure = exc
            delay = self.client.retry.next_delay(attempt, failure.status, self.client.rng)
            if delay is None:
                if retryable(failure.status):
                    raise _Unreachable({**failure.fields, "attempts": attempt})
                raise _Refused(failure.fields)
            log.info("commerce_order_retrying", order=request.amazon_order_id, attempt=attempt,
                     code=failure.fields["code"], delay_s=round(delay, 3))
            await self.sleep(delay)
            existing = await self._find_order(request.amazon_order_id)  # the lost answer may have been a success
            if existing is not None:
                return Outcome("found", existing, customer.id if customer else None)

    async def _find_order(self, amazon_order_id: str) -> domain.CreatedOrder | None:
        try:
            found = await self.client.search_orders(domain.AMAZON_ORDER_FIELD, amazon_order_id)
        except CommerceCallFailed as exc:
            raise _failed(exc) from exc
        return domain.find_order(found, amazon_order_id)

    async def _store(self, code: str) -> domain.StoreView:
        if code not in self._stores:
            try:
                self._stores = domain.store_views(await self.client.store_views())
            except CommerceCallFailed as exc:
                raise _failed(exc) from exc
        if code not in self._stores:
            raise _refusal("GET /V1/store/storeViews", "UnknownStoreView", f"store view {code} does not exist")
        return self._stores[code]

    async def _customer(self, request: CommerceOrderRequested, store: domain.StoreView) -> domain.Customer:
        """Find the customer of the email on the store's website, or create it, one creator per email at a time."""
        email = str(request.customer_email)
        key = f"commerce-customer:{store.website_id}:{email.casefold()}"
        local = self._email_locks.setdefault(key, asyncio.Lock())  # one connection per email and process
        try:
            async with local, self.pool.acquire() as conn:  # the advisory lock covers the other replicas
                await conn.execute("SELECT pg_advisory_lock(hashtext($1))", key)
                try:
                    return await self._find_or_create_customer(request, store, email)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)
        finally:
            if not local.locked() and self._email_locks.get(key) is local:
                del self._email_locks[key]

    async def _find_customer(self, email: str, store: domain.StoreView) -> domain.Customer | None:
        try:
            return domain.find_customer(await self.client.search_customers(email), email, store.website_id)
        except CommerceCallFailed as exc:
            raise _failed(exc) from exc

    async def _find_or_create_customer(self, request: CommerceOrderRequested, store: domain.StoreView,
                                       email: str) -> domain.Customer:
        found = await self._find_customer(email, store)
        if found is not None:
            return found
        payload = domain.customer_payload(request, store)
        attempt = 0
        while True:
            attempt += 1
            try:
                body = await self.client.create_customer(payload)
                log.info("commerce_customer_created", order=request.amazon_order_id, customer_id=body["id"])
                return domain.Customer(int(body["id"]), str(body.get("firstname") or ""),
                                       str(body.get("lastname") or ""),
                                       int(body.get("group_id") or domain.GENERAL_GROUP_ID))
            except CommerceCallFailed as exc:
                failure = exc
            found = await self._find_customer(email, store)  # created after all, or by someone else meanwhile
            if found is not None:
                return found
            delay = self.client.retry.next_delay(attempt, failure.status, self.client.rng)
            if delay is None:
                if retryable(failure.status):
                    raise _Unreachable({**failure.fields, "attempts": attempt})
                raise _Refused(failure.fields)
            await self.sleep(delay)

    # ------------------------------------------------------------ recording

    async def _settle(self, conn: asyncpg.Connection, claim: uuid.UUID, request: CommerceOrderRequested,
                      outcome: Outcome) -> Event | None:
        """The row's new status and the one event that answers it; None when the row is no longer under this
        claim (another sender answers it)."""
        order = outcome.order
        row = await conn.fetchrow(
            "UPDATE order_requests SET status = $3, outcome = $4, commerce_order_id = $5, increment_id = $6, "
            "customer_id = COALESCE($7, customer_id), last_error = $8, claim = NULL, claimed_until = NULL, "
            "updated_at = now() WHERE amazon_order_id = $1 AND claim = $2 RETURNING amazon_order_id",
            request.amazon_order_id, claim, outcome.status, outcome.kind, order.entity_id if order else None,
            order.increment_id if order else None,
            str(outcome.customer_id) if outcome.customer_id is not None else None, outcome.note)
        if row is None:
            return None
        ORDERS_ANSWERED.labels(self.producer, outcome.kind).inc()
        common = {"producer": self.producer, "caused_by": request, "account_id": request.account_id,
                  "marketplace_id": request.marketplace_id}
        if order is not None:
            log.info("commerce_order_answered", order=request.amazon_order_id, outcome=outcome.kind,
                     commerce_order_id=order.entity_id)
            return CommerceOrderCreated.new(**common, amazon_order_id=request.amazon_order_id, created=True,
                                            commerce_order_id=order.entity_id, increment_id=order.increment_id)
        f = outcome.failure
        log.warning("commerce_order_failed", order=request.amazon_order_id, outcome=outcome.kind,
                    operation=f["operation"], code=f["code"])
        if outcome.kind == "refused":
            return CommerceOrderFailed.new(**common, amazon_order_id=request.amazon_order_id,
                                           store_code=request.store_code, request_event_id=request.event_id,
                                           operation=f["operation"], code=f["code"], message=f["message"])
        return CommunicationError.new(**common, system="commerce", operation=f["operation"], code=f["code"],
                                      message=f["message"], attempts=f["attempts"],
                                      request_ref=str(request.event_id))


async def replay_failed(conn: asyncpg.Connection | asyncpg.Pool, amazon_order_ids: Sequence[str] | None = None
                        ) -> int:
    """Failed requests (refused or unreachable) back to pending; the sender looks each order up again first."""
    status = await conn.execute(
        "UPDATE order_requests SET status = 'pending', claim = NULL, claimed_until = NULL, updated_at = now() "
        "WHERE status = 'failed' AND ($1::text[] IS NULL OR amazon_order_id = ANY($1))",
        list(amazon_order_ids) if amazon_order_ids else None)
    return int(status.split()[-1])


async def request_state(pool: asyncpg.Pool, amazon_order_id: str) -> Json | None:
    row = await pool.fetchrow(
        "SELECT amazon_order_id, request_id, account_id, marketplace_id, store_code, status, outcome, "
        "commerce_order_id, increment_id, customer_id, attempts, duplicates, last_error, received_at, updated_at "
        "FROM order_requests WHERE amazon_order_id = $1", amazon_order_id)
    if row is None:
        return None
    out = dict(row)
    out["request_id"] = str(out["request_id"])
    out["received_at"] = out["received_at"].isoformat()
    out["updated_at"] = out["updated_at"].isoformat()
    return out
