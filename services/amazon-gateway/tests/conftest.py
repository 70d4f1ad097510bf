"""The SP-API simulator in process, and an amazon-gateway pointed at it over the real broker and PostgreSQL."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from amazon_gateway.accounts import AmazonAccount
from amazon_gateway.service import Settings, build
from amazon_sim import Account, SimConfig, create_app
from contracts.events import ListingUpdateKind, ListingUpdateRequested
from contracts.money import Money
from servicekit import Service

SELLER = "A1GWSELLER00001"
US = "ATVPDKIKX0DER"
CLIENT_ID = "amzn1.application-oa2-client.gw"
CLIENT_SECRET = "amzn1.oa2-cs.v1.gwclientsecret0123456789"
REFRESH_TOKEN = "Atzr|gw-refresh-token-0123456789"
ACCOUNT_ID = "acct-gw"
SIM_BASE = "http://sim.test"

SIM_ACCOUNT = Account(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN,
                      seller_id=SELLER, marketplaces=[US])


def gateway_account(**overrides: Any) -> AmazonAccount:
    fields: dict[str, Any] = {
        "account_id": ACCOUNT_ID, "seller_id": SELLER, "region": "na", "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN, "marketplace_ids": [US]}
    return AmazonAccount(**(fields | overrides))


@pytest.fixture
def kit() -> Any:
    """This module, so tests reach its helpers (with --import-mode=importlib conftest is not importable)."""
    return sys.modules[__name__]


@pytest.fixture
async def sim_http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose every request goes to a fresh in-process simulator."""
    app = create_app(SimConfig(accounts=[SIM_ACCOUNT], seed=11), background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SIM_BASE) as client:
        yield client


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def price_request(sku: str, amount: str, minute: int, account_id: str = ACCOUNT_ID) -> ListingUpdateRequested:
    return ListingUpdateRequested.new(
        producer="test", account_id=account_id, marketplace_id=US, sku=sku, kind=ListingUpdateKind.PRICE,
        price=Money(amount=amount, currency="USD"), requested_at=T0 + timedelta(minutes=minute))


def quantity_request(sku: str, quantity: int, minute: int) -> ListingUpdateRequested:
    return ListingUpdateRequested.new(
        producer="test", account_id=ACCOUNT_ID, marketplace_id=US, sku=sku, kind=ListingUpdateKind.QUANTITY,
        quantity=quantity, requested_at=T0 + timedelta(minutes=minute))


def new_skus(n: int) -> list[str]:
    run = uuid.uuid4().hex[:6]
    return [f"GW-{run}-{i}" for i in range(n)]


async def seed_listing(sim: httpx.AsyncClient, sku: str, price: int = 10, quantity: int = 1) -> None:
    r = await sim.put(f"/_sim/listings/{SELLER}/{sku}", json={"productType": "HOME", "attributes": {
        "item_name": [{"value": f"Item {sku}", "marketplace_id": US}],
        "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                               "our_price": [{"schedule": [{"value_with_tax": price}]}]}],
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]}})
    assert r.status_code == 200, r.text


async def listing_state(sim: httpx.AsyncClient, sku: str) -> dict[str, Any]:
    return (await sim.get(f"/_sim/listings/{SELLER}/{sku}")).json()


@dataclass
class Gateway:
    service: Service[Settings]
    sim: httpx.AsyncClient
    bootstrap: str
    db: asyncpg.Connection

    async def status_of(self, request_id: uuid.UUID) -> str | None:
        return await self.db.fetchval(
            f"SELECT status FROM {self.service.schema}.pending_updates WHERE request_id = $1", request_id)


GatewayFactory = Callable[..., Any]


@pytest.fixture
async def gateway_factory(
    topics_created: str, database_url: str, db: asyncpg.Connection, sim_http: httpx.AsyncClient,
) -> AsyncIterator[GatewayFactory]:
    """Start a gateway (settings overridable) against the simulator; stopped at the end of the test."""
    started: list[Service[Settings]] = []
    # Rows a previous test left (failed ones are kept on purpose) must not be sent again here.
    for table in ("pending_updates", "sent_fields"):
        try:
            await db.execute(f"DELETE FROM amazon_gateway.{table}")
        except asyncpg.UndefinedTableError:
            pass

    async def start(accounts: list[AmazonAccount] | None = None, **overrides: Any) -> Gateway:
        settings = Settings(**({
            "kafka_bootstrap_servers": topics_created, "database_url": database_url,
            "amazon_api_base_url": SIM_BASE, "amazon_lwa_url": f"{SIM_BASE}/auth/o2/token",
            "amazon_retry_base_delay_s": 0.01, "amazon_retry_max_delay_s": 0.2, "verify_delay_s": 0,
            "sender_idle_s": 0.05} | overrides))
        service = build(settings, http=sim_http,
                        accounts={a.account_id: a for a in (accounts or [gateway_account()])})
        await service.start()
        started.append(service)
        return Gateway(service, sim_http, topics_created, db)

    try:
        yield start
    finally:
        for service in started:
            await service.stop()
