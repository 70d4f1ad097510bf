"""The repricer's HTTP API: latest decision per listing, simulation, configuration."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter

from repricer.domain import PriceDecision, PricingError
from repricer.simulate import SimulationRequest, simulate
from servicekit import Service
from servicekit.auth import Scope, requires
from servicekit.problems import FieldError, ProblemError


def router(service: Service[Any]) -> APIRouter:
    r = APIRouter(tags=["pricing"], dependencies=[requires(Scope.READ)])

    @r.get("/prices/{account_id}/{marketplace_id}/{sku}")
    async def latest_price(account_id: str, marketplace_id: str, sku: str) -> dict[str, Any]:
        """The latest decision for a listing, with its trace."""
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        row = await service.pool.fetchrow(
            "SELECT price, currency, decided_at, decision::text AS decision, competitive::text AS competitive "
            "FROM prices WHERE account_id = $1 AND marketplace_id = $2 AND sku = $3",
            account_id, marketplace_id, sku)
        if row is None:
            raise ProblemError(404, f"no price decided for {account_id}/{marketplace_id}/{sku}")
        return {"price": {"amount": str(row["price"]), "currency": row["currency"]},
                "decided_at": row["decided_at"].isoformat(), "decision": json.loads(row["decision"]),
                "competition": json.loads(row["competitive"]) if row["competitive"] else None}

    @r.post("/simulate", response_model=PriceDecision)
    async def simulate_price(request: SimulationRequest) -> PriceDecision:
        """Preview the price and its trace for given inputs. Changes nothing."""
        try:
            return simulate(request)
        except PricingError as exc:
            field = f"body.{getattr(exc, 'field', 'product')}"
            raise ProblemError(422, f"{field}: {exc}", errors=[FieldError(field=field, reason=str(exc))]) from None

    return r
