"""Amazon orders in, Commerce order requests and stock reservations out.

Every handler locks the orders it touches (in key order), changes them in memory with the domain's rules, decides
each open one again (`Importer.reconsider`) and writes rows, notes, buyer data and events in the consumer's
transaction, so one order's state, its CommerceOrderRequested and its StockReservationChanged commit together with
the inbox entry of the event that caused them. A request is emitted only by the move of an order from waiting or
blocked to requested, which happens once (a retry after Commerce refused is the operator's or the address edit's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from contracts import Event
from contracts.events import (
    Address,
    CommerceOrderCancelled,
    CommerceOrderCreated,
    CommerceOrderFailed,
    CommerceOrderRequested,
    CommunicationError,
    FulfillmentBy,
    ListingChanged,
    OrderLine,
    OrderPlaced,
    OrderStatusChanged,
    ProductChanged,
    ProductStatus,
    StockReservationChanged,
)
from contracts.money import Money
from order_import.buyers import BuyerData, BuyerDataUnreadable, BuyerVault
from order_import.domain.address import AddressProblem, normalise
from order_import.domain.importing import (
    OPEN,
    Catalog,
    Decision,
    ImportState,
    Order,
    Product,
    decide,
    product_key,
    reservation,
)
from order_import.domain.lifecycle import TERMINAL, AmazonStatus, advance, known
from order_import.domain.settings import OrderSettings
from order_import.settings import store_settings
from servicekit import Tx
from servicekit import outbox as servicekit_outbox
from servicekit.config import ConfigRegistry
from servicekit.logging import get_logger

log = get_logger(component="importer")

SETTLED = frozenset({AmazonStatus.SHIPPED, AmazonStatus.COMPLETED, *TERMINAL})
"""Amazon statuses after which the buyer data is kept only for the retention (spec: shipped or cancelled)."""

_COLUMNS = (
    "amazon_order_id, account_id, marketplace_id, fulfillment, purchase_date, amazon_status, status_at, currency, "
    "order_total, lines::text AS lines, import_state, note, store_code, request_event_id, requests, "
    "commerce_order_id, increment_id, attempts, next_attempt_at, watch, reserved::text AS reserved, "
    "reservation_version")


@dataclass
class Row:
    """One `orders` row as the importer changes it."""

    amazon_order_id: str
    account_id: str
    marketplace_id: str
    amazon_status: str
    status_at: datetime
    fulfillment: FulfillmentBy | None = None
    purchase_date: datetime | None = None
    currency: str | None = None
    order_total: Decimal | None = None
    lines: tuple[OrderLine, ...] = ()
    import_state: ImportState = ImportState.WAITING
    note: str | None = None
    store_code: str | None = None
    request_event_id: uuid.UUID | None = None
    requests: int = 0
    commerce_order_id: str | None = None
    increment_id: str | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    watch: tuple[str, ...] = ()
    reserved: dict[str, int] = field(default_factory=dict)
    reservation_version: int = 0
    new: bool = False
    notes: list[tuple[str, str]] = field(default_factory=list)
    changed: bool = False

    @classmethod
    def of(cls, r: Mapping[str, Any]) -> Row:
        return cls(
            amazon_order_id=r["amazon_order_id"], account_id=r["account_id"], marketplace_id=r["marketplace_id"],
            amazon_status=r["amazon_status"], status_at=r["status_at"],
            fulfillment=FulfillmentBy(r["fulfillment"]) if r["fulfillment"] else None,
            purchase_date=r["purchase_date"], currency=r["currency"], order_total=r["order_total"],
            lines=tuple(OrderLine.model_validate(x) for x in json.loads(r["lines"])),
            import_state=ImportState(r["import_state"]), note=r["note"], store_code=r["store_code"],
            request_event_id=r["request_event_id"], requests=r["requests"],
            commerce_order_id=r["commerce_order_id"], increment_id=r["increment_id"], attempts=r["attempts"],
            next_attempt_at=r["next_attempt_at"], watch=tuple(r["watch"]),
            reserved=json.loads(r["reserved"]), reservation_version=r["reservation_version"])

    @property
    def order(self) -> Order:
        return Order(self.amazon_order_id, self.account_id, self.marketplace_id, self.amazon_status,
                     self.import_state, self.fulfillment, self.purchase_date, self.lines)

    def add_note(self, kind: str, note: str) -> None:
        self.notes.append((kind, note))
        self.note = note
        self.changed = True


UNREADABLE = AddressProblem("unreadable", "the buyer data cannot be opened with the configured keys")


async def readable_buyers(vault: BuyerVault, conn: asyncpg.Connection, amazon_order_ids: Sequence[str]
                          ) -> tuple[dict[str, BuyerData], set[str]]:
    """The buyer data of these orders that opens, and the orders whose data does not (sealed with a key no longer
    configured, or altered): those are left out instead of failing the others."""
    try:
        return await vault.load_many(conn, amazon_order_ids), set()
    except BuyerDataUnreadable:
        found: dict[str, BuyerData] = {}
        unreadable: set[str] = set()
        for order_id in amazon_order_ids:
            try:
                data = await vault.load(conn, order_id)
            except BuyerDataUnreadable as exc:
                log.warning("buyer_data_unreadable", order=order_id, key_id=exc.key_id)
                unreadable.add(order_id)
                continue
            if data is not None:
                found[order_id] = data
        return found, unreadable


async def lock(conn: asyncpg.Connection, amazon_order_ids: Iterable[str]) -> dict[str, Row]:
    """The orders that exist among these, locked for this transaction, in key order (no deadlock between
    handlers)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM orders WHERE amazon_order_id = ANY($1::text[]) "
        "ORDER BY amazon_order_id FOR UPDATE", sorted(set(amazon_order_ids)))
    return {r["amazon_order_id"]: Row.of(r) for r in rows}


