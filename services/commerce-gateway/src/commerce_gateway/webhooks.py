"""`POST /webhooks/commerce`: Commerce pushes a change as it happens, signed with a shared secret.

The sender signs the raw body: `X-Magento-Webhook-Signature` is its hex HMAC-SHA256 with
`COMMERCE_WEBHOOK_SECRET` (or the file `COMMERCE_WEBHOOK_SECRET_FILE`), compared in constant time; the route is
mounted only when a secret is set. `X-Magento-Webhook-Entity` names what changed (bodies in
`domain/webhooks.py`):

- a product saved names the product: it is read again through the gateway's store view
  (`GET /V1/products/{sku}`), as the incremental sync reads it, so a push rendered in another scope or
  delivered late never disagrees with the sync, and goes the sync's way (`Catalog.write_changed`): one
  ProductChanged when what its event says differs from `product_hashes`, none when it does not. A
  configurable emits nothing itself; what it says about its children (their parent SKU) is kept for theirs;
- a product deleted: one ProductChanged with status `deleted` if it had been emitted (`deletions.py`);
- an order or shipment goes to the handler registered for its entity (`handlers(service).register`); with
  none, it is accepted and ignored.

A missing or wrong signature is a 401 problem, a body that cannot be read a 400 problem naming the field, and
neither changes anything. When Commerce or the database cannot be reached the answer is a 503 problem (the
sender retries; the incremental sync reads the product anyway).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from commerce_gateway import deletions
from commerce_gateway.catalog import Catalog
from commerce_gateway.client import CommerceCallFailed
from commerce_gateway.domain.products import CONFIGURABLE, configurable_children
from commerce_gateway.domain.webhooks import (
    SALES_ENTITIES,
    MalformedPush,
    ProductDeleted,
    ProductSaved,
    SalesPushed,
    read_push,
)
from servicekit.auth import signed
from servicekit.logging import get_logger
from servicekit.problems import FieldError, ProblemError

log = get_logger(component="webhooks")

PATH = "/webhooks/commerce"
SIGNATURE_HEADER = "X-Magento-Webhook-Signature"
ENTITY_HEADER = "X-Magento-Webhook-Entity"
MAX_BODY_BYTES = 1 << 20
Json = dict[str, Any]
SalesHandler = Callable[[Json], Awaitable[None]]


class WebhookHandlers:
    """Who takes order and shipment pushes: one handler per entity, called with the push's body."""

    def __init__(self) -> None:
        self._handlers: dict[str, SalesHandler] = {}

    def register(self, entity: str, handler: SalesHandler) -> None:
        if entity not in SALES_ENTITIES:
            raise ValueError(f"no {entity!r} pushes: one of {', '.join(sorted(SALES_ENTITIES))}")
        self._handlers[entity] = handler

    def get(self, entity: str) -> SalesHandler | None:
        return self._handlers.get(entity)


def handlers(service: Any) -> WebhookHandlers:
    """The service's registry (made on first use), whether or not the endpoint is mounted."""
    found: WebhookHandlers | None = getattr(service, "webhook_handlers", None)
    if found is None:
        found = WebhookHandlers()
        service.webhook_handlers = found
    return found


@dataclass
class ProductPushes:
    """Product pushes into events, with the configurable parents of children kept between pushes (read as the
    incremental sync reads them, again when older than `parents_max_age_s`)."""

    make_catalog: Callable[[], Catalog]  # called once, when the first push comes (the pool is open by then)
    parents_max_age_s: float
    _catalog: Catalog | None = None
    _parents: dict[int, str] | None = None
    _read_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def catalog(self) -> Catalog:
        """One catalogue for every push, so the base currency is read from Commerce once at most."""
        if self._catalog is None:
            self._catalog = self.make_catalog()
        return self._catalog

    async def parents(self) -> dict[int, str]:
        async with self._lock:
            if self._parents is None or time.monotonic() - self._read_at > self.parents_max_age_s:
                self._parents = await self.catalog().parents()
                self._read_at = time.monotonic()
            return self._parents

    async def saved(self, pushed: Json) -> int:
        catalog = self.catalog()
        try:
            item = await catalog.client.get_product(pushed["sku"])
        except CommerceCallFailed as exc:
            if exc.status == 404:
                return 0  # deleted since: its deletion is pushed too
            raise
        parents = await self.parents()
        if item.get("type_id") == CONFIGURABLE:
            children = set(configurable_children(item))
            for child in [c for c, parent in parents.items() if parent == item["sku"] and c not in children]:
                del parents[child]
            for child in children:
                parents[child] = item["sku"]
            return 0
        return await catalog.write_changed([item], await catalog.base_currency(), parents)

    async def deleted(self, item: Json) -> int:
        parents = self._parents or {}
        return await deletions.pushed_deletion(self.catalog(), item, parents)


