"""`/_sim/market...` and `/_sim/notifications...`: seed and move the market, read it, steer notifications.

- `GET /_sim/market`, `GET /_sim/market/{marketplaceId}/{asin}`: offers, Buy Box, competitors.
- `POST /_sim/market`: a market for an ASIN (or for a seller's SKU, whose ASIN it takes), with the
  given competitors or `generate` of them around a reference price.
- `PUT /_sim/market/{marketplaceId}/{asin}/competitors/{sellerId}`: add a competitor or move one
  (only the fields given change), which notifies like any offer change.
- `POST /_sim/market/tick`: one round of competitor moves now.
- `GET /_sim/notifications`: the most recent notifications (filter with `type`), and delivery counts.
- `GET/PUT /_sim/notifications/settings` (secrets are never shown: `push_token_set` says whether pushes
  carry a token), `POST /_sim/notifications/flush`.
- `PUT /_sim/listings/{sellerId}/{sku}/issues`: the issues Amazon reports on a listing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from amazon_sim.core import Simulator
from amazon_sim.market import Competitor, CompetitorSpec, Strategy, cents
from amazon_sim.marketplaces import MARKETPLACES
from amazon_sim.notifications import NotificationSettings


class SeedMarket(BaseModel):
    marketplaceId: str = "ATVPDKIKX0DER"
    asin: str | None = None
    sellerId: str | None = None
    sku: str | None = None
    competitors: list[CompetitorSpec] = Field(default_factory=list)
    generate: int = Field(default=0, ge=0, le=100, description="Competitors to generate around referencePrice")
    referencePrice: Decimal | None = Field(default=None, gt=0, description="Default: the seller's price")
    listPrice: Decimal | None = Field(default=None, gt=0)


class CompetitorMove(BaseModel):
    price: Decimal | None = Field(default=None, gt=0)
    shipping: Decimal | None = Field(default=None, ge=0)
    floor: Decimal | None = Field(default=None, gt=0)
    ceiling: Decimal | None = Field(default=None, gt=0)
    strategy: Strategy | None = None
    condition: str | None = None
    subCondition: str | None = None
    fulfilledByAmazon: bool | None = None
    feedbackRating: int | None = Field(default=None, ge=0, le=100)
    feedbackCount: int | None = Field(default=None, ge=0)


class ListingIssues(BaseModel):
    issues: list[dict[str, Any]]


def _error(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": message}, status)


def register(app: FastAPI, sim: Simulator) -> None:
    market = sim.market

    @app.get("/_sim/market")
    async def list_market() -> dict[str, Any]:
        sim.tick()
        return {"asins": [market.state(m) for m in market.asins.values()]}

    @app.get("/_sim/market/{marketplace_id}/{asin}")
    async def get_market(marketplace_id: str, asin: str) -> Response:
        sim.tick()
        found = market.asins.get((marketplace_id, asin))
        if found is None:
            return _error(f"no market for {asin} in {marketplace_id}", 404)
        return JSONResponse(market.state(found))

    @app.post("/_sim/market", status_code=201)
    async def seed_market(body: SeedMarket) -> Response:
        if body.marketplaceId not in MARKETPLACES:
            return _error(f"unknown marketplace {body.marketplaceId}")
        asin, reference = body.asin, body.referencePrice
        if body.sellerId and body.sku:
            listing = sim.listings.get(body.sellerId, body.sku)
            if listing is None:
                return _error(f"seller {body.sellerId} has no listing {body.sku}", 404)
            asin = asin or listing.asin
            if reference is None:
                reference = next((Decimal(o["price"]["amount"]) for o in listing.offers()
                                  if o["marketplaceId"] == body.marketplaceId), None)
        if not asin:
            return _error("give an asin, or a sellerId and sku")
        try:
            competitors = [Competitor.of(c) for c in body.competitors]
        except ValueError as exc:
            return _error(str(exc))
        if body.generate:
            if reference is None:
                return _error("generating competitors needs a referencePrice (or a listing with a price)")
            competitors += market.generate_competitors(cents(reference), body.generate)
        seeded = market.seed(body.marketplaceId, asin, competitors,
                             list_price=cents(body.listPrice) if body.listPrice else None, now=sim.now())
        return JSONResponse(market.state(seeded), 201)

    @app.put("/_sim/market/{marketplace_id}/{asin}/competitors/{seller_id}")
    async def move_competitor(marketplace_id: str, asin: str, seller_id: str, body: CompetitorMove) -> Response:
        found = market.asins.get((marketplace_id, asin))
        if found is None:
            return _error(f"no market for {asin} in {marketplace_id}", 404)
        current = found.competitors.get(seller_id)
        fields = body.model_dump(exclude_none=True)
        try:
            if current is None:
                spec = CompetitorSpec.model_validate({"sellerId": seller_id, **fields})
            else:
                base = current.view() | {"fulfilledByAmazon": current.fba}
                base = {k: v for k, v in base.items() if v is not None}
                spec = CompetitorSpec.model_validate(base | fields)
            competitor = Competitor.of(spec)
        except (ValidationError, ValueError) as exc:
            return _error(str(exc))
        market.set_competitor(found, competitor, sim.now())
        return JSONResponse(market.state(found))

    @app.post("/_sim/market/tick")
    async def tick_market() -> dict[str, Any]:
        market.advance(sim.now(), force=True)
        return {"asins": [market.state(m) for m in market.asins.values()]}

    @app.get("/_sim/notifications")
    async def recent_notifications(type: str | None = None, limit: int = 100) -> dict[str, Any]:
        docs = [d for d in sim.notifications.recent if type is None or d["NotificationType"] == type]
        return {"notifications": docs[-limit:] if limit > 0 else [], "counts": dict(sim.notifications.counts),
                "pending": len(sim.notifications.pending)}

    @app.get("/_sim/notifications/settings")
    async def get_notification_settings() -> dict[str, Any]:
        return sim.notifications.settings.public()

    @app.put("/_sim/notifications/settings")
    async def notification_settings(settings: NotificationSettings) -> dict[str, Any]:
        sim.notifications.configure(settings)
        return settings.public()

    @app.post("/_sim/notifications/flush")
    async def flush_notifications() -> dict[str, Any]:
        delivered = await sim.notifications.flush()
        return {"delivered": delivered, "pending": len(sim.notifications.pending),
                "counts": dict(sim.notifications.counts)}

    @app.put("/_sim/listings/{seller_id}/{sku}/issues")
    async def set_listing_issues(seller_id: str, sku: str, body: ListingIssues) -> Response:
        for issue in body.issues:
            if not {"code", "message", "severity"} <= issue.keys():
                return _error("each issue needs code, message and severity")
        if not sim.listings.set_issues(seller_id, sku, body.issues, sim.now()):
            return _error(f"seller {seller_id} has no listing {sku}", 404)
        return JSONResponse({"sku": sku, "issues": body.issues})
