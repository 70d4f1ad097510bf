"""Every request the gateway's SP-API client sends, and every answer it gets, against Amazon's published models.

A recording transport sits between `SpApiClient` and the in-process simulator. Each SP-API exchange is matched
to its model operation by method and path (the models' `paths`), then its query parameter names, its request
body and its response body (for the status it came with) are validated against that operation's definitions.
LWA token exchanges and pre-signed document transfers are not SP-API operations: their shapes are checked
against LWA's documented fields and the listings feed schemas.

`DRIVERS` calls every public method of `SpApiClient` that talks to Amazon; a guard test fails when a method
is added to the client without a driver here.
"""

from __future__ import annotations

import gzip
import inspect
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from amazon_gateway.client import AmazonCallFailed, SpApiClient
from amazon_gateway.domain import payloads
from amazon_gateway.domain.coalesce import ListingUpdateCoalescer, PendingUpdate
from amazon_gateway.domain.orders import ORDER_USAGE_PLANS, PII_RESOURCES
from amazon_gateway.domain.rate_limit import PUBLISHED_USAGE_PLANS, RateLimits
from amazon_gateway.domain.retry import RetryPolicy
from amazon_sim import schemas
from contracts import decode, topics
from contracts.events import (
    CommunicationError,
    ListingUpdateKind,
    ListingUpdateRequested,
    ShipmentConfirmRequested,
)
from contracts.money import Money
from devstack.testing import auth_headers, eventually, read_topic

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
LWA_PATH = "/auth/o2/token"
DOCUMENTS_PATHS = ("/_sim/documents/", "/_sim/report-documents/")
FEED_CONTENT_TYPE = "application/json; charset=UTF-8"

# Public coroutine methods of SpApiClient that are machinery for the others, not Amazon operations.
INFRASTRUCTURE = {"call", "access_token"}


# ---------------------------------------------------------------- recording


