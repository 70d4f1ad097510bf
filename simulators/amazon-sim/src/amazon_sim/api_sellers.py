"""Sellers API v1."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from amazon_sim.core import Simulator
from amazon_sim.marketplaces import MARKETPLACES

SELLERS_BASE = "/sellers/v1"


def register(app: FastAPI, sim: Simulator) -> None:
    @app.get(f"{SELLERS_BASE}/marketplaceParticipations")
    async def get_marketplace_participations(request: Request) -> Response:
        account = await sim.enter(request, "getMarketplaceParticipations")
        payload = []
        for m in account.marketplaces:
            mp = MARKETPLACES[m]
            payload.append({
                "marketplace": {"id": mp.id, "name": mp.name, "countryCode": mp.country,
                                "defaultCurrencyCode": mp.currency, "defaultLanguageCode": mp.language,
                                "domainName": mp.domain},
                "participation": {"isParticipating": True, "hasSuspendedListings": False},
                "storeName": account.store_name,
            })
        return sim.respond(request, 200, {"payload": payload})
