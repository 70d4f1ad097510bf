"""Fulfilment of Amazon orders: Commerce shipments confirmed to Amazon, cancellations and confirmations by hand, and
Amazon's answers closing each one.

- ShipmentCreated (commerce.shipments.v1), once per Commerce shipment: its items are recorded as shipped and what is
  still open on Amazon goes out as one package, ShipmentConfirmRequested (amazon.shipment-confirmations.v1), with
  Commerce's carrier mapped to Amazon's carrier codes (domain.fulfilment). A shipment of an order fulfilled by
  Amazon, of a view-only store or of an order Amazon no longer ships is kept with a note and confirms nothing.
- `POST /orders/{amazon_order_id}/cancel` sends OrderCancelRequested (amazon.order-cancellations.v1) for an
  Unshipped merchant-fulfilled order, with one of Amazon's reason codes; `POST /orders/{amazon_order_id}/ship`
  confirms a shipment made outside Commerce (carrier, tracking, items) the way a Commerce shipment is confirmed.
- OrderActionResult (amazon.order-action-results.v1) closes the action it answers: an accepted package counts its
  items confirmed (PartiallyShipped, then Shipped once every item is, settling the buyer data), an accepted
  cancellation makes the order Canceled; a refusal is an order error with Amazon's message. A status never moves
  backwards (domain.lifecycle).

Every state change and the events it causes commit in one transaction (the outbox; the consumer's inbox dedupes).
A cancellation in Commerce (CommerceOrderCancelled) is not sent to Amazon, which needs a reason and counts each
seller cancellation: the order gets a note saying it is still open on Amazon (`on_commerce_order_cancelled`, called
by the consumer of commerce.orders.v1).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol

import asyncpg
from fastapi import APIRouter, Path, Query
from prometheus_client import Counter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from contracts import Event, topics
from contracts.events import (
    CommerceOrderCancelled,
    OrderActionResult,
    OrderCancelRequested,
    ShipmentConfirmRequested,
    ShipmentCreated,
)
from order_import.domain import fulfilment as domain
from servicekit import Service, Tx, audit, outbox
from servicekit.auth import Principal, Scope, requires
from servicekit.logging import get_logger
from servicekit.problems import FieldError, ProblemError, field_error

log = get_logger(component="fulfilment")

ORDER_ACTIONS = Counter(
    "saleschannel_order_fulfilment_total", "order-import's shipment confirmations and cancellations by kind and "
    "outcome: requested, accepted and rejected by Amazon, or not_confirmed (a Commerce shipment confirming nothing)",
    ["service", "kind", "outcome"])

CONFIRM = "confirm_shipment"
CANCEL = "cancel"

ImportEnabled = Callable[[asyncpg.Connection, str, str], Awaitable[bool]]
"""(connection, account_id, marketplace_id) -> whether the store imports orders (false: view-only)."""


class Settles(Protocol):
    """The buyer data vault's settle (order_import.buyers.BuyerVault)."""

    async def settle(self, conn: asyncpg.Connection, amazon_order_id: str, at: datetime) -> None: ...


async def _always(conn: asyncpg.Connection, account_id: str, marketplace_id: str) -> bool:
    return True


# ---------------------------------------------------------------- views


class OrderAction(BaseModel):
    """A shipment confirmation or cancellation asked of Amazon, and its answer."""

    model_config = ConfigDict(frozen=True)

    id: int
    amazon_order_id: str
    kind: Literal["confirm_shipment", "cancel"]
    state: Literal["requested", "accepted", "rejected"]
    request_event_id: str = Field(description="event_id of the ShipmentConfirmRequested or OrderCancelRequested")
    source: Literal["commerce", "api"] = Field(description="commerce: a Commerce shipment; api: asked over HTTP")
    requested_by: str | None = None
    reason: str | None = Field(default=None, description="cancel: Amazon's reason code")
    carrier_code: str | None = Field(default=None, description="Amazon's carrierCode")
    carrier_name: str | None = None
    tracking_number: str | None = None
    ship_date: datetime | None = None
    commerce_shipment_id: str | None = None
    items: dict[str, int] = Field(default={}, description="Amazon order_item_id -> quantity")
    issues: list[dict[str, Any]] = Field(default=[], description="Amazon's issues (code, message, severity)")
    created_at: datetime
    updated_at: datetime


