"""The reporting HTTP API: read-only views over the read models."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from servicekit import Service
from servicekit.auth import Scope, requires
from servicekit.problems import ProblemError


class ListingView(BaseModel):
    account_id: str
    marketplace_id: str
    sku: str
    product_sku: str | None
    asin: str | None
    status: str
    quantity: int
    price: str | None
    currency: str | None
    version: int
    updated_at: str


class ListingPage(BaseModel):
    total: int
    items: list[ListingView]


class ChangeView(BaseModel):
    id: int
    event_id: str
    causation_id: str | None
    account_id: str
    marketplace_id: str
    sku: str
    listing_action: str
    field: str
    old_value: str | None
    new_value: str | None
    comment: str
    created_at: str


def _listing(row: Any) -> ListingView:
    return ListingView(
        **{k: row[k] for k in ("account_id", "marketplace_id", "sku", "product_sku", "asin",
                               "status", "quantity", "currency", "version")},
        price=str(row["price"]) if row["price"] is not None else None,
        updated_at=row["updated_at"].isoformat(),
    )


def router(service: Service[Any]) -> APIRouter:
    r = APIRouter(tags=["reports"], dependencies=[requires(Scope.READ)])

    def pool() -> Any:
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        return service.pool

    @r.get("/listings", response_model=ListingPage)
    async def listings(
        account_id: str | None = None, marketplace_id: str | None = None,
        status: str | None = None, limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10_000_000),
    ) -> ListingPage:
        """Listings by account, marketplace and status."""
        where = ("($1::text IS NULL OR account_id = $1) AND ($2::text IS NULL OR marketplace_id = $2) "
                 "AND ($3::text IS NULL OR status = $3)")
        total = await pool().fetchval(f"SELECT count(*) FROM listings WHERE {where}",
                                      account_id, marketplace_id, status)
        rows = await pool().fetch(
            f"SELECT * FROM listings WHERE {where} ORDER BY account_id, marketplace_id, sku "
            "LIMIT $4 OFFSET $5", account_id, marketplace_id, status, limit, offset,
        )
        return ListingPage(total=total, items=[_listing(x) for x in rows])

    @r.get("/listings/summary")
    async def summary() -> dict[str, dict[str, int]]:
        """Count of listings per status, per account and marketplace."""
        out: dict[str, dict[str, int]] = {}
        for row in await pool().fetch(
            "SELECT account_id, marketplace_id, status, count(*) AS n FROM listings "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ):
            out.setdefault(f"{row['account_id']}/{row['marketplace_id']}", {})[row["status"]] = row["n"]
        return out

    @r.get("/listings/{account_id}/{marketplace_id}/{sku}", response_model=ListingView)
    async def listing(account_id: str, marketplace_id: str, sku: str) -> ListingView:
        row = await pool().fetchrow(
            "SELECT * FROM listings WHERE account_id = $1 AND marketplace_id = $2 AND sku = $3",
            account_id, marketplace_id, sku,
        )
        if row is None:
            raise ProblemError(404, f"no listing {account_id}/{marketplace_id}/{sku}")
        return _listing(row)

    @r.get("/listing-changes", response_model=list[ChangeView])
    async def listing_changes(
        account_id: str | None = None, marketplace_id: str | None = None, sku: str | None = None,
        limit: int = Query(100, ge=1, le=10000), after_id: int = Query(0, ge=0, le=2**62),
    ) -> list[ChangeView]:
        """The Listing Changes Log, oldest first; page with `after_id`."""
        rows = await pool().fetch(
            "SELECT * FROM listing_changes WHERE id > $1 "
            "AND ($2::text IS NULL OR account_id = $2) AND ($3::text IS NULL OR marketplace_id = $3) "
            "AND ($4::text IS NULL OR sku = $4) ORDER BY id LIMIT $5",
            after_id, account_id, marketplace_id, sku, limit,
        )
        return [
            ChangeView(
                **{k: row[k] for k in ("id", "account_id", "marketplace_id", "sku", "listing_action",
                                       "field", "old_value", "new_value", "comment")},
                event_id=str(row["event_id"]),
                causation_id=str(row["causation_id"]) if row["causation_id"] else None,
                created_at=row["created_at"].isoformat(),
            )
            for row in rows
        ]

    return r
