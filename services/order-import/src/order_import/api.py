"""The order views (spec section 14): all orders with filters and paging, recent orders, orders awaiting shipment,
order errors with their retry, one order's details and the address edit that unblocks its import.

Reading needs the `read` scope; retry and the address edit need `operate` and are audited (what changed, never the
buyer's data)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from contracts.events import Address, OrderLine
from contracts.money import Money
from order_import.buyers import BuyerData, BuyerVault
from order_import.domain.address import normalise
from order_import.domain.importing import OPEN, ImportState
from order_import.domain.lifecycle import AmazonStatus
from order_import.importer import Importer, readable_buyers
from servicekit import Service, audit
from servicekit.auth import Principal, Scope, requires
from servicekit.problems import FieldError, ProblemError

After = Query(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$",
              description="Keyset paging: the `next` of the previous page (the last order id it read)")
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_text(value: Any) -> Any:
    """Only ISO 8601 text: pydantic would also read a number as seconds since 1970."""
    if not isinstance(value, str) or not _ISO_START.match(value):
        raise ValueError("must be an ISO 8601 date and time with a zone, e.g. 2026-12-01T00:00:00Z")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
_UNKNOWN_POSITION: dict[int | str, dict[str, Any]] = {404: {"description": "`after` names no order"}}
OrderId = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$", description="The Amazon order id")
SCAN_LIMIT = 5000
"""Rows a buyer-name search reads (and opens) per request at most; the page's `next` continues from there."""


class OrderSummary(BaseModel):
    amazon_order_id: str
    account_id: str
    marketplace_id: str
    purchase_date: datetime
    fulfillment: Literal["AFN", "MFN"]
    amazon_status: str
    buyer_name: str | None = Field(description="From the sealed buyer data; null when withheld or purged")
    grand_total: Money | None
    import_state: ImportState
    note: str | None = Field(description="Order Notes: the last note or error")
    store_code: str | None
    commerce_order_id: str | None
    increment_id: str | None = Field(description="The Commerce order number")


class Page(BaseModel):
    items: list[OrderSummary]
    next: str | None = Field(description="Pass as `after` for the next page (the last order id read); null on the "
                                         "last one")


class Note(BaseModel):
    at: datetime
    kind: str
    note: str


class OrderDetails(OrderSummary):
    lines: list[OrderLine]
    buyer_email: str | None
    shipping_address: Address | None
    notes: list[Note]
    reserved: dict[str, int] = Field(description="Commerce SKU -> quantity this order holds back now")
    requests: int = Field(description="CommerceOrderRequested sent for it (more than one only after a retry)")
    shipped_at: datetime | None
    cancelled_at: datetime | None
    actions: list[str] = Field(description="What may be done now: retry, edit_address")


class ErrorItem(OrderSummary):
    actions: list[str]