class ItemFulfilment(BaseModel):
    order_item_id: str
    ordered: int
    shipped: int = Field(description="Shipped in Commerce or reported by hand")
    confirmed: int = Field(description="Accepted by Amazon")
    awaiting: int = Field(description="Sent to Amazon, not answered yet")


class ShipmentSeen(BaseModel):
    commerce_shipment_id: str
    carrier_code: str
    carrier_name: str | None
    tracking_number: str
    shipped_at: datetime
    items: dict[str, int]
    action_id: int | None = Field(description="The confirmation it became; null when none (see note)")
    note: str | None


class OrderFulfilment(BaseModel):
    """An order's items, Commerce shipments and actions: the Order Items and Tracking tabs."""

    amazon_order_id: str
    fulfillment: str
    amazon_status: str
    shipped_at: datetime | None
    cancelled_at: datetime | None
    note: str | None
    items: list[ItemFulfilment]
    shipments: list[ShipmentSeen]
    actions: list[OrderAction]


_ACTION_COLUMNS = (
    "id, amazon_order_id, kind, state, request_event_id::text AS request_event_id, source, requested_by, reason, "
    "carrier_code, carrier_name, tracking_number, ship_date, commerce_shipment_id, items::text AS items, "
    "issues::text AS issues, created_at, updated_at")


def _action(row: asyncpg.Record) -> OrderAction:
    return OrderAction(**{**dict(row), "items": json.loads(row["items"]), "issues": json.loads(row["issues"])})


# ---------------------------------------------------------------- reading an order under its lock


class _Order:
    """An order row (locked FOR UPDATE) and its fulfilment state."""

    def __init__(self, row: asyncpg.Record, state: domain.OrderState) -> None:
        self.row = row
        self.state = state

    @property
    def account_id(self) -> str:
        return str(self.row["account_id"])

    @property
    def marketplace_id(self) -> str:
        return str(self.row["marketplace_id"])


async def _locked(conn: asyncpg.Connection, amazon_order_id: str, import_enabled: ImportEnabled) -> _Order | None:
    row = await conn.fetchrow(
        "SELECT amazon_order_id, account_id, marketplace_id, fulfillment, amazon_status, purchase_date, "
        "lines::text AS lines FROM orders WHERE amazon_order_id = $1 AND purchase_date IS NOT NULL FOR UPDATE",
        amazon_order_id)
    if row is None:
        return None
    items = await conn.fetch(
        "SELECT order_item_id, shipped, confirmed FROM shipped_items WHERE amazon_order_id = $1", amazon_order_id)
    open_actions = await conn.fetch(
        "SELECT kind, reason, items::text AS items FROM order_actions WHERE amazon_order_id = $1 AND state = "
        "'requested'", amazon_order_id)
    awaiting: dict[str, int] = {}
    cancel_pending = None
    for action in open_actions:
        if action["kind"] == CANCEL:
            cancel_pending = action["reason"]
            continue
        for item, qty in json.loads(action["items"]).items():
            awaiting[item] = awaiting.get(item, 0) + int(qty)
    state = domain.OrderState(
        amazon_order_id=amazon_order_id, fulfillment=row["fulfillment"], amazon_status=row["amazon_status"],
        import_enabled=await import_enabled(conn, row["account_id"], row["marketplace_id"]),
        ordered=domain.ordered_quantities(json.loads(row["lines"] or "[]")),
        confirmed={r["order_item_id"]: r["confirmed"] for r in items},
        shipped={r["order_item_id"]: r["shipped"] for r in items},
        awaiting=awaiting, cancel_pending=cancel_pending)
    return _Order(row, state)


async def _note(conn: asyncpg.Connection, amazon_order_id: str, kind: str, note: str) -> None:
    """The order's last note (Order Notes), kept in its history too; kind: commerce, amazon, error or action."""
    await conn.execute("UPDATE orders SET note = $2, updated_at = now() WHERE amazon_order_id = $1",
                       amazon_order_id, note)
    await conn.execute("INSERT INTO order_notes (amazon_order_id, kind, note) VALUES ($1, $2, $3)",
                       amazon_order_id, kind, note)


