"""The repricer's HTTP API: latest decision per listing, simulation, configuration."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException

from repricer.domain import PriceDecision, PricingError
from repricer.simulate import SimulationRequest, simulate
from servicekit import Service


def router(service: Service[Any]) -> APIRouter:
    r = APIRouter(tags=["pricing"])

    @r.get("/prices/{account_id}/{marketplace_id}/{sku}")
    async def latest_price(account_id: str, marketplace_id: str, sku: str) -> dict[str, Any]:
        """The latest decision for a listing, with its trace."""
        if service.pool is None:
            raise HTTPException(503, "not started")
        row = await service.pool.fetchrow(
            "SELECT price, currency, decided_at, decision::text AS decision, competitive::text AS competitive "
            "FROM prices WHERE account_id = $1 AND marketplace_id = $2 AND sku = $3",
            account_id, marketplace_id, sku)
        if row is None:
            raise HTTPException(404, f"no price decided for {account_id}/{marketplace_id}/{sku}")
        return {"price": {"amount": str(row["price"]), "currency": row["currency"]},
                "decided_at": row["decided_at"].isoformat(), "decision": json.loads(row["decision"]),
                "competition": json.loads(row["competitive"]) if row["competitive"] else None}

    @r.post("/simulate", response_model=PriceDecision)
    async def simulate_price(request: SimulationRequest) -> PriceDecision:
        """Preview the price and its trace for given inputs. Changes nothing."""
        try:
            return simulate(request)
        except PricingError as exc:
            raise HTTPException(422, [{"field": getattr(exc, "field", "product"), "reason": str(exc)}]) from None

    return r