_UPSERT = """
INSERT INTO orders (amazon_order_id, account_id, marketplace_id, fulfillment, purchase_date, amazon_status, status_at,
                    currency, order_total, lines, import_state, note, store_code, request_event_id, requests,
                    commerce_order_id, increment_id, attempts, next_attempt_at, watch, reserved, reservation_version)
SELECT o.id, o.acct, o.mkt, o.ful, o.pd, o.st, o.sa, o.cur, o.tot, o.lines::jsonb, o.imp, o.note, o.store, o.req,
       o.reqs, o.coid, o.inc, o.att, o.nxt, ARRAY(SELECT jsonb_array_elements_text(o.watch::jsonb)),
       o.res::jsonb, o.rv
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::timestamptz[],
              $8::text[], $9::numeric[], $10::text[], $11::text[], $12::text[], $13::text[], $14::uuid[], $15::int[],
              $16::text[], $17::text[], $18::int[], $19::timestamptz[], $20::text[], $21::text[], $22::int[])
       AS o(id, acct, mkt, ful, pd, st, sa, cur, tot, lines, imp, note, store, req, reqs, coid, inc, att, nxt, watch,
            res, rv)
ON CONFLICT (amazon_order_id) DO UPDATE SET
    fulfillment = EXCLUDED.fulfillment, purchase_date = EXCLUDED.purchase_date,
    amazon_status = EXCLUDED.amazon_status, status_at = EXCLUDED.status_at, currency = EXCLUDED.currency,
    order_total = EXCLUDED.order_total, lines = EXCLUDED.lines, import_state = EXCLUDED.import_state,
    note = EXCLUDED.note, store_code = EXCLUDED.store_code, request_event_id = EXCLUDED.request_event_id,
    requests = EXCLUDED.requests, commerce_order_id = EXCLUDED.commerce_order_id,
    increment_id = EXCLUDED.increment_id, attempts = EXCLUDED.attempts, next_attempt_at = EXCLUDED.next_attempt_at,
    watch = EXCLUDED.watch, reserved = EXCLUDED.reserved, reservation_version = EXCLUDED.reservation_version,
    updated_at = now()
"""