async def _record_shipped(conn: asyncpg.Connection, order: _Order, shipped: dict[str, int]) -> None:
    """Store the items' new shipped quantities (the order row is locked)."""
    if not shipped:
        return
    await conn.execute(
        "INSERT INTO shipped_items (amazon_order_id, order_item_id, shipped) "
        "SELECT $1, i, q FROM unnest($2::text[], $3::int[]) AS u(i, q) "
        "ON CONFLICT (amazon_order_id, order_item_id) DO UPDATE SET shipped = EXCLUDED.shipped, updated_at = now()",
        order.state.amazon_order_id, list(shipped), list(shipped.values()))


# ---------------------------------------------------------------- the confirmation path, shared


async def _request_confirmation(
    conn: asyncpg.Connection, order: _Order, *, carrier: domain.Carrier, tracking_number: str,
    ship_date: datetime, items: dict[str, int], source: str, producer: str, emit: Callable[[Event], None],
    caused_by: Event | None = None, shipping_method: str | None = None, requested_by: str | None = None,
    commerce_shipment_id: str | None = None,
) -> asyncpg.Record:
    event = ShipmentConfirmRequested.new(
        producer=producer, caused_by=caused_by, account_id=order.account_id, marketplace_id=order.marketplace_id,
        amazon_order_id=order.state.amazon_order_id, carrier_code=carrier.code, carrier_name=carrier.name,
        shipping_method=shipping_method, tracking_number=tracking_number, ship_date=ship_date, items=items)
    emit(event)
    ORDER_ACTIONS.labels(producer, CONFIRM, "requested").inc()
    return await conn.fetchrow(
        f"""
        INSERT INTO order_actions (amazon_order_id, kind, request_event_id, source, requested_by, carrier_code,
                                   carrier_name, tracking_number, ship_date, commerce_shipment_id, items)
        VALUES ($1, '{CONFIRM}', $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
        RETURNING {_ACTION_COLUMNS}
        """,
        order.state.amazon_order_id, event.event_id, source, requested_by, carrier.code, carrier.name,
        tracking_number, ship_date, commerce_shipment_id, json.dumps(items))


# ---------------------------------------------------------------- the service part


