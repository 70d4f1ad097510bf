"""Listings Items API 2021-08-01."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from amazon_sim import schemas
from amazon_sim.config import Account
from amazon_sim.core import (
    Simulator,
    SpApiError,
    bad_request,
    check_marketplaces,
    check_seller,
    csv,
    included,
    json_body,
    parse_time,
)
from amazon_sim.listings import INCLUDED_DATA, OFFER_ATTRIBUTES, submission_id

LISTINGS_BASE = "/listings/2021-08-01/items"
SEARCH_PAGEABLE = 1000


def register(app: FastAPI, sim: Simulator) -> None:
    def submission(sku: str, issues: list[dict[str, Any]], preview: bool, account: Account, marketplaces: list[str],
                   include: list[str]) -> dict[str, Any]:
        errors = any(i["severity"] == "ERROR" for i in issues)
        body: dict[str, Any] = {"sku": sku, "status": "INVALID" if errors else ("VALID" if preview else "ACCEPTED"),
                                "submissionId": submission_id()}
        if "issues" in include:
            body["issues"] = issues
        if "identifiers" in include:
            listing = sim.listings.get(account.seller_id, sku)
            body["identifiers"] = [{"marketplaceId": m, "asin": listing.asin} for m in marketplaces] if listing else []
        return body

    def mode(request: Request) -> bool:
        value = request.query_params.get("mode")
        if value not in (None, "VALIDATION_PREVIEW"):
            raise bad_request(f"Invalid mode: {value}.", "mode")
        return value == "VALIDATION_PREVIEW"

    @app.get(LISTINGS_BASE + "/{seller_id}/{sku}")
    async def get_listings_item(request: Request, seller_id: str, sku: str) -> Response:
        account = await sim.enter(request, "getListingsItem")
        check_seller(account, seller_id)
        marketplaces = csv(request, "marketplaceIds", required=True)
        check_marketplaces(account, marketplaces)
        include = included(request, INCLUDED_DATA, ["summaries"])
        listing = sim.listings.get(seller_id, sku)
        if listing is None:
            raise SpApiError(404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace {marketplaces[0]}")
        return sim.respond(request, 200, listing.item(include, marketplaces))

    @app.put(LISTINGS_BASE + "/{seller_id}/{sku}")
    async def put_listings_item(request: Request, seller_id: str, sku: str) -> Response:
        account = await sim.enter(request, "putListingsItem")
        check_seller(account, seller_id)
        marketplaces = csv(request, "marketplaceIds", required=True)
        check_marketplaces(account, marketplaces, single=True)
        include = included(request, ("identifiers", "issues"), ["issues"])
        preview = mode(request)
        body = await json_body(request, schemas.LISTINGS, "ListingsItemPutRequest")
        drop = not preview and any(a in body["attributes"] for a in OFFER_ATTRIBUTES) and sim.drop_update(
            "putListingsItem")
        issues = sim.listings.put(seller_id, sku, body["productType"], body.get("requirements"), body["attributes"],
                                  marketplaces, sim.now(), preview=preview, drop_offer=drop)
        return sim.respond(request, 200, submission(sku, issues, preview, account, marketplaces, include))

    @app.patch(LISTINGS_BASE + "/{seller_id}/{sku}")
    async def patch_listings_item(request: Request, seller_id: str, sku: str) -> Response:
        account = await sim.enter(request, "patchListingsItem")
        check_seller(account, seller_id)
        marketplaces = csv(request, "marketplaceIds", required=True)
        check_marketplaces(account, marketplaces)
        include = included(request, ("identifiers", "issues"), ["issues"])
        preview = mode(request)
        body = await json_body(request, schemas.LISTINGS, "ListingsItemPatchRequest")
        touches_offer = any(p["path"].strip("/").split("/")[-1] in OFFER_ATTRIBUTES for p in body["patches"])
        drop = not preview and touches_offer and sim.drop_update("patchListingsItem")
        issues = sim.listings.patch(seller_id, sku, body["productType"], body["patches"], marketplaces, sim.now(),
                                    preview=preview, drop_offer=drop)
        return sim.respond(request, 200, submission(sku, issues, preview, account, marketplaces, include))

    @app.delete(LISTINGS_BASE + "/{seller_id}/{sku}")
    async def delete_listings_item(request: Request, seller_id: str, sku: str) -> Response:
        account = await sim.enter(request, "deleteListingsItem")
        check_seller(account, seller_id)
        marketplaces = csv(request, "marketplaceIds", required=True)
        check_marketplaces(account, marketplaces, single=True)
        sim.listings.delete(seller_id, sku)
        return sim.respond(request, 200, {"sku": sku, "status": "ACCEPTED", "submissionId": submission_id(),
                                          "issues": []})

    @app.get(LISTINGS_BASE + "/{seller_id}")
    async def search_listings_items(request: Request, seller_id: str) -> Response:
        account = await sim.enter(request, "searchListingsItems")
        check_seller(account, seller_id)
        marketplaces = csv(request, "marketplaceIds", required=True)
        check_marketplaces(account, marketplaces)
        include = included(request, INCLUDED_DATA, ["summaries"])
        q = request.query_params
        identifiers = csv(request, "identifiers")
        if identifiers and not q.get("identifiersType"):
            raise bad_request("identifiersType is required when identifiers are given.", "identifiersType")
        if len(identifiers) > 20:
            raise bad_request("At most 20 identifiers may be given.", "identifiers")
        exclusive = [n for n in ("identifiers", "variationParentSku", "packageHierarchySku") if q.get(n)]
        if len(exclusive) > 1:
            raise bad_request(f"Only one of {', '.join(exclusive)} may be given.", exclusive[1])
        try:
            page_size = int(q.get("pageSize", "10"))
        except ValueError as exc:
            raise bad_request("Invalid pageSize.", "pageSize") from exc
        if not 1 <= page_size <= 20:
            raise bad_request("pageSize must be between 1 and 20.", "pageSize")
        sort_by = q.get("sortBy", "lastUpdatedDate")
        sort_order = q.get("sortOrder", "DESC")
        if sort_by not in ("sku", "createdDate", "lastUpdatedDate") or sort_order not in ("ASC", "DESC"):
            raise bad_request("Invalid sortBy or sortOrder.", "sortBy")
        bounds = {n: parse_time(request, n) for n in ("createdAfter", "createdBefore", "lastUpdatedAfter",
                                                       "lastUpdatedBefore")}
        with_status, without_status = csv(request, "withStatus"), csv(request, "withoutStatus")
        severity = q.get("withIssueSeverity")
        found = []
        for listing in sim.listings.for_seller(seller_id):
            if not set(marketplaces) & set(listing.marketplaces):
                continue
            if identifiers:
                kind = q["identifiersType"]
                key = listing.sku if kind == "SKU" else listing.asin if kind == "ASIN" else None
                if key not in identifiers:
                    continue
            if q.get("variationParentSku") or q.get("packageHierarchySku"):
                continue
            if bounds["createdAfter"] is not None and listing.created < bounds["createdAfter"]:
                continue
            if bounds["createdBefore"] is not None and listing.created > bounds["createdBefore"]:
                continue
            if bounds["lastUpdatedAfter"] is not None and listing.updated < bounds["lastUpdatedAfter"]:
                continue
            if bounds["lastUpdatedBefore"] is not None and listing.updated > bounds["lastUpdatedBefore"]:
                continue
            status = listing.status()
            if with_status and not set(with_status) & set(status):
                continue
            if without_status and set(without_status) & set(status):
                continue
            if severity and not any(i["severity"] in severity.split(",") for i in listing.issues):
                continue
            found.append(listing)
        key = {"sku": lambda x: x.sku, "createdDate": lambda x: (x.created, x.sku),
               "lastUpdatedDate": lambda x: (x.updated, x.sku)}[sort_by]
        found.sort(key=key, reverse=sort_order == "DESC")
        total = len(found)
        found = found[:SEARCH_PAGEABLE]  # numberOfResults counts them all; only the first 1000 can be paged through
        offset = 0
        if q.get("pageToken"):
            try:
                offset = int(base64.urlsafe_b64decode(q["pageToken"].encode()).decode())
                if offset < 0:
                    raise ValueError(offset)
            except ValueError as exc:
                raise bad_request("Invalid pageToken.", "pageToken") from exc
        page = found[offset: offset + page_size]
        body: dict[str, Any] = {"numberOfResults": total,
                                "items": [x.item(include, marketplaces) for x in page]}
        pagination = {}
        if offset + page_size < len(found):
            pagination["nextToken"] = base64.urlsafe_b64encode(str(offset + page_size).encode()).decode()
        if offset > 0:
            pagination["previousToken"] = base64.urlsafe_b64encode(str(max(0, offset - page_size)).encode()).decode()
        if pagination:
            body["pagination"] = pagination
        return sim.respond(request, 200, body)