async def save(conn: asyncpg.Connection, rows: Iterable[Row]) -> None:
    """Write the changed rows and their new notes (one statement each)."""
    rows = [r for r in rows if r.changed or r.new]
    if not rows:
        return
    cols: list[list[Any]] = [[] for _ in range(22)]
    for r in rows:
        for i, value in enumerate((
                r.amazon_order_id, r.account_id, r.marketplace_id, r.fulfillment.value if r.fulfillment else None,
                r.purchase_date, r.amazon_status, r.status_at, r.currency, r.order_total,
                json.dumps([x.model_dump(mode="json") for x in r.lines]), r.import_state.value, r.note, r.store_code,
                r.request_event_id, r.requests, r.commerce_order_id, r.increment_id, r.attempts, r.next_attempt_at,
                json.dumps(list(r.watch)), json.dumps(r.reserved, sort_keys=True), r.reservation_version)):
            cols[i].append(value)
    await conn.execute(_UPSERT, *cols)
    notes = [(r.amazon_order_id, kind, note) for r in rows for kind, note in r.notes]
    if notes:
        await conn.execute(
            "INSERT INTO order_notes (amazon_order_id, kind, note) SELECT * FROM unnest($1::text[], $2::text[], "
            "$3::text[])", [n[0] for n in notes], [n[1] for n in notes], [n[2] for n in notes])
    for r in rows:
        r.notes.clear()
        r.changed = r.new = False