class Fulfilment:
    """Consumers, actions and views of order fulfilment; `attach` wires it into the service."""

    def __init__(self, service: Service[Any], *, import_enabled: ImportEnabled | None = None,
                 vault: Settles | None = None) -> None:
        self.service = service
        self.producer = service.name
        self.import_enabled: ImportEnabled = import_enabled or _always
        self.vault = vault

    # ------------------------------------------------------------ Commerce shipments

    async def on_shipments(self, tx: Tx, events: list[ShipmentCreated]) -> None:
        """Each Commerce shipment once (by commerce_shipment_id): what is open on Amazon is confirmed as a package."""
        for event in sorted(events, key=lambda e: (e.amazon_order_id, e.shipped_at, e.commerce_shipment_id)):
            await self._shipment(tx, event)

    async def _shipment(self, tx: Tx, event: ShipmentCreated) -> None:
        conn = tx.conn
        first = await conn.fetchval(
            "INSERT INTO commerce_shipments (commerce_shipment_id, amazon_order_id, event_id, carrier_code, "
            "carrier_name, tracking_number, shipped_at, items) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) "
            "ON CONFLICT (commerce_shipment_id) DO NOTHING RETURNING true",
            event.commerce_shipment_id, event.amazon_order_id, event.event_id, event.carrier_code,
            event.carrier_name, event.tracking_number, event.shipped_at, json.dumps(event.items))
        if not first:
            log.info("shipment_already_heard", order=event.amazon_order_id, shipment=event.commerce_shipment_id)
            return
        order = await _locked(conn, event.amazon_order_id, self.import_enabled)
        if order is None:
            await self._shipment_note(conn, event, "not an order imported by order-import", order_note=False)
            return
        try:
            carrier = domain.amazon_carrier(event.carrier_code, event.carrier_name)
            items, partly = domain.shipment_to_confirm(order.state, event.items)
        except (domain.ActionRefused, domain.CarrierMissing) as refused:
            await self._shipment_note(conn, event, f"not confirmed to Amazon: {refused}")
            return
        await _record_shipped(conn, order, domain.shipped_after_shipment(order.state, event.items))
        action = await _request_confirmation(
            conn, order, carrier=carrier, tracking_number=event.tracking_number, ship_date=event.shipped_at,
            items=items, source="commerce", producer=self.producer, emit=tx.emit, caused_by=event,
            commerce_shipment_id=event.commerce_shipment_id)
        await conn.execute("UPDATE commerce_shipments SET action_id = $2, note = $3 WHERE commerce_shipment_id = $1",
                           event.commerce_shipment_id, action["id"], partly)
        if partly:
            await _note(conn, event.amazon_order_id, "commerce",
                        f"Commerce shipment {event.commerce_shipment_id} confirmed in part: {partly}")

    async def _shipment_note(self, conn: asyncpg.Connection, event: ShipmentCreated, note: str, *,
                             order_note: bool = True) -> None:
        log.info("shipment_not_confirmed", order=event.amazon_order_id, shipment=event.commerce_shipment_id,
                 reason=note)
        ORDER_ACTIONS.labels(self.producer, CONFIRM, "not_confirmed").inc()
        await conn.execute("UPDATE commerce_shipments SET note = $2 WHERE commerce_shipment_id = $1",
                           event.commerce_shipment_id, note)
        if order_note:
            await _note(conn, event.amazon_order_id, "commerce",
                        f"Commerce shipment {event.commerce_shipment_id} {note}")

    # ------------------------------------------------------------ Amazon's answers

    async def on_action_results(self, tx: Tx, events: list[OrderActionResult]) -> None:
        """Close the action each result answers; results of actions not asked by this service are ignored."""
        for event in sorted(events, key=lambda e: (e.amazon_order_id, e.occurred_at)):
            await self._result(tx.conn, event)

    async def _result(self, conn: asyncpg.Connection, event: OrderActionResult) -> None:
        order_id = await conn.fetchval("SELECT amazon_order_id FROM order_actions WHERE request_event_id = $1",
                                       event.request_event_id)
        if order_id is None:
            log.info("action_result_unknown", order=event.amazon_order_id, request=str(event.request_event_id))
            return
        # Amazon's answer closes what was sent, whatever the store's import switch says now.
        order = await _locked(conn, order_id, _always)
        assert order is not None  # order_actions references it
        issues = [i.model_dump(mode="json") for i in event.issues]
        row = await conn.fetchrow(
            f"UPDATE order_actions SET state = $2, issues = $3::jsonb, updated_at = now() "
            f"WHERE request_event_id = $1 AND state = 'requested' RETURNING {_ACTION_COLUMNS}",
            event.request_event_id, "accepted" if event.accepted else "rejected", json.dumps(issues))
        if row is None:
            log.info("action_already_answered", order=order_id, request=str(event.request_event_id))
            return
        action = _action(row)
        ORDER_ACTIONS.labels(self.producer, action.kind, action.state).inc()
        if not event.accepted:
            what = (f"shipment confirmation ({action.carrier_code} {action.tracking_number})"
                    if action.kind == CONFIRM else f"cancellation ({action.reason})")
            await _note(conn, order_id, "error", f"Amazon refused the {what}: {domain.issues_text(issues)}")
            log.warning("order_action_rejected", order=order_id, action=action.kind,
                        codes=[i["code"] for i in issues])
            return
        if action.kind == CONFIRM:
            await self._confirmed(conn, order, action, event.occurred_at)
        else:
            await self._cancelled(conn, order, action, event.occurred_at)

    async def _confirmed(self, conn: asyncpg.Connection, order: _Order, action: OrderAction, at: datetime) -> None:
        items = action.items
        rows = await conn.fetch(
            """
            INSERT INTO shipped_items (amazon_order_id, order_item_id, shipped, confirmed)
            SELECT $1, i, q, q FROM unnest($2::text[], $3::int[]) AS u(i, q)
            ON CONFLICT (amazon_order_id, order_item_id) DO UPDATE
               SET confirmed = shipped_items.confirmed + EXCLUDED.confirmed,
                   shipped = GREATEST(shipped_items.shipped, shipped_items.confirmed + EXCLUDED.confirmed),
                   updated_at = now()
            RETURNING order_item_id, confirmed
            """, action.amazon_order_id, list(items), list(items.values()))
        confirmed = {**order.state.confirmed, **{r["order_item_id"]: r["confirmed"] for r in rows}}
        status = domain.status_after_confirmation(order.state.amazon_status, order.state.ordered, confirmed)
        done = domain.every_item_confirmed(order.state.ordered, confirmed)
        shipped_at = None
        if done:
            shipped_at = await conn.fetchval(
                "SELECT max(ship_date) FROM order_actions WHERE amazon_order_id = $1 AND kind = $2 "
                "AND state = 'accepted'", action.amazon_order_id, CONFIRM)
        settled_at = await conn.fetchval(
            "UPDATE orders SET amazon_status = $2, status_at = GREATEST(status_at, $3), "
            "shipped_at = COALESCE(shipped_at, $4), updated_at = now() WHERE amazon_order_id = $1 RETURNING shipped_at",
            action.amazon_order_id, status, at, shipped_at)
        await _note(conn, action.amazon_order_id, "amazon",
                    f"Shipped: every item confirmed to Amazon, the last with {action.carrier_code} "
                    f"{action.tracking_number}" if done else
                    f"Partially shipped: package {action.carrier_code} {action.tracking_number} confirmed to Amazon")
        if done and self.vault is not None and settled_at is not None:
            await self.vault.settle(conn, action.amazon_order_id, settled_at)

    async def _cancelled(self, conn: asyncpg.Connection, order: _Order, action: OrderAction, at: datetime) -> None:
        """Canceled; an order still waiting for its import is decided again at once (never imported, its
        reservation released)."""
        status = domain.status_after_cancellation(order.state.amazon_status)
        cancelled_at = await conn.fetchval(
            "UPDATE orders SET amazon_status = $2, status_at = GREATEST(status_at, $3), "
            "cancelled_at = COALESCE(cancelled_at, $3), updated_at = now(), next_attempt_at = CASE WHEN "
            "import_state IN ('waiting', 'blocked') THEN now() ELSE next_attempt_at END "
            "WHERE amazon_order_id = $1 RETURNING cancelled_at",
            action.amazon_order_id, status, at)
        await _note(conn, action.amazon_order_id, "amazon", f"Cancelled on Amazon ({action.reason})")
        if self.vault is not None and cancelled_at is not None:
            await self.vault.settle(conn, action.amazon_order_id, cancelled_at)

    # ------------------------------------------------------------ cancelled in Commerce

    async def on_commerce_order_cancelled(self, tx: Tx, events: Sequence[CommerceOrderCancelled]) -> None:
        """A Commerce order cancelled in Commerce leaves its Amazon order open: say so on the order.

        Amazon needs one of its reasons and counts every seller cancellation, so only an explicit cancel (this
        service's API or Seller Central) cancels on Amazon."""
        for event in sorted(events, key=lambda e: e.amazon_order_id):
            order = await _locked(tx.conn, event.amazon_order_id, self.import_enabled)
            note = order and domain.cancelled_in_commerce(order.state, event.increment_id or event.commerce_order_id)
            if note:
                await _note(tx.conn, event.amazon_order_id, "commerce", note)

    # ------------------------------------------------------------ actions over HTTP

    async def cancel(self, conn: asyncpg.Connection, amazon_order_id: str, reason: str,
                     caller: Principal) -> dict[str, Any]:
        order = await _locked(conn, amazon_order_id, self.import_enabled)
        if order is None:
            raise ProblemError(404, f"no Amazon order {amazon_order_id}")
        refusal = domain.cancel_refusal(order.state, reason)
        if refusal is not None:
            raise ProblemError(409, refusal)
        if order.state.cancel_pending is not None:
            row = await conn.fetchrow(
                f"SELECT {_ACTION_COLUMNS} FROM order_actions WHERE amazon_order_id = $1 AND kind = $2 "
                "AND state = 'requested'", amazon_order_id, CANCEL)
            return {"already_requested": True, **_action(row).model_dump(mode="json")}
        event = OrderCancelRequested.new(
            producer=self.producer, account_id=order.account_id, marketplace_id=order.marketplace_id,
            amazon_order_id=amazon_order_id, reason_code=reason)
        await outbox.write(conn, self.service.schema, [event])
        ORDER_ACTIONS.labels(self.producer, CANCEL, "requested").inc()
        row = await conn.fetchrow(
            f"INSERT INTO order_actions (amazon_order_id, kind, request_event_id, source, requested_by, reason) "
            f"VALUES ($1, '{CANCEL}', $2, 'api', $3, $4) RETURNING {_ACTION_COLUMNS}",
            amazon_order_id, event.event_id, caller.name, reason)
        await _note(conn, amazon_order_id, "action", f"Cancellation ({reason}) sent to Amazon for {caller.name}")
        return {"already_requested": False, **_action(row).model_dump(mode="json")}

    async def ship(self, conn: asyncpg.Connection, amazon_order_id: str, body: ShipRequest,
                   caller: Principal) -> dict[str, Any]:
        order = await _locked(conn, amazon_order_id, self.import_enabled)
        if order is None:
            raise ProblemError(404, f"no Amazon order {amazon_order_id}")
        try:
            carrier = domain.amazon_carrier(body.carrier_code, body.carrier_name)
        except domain.CarrierMissing as exc:
            raise field_error("body.carrier_name", str(exc)) from None
        if body.items is not None and (unknown := domain.unknown_items(order.state, body.items)):
            raise ProblemError(422, f"not items of order {amazon_order_id}: {', '.join(unknown)}", errors=[
                FieldError(field=f"body.items.{item}", reason="not an item of the order") for item in unknown])
        ship_date = body.ship_date or datetime.now(UTC)
        if problem := domain.ship_date_problem(ship_date, order.row["purchase_date"], datetime.now(UTC)):
            raise field_error("body.ship_date", problem)
        try:
            items = domain.manual_to_confirm(order.state, body.items)
        except domain.ActionRefused as exc:
            raise ProblemError(409, str(exc)) from None
        await _record_shipped(conn, order, domain.shipped_after_confirmation(order.state, items))
        emitted: list[Event] = []
        row = await _request_confirmation(
            conn, order, carrier=carrier, tracking_number=body.tracking_number, ship_date=ship_date, items=items,
            source="api", producer=self.producer, emit=emitted.append, shipping_method=body.shipping_method,
            requested_by=caller.name)
        await outbox.write(conn, self.service.schema, emitted)
        await _note(conn, amazon_order_id, "action", f"Shipment {carrier.code} {body.tracking_number} sent to Amazon "
                    f"for {caller.name}: " + ", ".join(f"{qty} x {item}" for item, qty in items.items()))
        return _action(row).model_dump(mode="json")

    # ------------------------------------------------------------ views

    async def view(self, conn: asyncpg.Connection | asyncpg.Pool, amazon_order_id: str) -> OrderFulfilment | None:
        row = await conn.fetchrow(
            "SELECT amazon_order_id, fulfillment, amazon_status, shipped_at, cancelled_at, note, lines::text AS lines "
            "FROM orders WHERE amazon_order_id = $1 AND purchase_date IS NOT NULL", amazon_order_id)
        if row is None:
            return None
        ordered = domain.ordered_quantities(json.loads(row["lines"] or "[]"))
        counted = {r["order_item_id"]: r for r in await conn.fetch(
            "SELECT order_item_id, shipped, confirmed FROM shipped_items WHERE amazon_order_id = $1",
            amazon_order_id)}
        actions = [_action(r) for r in await conn.fetch(
            f"SELECT {_ACTION_COLUMNS} FROM order_actions WHERE amazon_order_id = $1 ORDER BY id", amazon_order_id)]
        awaiting: dict[str, int] = {}
        for action in actions:
            if action.kind == CONFIRM and action.state == "requested":
                for item, qty in action.items.items():
                    awaiting[item] = awaiting.get(item, 0) + qty
        shipments = [ShipmentSeen(**{**dict(r), "items": json.loads(r["items"])}) for r in await conn.fetch(
            "SELECT commerce_shipment_id, carrier_code, carrier_name, tracking_number, shipped_at, items::text AS "
            "items, action_id, note FROM commerce_shipments WHERE amazon_order_id = $1 ORDER BY shipped_at, "
            "commerce_shipment_id", amazon_order_id)]
        items = [ItemFulfilment(order_item_id=item, ordered=qty,
                                shipped=counted[item]["shipped"] if item in counted else 0,
                                confirmed=counted[item]["confirmed"] if item in counted else 0,
                                awaiting=awaiting.get(item, 0)) for item, qty in sorted(ordered.items())]
        return OrderFulfilment(
            amazon_order_id=amazon_order_id, fulfillment=row["fulfillment"], amazon_status=row["amazon_status"],
            shipped_at=row["shipped_at"], cancelled_at=row["cancelled_at"], note=row["note"], items=items,
            shipments=shipments, actions=actions)

    async def actions(self, conn: asyncpg.Connection | asyncpg.Pool, *, state: str | None, kind: str | None,
                      unresolved: bool, after_id: int, limit: int) -> list[OrderAction]:
        """Actions, oldest first; `unresolved`: only those no later action of the same kind on the order followed,
        of orders still open on Amazon (a refusal nobody has acted on yet)."""
        rows = await conn.fetch(
            f"SELECT {_ACTION_COLUMNS} FROM order_actions a WHERE id > $1 AND ($2::text IS NULL OR state = $2) "
            "AND ($3::text IS NULL OR kind = $3) AND (NOT $5 OR (NOT EXISTS (SELECT 1 FROM order_actions l "
            "WHERE l.amazon_order_id = a.amazon_order_id AND l.kind = a.kind AND l.id > a.id) AND EXISTS ("
            "SELECT 1 FROM orders o WHERE o.amazon_order_id = a.amazon_order_id "
            "AND o.amazon_status IN ('Unshipped', 'PartiallyShipped')))) ORDER BY id LIMIT $4",
            after_id, state, kind, limit, unresolved)
        return [_action(r) for r in rows]