@dataclass
class Exchange:
    method: str
    url: httpx.URL
    request_headers: httpx.Headers
    request_body: bytes
    status: int
    response_body: bytes

    @property
    def path(self) -> str:
        return self.url.raw_path.decode().split("?", 1)[0]

    def what(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


class Recorder(httpx.AsyncBaseTransport):
    """Passes every request on and keeps both sides of the exchange."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        self.exchanges.append(Exchange(request.method, request.url, request.headers, body, response.status_code,
                                       content))
        return httpx.Response(response.status_code, headers=response.headers, content=content, request=request)


# ---------------------------------------------------------------- checking


def _operation(model: str, operation_id: str) -> dict[str, Any]:
    for item in schemas.load(model)["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return op
    raise KeyError(operation_id)


def _json(raw: bytes) -> Any:
    return json.loads(raw) if raw else None


def _errors(validator: Any, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in validator.iter_errors(instance)]


def sp_api_problems(ex: Exchange) -> tuple[str | None, list[str]]:
    """(operationId, what in this exchange the model does not allow)."""
    found = schemas.operation_at(ex.method, ex.path)
    if found is None:
        return None, [f"{ex.method} {ex.path}: no vendored model has this operation"]
    model, operation_id = found
    op = _operation(model, operation_id)
    problems = []
    declared = {p["name"]: p for p in op.get("parameters", []) if p.get("in") == "query"}
    sent = parse_qs(ex.url.query.decode(), keep_blank_values=True)
    problems += [f"query parameter {n!r} is not in the model" for n in sent if n not in declared]
    problems += [f"required query parameter {n!r} missing" for n, p in declared.items()
                 if p.get("required") and n not in sent]
    if not ex.request_headers.get("x-amz-access-token"):
        problems.append("no x-amz-access-token header")
    body_validator = schemas.request_body_validator(model, operation_id)
    if body_validator is None:
        if ex.request_body:
            problems.append("a body was sent to an operation that takes none")
    else:
        try:
            problems += [f"request {e}" for e in _errors(body_validator, _json(ex.request_body))]
        except ValueError:
            problems.append("request body is not JSON")
    try:
        response_validator = schemas.declared_response_validator(model, operation_id, ex.status)
    except KeyError:
        return operation_id, [*problems, f"status {ex.status} is not declared for {operation_id}"]
    if response_validator is not None:
        try:
            problems += [f"response {e}" for e in _errors(response_validator, _json(ex.response_body))]
        except ValueError:
            problems.append("response body is not JSON")
    return operation_id, problems


def lwa_problems(ex: Exchange) -> list[str]:
    form = parse_qs(ex.request_body.decode())
    problems = [f"LWA form lacks {n}" for n in ("grant_type", "refresh_token", "client_id", "client_secret")
                if n not in form]
    if form.get("grant_type") != ["refresh_token"]:
        problems.append("LWA grant_type is not refresh_token")
    if ex.status == 200:
        body = _json(ex.response_body)
        if not (isinstance(body.get("access_token"), str) and body.get("token_type") == "bearer"
                and isinstance(body.get("expires_in"), int)):
            problems.append(f"LWA answer lacks access_token/token_type/expires_in: {sorted(body)}")
    return problems


def document_problems(ex: Exchange) -> tuple[str, list[str]]:
    """Uploads of JSON_LISTINGS_FEED documents, downloads of their processing reports and of merchant listings
    reports (gzip, tab-separated: no published schema, so the header is checked)."""
    content = ex.request_body if ex.method == "PUT" else ex.response_body
    if content[:2] == b"\x1f\x8b":
        header = gzip.decompress(content).split(b"\n", 1)[0].decode().split("\t")
        missing = {"seller-sku", "price", "quantity", "asin1", "status"} - set(header)
        return "document download (merchant listings report)", [f"report lacks columns {sorted(missing)}"] * bool(
            missing)
    try:
        doc = json.loads(content)
    except ValueError:
        return f"document {ex.method} (not JSON: no published schema)", []
    if ex.method == "PUT":
        return "document upload (JSON_LISTINGS_FEED)", _errors(schemas.schema_validator(schemas.FEED_SCHEMA), doc)
    return "document download (processing report)", _errors(
        schemas.schema_validator(schemas.FEED_REPORT_SCHEMA), doc)


def check_all(exchanges: list[Exchange]) -> tuple[set[str], list[str]]:
    """The operations seen, and every problem as '<exchange>: <problem>'."""
    seen: set[str] = set()
    problems: list[str] = []
    for ex in exchanges:
        if ex.path == LWA_PATH:
            name, found = "lwaToken", lwa_problems(ex)
        elif ex.path.startswith(DOCUMENTS_PATHS):
            name, found = document_problems(ex)
        else:
            operation_id, found = sp_api_problems(ex)
            name = operation_id or ex.what()
        seen.add(name)
        problems += [f"{ex.what()}: {p}" for p in found]
    return seen, problems


# ---------------------------------------------------------------- driving every client method


@dataclass
class Ctx:
    client: SpApiClient
    sim: httpx.AsyncClient
    kit: Any
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return str(self.kit.ACCOUNT_ID)

    async def listing(self, price: int = 10, quantity: int = 3) -> str:
        (sku,) = self.kit.new_skus(1)
        await self.kit.seed_listing(self.sim, sku, price=price, quantity=quantity)
        return sku


def update(ctx: Ctx, sku: str, *requests: dict[str, Any]) -> PendingUpdate:
    """The gateway's own coalesced update for these requests, as its sender would build it."""
    coalescer = ListingUpdateCoalescer()
    now = datetime.now(UTC)
    coalescer.add_all([ListingUpdateRequested.new(
        producer="test", account_id=ctx.account, marketplace_id=ctx.kit.US, sku=sku, requested_at=now, **r)
        for r in requests])
    (pending,) = list(coalescer.drain())
    return pending


PRICE = {"kind": ListingUpdateKind.PRICE, "price": Money(amount="21.50", currency="USD")}
QUANTITY = {"kind": ListingUpdateKind.QUANTITY, "quantity": 4, "handling_time_days": 2}


async def drive_get(ctx: Ctx) -> None:
    sku = await ctx.listing()
    assert await ctx.client.get_listings_item(ctx.account, ctx.kit.US, sku)
    assert await ctx.client.get_listings_item(ctx.account, ctx.kit.US, "NO-SUCH-SKU") is None  # the 404
    with pytest.raises(AmazonCallFailed):  # a marketplace this seller does not sell in: the 403 and its body
        await ctx.client.get_listings_item(ctx.account, "A1VC38T7YXB528", sku)


async def drive_patch(ctx: Ctx) -> None:
    sku = await ctx.listing()
    body = payloads.patch_request(update(ctx, sku, PRICE, QUANTITY))
    assert (await ctx.client.patch_listings_item(ctx.account, ctx.kit.US, sku, body))["status"] == "ACCEPTED"


async def drive_put(ctx: Ctx) -> None:
    (sku,) = ctx.kit.new_skus(1)
    create = {"kind": ListingUpdateKind.CREATE, "product_type": "HOME", "price": Money(amount="12.00", currency="USD"),
              "quantity": 1, "attributes": {"item_name": "A lamp", "brand": "Acme"}}
    body = payloads.put_request(update(ctx, sku, create))
    assert (await ctx.client.put_listings_item(ctx.account, ctx.kit.US, sku, body))["status"] == "ACCEPTED"


async def drive_delete(ctx: Ctx) -> None:
    sku = await ctx.listing()
    assert (await ctx.client.delete_listings_item(ctx.account, ctx.kit.US, sku))["status"] == "ACCEPTED"


async def drive_search(ctx: Ctx) -> None:
    for _ in range(3):
        await ctx.listing()
    first = await ctx.client.search_listings_items(ctx.account, ctx.kit.US, page_size=2)
    token = first["pagination"]["nextToken"]
    await ctx.client.search_listings_items(ctx.account, ctx.kit.US, page_size=2, page_token=token)


async def drive_by_sku(ctx: Ctx) -> None:
    skus = [await ctx.listing(), await ctx.listing()]
    found = await ctx.client.listings_by_sku(ctx.account, ctx.kit.US, [*skus, "NO-SUCH-SKU"])
    assert sorted(i["sku"] for i in found) == sorted(skus)


async def drive_feed(ctx: Ctx) -> None:
    sku = await ctx.listing()
    seller = ctx.client.account(ctx.account).seller_id
    document = payloads.feed_document(seller, [update(ctx, sku, PRICE)], report_included=["offers"]).document
    doc_id, url = await ctx.client.create_feed_document(ctx.account, FEED_CONTENT_TYPE)
    await ctx.client.upload_feed_document(url, json.dumps(document).encode(), FEED_CONTENT_TYPE)
    feed_id = await ctx.client.create_feed(ctx.account, "JSON_LISTINGS_FEED", [ctx.kit.US], doc_id)
    await ctx.sim.post("/_sim/feeds/process")
    feed = await ctx.client.get_feed(ctx.account, feed_id)
    assert feed["processingStatus"] == "DONE", feed
    result = await ctx.client.get_feed_document(ctx.account, feed["resultFeedDocumentId"])
    report = json.loads(await ctx.client.download_feed_document(result))
    assert report["summary"]["messagesAccepted"] == 1


async def place_order(ctx: Ctx, lines: int = 2) -> dict[str, Any]:
    skus = [await ctx.listing(quantity=50) for _ in range(lines)]
    seller = ctx.client.account(ctx.account).seller_id
    r = await ctx.sim.post("/_sim/orders", json={"sellerId": seller, "marketplaceId": ctx.kit.US,
                                                 "lines": [{"sku": s, "quantity": 2} for s in skus]})
    assert r.status_code == 201, r.text
    return r.json()


async def drive_orders(ctx: Ctx) -> None:
    order = await place_order(ctx)
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = await ctx.client.get_orders(ctx.account, ctx.kit.US, last_updated_after=since, max_results=1)
    assert page["Orders"]
    if page.get("NextToken"):
        await ctx.client.get_orders(ctx.account, ctx.kit.US, next_token=page["NextToken"])
    order_id = order["AmazonOrderId"]
    items = await ctx.client.get_order_items(ctx.account, order_id)
    assert len(items) == 2
    rdt, lifetime = await ctx.client.create_restricted_data_token(ctx.account, PII_RESOURCES)
    assert lifetime > 0
    restricted = await ctx.client.get_orders(ctx.account, ctx.kit.US, last_updated_after=since, rdt=rdt)
    assert all(o["BuyerInfo"]["BuyerEmail"] and o["ShippingAddress"]["AddressLine1"] for o in restricted["Orders"])
    request = ShipmentConfirmRequested.new(
        producer="test", account_id=ctx.account, marketplace_id=ctx.kit.US, amazon_order_id=order_id,
        carrier_code="UPS", tracking_number="1Z999AA10123456784", ship_date=datetime.now(UTC) - timedelta(minutes=5),
        items={i["OrderItemId"]: i["QuantityOrdered"] for i in items})
    from amazon_gateway.domain.orders import confirm_shipment_body

    await ctx.client.confirm_shipment(ctx.account, order_id, confirm_shipment_body(request))


async def drive_report(ctx: Ctx) -> None:
    sku = await ctx.listing()
    report_id = await ctx.client.create_report(ctx.account, "GET_MERCHANT_LISTINGS_ALL_DATA", [ctx.kit.US])
    assert (await ctx.client.get_report(ctx.account, report_id))["processingStatus"] == "IN_QUEUE"
    await ctx.sim.post("/_sim/reports/process")
    report = await ctx.client.get_report(ctx.account, report_id)
    document = await ctx.client.get_report_document(ctx.account, report["reportDocumentId"])
    assert sku.encode() in await ctx.client.download_report_document(document)


async def drive_marketplaces(ctx: Ctx) -> None:
    """The gateway reads participations through `client.call`, not a client method: driven through its own code."""
    from types import SimpleNamespace

    from amazon_gateway.marketplaces import MarketplaceDiscovery

    discovery = MarketplaceDiscovery(SimpleNamespace(pool=None), ctx.client, refresh_s=3600, retry_s=60)
    assert await discovery.refresh(ctx.account) == [ctx.kit.US]


Driver = Callable[[Ctx], Awaitable[None]]

# driver -> (the client methods it calls, the operations its exchanges must include)
DRIVERS: list[tuple[Driver, set[str], set[str]]] = [
    (drive_get, {"get_listings_item"}, {"getListingsItem"}),
    (drive_patch, {"patch_listings_item"}, {"patchListingsItem"}),
    (drive_put, {"put_listings_item"}, {"putListingsItem"}),
    (drive_delete, {"delete_listings_item"}, {"deleteListingsItem"}),
    (drive_search, {"search_listings_items"}, {"searchListingsItems"}),
    (drive_by_sku, {"listings_by_sku"}, {"searchListingsItems"}),
    (drive_feed, {"create_feed_document", "upload_feed_document", "create_feed", "get_feed", "get_feed_document",
                  "download_feed_document"},
     {"createFeedDocument", "document upload (JSON_LISTINGS_FEED)", "createFeed", "getFeed", "getFeedDocument",
      "document download (processing report)"}),
    (drive_orders, {"get_orders", "get_order_items", "create_restricted_data_token", "confirm_shipment"},
     {"getOrders", "getOrderItems", "createRestrictedDataToken", "confirmShipment"}),
    (drive_report, {"create_report", "get_report", "get_report_document", "download_report_document"},
     {"createReport", "getReport", "getReportDocument", "document download (merchant listings report)"}),
    (drive_marketplaces, set(), {"getMarketplaceParticipations"}),
]


def gateway_operations() -> set[str]:
    """Every operation the gateway's code passes to `SpApiClient.call`, as a literal or a module constant."""
    import re
    from pathlib import Path

    import amazon_gateway

    found: set[str] = set()
    for source in Path(amazon_gateway.__file__).parent.rglob("*.py"):
        text = source.read_text()
        constants = dict(re.findall(r'^([A-Z_]+) = "(\w+)"$', text, re.M))
        for arg in re.findall(r'\.call\(\s*[\w.]+,\s*("\w+"|[A-Z_]+)\s*,', text):
            found.add(arg.strip('"') if arg.startswith('"') else constants.get(arg, arg))
    assert "getListingsItem" in found  # the scan itself works
    return found


def client_call_methods() -> set[str]:
    return {name for name, member in inspect.getmembers(SpApiClient, inspect.iscoroutinefunction)
            if not name.startswith("_") and name not in INFRASTRUCTURE}


def test_every_client_method_that_calls_amazon_is_driven() -> None:
    driven = set().union(*(methods for _, methods, _ in DRIVERS))
    assert client_call_methods() - driven == set(), "SpApiClient methods without a driver in DRIVERS"
    assert driven - client_call_methods() == set(), "DRIVERS name methods SpApiClient no longer has"


OPERATIONS_PATHS = {"/healthz", "/readyz", "/metrics", "/openapi.json"}
"""The simulator's own health, metrics and OpenAPI document, served like every service's."""


def test_the_simulator_serves_only_operations_amazon_publishes() -> None:
    """Every SP-API route of the simulator is an operation of a vendored model (no invented paths or methods)."""
    from amazon_sim import SimConfig, create_app

    app = create_app(SimConfig(), background=False)
    invented = []
    for route in app.routes:
        path, methods = getattr(route, "path", ""), getattr(route, "methods", None) or set()
        if path.startswith(("/_sim", "/auth/", "/docs", "/redoc")) or path in OPERATIONS_PATHS:
            continue
        concrete = path.replace("{", "x").replace("}", "")
        invented += [f"{m} {path}" for m in methods if m != "HEAD" and schemas.operation_at(m, concrete) is None]
    assert invented == []


def recording_client(kit: Any, sim_http: httpx.AsyncClient) -> tuple[SpApiClient, Recorder, httpx.AsyncClient]:
    recorder = Recorder(sim_http._transport)
    http = httpx.AsyncClient(transport=recorder, base_url=kit.SIM_BASE)
    client = SpApiClient({kit.ACCOUNT_ID: kit.gateway_account()}, http=http, api_base_url=kit.SIM_BASE,
                         lwa_url=f"{kit.SIM_BASE}{LWA_PATH}", retry=FAST,
                         limits=RateLimits({**PUBLISHED_USAGE_PLANS, **ORDER_USAGE_PLANS}))  # as the service does
    return client, recorder, http


async def test_every_request_and_answer_matches_amazons_models(sim_http: httpx.AsyncClient, kit: Any) -> None:
    await sim_http.post("/_sim/ratelimits", json={"enabled": False})  # quotas are the client tests' subject
    client, recorder, http = recording_client(kit, sim_http)
    ctx = Ctx(client, sim_http, kit)
    async with http:
        for driver, _, operations in DRIVERS:
            start = len(recorder.exchanges)
            await driver(ctx)
            seen, _ = check_all(recorder.exchanges[start:])
            assert operations <= seen, (driver.__name__, operations - seen)
    seen, problems = check_all(recorder.exchanges)
    assert not problems, "\n".join(problems)
    assert "lwaToken" in seen
    assert gateway_operations() - seen == set(), "operations the gateway calls that no driver reaches"
    statuses = {(schemas.operation_at(e.method, e.path) or ("", e.path))[1]: e.status for e in recorder.exchanges}
    assert statuses["confirmShipment"] == 204 and statuses["createFeed"] == 202
    assert {404, 403} <= {e.status for e in recorder.exchanges}  # declared error answers were checked too


async def test_a_broken_answer_fails_the_check_and_the_call(sim_http: httpx.AsyncClient, kit: Any) -> None:
    """The simulator's malformed-body fault: the model check catches it, and so does the client."""
    await sim_http.post("/_sim/ratelimits", json={"enabled": False})  # six searches in a row; quotas aside
    for sku in kit.new_skus(2):
        await kit.seed_listing(sim_http, sku)
    client, recorder, http = recording_client(kit, sim_http)
    async with http:
        for kind in ("schema", "invalid_json"):
            await sim_http.post("/_sim/faults", json={"malformed_rate": 1.0, "malformed_kinds": [kind],
                                                      "operations": ["searchListingsItems"]})
            start = len(recorder.exchanges)
            with pytest.raises(AmazonCallFailed) as failed:
                await client.search_listings_items(kit.ACCOUNT_ID, kit.US)
            assert failed.value.fields["code"] == "MalformedResponse"
            assert failed.value.fields["attempts"] == FAST.max_attempts
            broken = [e for e in recorder.exchanges[start:] if e.path != LWA_PATH]
            assert len(broken) == FAST.max_attempts
            _, problems = check_all(broken)
            assert len(problems) >= len(broken), problems  # every broken answer is caught by the model check
        await sim_http.delete("/_sim/faults")
        page = await client.search_listings_items(kit.ACCOUNT_ID, kit.US)
        assert page["numberOfResults"] >= 2


@pytest.mark.integration
async def test_broken_answers_become_a_communication_error_and_the_service_keeps_running(
        gateway_factory: Any, sim_http: httpx.AsyncClient, kit: Any) -> None:
    account = kit.gateway_account(account_id=f"wire-{uuid.uuid4().hex[:10]}")
    await kit.seed_listing(sim_http, kit.new_skus(1)[0])
    gateway = await gateway_factory(accounts=[account])
    await sim_http.post("/_sim/faults", json={"malformed_rate": 1.0, "malformed_kinds": ["schema"],
                                              "operations": ["searchListingsItems"]})
    async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(app=gateway.service.asgi()),
                                 base_url="http://gw") as admin:
        assert (await admin.post("/import/listings", params={"account_id": account.account_id})).status_code == 202

        def mine(records: list[Any]) -> list[CommunicationError]:
            events = [decode(r.value) for r in records]
            return [e for e in events if isinstance(e, CommunicationError) and e.account_id == account.account_id]

        records = await read_topic(gateway.bootstrap, topics.COMMUNICATION_ERRORS.name, timeout=60,
                                   until=lambda rs: bool(mine(rs)))
        (error,) = mine(records)
        assert (error.operation, error.code, error.system) == ("searchListingsItems", "MalformedResponse", "amazon")
        assert "ItemSearchResults" in error.message

        async def state() -> dict[str, Any]:
            (row,) = (await admin.get("/import/listings", params={"account_id": account.account_id})).json()
            return row

        assert (await state())["status"] == "failed"
        assert await gateway.service.ready() == {"started": True, "database": True, "broker": True, "outbox": True}

        await sim_http.delete("/_sim/faults")  # Amazon recovers: the same service imports on request
        assert (await admin.post("/import/listings", params={"account_id": account.account_id})).status_code == 202

        async def done() -> bool:
            return (await state())["status"] == "done"

        await eventually(done, what="the import finished after the fault cleared")
        assert (await state())["imported"] >= 1
