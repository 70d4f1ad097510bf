"""Helpers of the fulfilment tests: order-import with fulfilment attached, imported orders, Amazon's answers."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import asyncpg

from contracts import Event, Money, decode
from contracts.events import AmazonIssue, OrderActionResult, OrderLine
from devstack.testing import eventually, read_topic
from order_import.buyers import BuyerVault, Keyring
from order_import.fulfilment import attach
from servicekit import Service, ServiceSettings

MARKET = "ATVPDKIKX0DER"
VIEW_ONLY_ACCOUNT = "acct-view-only"
PLACED = datetime.now(UTC) - timedelta(days=2)


async def import_enabled(conn: asyncpg.Connection, account_id: str, marketplace_id: str) -> bool:
    return account_id != VIEW_ONLY_ACCOUNT


def fulfilment_service(bootstrap: str, database_url: str) -> Service[ServiceSettings]:
    """order-import as it runs, with only fulfilment attached (and a buyer data vault with a key of its own)."""
    service = Service("order-import", ServiceSettings(
        kafka_bootstrap_servers=bootstrap, database_url=database_url, consumer_batch_timeout_ms=20,
        outbox_poll_interval_s=0.2), migrations=resources.files("order_import") / "migrations")
    attach(service, import_enabled=import_enabled, vault=BuyerVault(Keyring([os.urandom(32)])))
    return service


def new_order_id() -> str:
    n = uuid.uuid4().int
    return f"{100 + n % 900}-{n // 1000 % 10**7:07d}-{n // 10**10 % 10**7:07d}"


def line(item: str, quantity: int, sku: str = "SKU-1") -> OrderLine:
    return OrderLine(order_item_id=item, sku=sku, asin="B000000001", quantity=quantity,
                     item_price=Money(amount=Decimal("10.00"), currency="USD"))


async def imported_order(pool: asyncpg.Pool, *, status: str = "Unshipped", fulfillment: str = "MFN",
                         lines: dict[str, int] | None = None, account: str = "acct-1") -> str:
    """An Amazon order the importer has taken in (and, unless FBA, created in Commerce)."""
    order_id = new_order_id()
    encoded = [line(item, qty).model_dump(mode="json") for item, qty in (lines or {"item-1": 1}).items()]
    await pool.execute(
        "INSERT INTO orders (amazon_order_id, account_id, marketplace_id, fulfillment, purchase_date, amazon_status, "
        "status_at, currency, lines, import_state, store_code, commerce_order_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $5, 'USD', $7::jsonb, 'created', 'default', $8)",
        order_id, account, MARKET, fulfillment, PLACED, status, json.dumps(encoded), str(uuid.uuid4().int % 10**6))
    return order_id


def answer(request: Event, *, accepted: bool = True, message: str | None = None,
           action: str = "confirm_shipment") -> OrderActionResult:
    """amazon-gateway's OrderActionResult for a request."""
    issues = [] if accepted else [AmazonIssue(code="InvalidInput", message=message or "refused", severity="ERROR")]
    return OrderActionResult.new(
        producer="amazon-gateway", caused_by=request, account_id=request.account_id,  # type: ignore[attr-defined]
        marketplace_id=request.marketplace_id, amazon_order_id=request.amazon_order_id,  # type: ignore[attr-defined]
        action=action, request_event_id=request.event_id, accepted=accepted, issues=issues)  # type: ignore[arg-type]


async def requests_of(bootstrap: str, topic: str, order_id: str, count: int) -> list[Any]:
    """The first `count` events of one order on a topic (one partition: in the order they were written)."""
    def mine(records: list[Any]) -> list[Any]:
        return [decode(r.value) for r in records if r.key.decode() == order_id]

    return mine(await read_topic(bootstrap, topic, until=lambda rs: len(mine(rs)) >= count))[:count]


async def order_row(pool: asyncpg.Pool, order_id: str) -> asyncpg.Record:
    return await pool.fetchrow("SELECT * FROM orders WHERE amazon_order_id = $1", order_id)


async def until_order(pool: asyncpg.Pool, order_id: str, check: Callable[[asyncpg.Record], bool], what: str) -> None:
    async def met() -> bool:
        return check(await order_row(pool, order_id))

    await eventually(met, what=what)


async def handled(pool: asyncpg.Pool, event: Event) -> None:
    async def seen() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM _inbox WHERE event_id = $1", event.event_id))

    await eventually(seen, what=f"{event.event_type} handled")