# ---------------------------------------------------------------- HTTP

OrderId = Annotated[str, Path(min_length=1, max_length=64, description="Amazon order id, e.g. 114-1234567-1234567")]


ReasonName = Literal[tuple(domain.REASONS)]  # type: ignore[valid-type]


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ReasonName = Field(description=(  # type: ignore[valid-type]
        "Amazon's reason code, or its display name as the spec lists it (\"No Inventory\", \"Buyer Cancelled\")"))

    @field_validator("reason", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        if isinstance(value, str):
            domain.reason_code(value)  # UnknownReason (a ValueError) says what is accepted, or what to do instead
        return value


class CancelAnswer(OrderAction):
    already_requested: bool = Field(description="true: this cancellation was already awaiting Amazon; not sent again")


class ShipRequest(BaseModel):
    """A shipment made outside Commerce, confirmed to Amazon as one package."""

    model_config = ConfigDict(extra="forbid")

    carrier_code: str = Field(min_length=1, max_length=50, description=(
        "Commerce's carrier code (ups, usps, fedex, dhl, custom) or Amazon's carrierCode (UPS, FedEx, Other)"))
    carrier_name: str | None = Field(default=None, min_length=1, max_length=100,
                                     description="The carrier's name; required for custom / Other")
    tracking_number: str = Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")
    ship_date: AwareDatetime | None = Field(default=None, description="When it shipped; default now")
    shipping_method: str | None = Field(default=None, min_length=1, max_length=100)
    items: dict[Annotated[str, Field(min_length=1, max_length=64)], Annotated[int, Field(ge=1, le=100_000)]] | None \
        = Field(default=None, min_length=1, max_length=500,
                description="Amazon order_item_id -> quantity; default: what was shipped but Amazon has not "
                            "confirmed (a refused package sent again), else every item still open")


def router(fulfilment: Fulfilment) -> APIRouter:
    service = fulfilment.service
    api = APIRouter(tags=["fulfilment"])

    def pool() -> asyncpg.Pool:
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        return service.pool

    @api.post("/orders/{amazon_order_id}/cancel", status_code=202, response_model=CancelAnswer)
    async def cancel_order(amazon_order_id: OrderId, body: CancelRequest,
                           caller: Principal = requires(Scope.OPERATE)) -> CancelAnswer:
        """Cancel an Unshipped merchant-fulfilled order on Amazon with one of Amazon's reason codes
        (OrderCancelRequested). The answer is the cancel action; Amazon's answer closes it. A cancellation already
        awaiting Amazon is answered, not sent again. Anything but an Unshipped order of a store that imports orders
        is a 409."""
        reason = domain.reason_code(body.reason)

        async def work(conn: asyncpg.Connection) -> dict[str, Any]:
            return await fulfilment.cancel(conn, amazon_order_id, reason, caller)
        return CancelAnswer(**await audit.act(service, caller, "order.cancel", f"AmazonOrder/{amazon_order_id}",
                                              work, before={"reason": reason}))

    @api.post("/orders/{amazon_order_id}/ship", status_code=202, response_model=OrderAction)
    async def ship_order(amazon_order_id: OrderId, body: ShipRequest,
                         caller: Principal = requires(Scope.OPERATE)) -> OrderAction:
        """Confirm to Amazon a shipment made outside Commerce: carrier, tracking number, items (default: every item
        still open), as one package (ShipmentConfirmRequested), the way a Commerce shipment is confirmed."""
        async def work(conn: asyncpg.Connection) -> dict[str, Any]:
            return await fulfilment.ship(conn, amazon_order_id, body, caller)
        return OrderAction(**await audit.act(service, caller, "order.ship", f"AmazonOrder/{amazon_order_id}", work))

    @api.get("/orders/{amazon_order_id}/fulfilment", response_model=OrderFulfilment,
             dependencies=[requires(Scope.READ)])
    async def order_fulfilment(amazon_order_id: OrderId) -> OrderFulfilment:
        """The order's items (ordered, shipped, confirmed, awaiting Amazon), its Commerce shipments and its actions."""
        view = await fulfilment.view(pool(), amazon_order_id)
        if view is None:
            raise ProblemError(404, f"no Amazon order {amazon_order_id}")
        return view

    @api.get("/order-actions", response_model=list[OrderAction], dependencies=[requires(Scope.READ)])
    async def order_actions(
        state: Literal["requested", "accepted", "rejected"] | None = Query(
            None, description="rejected: actions Amazon refused (with `unresolved`: the order errors)"),
        kind: Literal["confirm_shipment", "cancel"] | None = None,
        unresolved: bool = Query(False, description="Only actions no later one of the same kind followed, of orders "
                                                    "still Unshipped or PartiallyShipped"),
        after_id: int = Query(0, ge=0, le=2**62, description="Keyset paging: the last id of the previous page"),
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[OrderAction]:
        """Shipment confirmations and cancellations of every order, oldest first."""
        return await fulfilment.actions(pool(), state=state, kind=kind, unresolved=unresolved, after_id=after_id,
                                        limit=limit)

    return api


def attach(service: Service[Any], *, import_enabled: ImportEnabled | None = None,
           vault: Settles | None = None) -> Fulfilment:
    """Consume Commerce shipments and Amazon's answers, serve the cancel and ship actions and the views.

    `import_enabled` says whether a store imports orders (default: every store does); `vault` settles the buyer
    data once an order is shipped or cancelled."""
    fulfilment = Fulfilment(service, import_enabled=import_enabled, vault=vault)
    service.subscribe(topics.SHIPMENTS, fulfilment.on_shipments)
    service.subscribe(topics.ORDER_ACTION_RESULTS, fulfilment.on_action_results)
    service.include_router(router(fulfilment))
    service.fulfilment = fulfilment  # type: ignore[attr-defined]
    return fulfilment
