"""`/_sim`: the admin surface of the simulator itself (no token, not counted, outside faults).

- `GET/POST /_sim/faults`: fault settings (`FaultSettings`)
- `GET /_sim/stats`: calls per operation and status, injected faults, webhook deliveries, product count
- `GET /_sim/config`: the settings in force (the token and the webhook secret are never shown)
- `GET /_sim/products/{sku}`: the product as the REST API renders it (default store view)
- `PUT /_sim/products/{sku}`: save a product as the admin would (a REST `product` body, bare or wrapped)
- `PATCH /_sim/products/{sku}`: change some fields (`price`, `qty`, `is_in_stock`, `status`, `name`,
  `website_prices`, `custom_attributes` as a map); every change bumps `updated_at` and fires the webhook
- `GET /_sim/orders` (`?ext_order_id=`, `?status=`), `GET /_sim/orders/{id}`: orders as the REST API renders them
- `POST /_sim/orders/{id}/ship`: ship as a warehouse would (`items`, `tracks`; default everything left, one UPS
  track); the order moves on and the shipment webhook fires
- `GET /_sim/shipments` (`?order_id=`), `GET /_sim/shipments/{id}`
- `GET /_sim/currency-rates`, `PUT /_sim/currency-rates`: the currency rates from each base currency; a PUT
  (`base_currency`, `rates` code -> positive number) replaces one base's rates, as `GET /V1/directory/currency` then
  answers them
- `POST /_sim/reset`: the seeded catalogue and currency rates again, no customers, orders or shipments, faults off,
  counters cleared
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from magento_sim import catalog, sales, stores
from magento_sim.core import MagentoError, Simulator, not_found_product
from magento_sim.faults import FaultSettings


class Track(BaseModel):
    carrier_code: str = "ups"
    title: str = "United Parcel Service"
    track_number: str | None = None


class ShipmentItem(BaseModel):
    order_item_id: int
    qty: float


class WarehouseShipment(BaseModel):
    items: list[ShipmentItem] | None = None
    tracks: list[Track] | None = None


CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class CurrencyRates(BaseModel):
    base_currency: CurrencyCode
    rates: dict[CurrencyCode, Annotated[float, Field(gt=0)]] = Field(
        description="Currency code -> how many of it one unit of base_currency buys")


class ProductPatch(BaseModel):
    name: str | None = None
    price: float | None = None
    status: int | None = None
    qty: float | None = None
    is_in_stock: bool | None = None
    website_prices: dict[int, float] | None = None
    custom_attributes: dict[str, str | None] | None = None


def register(app: FastAPI, sim: Simulator) -> None:
    @app.get("/_sim/faults", tags=["simulator"])
    async def get_faults() -> FaultSettings:
        return sim.faults.settings

    @app.post("/_sim/faults", tags=["simulator"])
    async def set_faults(settings: FaultSettings) -> FaultSettings:
        sim.faults.configure(settings)
        return settings

    @app.get("/_sim/stats", tags=["simulator"])
    async def stats() -> dict[str, Any]:
        return {
            "operations": {op: dict(counts) for op, counts in sorted(sim.calls.items())},
            "faults": dict(sim.fault_counts),
            "webhooks": {**sim.webhooks.counts, "pending": sim.webhooks.pending()},
            "products": len(sim.catalog),
            "customers": len(sim.sales.customers), "orders": len(sim.sales.orders),
            "shipments": len(sim.sales.shipments),
        }

    @app.get("/_sim/config", tags=["simulator"])
    async def config() -> dict[str, Any]:
        c = sim.config
        return {"multiply": c.multiply, "price_scope": c.price_scope, "webhook_url": c.webhook_url,
                "webhook_signed": c.webhook_secret is not None, "latency_ms": c.latency_ms, "seed": c.seed,
                "sample_data": str(sim.sample_data), "products": len(sim.catalog)}

    @app.get("/_sim/products/{sku}", tags=["simulator"])
    async def get_product(sku: str) -> dict[str, Any]:
        return sim.catalog.render(_product(sim, sku), 1)

    @app.put("/_sim/products/{sku}", tags=["simulator"])
    async def put_product(sku: str, body: dict[str, Any]) -> dict[str, Any]:
        product_body = body.get("product", body)
        try:
            product = sim.catalog.save(product_body, sku, None)
        except catalog.InvalidProduct as exc:
            raise MagentoError(400, str(exc)) from exc
        return sim.catalog.render(product, 1)

    @app.patch("/_sim/products/{sku}", tags=["simulator"])
    async def patch_product(sku: str, patch: ProductPatch) -> dict[str, Any]:
        product = _product(sim, sku)
        data = product.materialise()
        for name in ("name", "price", "status"):
            if getattr(patch, name) is not None:
                data[name] = getattr(patch, name)
        for name in ("qty", "is_in_stock"):
            if getattr(patch, name) is not None:
                data["stock"][name] = getattr(patch, name)
        if patch.website_prices:
            data["website_prices"].update(patch.website_prices)
        for code, value in (patch.custom_attributes or {}).items():
            if value is None:
                data["custom_attributes"].pop(code, None)
            else:
                data["custom_attributes"][code] = value
        sim.catalog.touch(product)
        return sim.catalog.render(product, 1)

    @app.get("/_sim/orders", tags=["simulator"])
    async def list_orders(ext_order_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for o in sim.sales.orders.values()
                if (ext_order_id is None or o.get("ext_order_id") == ext_order_id)
                and (status is None or o["status"] == status)]

    @app.get("/_sim/orders/{order_id}", tags=["simulator"])
    async def get_order(order_id: int) -> dict[str, Any]:
        return copy.deepcopy(_sales(sim.sales.order, order_id))

    @app.post("/_sim/orders/{order_id}/ship", tags=["simulator"])
    async def ship_order(order_id: int, shipment: WarehouseShipment | None = None) -> dict[str, Any]:
        shipment = shipment or WarehouseShipment()
        tracks = [{**t.model_dump(), "track_number": t.track_number or f"1Z{order_id:016d}"}
                  for t in shipment.tracks or [Track()]]
        items = [i.model_dump() for i in shipment.items] if shipment.items else None
        return copy.deepcopy(_sales(lambda oid: sim.sales.ship(oid, items, tracks), order_id))

    @app.get("/_sim/shipments", tags=["simulator"])
    async def list_shipments(order_id: int | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(s) for s in sim.sales.shipments.values()
                if order_id is None or s["order_id"] == order_id]

    @app.get("/_sim/shipments/{shipment_id}", tags=["simulator"])
    async def get_shipment(shipment_id: int) -> dict[str, Any]:
        return copy.deepcopy(_sales(sim.sales.shipment, shipment_id))

    @app.get("/_sim/currency-rates", tags=["simulator"])
    async def get_currency_rates() -> dict[str, dict[str, float]]:
        return {base: dict(sorted(rates.items())) for base, rates in sorted(stores.RATES.items())}

    @app.put("/_sim/currency-rates", tags=["simulator"])
    async def put_currency_rates(body: CurrencyRates) -> dict[str, Any]:
        return {"base_currency": body.base_currency, "rates": stores.set_rates(body.base_currency, body.rates)}

    @app.post("/_sim/reset", tags=["simulator"])
    async def reset() -> JSONResponse:
        sim.reset()
        stores.reset_rates()
        return JSONResponse({"products": len(sim.catalog)})


def _sales(action: Callable[[int], dict[str, Any]], entity_id: int) -> dict[str, Any]:
    try:
        return action(entity_id)
    except sales.SalesError as exc:
        raise MagentoError(exc.status, exc.message, exc.parameters) from exc


def _product(sim: Simulator, sku: str) -> catalog.Product:
    product = sim.catalog.by_sku.get(sku)
    if product is None:
        raise not_found_product()
    return product
