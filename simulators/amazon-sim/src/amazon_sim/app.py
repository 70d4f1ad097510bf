"""The FastAPI application: LWA, Sellers, Listings Items, Feeds, and the `/_sim` admin surface."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from amazon_sim import schemas
from amazon_sim.config import Account, SimConfig
from amazon_sim.faults import Faults, FaultSettings
from amazon_sim.feeds import FeedStore
from amazon_sim.listings import INCLUDED_DATA, OFFER_ATTRIBUTES, ListingStore, iso, our_price, submission_id
from amazon_sim.marketplaces import MARKETPLACES
from amazon_sim.ratelimit import USAGE_PLANS, RateLimiter

LISTINGS_BASE = "/listings/2021-08-01/items"
FEEDS_BASE = "/feeds/2021-06-30"
SELLERS_BASE = "/sellers/v1"


class SpApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def body(self) -> dict[str, Any]:
        error = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"errors": [error]}


def bad_request(message: str, details: str | None = None) -> SpApiError:
    return SpApiError(400, "InvalidInput", message, details)


class LwaError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


@dataclass
class Token:
    account: Account | None  # None for grantless (client_credentials) tokens
    client_id: str
    scopes: list[str]
    expires: float


class Simulator:
    """All state of one simulator instance."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock_offset = 0.0
        self.accounts: dict[str, Account] = {}
        for account in config.accounts:
            self.add_account(account)
        self.tokens: dict[str, Token] = {}
        self.limiter = RateLimiter()
        self.limiter.enabled = config.rate_limits_enabled
        self.faults = Faults(config.seed)
        self.listings = ListingStore()
        self.feeds = FeedStore(self.listings, config.feed_queue_seconds, config.feed_processing_seconds,
                               lambda: self.drop_update("createFeed"))
        self.calls: dict[str, Counter[str]] = defaultdict(Counter)
        self.fault_counts: Counter[str] = Counter()
        self.throttled = 0

    def now(self) -> float:
        return time.time() + self.clock_offset

    def add_account(self, account: Account) -> None:
        self.accounts[account.refresh_token] = account

    def reset(self) -> None:
        self.tokens.clear()
        self.limiter.reset()
        self.faults.configure(FaultSettings(seed=self.config.seed))
        self.listings.items.clear()
        self.feeds.documents.clear()
        self.feeds.feeds.clear()
        self.calls.clear()
        self.fault_counts.clear()
        self.throttled = 0

    def drop_update(self, operation: str) -> bool:
        dropped = self.faults.drop_update(operation)
        if dropped:
            self.fault_counts["dropped_updates"] += 1
        return dropped

    # --- LWA ------------------------------------------------------------------------------------------------
    def issue_token(self, fields: dict[str, str]) -> dict[str, Any]:
        grant = fields.get("grant_type")
        if not grant:
            raise LwaError(400, "invalid_request", "The request is missing a required parameter : grant_type")
        if grant not in ("refresh_token", "client_credentials"):
            raise LwaError(400, "invalid_request", f"The grant type {grant!r} is not supported")
        client_id, secret = fields.get("client_id"), fields.get("client_secret")
        if not client_id or not secret:
            raise LwaError(400, "invalid_request", "The request is missing a required parameter : client_id")
        clients = {a.client_id: a.client_secret for a in self.accounts.values()}
        if clients.get(client_id) != secret:
            raise LwaError(401, "invalid_client", "Client authentication failed")
        account: Account | None = None
        scopes: list[str] = []
        if grant == "refresh_token":
            refresh = fields.get("refresh_token")
            if not refresh:
                raise LwaError(400, "invalid_request", "The request is missing a required parameter : refresh_token")
            account = self.accounts.get(refresh)
            if account is None or account.client_id != client_id:
                raise LwaError(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
        else:
            scopes = (fields.get("scope") or "").split()
            if not scopes:
                raise LwaError(400, "invalid_request", "The request is missing a required parameter : scope")
            known = {"sellingpartnerapi::notifications", "sellingpartnerapi::migration",
                     "sellingpartnerapi::client_credential:rotation"}
            if any(s not in known for s in scopes):
                raise LwaError(400, "invalid_scope", "An unknown scope was requested")
        token = "Atza|" + base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
        ttl = self.config.token_ttl_seconds
        self.tokens[token] = Token(account, client_id, scopes, self.now() + ttl)
        return {"access_token": token, "token_type": "bearer", "expires_in": ttl}

    # --- the gate every SP-API call passes ------------------------------------------------------------------
    async def enter(self, request: Request, operation: str) -> Account:
        request.state.operation = operation
        request.state.request_id = str(uuid.uuid4())
        self.calls[operation]["calls"] += 1
        now = self.now()
        self.feeds.advance(now)
        raw = request.headers.get("x-amz-access-token")
        if not raw:
            raise SpApiError(403, "Unauthorized", "Access to requested resource is denied.",
                             "The request has no x-amz-access-token header.")
        token = self.tokens.get(raw)
        if token is None:
            raise SpApiError(403, "Unauthorized", "Access to requested resource is denied.",
                             "The access token you provided is revoked, malformed or invalid.")
        if token.expires <= now:
            raise SpApiError(403, "Unauthorized", "Access to requested resource is denied.",
                             "The access token you provided has expired.")
        if token.account is None:
            raise SpApiError(403, "Unauthorized", "Access to requested resource is denied.",
                             "This operation needs a seller authorization, not a grantless token.")
        if not self.limiter.allow(token.account.seller_id, operation, now):
            self.throttled += 1
            raise SpApiError(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")
        delay = self.faults.latency(operation)
        if delay:
            self.fault_counts["latency"] += 1
            await asyncio.sleep(delay)
        status = self.faults.error(operation)
        if status:
            self.fault_counts["errors"] += 1
            if status == 503:
                raise SpApiError(503, "ServiceUnavailable", "Service temporarily unavailable. Please retry.")
            raise SpApiError(500, "InternalFailure", "We encountered an internal error. Please try again.")
        return token.account

    def headers(self, request: Request) -> dict[str, str]:
        operation = getattr(request.state, "operation", None)
        out = {"x-amzn-RequestId": getattr(request.state, "request_id", None) or str(uuid.uuid4())}
        if operation:
            out["x-amzn-RateLimit-Limit"] = f"{self.limiter.plan(operation)[0]:g}"
        return out

    def respond(self, request: Request, status: int, body: dict[str, Any]) -> Response:
        operation = request.state.operation
        self.calls[operation][str(status)] += 1
        headers = self.headers(request)
        kind = self.faults.malformed(operation)
        if kind == "invalid_json":
            self.fault_counts["malformed"] += 1
            text = json.dumps(body)
            return Response(text[: max(1, len(text) // 2)], status, headers, media_type="application/json")
        if kind == "schema":
            self.fault_counts["malformed"] += 1
            body = {k: ("malformed" if isinstance(v, dict | list | int | float | bool) else 12345)
                    for k, v in body.items()} or {"payload": "malformed"}
        return JSONResponse(body, status, headers)


# --- request helpers -------------------------------------------------------------------------------------------

def csv(request: Request, name: str, required: bool = False) -> list[str]:
    raw = request.query_params.get(name)
    values = [v.strip() for v in raw.split(",") if v.strip()] if raw else []
    if required and not values:
        raise bad_request(f"Missing required parameter: {name}.", f"{name} is required.")
    return values


async def json_body(request: Request, model: str, definition: str) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request("The request body is not valid JSON.", str(exc)) from exc
    problem = schemas.first_error(schemas.definition_validator(model, definition), body)
    if problem:
        raise bad_request(f"Invalid request body: {problem}", problem.split(":", 1)[0])
    return body


def check_marketplaces(account: Account, marketplaces: list[str], single: bool = False) -> None:
    if single and len(marketplaces) > 1:
        raise bad_request("Only one marketplaceId may be given for this operation.", "marketplaceIds")
    for m in marketplaces:
        if m not in MARKETPLACES:
            raise bad_request(f"Invalid marketplaceId: {m}.", "marketplaceIds")
        if m not in account.marketplaces:
            raise SpApiError(403, "Unauthorized", "Access to requested resource is denied.",
                             f"The seller does not participate in marketplace {m}.")


def check_seller(account: Account, seller_id: str) -> None:
    if seller_id != account.seller_id:
        raise SpApiError(403, "Unauthorized", "Access to requested resource is denied.",
                         "The sellerId does not match the authorized selling partner.")


def included(request: Request, allowed: tuple[str, ...], default: list[str]) -> list[str]:
    values = csv(request, "includedData") or default
    for v in values:
        if v not in allowed:
            raise bad_request(f"Invalid includedData value: {v}.", "includedData")
    return values


def parse_time(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise bad_request(f"Invalid {name}: {raw}.", name) from exc


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


def create_app(config: SimConfig | None = None, *, background: bool = True) -> FastAPI:
    sim = Simulator(config or SimConfig())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_tick()) if background else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _tick() -> None:
        while True:
            sim.feeds.advance(sim.now())
            await asyncio.sleep(0.1)

    app = FastAPI(title="amazon-sim", lifespan=lifespan, docs_url="/_sim/docs", openapi_url="/_sim/openapi.json")
    app.state.sim = sim

    @app.exception_handler(SpApiError)
    async def _sp_error(request: Request, exc: SpApiError) -> Response:
        operation = getattr(request.state, "operation", None)
        if operation:
            sim.calls[operation][str(exc.status)] += 1
        return JSONResponse(exc.body(), exc.status, sim.headers(request))

    @app.exception_handler(LwaError)
    async def _lwa_error(_request: Request, exc: LwaError) -> Response:
        return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "InvalidInput")
        return JSONResponse(SpApiError(exc.status_code, code, str(exc.detail)).body(), exc.status_code,
                            sim.headers(request))

    # --- LWA ----------------------------------------------------------------------------------------------
    @app.post("/auth/o2/token")
    async def lwa_token(request: Request) -> Response:
        raw = await request.body()
        fields: dict[str, str]
        if "json" in request.headers.get("content-type", ""):
            try:
                parsed = json.loads(raw or b"{}")
            except json.JSONDecodeError as exc:
                raise LwaError(400, "invalid_request", "The request body is not valid JSON") from exc
            if not isinstance(parsed, dict):
                raise LwaError(400, "invalid_request", "The request body must be a JSON object")
            fields = {k: str(v) for k, v in parsed.items() if v is not None}
        else:
            fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        return JSONResponse(sim.issue_token(fields), headers={"Cache-Control": "no-store"})

    # --- Sellers ------------------------------------------------------------------------------------------
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

    # --- Listings Items -----------------------------------------------------------------------------------
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
        found = found[:1000]
        offset = 0
        if q.get("pageToken"):
            try:
                offset = int(base64.urlsafe_b64decode(q["pageToken"].encode()).decode())
            except ValueError as exc:
                raise bad_request("Invalid pageToken.", "pageToken") from exc
        page = found[offset: offset + page_size]
        body: dict[str, Any] = {"numberOfResults": len(found),
                                "items": [x.item(include, marketplaces) for x in page]}
        pagination = {}
        if offset + page_size < len(found):
            pagination["nextToken"] = base64.urlsafe_b64encode(str(offset + page_size).encode()).decode()
        if offset > 0:
            pagination["previousToken"] = base64.urlsafe_b64encode(str(max(0, offset - page_size)).encode()).decode()
        if pagination:
            body["pagination"] = pagination
        return sim.respond(request, 200, body)

    # --- Feeds --------------------------------------------------------------------------------------------
    def document_url(request: Request, document_id: str) -> str:
        return f"{str(request.base_url).rstrip('/')}/_sim/documents/{document_id}"

    @app.post(f"{FEEDS_BASE}/documents")
    async def create_feed_document(request: Request) -> Response:
        account = await sim.enter(request, "createFeedDocument")
        body = await json_body(request, schemas.FEEDS, "CreateFeedDocumentSpecification")
        doc = sim.feeds.new_document(account.seller_id, body["contentType"])
        return sim.respond(request, 201, {"feedDocumentId": doc.document_id,
                                          "url": document_url(request, doc.document_id)})

    @app.post(f"{FEEDS_BASE}/feeds")
    async def create_feed(request: Request) -> Response:
        account = await sim.enter(request, "createFeed")
        body = await json_body(request, schemas.FEEDS, "CreateFeedSpecification")
        check_marketplaces(account, body["marketplaceIds"])
        doc = sim.feeds.documents.get(body["inputFeedDocumentId"])
        if doc is None or doc.seller_id != account.seller_id:
            raise bad_request(f"Invalid inputFeedDocumentId: {body['inputFeedDocumentId']}.", "inputFeedDocumentId")
        feed = sim.feeds.new_feed(account.seller_id, body["feedType"], body["marketplaceIds"], doc.document_id,
                                  sim.now(), body.get("feedOptions"))
        return sim.respond(request, 202, {"feedId": feed.feed_id})

    def own_feed(account: Account, feed_id: str) -> Any:
        feed = sim.feeds.feeds.get(feed_id)
        if feed is None or feed.seller_id != account.seller_id:
            raise SpApiError(404, "NotFound", f"Feed {feed_id} not found.")
        return feed

    @app.get(f"{FEEDS_BASE}/feeds/{{feed_id}}")
    async def get_feed(request: Request, feed_id: str) -> Response:
        account = await sim.enter(request, "getFeed")
        return sim.respond(request, 200, own_feed(account, feed_id).view())

    @app.delete(f"{FEEDS_BASE}/feeds/{{feed_id}}")
    async def cancel_feed(request: Request, feed_id: str) -> Response:
        account = await sim.enter(request, "cancelFeed")
        feed = own_feed(account, feed_id)
        if feed.status != "IN_QUEUE":
            raise bad_request(f"Feed {feed_id} is {feed.status} and can no longer be cancelled.", "feedId")
        feed.status = "CANCELLED"
        sim.calls["cancelFeed"]["200"] += 1
        return Response(status_code=200, headers=sim.headers(request))

    @app.get(f"{FEEDS_BASE}/feeds")
    async def get_feeds(request: Request) -> Response:
        account = await sim.enter(request, "getFeeds")
        q = request.query_params
        if q.get("nextToken") and len(q) > 1:
            raise bad_request("nextToken must be sent alone.", "nextToken")
        feed_types, marketplaces = csv(request, "feedTypes"), csv(request, "marketplaceIds")
        statuses = csv(request, "processingStatuses")
        if not q.get("nextToken") and not feed_types:
            raise bad_request("feedTypes is required when nextToken is not given.", "feedTypes")
        since, until = parse_time(request, "createdSince"), parse_time(request, "createdUntil")
        try:
            page_size = int(q.get("pageSize", "10"))
        except ValueError as exc:
            raise bad_request("Invalid pageSize.", "pageSize") from exc
        offset = 0
        if q.get("nextToken"):
            try:
                state = json.loads(base64.urlsafe_b64decode(q["nextToken"].encode()))
                offset, page_size = state["offset"], state["pageSize"]
                feed_types, marketplaces, statuses = state["feedTypes"], state["marketplaceIds"], state["statuses"]
                since, until = state["since"], state["until"]
            except (ValueError, KeyError, TypeError) as exc:
                raise bad_request("Invalid nextToken.", "nextToken") from exc
        if not 1 <= page_size <= 100:
            raise bad_request("pageSize must be between 1 and 100.", "pageSize")
        feeds = [f for f in sim.feeds.feeds.values() if f.seller_id == account.seller_id
                 and f.feed_type in feed_types
                 and (not marketplaces or set(marketplaces) & set(f.marketplaces))
                 and (not statuses or f.status in statuses)
                 and (since is None or f.created >= since) and (until is None or f.created <= until)]
        feeds.sort(key=lambda f: f.created, reverse=True)
        body: dict[str, Any] = {"feeds": [f.view() for f in feeds[offset: offset + page_size]]}
        if offset + page_size < len(feeds):
            state = {"offset": offset + page_size, "pageSize": page_size, "feedTypes": feed_types,
                     "marketplaceIds": marketplaces, "statuses": statuses, "since": since, "until": until}
            body["nextToken"] = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
        return sim.respond(request, 200, body)

    @app.get(f"{FEEDS_BASE}/documents/{{document_id}}")
    async def get_feed_document(request: Request, document_id: str) -> Response:
        account = await sim.enter(request, "getFeedDocument")
        doc = sim.feeds.documents.get(document_id)
        if doc is None or doc.seller_id != account.seller_id:
            raise SpApiError(404, "NotFound", f"Feed document {document_id} not found.")
        return sim.respond(request, 200, {"feedDocumentId": doc.document_id,
                                          "url": document_url(request, doc.document_id)})

    # --- document storage (stands in for the pre-signed S3 URLs) --------------------------------------------
    @app.put("/_sim/documents/{document_id}")
    async def upload_document(request: Request, document_id: str) -> Response:
        doc = sim.feeds.documents.get(document_id)
        if doc is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")
        doc.content = await request.body()
        return Response(status_code=200)

    @app.get("/_sim/documents/{document_id}")
    async def download_document(document_id: str) -> Response:
        doc = sim.feeds.documents.get(document_id)
        if doc is None or doc.content is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")
        return Response(doc.content, 200, media_type=doc.content_type)

    # --- admin ----------------------------------------------------------------------------------------------
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
        sim.feeds.advance(sim.now())
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
        sim.feeds.advance(sim.now())
        return {"listings": [listing_state(x) for x in sim.listings.for_seller(seller_id)]}

    @app.get("/_sim/listings/{seller_id}/{sku}")
    async def get_listing_state(seller_id: str, sku: str) -> Response:
        sim.feeds.advance(sim.now())
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

    return app