class AddressEdit(BaseModel):
    """The editable shipping address fields of Order Details; fields left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    line1: str | None = Field(default=None, min_length=1, max_length=255)
    line2: str | None = Field(default=None, max_length=255)
    line3: str | None = Field(default=None, max_length=255, description="Joined to line 2 (Commerce's street)")
    city: str | None = Field(default=None, min_length=1, max_length=100)
    region: str | None = Field(default=None, min_length=1, max_length=100)
    postal_code: str | None = Field(default=None, min_length=1, max_length=20)
    country_code: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")


_SUMMARY = ("amazon_order_id, account_id, marketplace_id, purchase_date, fulfillment, amazon_status, currency, "
            "order_total, import_state, note, store_code, commerce_order_id, increment_id")


def _summary(r: asyncpg.Record, buyer: BuyerData | None, cls: type[OrderSummary] = OrderSummary,
             **extra: Any) -> Any:
    return cls(
        amazon_order_id=r["amazon_order_id"], account_id=r["account_id"], marketplace_id=r["marketplace_id"],
        purchase_date=r["purchase_date"], fulfillment=r["fulfillment"], amazon_status=r["amazon_status"],
        buyer_name=buyer.name if buyer else None,
        grand_total=Money(amount=r["order_total"], currency=r["currency"])
        if r["order_total"] is not None and r["currency"] else None,
        import_state=r["import_state"], note=r["note"], store_code=r["store_code"],
        commerce_order_id=r["commerce_order_id"], increment_id=r["increment_id"], **extra)


def actions(import_state: str) -> list[str]:
    state = ImportState(import_state)
    return [*(["retry"] if state in (ImportState.BLOCKED, ImportState.FAILED) else []),
            *(["edit_address"] if state in (*OPEN, ImportState.FAILED) else [])]


def router(service: Service[Any], importer: Importer, vault: BuyerVault) -> APIRouter:
    r = APIRouter(tags=["orders"])

    def pool() -> asyncpg.Pool:
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        return service.pool

    async def page(where: list[str], args: list[Any], limit: int, after: str | None, buyer: str | None = None
                   ) -> Page:
        cursor: tuple[datetime, str] | None = None
        if after is not None:
            at = await pool().fetchval("SELECT purchase_date FROM orders WHERE amazon_order_id = $1 "
                                       "AND purchase_date IS NOT NULL", after)
            if at is None:
                raise ProblemError(404, f"no Amazon order {after} to continue after")
            cursor = (at, after)
        where = ["purchase_date IS NOT NULL", *where]
        items: list[OrderSummary] = []
        scanned = 0
        wanted = buyer.casefold() if buyer else None
        async with pool().acquire() as conn:
            while len(items) < limit:
                conds, params = list(where), list(args)
                if cursor is not None:
                    params += list(cursor)
                    conds.append(f"(purchase_date, amazon_order_id) < (${len(params) - 1}, ${len(params)})")
                chunk = limit - len(items) if wanted is None else min(500, SCAN_LIMIT - scanned)
                params.append(chunk)
                rows = await conn.fetch(
                    f"SELECT {_SUMMARY} FROM orders WHERE {' AND '.join(conds)} "
                    f"ORDER BY purchase_date DESC, amazon_order_id DESC LIMIT ${len(params)}", *params)
                buyers, _ = await readable_buyers(vault, conn, [x["amazon_order_id"] for x in rows])
                for read, row in enumerate(rows, 1):
                    cursor = (row["purchase_date"], row["amazon_order_id"])
                    scanned += 1
                    b = buyers.get(row["amazon_order_id"])
                    if wanted is None or (b and b.name and wanted in b.name.casefold()):
                        items.append(_summary(row, b))
                        if len(items) == limit:
                            more = read < len(rows) or len(rows) == chunk
                            return Page(items=items, next=cursor[1] if more else None)
                if len(rows) < chunk:
                    return Page(items=items, next=None)
                if wanted is not None and scanned >= SCAN_LIMIT:
                    break
        return Page(items=items, next=cursor[1] if cursor else None)

    @r.get("/orders", response_model=Page, responses=_UNKNOWN_POSITION, dependencies=[requires(Scope.READ)])
    async def all_orders(
        purchased_from: Instant | None = Query(None, description="Purchase date from (inclusive)"),
        purchased_to: Instant | None = Query(None, description="Purchase date to (exclusive)"),
        number: str | None = Query(None, min_length=1, max_length=64,
                                   description="Amazon order id (or its start), or the Commerce order number"),
        buyer: str | None = Query(None, min_length=1, max_length=100, description="Part of the buyer's name"),
        total_min: int | None = Query(None, ge=0, le=10**12, description="Grand total from, whole units"),
        total_max: int | None = Query(None, ge=0, le=10**12, description="Grand total to, whole units (inclusive)"),
        status: AmazonStatus | None = Query(None, description="Amazon order status"),
        import_state: ImportState | None = Query(None),
        account_id: str | None = Query(None, max_length=200),
        marketplace_id: str | None = Query(None, max_length=200),
        limit: int = Query(50, ge=1, le=200),
        after: str | None = After,
    ) -> Page:
        """All Orders, newest first: Purchase Date, Order Number, Status, Buyer's Name, Grand Total, Order Notes."""
        where: list[str] = []
        args: list[Any] = []

        def cond(sql: str, value: Any) -> None:
            args.append(value)
            where.append(sql.replace("?", f"${len(args)}"))

        if purchased_from is not None:
            cond("purchase_date >= ?", purchased_from)
        if purchased_to is not None:
            cond("purchase_date < ?", purchased_to)
        if number is not None:
            cond("(starts_with(amazon_order_id, ?) OR increment_id = ?)", number)
        if total_min is not None:
            cond("order_total >= ?", Decimal(total_min))
        if total_max is not None:
            cond("order_total < ? + 1", Decimal(total_max))
        if status is not None:
            cond("amazon_status = ?", status.value)
        if import_state is not None:
            cond("import_state = ?", import_state.value)
        if account_id is not None:
            cond("account_id = ?", account_id)
        if marketplace_id is not None:
            cond("marketplace_id = ?", marketplace_id)
        return await page(where, args, limit, after, buyer)

    @r.get("/orders/recent", response_model=list[OrderSummary], dependencies=[requires(Scope.READ)])
    async def recent_orders(account_id: str | None = Query(None, max_length=200),
                            marketplace_id: str | None = Query(None, max_length=200),
                            limit: int = Query(10, ge=1, le=100)) -> list[OrderSummary]:
        """Recent Orders (Amazon data): the newest orders, of one store when given."""
        where, args = [], []
        for column, value in (("account_id", account_id), ("marketplace_id", marketplace_id)):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        return (await page(where, args, limit, None)).items

    @r.get("/orders/awaiting-shipment", response_model=Page, responses=_UNKNOWN_POSITION,
           dependencies=[requires(Scope.READ)])
    async def awaiting_shipment(limit: int = Query(50, ge=1, le=200),
                                after: str | None = After) -> Page:
        """Merchant-fulfilled orders Amazon says are Unshipped or PartiallyShipped, not shipped or cancelled here."""
        return await page(["fulfillment = 'MFN'", "amazon_status IN ('Unshipped', 'PartiallyShipped')",
                           "shipped_at IS NULL", "cancelled_at IS NULL"], [], limit, after)

    @r.get("/orders/errors", response_model=list[ErrorItem], dependencies=[requires(Scope.READ)])
    async def order_errors(limit: int = Query(100, ge=1, le=500)) -> list[ErrorItem]:
        """Imports held by a blocker or refused by Commerce, most recently changed first, each with its note and
        the retry action."""
        async with pool().acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_SUMMARY} FROM orders WHERE import_state IN ('blocked', 'failed') "
                "AND purchase_date IS NOT NULL ORDER BY updated_at DESC, amazon_order_id LIMIT $1", limit)
            buyers, _ = await readable_buyers(vault, conn, [x["amazon_order_id"] for x in rows])
        return [_summary(x, buyers.get(x["amazon_order_id"]), ErrorItem, actions=actions(x["import_state"]))
                for x in rows]

    async def details(conn: asyncpg.Connection, amazon_order_id: str) -> OrderDetails:
        row = await conn.fetchrow(
            f"SELECT {_SUMMARY}, lines::text AS lines, reserved::text AS reserved, requests, shipped_at, "
            "cancelled_at FROM orders WHERE amazon_order_id = $1 AND purchase_date IS NOT NULL", amazon_order_id)
        if row is None:
            raise ProblemError(404, f"no Amazon order {amazon_order_id}")
        buyer = (await readable_buyers(vault, conn, [amazon_order_id]))[0].get(amazon_order_id)
        notes = await conn.fetch("SELECT at, kind, note FROM order_notes WHERE amazon_order_id = $1 ORDER BY id",
                                 amazon_order_id)
        return _summary(
            row, buyer, OrderDetails, lines=json.loads(row["lines"]),
            buyer_email=buyer.email if buyer else None, shipping_address=buyer.address if buyer else None,
            notes=[Note(**dict(n)) for n in notes], reserved=json.loads(row["reserved"]),
            requests=row["requests"], shipped_at=row["shipped_at"], cancelled_at=row["cancelled_at"],
            actions=actions(row["import_state"]))

    @r.get("/orders/{amazon_order_id}", response_model=OrderDetails, dependencies=[requires(Scope.READ)])
    async def order_details(amazon_order_id: str = OrderId) -> OrderDetails:
        """Order Details: the order and shipping details, items, notes, Commerce ids and the actions open."""
        async with pool().acquire() as conn:
            return await details(conn, amazon_order_id)

    async def operate(caller: Principal, action: str, amazon_order_id: str, allowed: tuple[ImportState, ...],
                      change: Any) -> OrderDetails:
        async def work(conn: asyncpg.Connection) -> dict[str, Any]:
            state = await conn.fetchval("SELECT import_state FROM orders WHERE amazon_order_id = $1 "
                                        "AND purchase_date IS NOT NULL FOR UPDATE", amazon_order_id)
            if state is None:
                raise ProblemError(404, f"no Amazon order {amazon_order_id}")
            if ImportState(state) not in allowed:
                raise ProblemError(409, f"the order's import is {state}: {action} applies to "
                                        f"{' or '.join(s.value for s in allowed)} imports only")
            done = await change(conn)
            return {"import_state_before": state, **done}

        await audit.act(service, caller, action, f"order {amazon_order_id}", work)
        async with pool().acquire() as conn:
            return await details(conn, amazon_order_id)

    @r.post("/orders/{amazon_order_id}/retry", response_model=OrderDetails)
    async def retry(amazon_order_id: str = OrderId, caller: Principal = requires(Scope.OPERATE)) -> OrderDetails:
        """Decide a blocked or failed import again now: a failed one is requested from Commerce again."""
        async def change(conn: asyncpg.Connection) -> dict[str, Any]:
            row = await importer.retry(conn, service.schema, amazon_order_id, note=f"retried by {caller.name}")
            assert row is not None
            return {"import_state": row.import_state.value}

        return await operate(caller, "order.retry", amazon_order_id, (ImportState.BLOCKED, ImportState.FAILED),
                             change)

    @r.put("/orders/{amazon_order_id}/address", response_model=OrderDetails)
    async def edit_address(edit: AddressEdit, amazon_order_id: str = OrderId,
                           caller: Principal = requires(Scope.OPERATE)) -> OrderDetails:
        """Save the shipping address (Order Details' editable fields); a blocked or failed import is decided again
        at once. A US or Canadian region must name a state or province."""
        fields = edit.model_dump(exclude_unset=True)
        line3 = fields.pop("line3", None)
        if line3:
            fields["line2"] = ", ".join(p for p in (fields.get("line2"), line3) if p)
        if fields.get("country_code"):
            fields["country_code"] = fields["country_code"].upper()

        async def change(conn: asyncpg.Connection) -> dict[str, Any]:
            opened, unreadable = await readable_buyers(vault, conn, [amazon_order_id])
            if unreadable:
                raise ProblemError(409, "the order's buyer data cannot be opened with the configured keys: add the "
                                        "key it was sealed with to BUYER_DATA_KEYS first")
            current = opened.get(amazon_order_id)
            merged = (current.address if current and current.address else Address()).model_copy(update=fields)
            problem = normalise(merged).problem
            if problem is not None:
                field = f"body.{problem.field}"
                raise ProblemError(422, f"{field}: {problem.reason}",
                                   errors=[FieldError(field=field, reason=problem.reason)])
            result = await importer.edit_address(conn, service.schema, amazon_order_id, fields)
            assert result is not None
            row, changed = result
            return {"import_state": row.import_state.value, "fields_changed": changed}

        return await operate(caller, "order.address", amazon_order_id,
                             (ImportState.WAITING, ImportState.BLOCKED, ImportState.FAILED), change)

    return r
