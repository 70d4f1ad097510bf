"""The `/_sim` admin surface: faults, rate limits, accounts, clock, listing state and stats."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from amazon_sim.config import Account
from amazon_sim.core import Simulator
from amazon_sim.faults import FaultSettings
from amazon_sim.listings import iso, our_price
from amazon_sim.ratelimit import USAGE_PLANS

# --- admin bodies ----------------------------------------------------------------------------------------------

class ClockAdvance(BaseModel):
    seconds: float


class Plan(BaseModel):
    rate: float
    burst: int


class RateLimitSettings(BaseModel):
    enabled: bool | None = None
    overrides: dict[str, Plan] | None = None


class SeedListing(BaseModel):
    productType: str = "PRODUCT"
    attributes: dict[str, Any] = {}
    marketplaceIds: list[str] | None = None


def register(app: FastAPI, sim: Simulator) -> None:
    @app.get("/_sim/faults")
    async def get_faults() -> dict[str, Any]:
        return sim.faults.settings.model_dump()

    @app.post("/_sim/faults")
    async def set_faults(settings: FaultSettings) -> dict[str, Any]:
        sim.faults.configure(settings)
        return settings.model_dump()

    @app.delete("/_sim/faults")
    async def clear_faults() -> dict[str, Any]:
        sim.faults.configure(FaultSettings(seed=sim.config.seed))
        return sim.faults.settings.model_dump()

    @app.get("/_sim/accounts")
    async def get_accounts() -> list[dict[str, Any]]:
        return [a.model_dump() for a in sim.accounts.values()]

    @app.post("/_sim/accounts", status_code=201)
    async def add_account(request: Request) -> dict[str, Any]:
        try:
            account = Account.model_validate(await request.json())
        except (ValidationError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)  # type: ignore[return-value]
        sim.add_account(account)
        return account.model_dump()

    @app.get("/_sim/ratelimits")
    async def get_rate_limits() -> dict[str, Any]:
        plans = {op: {"rate": sim.limiter.plan(op)[0], "burst": sim.limiter.plan(op)[1]} for op in USAGE_PLANS}
        return {"enabled": sim.limiter.enabled, "plans": plans}

    @app.post("/_sim/ratelimits")
    async def set_rate_limits(settings: RateLimitSettings) -> dict[str, Any]:
        if settings.enabled is not None:
            sim.limiter.enabled = settings.enabled
        if settings.overrides is not None:
            unknown = [op for op in settings.overrides if op not in USAGE_PLANS]
            if unknown:
                return JSONResponse({"error": f"unknown operations: {unknown}"}, 400)  # type: ignore[return-value]
            sim.limiter.overrides = {op: (p.rate, p.burst) for op, p in settings.overrides.items()}
        sim.limiter.reset()
        return await get_rate_limits()

    @app.post("/_sim/clock/advance")
    async def advance_clock(body: ClockAdvance) -> dict[str, Any]:
        sim.clock_offset += body.seconds
        sim.tick()
        return {"now": iso(sim.now()), "offset": sim.clock_offset}

    @app.post("/_sim/feeds/process")
    async def process_feeds() -> dict[str, Any]:
        sim.feeds.advance(sim.now(), force=True)
        return {"feeds": {f.feed_id: f.status for f in sim.feeds.feeds.values()}}

    def listing_state(listing: Any) -> dict[str, Any]:
        prices = {}
        for entry in listing.attributes.get("purchasable_offer") or []:
            price = our_price(entry)
            if price is not None:
                prices[entry.get("marketplace_id") or listing.marketplaces[0]] = str(price)
        return {
            "sellerId": listing.seller_id, "sku": listing.sku, "asin": listing.asin,
            "productType": listing.product_type, "marketplaceIds": listing.marketplaces,
            "attributes": listing.attributes, "prices": prices, "quantity": listing.quantity(),
            "status": listing.status(), "issues": listing.issues,
            "createdDate": iso(listing.created), "lastUpdatedDate": iso(listing.updated),
        }

    @app.get("/_sim/listings/{seller_id}")
    async def list_listings(seller_id: str) -> dict[str, Any]:
        sim.tick()
        return {"listings": [listing_state(x) for x in sim.listings.for_seller(seller_id)]}

    @app.get("/_sim/listings/{seller_id}/{sku}")
    async def get_listing_state(seller_id: str, sku: str) -> Response:
        sim.tick()
        listing = sim.listings.get(seller_id, sku)
        if listing is None:
            return JSONResponse({"error": "not found"}, 404)
        return JSONResponse(listing_state(listing))

    @app.put("/_sim/listings/{seller_id}/{sku}")
    async def seed_listing(seller_id: str, sku: str, body: SeedListing) -> Response:
        marketplaces = body.marketplaceIds or next(
            (a.marketplaces for a in sim.accounts.values() if a.seller_id == seller_id), ["ATVPDKIKX0DER"])
        issues = sim.listings.put(seller_id, sku, body.productType, None, body.attributes, marketplaces, sim.now())
        if issues:
            return JSONResponse({"issues": issues}, 400)
        return JSONResponse(listing_state(sim.listings.get(seller_id, sku)))

    @app.get("/_sim/stats")
    async def stats() -> dict[str, Any]:
        return {
            "operations": {op: dict(c) for op, c in sim.calls.items()},
            "throttled": sim.throttled,
            "faults": dict(sim.fault_counts),
            "listings": len(sim.listings.items),
            "feeds": Counter(f.status for f in sim.feeds.feeds.values()),
        }

    @app.post("/_sim/reset")
    async def reset() -> dict[str, str]:
        sim.reset()
        return {"status": "reset"}
