"""commerce-gateway: the platform's only Commerce (Magento / Adobe Commerce) REST client.

Catalogue in: a full import (`POST /import/catalog`, `python -m commerce_gateway import-catalog`) and an
incremental sync every `CATALOG_SYNC_INTERVAL_S`, both emitting ProductChanged through the outbox.
Orders out: each CommerceOrderRequested becomes one Commerce order (`orders.py`), answered by
CommerceOrderCreated, CommerceOrderFailed or a CommunicationError; `POST /replay/orders` retries failed ones.
Catalogue out: each CommerceProductRequested creates or updates one Commerce product (`products_out.py`), answered
by CommerceProductResult or a CommunicationError; `POST /replay/products` retries failed ones.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter
from pydantic import BaseModel, Field, SecretStr

from commerce_gateway import catalog, deletions, fulfilment, orders, products_out, webhooks
from commerce_gateway.client import CommerceClient
from commerce_gateway.domain.orders import OrderOptions
from commerce_gateway.domain.paging import MAX_PAGE_SIZE
from commerce_gateway.domain.retry import RetryPolicy
from commerce_gateway.stores import StoreSync, attach_store_sync
from contracts import topics
from servicekit import Service, ServiceSettings, audit
from servicekit.auth import Principal, Scope, requires
from servicekit.logging import get_logger
from servicekit.problems import ProblemError

SERVICE = "commerce-gateway"
log = get_logger(component="commerce-gateway")


class Settings(ServiceSettings):
    http_port: int = 8106
    commerce_base_url: str | None = Field(
        default=None, description="Commerce REST base with the store code, e.g. http://127.0.0.1:8120/rest/default")
    commerce_token: SecretStr | None = Field(default=None, description="Integration access token (bearer)")
    commerce_token_file: str | None = Field(default=None, description="A mounted file holding that token")
    commerce_store_code: str = Field(default="default", description="Store view code the events carry")
    commerce_base_currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$",
        description="The store's base currency; unset: read from GET /V1/directory/currency")
    commerce_timeout_s: float = Field(default=30.0, gt=0)
    commerce_max_attempts: int = Field(default=5, ge=1)
    commerce_retry_base_delay_s: float = Field(default=0.5, ge=0)
    commerce_retry_max_delay_s: float = Field(default=30.0, ge=0)
    catalog_page_size: int = Field(default=300, ge=200, le=MAX_PAGE_SIZE, description="Products per page")
    catalog_sync_enabled: bool = Field(default=True, description="Run the incremental sync")
    catalog_sync_interval_s: float = Field(default=300.0, gt=0, description="Seconds between incremental reads")
    catalog_sync_overlap_s: float = Field(
        default=300.0, ge=0, description="Each read goes back this far before the cursor, for late updated_at")
    catalog_reconcile_enabled: bool = Field(
        default=True, description="Compare the catalogue's SKUs with those emitted and announce the deleted ones")
    catalog_reconcile_interval_s: float = Field(default=3600.0, gt=0,
                                                description="Seconds between comparisons (and one after an import)")
    commerce_webhook_secret: SecretStr | None = Field(
        default=None, description="Shared secret of the Commerce webhooks' HMAC-SHA256 signature; "
        "POST /webhooks/commerce is served only with one")
    commerce_webhook_secret_file: str | None = Field(default=None, description="A mounted file holding that secret")

    orders_enabled: bool = Field(default=True, description="Consume CommerceOrderRequested and create the orders")
    order_payment_method: str = Field(default="checkmo", min_length=1,
                                      description="Payment method code of the orders created")
    order_shipping_method: str = Field(default="flatrate_flatrate", min_length=1,
                                       description="Shipping method (carrier_method) of the orders created")
    order_shipping_description: str = Field(default="Amazon shipping", description="The orders' shipping text")
    order_default_country: str = Field(default="US", pattern=r"^[A-Z]{2}$",
                                       description="Country of an address Amazon sent without one")
    order_invoice: bool = Field(
        default=True, description="Invoice (capture) a merchant-fulfilled order when it is created: Amazon took the "
        "payment, and a Commerce shipment of every item then completes the order")
    order_batch_size: int = Field(default=20, ge=1, le=500, description="Requests claimed at a time")
    order_concurrency: int = Field(default=4, ge=1, le=64, description="Requests sent to Commerce at once")
    order_idle_s: float = Field(default=0.5, gt=0, description="Wait when no request is open")
    order_lease_s: float = Field(default=300.0, gt=0,
                                 description="A claim older than this (its sender died) is worked again")

    commerce_name: str = Field(default="default", min_length=1, max_length=100,
                               description="The name the store events give this Commerce installation")
    store_sync_enabled: bool = Field(default=True, description="Read the store structure and currency rates")
    store_sync_interval_s: float = Field(default=900.0, gt=0,
                                         description="Seconds between reads of the store structure and rates")

    fulfilment_sync_enabled: bool = Field(
        default=True, description="Poll Commerce for shipments and cancellations of the Amazon orders created here")
    fulfilment_sync_interval_s: float = Field(default=60.0, gt=0,
                                              description="Seconds between polls (a Commerce webhook polls sooner)")
    fulfilment_sync_overlap_s: float = Field(
        default=300.0, ge=0, description="Each poll goes back this far before its cursor, for late updated_at")
    fulfilment_page_size: int = Field(default=100, ge=1, le=MAX_PAGE_SIZE,
                                      description="Shipments or orders per page")

    products_out_enabled: bool = Field(
        default=True, description="Consume CommerceProductRequested and create or update the Commerce products")
    product_batch_size: int = Field(default=20, ge=1, le=500, description="Product requests claimed at a time")
    product_concurrency: int = Field(default=4, ge=1, le=64, description="Product requests sent to Commerce at once")
    product_idle_s: float = Field(default=0.5, gt=0, description="Wait when no product request is open")
    product_lease_s: float = Field(default=300.0, gt=0,
                                   description="A product claim older than this (its sender died) is worked again")

    def order_options(self) -> OrderOptions:
        return OrderOptions(payment_method=self.order_payment_method, shipping_method=self.order_shipping_method,
                            shipping_description=self.order_shipping_description,
                            default_country=self.order_default_country, invoice=self.order_invoice)

    def token(self) -> SecretStr:
        if self.commerce_token is not None and self.commerce_token.get_secret_value():
            return self.commerce_token
        if self.commerce_token_file:
            return SecretStr(Path(self.commerce_token_file).read_text().strip())
        raise ValueError("no Commerce token: set COMMERCE_TOKEN or COMMERCE_TOKEN_FILE")

    def webhook_secret(self) -> bytes | None:
        if self.commerce_webhook_secret is not None and self.commerce_webhook_secret.get_secret_value():
            return self.commerce_webhook_secret.get_secret_value().encode()
        if self.commerce_webhook_secret_file:
            return Path(self.commerce_webhook_secret_file).read_text().strip().encode() or None
        return None

    def configured(self) -> bool:
        return bool(self.commerce_base_url) and bool(
            (self.commerce_token and self.commerce_token.get_secret_value()) or self.commerce_token_file)


def make_client(s: Settings, http: httpx.AsyncClient) -> CommerceClient:
    assert s.commerce_base_url
    return CommerceClient(s.commerce_base_url, s.token(), http=http,
                          retry=RetryPolicy(s.commerce_max_attempts, s.commerce_retry_base_delay_s,
                                            s.commerce_retry_max_delay_s))


def build(settings: Settings | None = None, *, http: httpx.AsyncClient | None = None) -> Service[Settings]:
    s = settings or Settings()
    service = Service(SERVICE, s, migrations=resources.files("commerce_gateway") / "migrations")
    if not s.configured():
        log.warning("commerce_not_configured", reason="COMMERCE_BASE_URL and a token are needed for the catalogue")
        return service
    transport = http or httpx.AsyncClient(timeout=s.commerce_timeout_s)
    client = make_client(s, transport)
    service.client = client  # type: ignore[attr-defined]

    def shared() -> dict[str, Any]:
        assert service.pool is not None
        return {"pool": service.pool, "schema": service.schema, "client": client, "producer": SERVICE,
                "store_code": s.commerce_store_code, "currency": s.commerce_base_currency,
                "page_size": s.catalog_page_size}

    if s.catalog_sync_enabled:
        async def sync() -> None:
            await catalog.CatalogSync(**shared(), overlap_s=s.catalog_sync_overlap_s).run_forever(
                s.catalog_sync_interval_s)
        service.background("catalog-sync", sync)

    queue: asyncio.Queue[bool] = asyncio.Queue()
    reconcile = (deletions.attach(service, shared, s.catalog_reconcile_interval_s) if s.catalog_reconcile_enabled
                 else asyncio.Event())
    if (secret := s.webhook_secret()) is not None:
        webhooks.attach(service, lambda: catalog.Catalog(**shared()), secret, s.catalog_sync_interval_s)

    async def importer() -> None:
        while True:
            restart = await queue.get()
            try:
                await catalog.CatalogImport(**shared()).run(restart=restart)
                reconcile.set()
            except (catalog.ImportFailed, catalog.ImportBusy) as exc:
                log.warning("catalog_import_stopped", reason=str(exc))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: the import stays resumable
                log.warning("catalog_import_error", error=repr(exc))

    service.background("catalog-import", importer)
    service.include_router(_import_router(service, queue, s.commerce_store_code))
    if s.orders_enabled:
        _attach_orders(service, client, s)
    if s.store_sync_enabled:
        attach_store_sync(service, StoreSync(pool=None, schema=service.schema, client=client, producer=SERVICE,
                                             commerce=s.commerce_name), interval_s=s.store_sync_interval_s)
    if s.products_out_enabled:
        products_out.attach(service, products_out.ProductSender(
            pool=None, schema=service.schema, producer=SERVICE, client=client, base_currency=s.commerce_base_currency,
            batch_size=s.product_batch_size, concurrency=s.product_concurrency, idle_s=s.product_idle_s,
            lease_s=s.product_lease_s), topic=topics.PRODUCT_REQUESTS)
    if s.fulfilment_sync_enabled:
        fulfilment.attach(service, fulfilment.FulfilmentSync(
            pool=None, schema=service.schema, client=client, producer=SERVICE, store_code=s.commerce_store_code,
            page_size=s.fulfilment_page_size, overlap_s=s.fulfilment_sync_overlap_s),
            interval_s=s.fulfilment_sync_interval_s)
    return service


def _attach_orders(service: Service[Settings], client: CommerceClient, s: Settings) -> orders.OrderSender:
    """Consume order requests; create the orders in the background; replay failed ones on request."""
    sender = orders.OrderSender(pool=None, schema=service.schema, producer=SERVICE, client=client,
                                options=s.order_options(), batch_size=s.order_batch_size,
                                concurrency=s.order_concurrency, idle_s=s.order_idle_s, lease_s=s.order_lease_s)

    async def run() -> None:
        sender.pool = service.pool
        await sender.run()

    service.subscribe(topics.COMMERCE_ORDER_REQUESTS, orders.on_order_requests)
    service.background("order-sender", run)
    service.include_router(_orders_router(service))
    service.order_sender = sender  # type: ignore[attr-defined]
    return sender


class ReplayOrders(BaseModel):
    amazon_order_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=1000, description="Only these Amazon orders; none: every failed request")


def _orders_router(service: Service[Settings]) -> APIRouter:
    router = APIRouter(tags=["orders"])

    @router.post("/replay/orders")
    async def replay_orders(body: ReplayOrders | None = None,
                            caller: Principal = requires(Scope.OPERATE)) -> dict[str, Any]:
        """Put failed order requests (refused by Commerce or unreachable) back to work; each order is looked up
        in Commerce before it is created, so a replay never makes a second one."""
        ids = body.amazon_order_ids if body else None

        async def work(conn: Any) -> dict[str, Any]:
            return {"replayed": await orders.replay_failed(conn, ids)}
        return await audit.act(service, caller, "replay.commerce_orders",
                               "orders " + (",".join(ids) if ids else "*"), work)

    @router.get("/orders/{amazon_order_id}", dependencies=[requires(Scope.READ)])
    async def order_request(amazon_order_id: str) -> dict[str, Any]:
        """One Amazon order's request: status, outcome, the Commerce order, attempts, the last error."""
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        state = await orders.request_state(service.pool, amazon_order_id)
        if state is None:
            raise ProblemError(404, f"no request for Amazon order {amazon_order_id}")
        return state

    return router


def _import_router(service: Service[Settings], queue: asyncio.Queue[bool], store_code: str) -> APIRouter:
    router = APIRouter(tags=["import"])

    @router.post("/import/catalog", status_code=202)
    async def start_import(restart: bool = False, caller: Principal = requires(Scope.OPERATE)) -> dict[str, Any]:
        """Import the whole catalogue in the background (one ProductChanged per product); a failed or
        interrupted import continues from its next page unless `restart`."""
        async def work(conn: Any) -> dict[str, Any]:
            queue.put_nowait(restart)
            return {"queued": True, "store_code": store_code, "restart": restart}
        return await audit.act(service, caller, "import.catalog", f"store {store_code}", work)

    @router.get("/import/catalog", dependencies=[requires(Scope.READ)])
    async def import_progress() -> dict[str, Any]:
        """The import's status, pages, imported of total, the last error."""
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        state = await catalog.progress(service.pool, store_code)
        if state is None:
            raise ProblemError(404, f"no catalogue import of store {store_code} has run")
        return state.as_json()

    return router