@dataclass
class Importer:
    """Decides orders; `producer` names the service on the events, `vault` keeps the buyer data."""

    producer: str
    registry: ConfigRegistry
    vault: BuyerVault
    blocked_retry: timedelta = timedelta(minutes=5)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    on_commerce_cancelled: Callable[[Tx, list[CommerceOrderCancelled]], Any] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    # ------------------------------------------------------------ handlers

    async def on_amazon_orders(self, tx: Tx, events: list[OrderPlaced | OrderStatusChanged]) -> None:
        rows = await lock(tx.conn, (e.amazon_order_id for e in events))
        causes: dict[str, Event] = {}
        revealed: dict[str, dict[str, Any]] = {}
        settled: dict[str, datetime] = {}
        for event in events:
            row = rows.get(event.amazon_order_id)
            row = self._placed(row, event) if isinstance(event, OrderPlaced) else self._status(row, event)
            rows[row.amazon_order_id] = row
            causes[row.amazon_order_id] = event
            if row.import_state in OPEN and (event.buyer_email is not None or event.shipping_address is not None):
                shown = revealed.setdefault(row.amazon_order_id, {})
                if event.buyer_email is not None:
                    shown["email"] = event.buyer_email
                if event.shipping_address is not None:
                    shown["address"] = event.shipping_address
                    if event.shipping_address.name:
                        shown["name"] = event.shipping_address.name
            if row.amazon_status in SETTLED:
                settled.setdefault(row.amazon_order_id, row.status_at)
        buyers: dict[str, BuyerData] = {}
        if revealed:
            stored, _ = await readable_buyers(self.vault, tx.conn, list(revealed))
            buyers = {i: (stored.get(i) or BuyerData()).model_copy(update=shown) for i, shown in revealed.items()}
            await self.vault.store_many(tx.conn, buyers)
        for order_id, at in settled.items():
            await self.vault.settle(tx.conn, order_id, at)
        await self.reconsider(tx.conn, list(rows.values()), tx.emit, causes, buyers)

    def _placed(self, row: Row | None, e: OrderPlaced) -> Row:
        status = e.order_status if known(e.order_status) else AmazonStatus.PENDING
        total = e.order_total
        if row is None:
            row = Row(e.amazon_order_id, e.account_id, e.marketplace_id, status, e.purchase_date, new=True)
            row.notes.append(("amazon", f"placed on Amazon ({e.fulfillment.value}, {status})"))
        elif row.purchase_date is None:
            row.amazon_status = advance(status, row.amazon_status)
            row.add_note("amazon", f"placed on Amazon ({e.fulfillment.value}, {row.amazon_status})")
        else:
            self._advance(row, e.order_status, e.purchase_date)
            if row.import_state not in OPEN:
                if tuple(e.lines) != row.lines:
                    row.add_note("amazon", "OrderPlaced repeated with other items after the order was requested: "
                                 "ignored")
                return row
        row.fulfillment, row.purchase_date, row.lines = e.fulfillment, e.purchase_date, tuple(e.lines)
        row.currency, row.order_total = (total.currency, total.amount) if total else (None, None)
        row.changed = True
        return row

    def _status(self, row: Row | None, e: OrderStatusChanged) -> Row:
        if row is None:
            status = e.order_status if known(e.order_status) else AmazonStatus.PENDING
            row = Row(e.amazon_order_id, e.account_id, e.marketplace_id, status, e.last_update_date, new=True)
            row.notes.append(("amazon", f"Amazon status {e.order_status} heard before the order itself"))
            return row
        self._advance(row, e.order_status, e.last_update_date)
        return row

    def _advance(self, row: Row, status: str, at: datetime) -> None:
        new = advance(row.amazon_status, status)
        if not known(status):
            row.add_note("amazon", f"unknown Amazon status {status!r} ignored")
        if new != row.amazon_status:
            row.amazon_status, row.status_at = new, max(at, row.status_at)
            row.add_note("amazon", f"Amazon status {new}")

    async def on_commerce_orders(
            self, tx: Tx, events: list[CommerceOrderCreated | CommerceOrderFailed | CommerceOrderCancelled]) -> None:
        rows = await lock(tx.conn, (e.amazon_order_id for e in events))
        touched: list[Row] = []
        cancelled: list[CommerceOrderCancelled] = []
        for event in events:
            row = rows.get(event.amazon_order_id)
            if isinstance(event, CommerceOrderCancelled):
                cancelled.append(event)
            if row is None:
                log.warning("commerce_answer_for_unknown_order", order=event.amazon_order_id,
                            event_type=event.event_type)
                continue
            if isinstance(event, CommerceOrderCreated) and event.created:
                if row.import_state is not ImportState.CREATED:
                    row.import_state = ImportState.CREATED
                    row.commerce_order_id, row.increment_id = event.commerce_order_id, event.increment_id
                    row.next_attempt_at, row.watch = None, ()
                    row.add_note("commerce", f"created in Commerce: order #{event.increment_id} "
                                             f"(id {event.commerce_order_id})")
            elif isinstance(event, CommerceOrderCreated | CommerceOrderFailed):
                refused = isinstance(event, CommerceOrderFailed)
                answers = (event.request_event_id == row.request_event_id) if refused else True
                if row.import_state is ImportState.REQUESTED and answers:
                    row.import_state = ImportState.FAILED
                    message = event.message if isinstance(event, CommerceOrderFailed) else event.error
                    row.add_note("error", f"Commerce refused the order: {message or 'no reason given'}")
            else:
                number = event.increment_id or event.commerce_order_id
                row.add_note("commerce", f"cancelled in Commerce (order #{number})")
            touched.append(row)
        await self.reconsider(tx.conn, touched, tx.emit, {e.amazon_order_id: e for e in events})
        if cancelled and self.on_commerce_cancelled is not None:
            await self.on_commerce_cancelled(tx, cancelled)

    async def on_communication_errors(self, tx: Tx, events: list[CommunicationError]) -> None:
        """Commerce could not be reached for a request (commerce-gateway gave up and keeps it for replay): the
        import is an order error with the retry action, as a refusal is."""
        refs: dict[uuid.UUID, CommunicationError] = {}
        for e in events:
            if e.system == "commerce" and e.request_ref:
                with contextlib.suppress(ValueError):
                    refs[uuid.UUID(e.request_ref)] = e
        if not refs:
            return
        ids = [r["amazon_order_id"] for r in await tx.conn.fetch(
            "SELECT amazon_order_id FROM orders WHERE import_state = 'requested' "
            "AND request_event_id = ANY($1::uuid[])", list(refs))]
        rows = [r for r in (await lock(tx.conn, ids)).values()
                if r.import_state is ImportState.REQUESTED and r.request_event_id in refs]
        for row in rows:
            e = refs[row.request_event_id]  # type: ignore[index]
            row.import_state = ImportState.FAILED
            row.add_note("error", f"Commerce unreachable ({e.operation}: {e.code} after {e.attempts} attempts): "
                                  f"{e.message}")
        await self.reconsider(tx.conn, rows, tx.emit, {r.amazon_order_id: refs[r.request_event_id]  # type: ignore[index]
                                                       for r in rows})

    async def on_products(self, tx: Tx, events: list[ProductChanged]) -> None:
        newest: dict[tuple[str, str], ProductChanged] = {}
        for e in events:
            key = (e.store_code, e.sku)
            if key not in newest or e.updated_at >= newest[key].updated_at:
                newest[key] = e
        changed = await tx.conn.fetch("""
            INSERT INTO products (store_code, sku, status, quantity, in_stock, manage_stock, updated_at)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bool[], $6::bool[],
                                 $7::timestamptz[])
            ON CONFLICT (store_code, sku) DO UPDATE SET status = EXCLUDED.status, quantity = EXCLUDED.quantity,
                in_stock = EXCLUDED.in_stock, manage_stock = EXCLUDED.manage_stock, updated_at = EXCLUDED.updated_at
             WHERE products.updated_at <= EXCLUDED.updated_at
            RETURNING store_code, sku""",
            [k[0] for k in newest], [k[1] for k in newest], [e.status.value for e in newest.values()],
            [e.quantity for e in newest.values()], [e.in_stock for e in newest.values()],
            [e.manage_stock for e in newest.values()], [e.updated_at for e in newest.values()])
        await self._watchers(tx, [product_key(r["store_code"], r["sku"]) for r in changed],
                             {product_key(*k): e for k, e in newest.items()})

    async def on_listings(self, tx: Tx, events: list[ListingChanged]) -> None:
        """The newest mapping of each listing kept; orders whose mapping changed are decided again: blocked ones
        waiting on it, and those whose reservation names it."""
        newest: dict[tuple[str, str, str], ListingChanged] = {}
        for e in events:
            key = (e.account_id, e.marketplace_id, e.sku)
            if key not in newest or e.version >= newest[key].version:
                newest[key] = e
        columns = ([k[0] for k in newest], [k[1] for k in newest], [k[2] for k in newest])
        before = {(r["account_id"], r["marketplace_id"], r["sku"]): r["product_sku"] for r in await tx.conn.fetch(
            "SELECT l.account_id, l.marketplace_id, l.sku, l.product_sku FROM listings l "
            "JOIN unnest($1::text[], $2::text[], $3::text[]) AS w(a, m, s) "
            "ON l.account_id = w.a AND l.marketplace_id = w.m AND l.sku = w.s FOR UPDATE OF l", *columns)}
        written = await tx.conn.fetch("""
            INSERT INTO listings (account_id, marketplace_id, sku, product_sku, version)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
            ON CONFLICT (account_id, marketplace_id, sku) DO UPDATE
               SET product_sku = EXCLUDED.product_sku, version = EXCLUDED.version
             WHERE listings.version < EXCLUDED.version
            RETURNING account_id, marketplace_id, sku, product_sku""",
            *columns, [e.product_sku for e in newest.values()], [e.version for e in newest.values()])
        keys = [(r["account_id"], r["marketplace_id"], r["sku"]) for r in written
                if (r["account_id"], r["marketplace_id"], r["sku"]) not in before
                or before[r["account_id"], r["marketplace_id"], r["sku"]] != r["product_sku"]]
        if not keys:
            return
        ids = [r["amazon_order_id"] for r in await tx.conn.fetch(
            "SELECT DISTINCT o.amazon_order_id FROM orders o, unnest($1::text[], $2::text[], $3::text[]) AS l(a, m, s) "
            "WHERE o.account_id = l.a AND o.marketplace_id = l.m AND ("
            "(o.import_state IN ('waiting', 'blocked') AND o.watch @> ARRAY['listing:' || l.s]) OR "
            "(o.import_state IN ('waiting', 'blocked', 'requested', 'failed') "
            "AND o.lines @> jsonb_build_array(jsonb_build_object('sku', l.s))))",
            [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])]
        if ids:
            rows = await lock(tx.conn, ids)
            await self.reconsider(tx.conn, list(rows.values()), tx.emit, {})

    async def _watchers(self, tx: Tx, keys: Sequence[str], causes: Mapping[str, Event]) -> None:
        if not keys:
            return
        rows = await tx.conn.fetch(
            "SELECT amazon_order_id, watch FROM orders WHERE import_state IN ('waiting', 'blocked') "
            "AND watch && $1::text[]", list(keys))
        by_order = {r["amazon_order_id"]: next((causes[k] for k in r["watch"] if k in causes), None) for r in rows}
        await self._decide_again(tx.conn, list(by_order), tx.emit,
                                 {k: v for k, v in by_order.items() if v is not None})

    async def _decide_again(self, conn: asyncpg.Connection, ids: Sequence[str], emit: Callable[[Event], None],
                            causes: Mapping[str, Event]) -> None:
        if ids:
            rows = await lock(conn, ids)
            await self.reconsider(conn, [r for r in rows.values() if r.import_state in OPEN], emit, causes)

    # ------------------------------------------------------------ deciding

    async def reconsider(self, conn: asyncpg.Connection, rows: Sequence[Row], emit: Callable[[Event], None],
                         causes: Mapping[str, Event], buyers: Mapping[str, BuyerData] | None = None) -> None:
        """Decide each order again, then write rows, notes, requests and reservations."""
        rows = list({r.amazon_order_id: r for r in rows}.values())  # an order touched by several events: once
        if not rows:
            return
        settings = await store_settings(conn, self.registry)
        catalogs = await self._catalogs(conn, rows, settings)
        decisions = {r.amazon_order_id: decide(r.order, settings.get((r.account_id, r.marketplace_id)),
                                               catalogs[r.amazon_order_id]) for r in rows}
        wanted = [i for i, d in decisions.items() if d.state is ImportState.REQUESTED]
        known_buyers = dict(buyers or {})
        missing = [i for i in wanted if i not in known_buyers]
        unreadable: set[str] = set()
        if missing:
            opened, unreadable = await readable_buyers(self.vault, conn, missing)
            known_buyers.update(opened)
        now = self.clock()
        requested = 0
        for row in rows:
            s = settings.get((row.account_id, row.marketplace_id))
            catalog = catalogs[row.amazon_order_id]
            decision = decisions[row.amazon_order_id]
            buyer = known_buyers.get(row.amazon_order_id)
            address = normalise(buyer.address) if buyer and buyer.address else None
            if decision.state is ImportState.REQUESTED:
                problem = UNREADABLE if row.amazon_order_id in unreadable else address.problem if address else None
                decision = decide(row.order, s, catalog, problem, has_email=bool(buyer and buyer.email))
            cause = causes.get(row.amazon_order_id)
            self._apply(row, decision, s, now)
            if decision.request is not None:
                assert s is not None and row.fulfillment is not None
                request = CommerceOrderRequested.new(
                    producer=self.producer, caused_by=cause, account_id=row.account_id,
                    marketplace_id=row.marketplace_id, amazon_order_id=row.amazon_order_id,
                    store_code=decision.request.store_code, commerce_status=decision.request.commerce_status,
                    fulfillment=row.fulfillment, lines=list(decision.request.lines),
                    order_total=Money(amount=row.order_total, currency=row.currency)
                    if row.order_total is not None and row.currency else None,
                    customer_email=buyer.email if buyer else None,
                    shipping_address=address.address if address else None,
                    create_customer=decision.request.create_customer, increment_id=decision.request.increment_id)
                row.request_event_id, row.requests = request.event_id, row.requests + 1
                emit(request)
                requested += 1
            reserved = reservation(row.order, row.import_state, s, catalog)
            if reserved != row.reserved:
                row.reserved, row.reservation_version = reserved, row.reservation_version + 1
                row.changed = True
                emit(StockReservationChanged.new(
                    producer=self.producer, caused_by=cause, account_id=row.account_id,
                    marketplace_id=row.marketplace_id, amazon_order_id=row.amazon_order_id,
                    store_code=row.store_code or (s.store_code if s else "default"), reserved=reserved,
                    version=row.reservation_version))
        await save(conn, rows)
        if requested:
            log.info("orders_requested", orders=requested)

    def _apply(self, row: Row, decision: Decision, s: OrderSettings | None, now: datetime) -> None:
        state = decision.state
        if s is not None and row.import_state in OPEN and row.store_code != s.store_code:
            row.store_code, row.changed = s.store_code, True
        if state is row.import_state and decision.note in (None, row.note) and tuple(decision.watch) == row.watch:
            if state is ImportState.BLOCKED and (row.next_attempt_at is None or row.next_attempt_at <= now):
                row.attempts, row.next_attempt_at, row.changed = row.attempts + 1, now + self.blocked_retry, True
            elif state is ImportState.WAITING and row.next_attempt_at is not None:
                row.next_attempt_at, row.changed = None, True
            return
        row.changed = True
        previous = row.import_state
        row.import_state, row.watch = state, tuple(decision.watch)
        if state is ImportState.BLOCKED:
            row.attempts += 1
            row.next_attempt_at = now + self.blocked_retry
        else:
            row.next_attempt_at = None
        if decision.note is not None and decision.note != row.note:
            row.add_note("blocked" if state is ImportState.BLOCKED else "import", decision.note)
        elif state is ImportState.REQUESTED:
            row.add_note("import", f"requested from Commerce (store view {row.store_code})")
        elif state is not previous and decision.note is None:
            row.add_note("import", f"import {state.value}")

    async def _catalogs(self, conn: asyncpg.Connection, rows: Sequence[Row],
                        settings: Mapping[tuple[str, str], OrderSettings]) -> dict[str, Catalog]:
        wanted = {(r.account_id, r.marketplace_id, line.sku) for r in rows for line in r.lines}
        listings: dict[tuple[str, str, str], str | None] = {}
        if wanted:
            listings = {(x["account_id"], x["marketplace_id"], x["sku"]): x["product_sku"] for x in await conn.fetch(
                "SELECT l.account_id, l.marketplace_id, l.sku, l.product_sku FROM listings l "
                "JOIN unnest($1::text[], $2::text[], $3::text[]) AS w(a, m, s) "
                "ON l.account_id = w.a AND l.marketplace_id = w.m AND l.sku = w.s",
                [w[0] for w in wanted], [w[1] for w in wanted], [w[2] for w in wanted])}

        def store_of(r: Row) -> str:
            s = settings.get((r.account_id, r.marketplace_id))
            return s.store_code if s else (r.store_code or "default")

        def mapped(r: Row) -> dict[str, str | None]:
            return {line.sku: listings[r.account_id, r.marketplace_id, line.sku] for line in r.lines
                    if (r.account_id, r.marketplace_id, line.sku) in listings}

        maps = {r.amazon_order_id: mapped(r) for r in rows}
        products_wanted = {(store_of(r), maps[r.amazon_order_id].get(line.sku, line.sku))
                           for r in rows for line in r.lines}
        products_wanted = {p for p in products_wanted if p[1] is not None}
        products: dict[tuple[str, str], Product] = {}
        if products_wanted:
            products = {(x["store_code"], x["sku"]): Product(
                x["sku"], ProductStatus(x["status"]), x["quantity"], x["in_stock"], x["manage_stock"])
                for x in await conn.fetch(
                    "SELECT p.store_code, p.sku, p.status, p.quantity, p.in_stock, p.manage_stock FROM products p "
                    "JOIN unnest($1::text[], $2::text[]) AS w(st, s) ON p.store_code = w.st AND p.sku = w.s",
                    [p[0] for p in products_wanted], [p[1] for p in products_wanted])}
        by_store: dict[str, dict[str, Product]] = {}
        for (st, sku), p in products.items():
            by_store.setdefault(st, {})[sku] = p
        # Orders of one store share its products (read-only), instead of each order walking the batch's products.
        return {r.amazon_order_id: Catalog(listings=maps[r.amazon_order_id], products=by_store.get(store_of(r), {}))
                for r in rows}

    async def import_enabled(self, conn: asyncpg.Connection, account_id: str, marketplace_id: str) -> bool:
        """Whether the store imports orders: it has OrderSettings and import is on."""
        found = (await store_settings(conn, self.registry)).get((account_id, marketplace_id))
        return found is not None and found.import_enabled

    # ------------------------------------------------------------ schedule and operators

    async def decide_due(self, pool: asyncpg.Pool, schema: str, batch: int = 200) -> int:
        """Waiting and blocked orders whose time has come, decided again; one transaction per batch, rows that
        another replica holds are skipped."""
        total = 0
        while True:
            async with pool.acquire() as conn, conn.transaction():
                ids = [r["amazon_order_id"] for r in await conn.fetch(
                    "SELECT amazon_order_id FROM orders WHERE import_state IN ('waiting', 'blocked') "
                    "AND next_attempt_at <= $1 ORDER BY amazon_order_id LIMIT $2 FOR UPDATE SKIP LOCKED",
                    self.clock(), batch)]
                if not ids:
                    return total
                emitted: list[Event] = []
                rows = await lock(conn, ids)
                for row in rows.values():
                    if row.next_attempt_at is not None:
                        row.next_attempt_at, row.changed = None, True
                await self.reconsider(conn, list(rows.values()), emitted.append, {})
                await servicekit_outbox.write(conn, schema, emitted)
            total += len(ids)
            if len(ids) < batch:
                return total

    async def run_schedule(self, pool: asyncpg.Pool, schema: str, interval_s: float, batch: int) -> None:
        while True:
            try:
                done = await self.decide_due(pool, schema, batch)
                if done:
                    log.info("orders_decided_again", orders=done)
            except Exception as exc:  # the next round tries again
                log.warning("order_schedule_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), interval_s)
            self.wake.clear()

    async def retry(self, conn: asyncpg.Connection, schema: str, amazon_order_id: str, *, note: str
                    ) -> Row | None:
        """An operator's retry of a blocked or failed import (the order is decided again now); None when the
        order is unknown. The caller's transaction."""
        rows = await lock(conn, [amazon_order_id])
        row = rows.get(amazon_order_id)
        if row is None:
            return None
        if row.import_state in (ImportState.FAILED, ImportState.BLOCKED):
            row.import_state = ImportState.WAITING if row.import_state is ImportState.FAILED else row.import_state
            row.add_note("action", note)
            emitted: list[Event] = []
            await self.reconsider(conn, [row], emitted.append, {})
            await servicekit_outbox.write(conn, schema, emitted)
        return row

    async def edit_address(self, conn: asyncpg.Connection, schema: str, amazon_order_id: str, fields: dict[str, Any]
                           ) -> tuple[Row, list[str]] | None:
        """Replace the editable address fields (the caller validated them), keep the rest of the buyer data, and
        decide a blocked or failed import again; returns the row and the names of the fields changed."""
        rows = await lock(conn, [amazon_order_id])
        row = rows.get(amazon_order_id)
        if row is None:
            return None
        buyer = await self.vault.load(conn, amazon_order_id) or BuyerData()
        old = buyer.address or Address()
        new = old.model_copy(update=fields)
        changed = sorted(k for k in fields if getattr(old, k) != getattr(new, k))
        await self.vault.store(conn, amazon_order_id, replace_address(buyer, new))
        row.add_note("action", f"shipping address edited ({', '.join(changed) or 'no change'})")
        if row.import_state is ImportState.FAILED:
            row.import_state = ImportState.WAITING
        emitted: list[Event] = []
        await self.reconsider(conn, [row], emitted.append, {})
        await servicekit_outbox.write(conn, schema, emitted)
        return row, changed


def replace_address(buyer: BuyerData, address: Address) -> BuyerData:
    return BuyerData(email=buyer.email, name=buyer.name or address.name, address=address)

