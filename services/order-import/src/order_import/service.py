"""order-import: Amazon orders into Commerce exactly once; order settings per store; the order views.

Consumes amazon.orders.v1, commerce.orders.v1, commerce.products.v1, catalog.listings.v1 and Commerce's failures on
platform.communication-errors.v1 (plus fulfilment's topics); emits
CommerceOrderRequested (commerce.order-requests.v1) and StockReservationChanged (orders.stock-reservations.v1)
through the outbox.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import resources

from pydantic import Field

from contracts import topics
from order_import import api, buyers, fulfilment
from order_import.buyers import BuyerDataSettings, BuyerVault
from order_import.importer import Importer
from order_import.settings import registry
from servicekit import Service, ServiceSettings
from servicekit.config import config_router

SERVICE = "order-import"


class Settings(ServiceSettings, BuyerDataSettings):
    http_port: int = 8103
    blocked_retry_s: float = Field(
        default=300, gt=0, description="A blocked order is decided again this long after its last decision "
                                       "(and at once when one of its products or listings changes)")
    schedule_interval_s: float = Field(default=5, gt=0, description="How often due orders are looked for")
    schedule_batch: int = Field(default=200, ge=1, description="Orders decided again per transaction")


def build(settings: Settings | None = None) -> Service[Settings]:
    settings = settings or Settings()
    service = Service(SERVICE, settings, migrations=resources.files("order_import") / "migrations")
    vault = BuyerVault.from_settings(settings)
    importer = Importer(SERVICE, registry(), vault, blocked_retry=timedelta(seconds=settings.blocked_retry_s))
    service.subscribe(topics.ORDERS, importer.on_amazon_orders)
    service.subscribe(topics.COMMERCE_ORDERS, importer.on_commerce_orders)
    service.subscribe(topics.PRODUCTS, importer.on_products)
    service.subscribe(topics.LISTINGS, importer.on_listings)
    service.subscribe(topics.COMMUNICATION_ERRORS, importer.on_communication_errors)

    async def schedule() -> None:
        assert service.pool is not None
        await importer.run_schedule(service.pool, service.schema, settings.schedule_interval_s,
                                    settings.schedule_batch)

    async def purge() -> None:
        assert service.pool is not None
        await buyers.run_purge_forever(service.pool, settings.buyer_data_purge_interval_s)

    service.background("order-schedule", schedule)
    service.background("buyer-data-purge", purge)
    service.include_router(api.router(service, importer, vault))
    service.include_router(config_router(service, importer.registry))
    shipping = fulfilment.attach(service, import_enabled=importer.import_enabled, vault=vault)
    importer.on_commerce_cancelled = shipping.on_commerce_order_cancelled
    service.importer = importer  # type: ignore[attr-defined]
    return service

