"""catalog-sync: Commerce products -> Amazon listings.

It owns each listing's state: products make and change listings; what Amazon reports of them
(listing import, status and issues notifications) matches them and moves their status; the
repricer's PriceChanged sets their price; what pending Amazon orders hold back of a product
(StockReservationChanged) comes off its listed quantity. Every change goes out as a ListingChanged.
"""

from __future__ import annotations

from functools import partial
from importlib import resources

from fastapi import APIRouter
from pydantic import Field

from catalog_sync.domain import Target
from catalog_sync.handlers import (
    SERVICE,
    on_amazon_listings,
    on_prices,
    on_products_changed,
    on_stock_reservations,
)
from contracts import topics
from servicekit import Service, ServiceSettings
from servicekit.auth import Scope, requires
from servicekit.problems import ProblemError


class CatalogSyncSettings(ServiceSettings):
    http_port: int = 8101
    catalog_sync_targets: str = Field(
        default="demo-seller:ATVPDKIKX0DER",
        description="Comma-separated ACCOUNT:MARKETPLACE_ID pairs each product is listed on",
    )


def build(settings: CatalogSyncSettings | None = None) -> Service[CatalogSyncSettings]:
    settings = settings or CatalogSyncSettings()
    targets = Target.parse_many(settings.catalog_sync_targets)
    service = Service(SERVICE, settings, migrations=resources.files("catalog_sync") / "migrations")
    service.subscribe(topics.PRODUCTS, partial(on_products_changed, targets=targets))
    service.subscribe(topics.AMAZON_LISTINGS, on_amazon_listings)
    service.subscribe(topics.PRICES, on_prices)
    service.subscribe(topics.STOCK_RESERVATIONS, on_stock_reservations)

    router = APIRouter(tags=["listings"], dependencies=[requires(Scope.READ)])

    @router.get("/listings/{account_id}/{marketplace_id}/{sku}")
    async def get_listing(account_id: str, marketplace_id: str, sku: str) -> dict[str, object]:
        """The listing as catalog-sync holds it."""
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        row = await service.pool.fetchrow(
            "SELECT * FROM listings WHERE account_id = $1 AND marketplace_id = $2 AND sku = $3",
            account_id, marketplace_id, sku,
        )
        if row is None:
            raise ProblemError(404, f"no listing {account_id}/{marketplace_id}/{sku}")
        return dict(row)

    service.include_router(router)
    return service
