"""Shared machinery: errors, the simulator state and the gate every SP-API call passes, request helpers."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from amazon_sim import schemas
from amazon_sim.config import Account, SimConfig
from amazon_sim.faults import Faults, FaultSettings
from amazon_sim.feeds import FeedStore
from amazon_sim.listings import ListingStore
from amazon_sim.market import Market
from amazon_sim.marketplaces import MARKETPLACES
from amazon_sim.notifications import NotificationHub, listing_listener, order_listener
from amazon_sim.orders import ACKNOWLEDGEMENT_FEED, OrderStore
from amazon_sim.ratelimit import RateLimiter


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
    # A Restricted Data Token: the (method, path) resources it was granted, concrete or with `{placeholders}`,
    # each with its dataElements. None for an LWA access token.
    restricted: dict[tuple[str, str], frozenset[str]] | None = None

    def grant_for(self, method: str, path: str) -> frozenset[str] | None:
        """The dataElements granted for this request's resource, or None when the token does not cover it."""
        matched = [elements for (verb, granted), elements in (self.restricted or {}).items()
                   if verb == method and covers(granted, path)]
        return frozenset().union(*matched) if matched else None


def covers(granted: str, path: str) -> bool:
    """Whether a granted resource path (`/orders/v0/orders/{orderId}` stands for any one order) names this path."""
    pattern = "/".join(r"[^/]+" if re.fullmatch(r"\{\w+\}", part) else re.escape(part)
                       for part in granted.split("/"))
    return re.fullmatch(pattern, path) is not None


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
        # Called with the simulator's time on every SP-API call and by the background ticker; orders, the market
        # and notifications hook their own time-driven progress in here.
        self.tickers: list[Callable[[float], None]] = [self.feeds.advance]
        self.orders = OrderStore(self.listings, orders_per_minute=config.orders_per_minute,
                                 pending_seconds=config.order_pending_seconds,
                                 afn_ship_seconds=config.afn_ship_seconds, seed=config.seed)
        self.orders.sellers = lambda: [(a.seller_id, a.marketplaces) for a in self.accounts.values()]
        self.feeds.processors[ACKNOWLEDGEMENT_FEED] = self.orders.process_acknowledgement_feed
        self.tickers.append(self.orders.advance)
        self.notifications = NotificationHub(config.notifications)
        self.market = Market(self.listings, self.notifications, config.market, lambda m: MARKETPLACES[m].currency)
        self.listings.listeners.append(listing_listener(self.notifications))
        self.orders.order_listeners.append(order_listener(self.notifications))
        self.tickers.append(self.market.advance)
        self.calls: dict[str, Counter[str]] = defaultdict(Counter)
        self.fault_counts: Counter[str] = Counter()
        self.throttled = 0

    def now(self) -> float:
        return time.time() + self.clock_offset

    def tick(self, now: float | None = None) -> None:
        now = self.now() if now is None else now
        for ticker in self.tickers:
            ticker(now)

    def add_account(self, account: Account) -> None:
        self.accounts[account.refresh_token] = account

    def reset(self) -> None:
        self.tokens.clear()
        self.limiter.reset()
        self.faults.configure(FaultSettings(seed=self.config.seed))
        self.listings.items.clear()
        self.feeds.documents.clear()
        self.feeds.feeds.clear()
        self.orders.clear()
        self.market.reset()
        self.notifications.clear()
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
        self.tick(now)
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
        request.state.data_elements = frozenset()
        request.state.restricted = token.restricted is not None
        if token.restricted is not None:
            elements = token.grant_for(request.method, request.url.path)
            if elements is None:
                raise SpApiError(403, "Unauthorized", "Access to requested resource is denied.",
                                 "The Restricted Data Token was not granted for this resource.")
            request.state.data_elements = elements
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