def _problem(exc: MalformedPush) -> ProblemError:
    return ProblemError(400, str(exc), errors=[FieldError(field=exc.field, reason=exc.reason)])


def router(pushes: ProductPushes, registry: WebhookHandlers, secret: bytes) -> APIRouter:
    routes = APIRouter(tags=["webhooks"])
    body_schema = {"type": "object", "description": "A product as GET /V1/products/{sku} renders it; "
                   "{entity: product, event: deleted, product}; or {entity: order|shipment, event, <entity>}"}

    @routes.post(PATH, dependencies=[signed(SIGNATURE_HEADER, lambda: secret, scheme_name="commerceWebhook")],
                 openapi_extra={"requestBody": {"required": True,
                                                "content": {"application/json": {"schema": body_schema}}}},
                 responses={202: {"description": "An order or shipment push, handed on or ignored"},
                            413: {"description": "The body is larger than 1 MiB"}})
    async def commerce_webhook(
            request: Request,
            entity: str | None = Header(default=None, alias=ENTITY_HEADER, max_length=32,
                                        description="product, order or shipment")) -> JSONResponse:
        """A change Commerce pushed: a product saved or deleted (at most one ProductChanged), an order or
        shipment (handed to its handler)."""
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise ProblemError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            push = read_push(entity, raw)
        except MalformedPush as exc:
            log.info("webhook_refused", field=exc.field, reason=exc.reason)
            raise _problem(exc) from None
        if isinstance(push, SalesPushed):
            return await _sales(registry, push)
        try:
            if isinstance(push, ProductSaved):
                emitted = await pushes.saved(push.item)
                event = "saved"
            else:
                assert isinstance(push, ProductDeleted)
                emitted = await pushes.deleted(push.item)
                event = "deleted"
        except CommerceCallFailed as exc:
            raise ProblemError(503, f"Commerce could not be read ({exc.fields['operation']}); send again") from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("webhook_store_failed", error=type(exc).__name__)
            raise ProblemError(503, "the change could not be stored; send again") from None
        log.info("webhook_product", sku=push.item["sku"], change=event, emitted=emitted)
        return JSONResponse({"entity": "product", "event": event, "sku": push.item["sku"], "emitted": emitted})

    return routes


async def _sales(registry: WebhookHandlers, push: SalesPushed) -> JSONResponse:
    handler = registry.get(push.entity)
    if handler is not None:
        try:
            await handler(push.body)
        except Exception as exc:  # the sender retries a 5xx; nothing of the push was taken
            log.warning("webhook_handler_failed", entity=push.entity, change=push.event, error=repr(exc))
            raise ProblemError(503, f"the {push.entity} push could not be handled; send again") from None
    log.info("webhook_sales", entity=push.entity, change=push.event, handled=handler is not None)
    return JSONResponse({"entity": push.entity, "event": push.event, "handled": handler is not None}, 202)


def attach(service: Any, catalog: Callable[[], Catalog], secret: bytes, parents_max_age_s: float) -> ProductPushes:
    """Mount `POST /webhooks/commerce`."""
    pushes = ProductPushes(catalog, parents_max_age_s)
    service.include_router(router(pushes, handlers(service), secret))
    return pushes
