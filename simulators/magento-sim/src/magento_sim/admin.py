"""`/_sim`: the admin surface of the simulator itself (no token, not counted, outside faults).

- `GET/POST /_sim/faults`: fault settings (`FaultSettings`)
- `GET /_sim/stats`: calls per operation and status, injected faults, webhook deliveries, product count
- `GET /_sim/config`: the settings in force (the token and the webhook secret are never shown)
- `GET /_sim/products/{sku}`: the product as the REST API renders it (default store view)
- `PUT /_sim/products/{sku}`: save a product as the admin would (a REST `product` body, bare or wrapped)
- `PATCH /_sim/products/{sku}`: change some fields (`price`, `qty`, `is_in_stock`, `status`, `name`,
  `website_prices`, `custom_attributes` as a map); every change bumps `updated_at` and fires the webhook
- `POST /_sim/reset`: the seeded catalogue again, faults off, counters cleared
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from magento_sim import catalog
from magento_sim.core import MagentoError, Simulator, not_found_product
from magento_sim.faults import FaultSettings


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

    @app.post("/_sim/reset", tags=["simulator"])
    async def reset() -> JSONResponse:
        sim.reset()
        return JSONResponse({"products": len(sim.catalog)})


def _product(sim: Simulator, sku: str) -> catalog.Product:
    product = sim.catalog.by_sku.get(sku)
    if product is None:
        raise not_found_product()
    return product
