"""Orders API v0 (getOrders, getOrder, getOrderItems, getOrderAddress, getOrderBuyerInfo, confirmShipment),
the Tokens API's Restricted Data Tokens (whose dataElements decide the buyer and address data getOrders and
getOrder return, and without which getOrderAddress and getOrderBuyerInfo answer nothing), and the `/_sim/orders`
admin surface."""

from __future__ import annotations

import base64
import json
import re
import secrets
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from amazon_sim import schemas
from amazon_sim.config import Account
from amazon_sim.core import (
    Simulator,
    SpApiError,
    Token,
    bad_request,
    check_marketplaces,
    csv,
    json_body,
    parse_time,
)
from amazon_sim.listings import iso
from amazon_sim.orders import ORDER_USAGE_PLANS, Order, OrderError
from amazon_sim.ratelimit import USAGE_PLANS

ORDERS_BASE = "/orders/v0/orders"
ORDER_ITEMS_PAGE = 10
BEFORE_MARGIN_SECONDS = 120.0
ORDER_STATUS_FILTERS = frozenset({"PendingAvailability", "Pending", "Unshipped", "PartiallyShipped", "Shipped",
                                  "InvoiceUnconfirmed", "Canceled", "Unfulfillable"})

# The gate's rate limiter knows an operation by its usage plan.
USAGE_PLANS.update(ORDER_USAGE_PLANS)

TOKENS_PATH = "/tokens/2021-03-01/restrictedDataToken"
RDT_SECONDS = 3600
# Restricted operations (method, generic path) and whether they take dataElements (spec §3).
RESTRICTED: dict[tuple[str, str], bool] = {
    ("GET", f"{ORDERS_BASE}"): True,
    ("GET", f"{ORDERS_BASE}/{{orderId}}"): True,
    ("GET", f"{ORDERS_BASE}/{{orderId}}/orderItems"): True,
    ("GET", f"{ORDERS_BASE}/{{orderId}}/address"): False,
    ("GET", f"{ORDERS_BASE}/{{orderId}}/buyerInfo"): False,
    ("GET", f"{ORDERS_BASE}/{{orderId}}/orderItems/buyerInfo"): False,
}
DATA_ELEMENTS = frozenset({"buyerInfo", "shippingAddress", "buyerTaxInformation"})


def restricted_operation(method: str, path: str) -> tuple[str, str] | None:
    """The restricted (method, generic path) a concrete or generic resource path names, if any."""
    for key in RESTRICTED:
        verb, generic = key
        pattern = re.escape(generic).replace(re.escape("{orderId}"), r"(\{orderId\}|[0-9A-Za-z-]+)")
        if verb == method and re.fullmatch(pattern, path):
            return key
    return None


class OrderLineIn(BaseModel):
    sku: str
    quantity: int = Field(1, ge=1)


class NewOrder(BaseModel):
    sellerId: str
    marketplaceId: str = "ATVPDKIKX0DER"
    lines: list[OrderLineIn] = Field(min_length=1)
    fulfillmentChannel: Literal["MFN", "AFN"] = "MFN"
    orderStatus: Literal["Pending", "Unshipped"] = "Unshipped"


class StatusChange(BaseModel):
    orderStatus: Literal["Pending", "Unshipped", "PartiallyShipped", "Shipped", "Canceled"]


class CancelRequest(BaseModel):
    reason: str = "Buyer Requested Cancel"


def _token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def _untoken(raw: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError) as exc:
        raise bad_request("Invalid NextToken.", "NextToken") from exc
    if not isinstance(state, dict):
        raise bad_request("Invalid NextToken.", "NextToken")
    return state


def role_missing(resources: list[dict[str, Any]]) -> SpApiError:
    """Amazon's answer to an application without the restricted roles these resources need (400, not 403)."""
    asked = sorted({e for r in resources for e in r.get("dataElements") or []})
    if asked:
        return SpApiError(400, "InvalidInput",
                          f"Application does not have access to one or more requested data elements: "
                          f"[{', '.join(asked)}]")
    return SpApiError(400, "InvalidInput", "Application do not have access to some or all requested resource")


def _sp_error(exc: OrderError) -> SpApiError:
    return SpApiError(exc.status, exc.code, exc.message)


def orders_filter(request: Request, account: Account, now: float) -> dict[str, Any]:
    """The getOrders filter from the query string, checked the way Amazon checks it."""
    q = request.query_params
    marketplaces = csv(request, "MarketplaceIds", required=True)
    if len(marketplaces) > 50:
        raise bad_request("MarketplaceIds may hold at most 50 values.", "MarketplaceIds")
    check_marketplaces(account, marketplaces)
    created = [parse_time(request, "CreatedAfter"), parse_time(request, "CreatedBefore")]
    updated = [parse_time(request, "LastUpdatedAfter"), parse_time(request, "LastUpdatedBefore")]
    if any(v is not None for v in created) and any(v is not None for v in updated):
        raise bad_request("CreatedAfter/CreatedBefore cannot be combined with LastUpdatedAfter/LastUpdatedBefore.",
                          "LastUpdatedAfter")
    ids = csv(request, "AmazonOrderIds")
    if created[0] is None and updated[0] is None and not ids:
        raise bad_request("Either CreatedAfter or LastUpdatedAfter is required.", "CreatedAfter")
    for before, name in ((created[1], "CreatedBefore"), (updated[1], "LastUpdatedBefore")):
        if before is not None and before > now - BEFORE_MARGIN_SECONDS:
            raise bad_request(f"{name} must be at least 2 minutes before the time of the request.", name)
    statuses = csv(request, "OrderStatuses")
    unknown = [s for s in statuses if s not in ORDER_STATUS_FILTERS]
    if unknown:
        raise bad_request(f"Invalid OrderStatuses value: {unknown[0]}.", "OrderStatuses")
    channels = csv(request, "FulfillmentChannels")
    if any(c not in ("AFN", "MFN") for c in channels):
        raise bad_request("FulfillmentChannels takes AFN and MFN.", "FulfillmentChannels")
    try:
        page = int(q.get("MaxResultsPerPage", "100"))
    except ValueError as exc:
        raise bad_request("Invalid MaxResultsPerPage.", "MaxResultsPerPage") from exc
    if not 1 <= page <= 100:
        raise bad_request("MaxResultsPerPage must be between 1 and 100.", "MaxResultsPerPage")
    by_update = created[0] is None
    return {"marketplaces": marketplaces, "by_update": by_update,
            "after": (updated if by_update else created)[0],
            "before": (updated if by_update else created)[1] or now,
            "statuses": statuses, "channels": channels, "ids": ids, "page": page, "last": None}


def select_orders(orders: list[Order], f: dict[str, Any]) -> tuple[list[Order], dict[str, Any] | None]:
    """One page of matching orders in (date, id) order, and the filter state of the next page, if any."""
    def key(o: Order) -> tuple[float, str]:
        return (o.updated if f["by_update"] else o.purchased), o.amazon_order_id

    matching = sorted(
        (o for o in orders if o.marketplace_id in f["marketplaces"]
         and (f["after"] is None or key(o)[0] >= f["after"]) and key(o)[0] <= f["before"]
         and (not f["statuses"] or o.status in f["statuses"])
         and (not f["channels"] or o.fulfillment in f["channels"])
         and (not f["ids"] or o.amazon_order_id in f["ids"])
         and (f["last"] is None or key(o) > tuple(f["last"]))), key=key)
    page = matching[: f["page"]]
    if len(matching) > f["page"]:
        return page, {**f, "last": list(key(page[-1]))}
    return page, None


def register(app: FastAPI, sim: Simulator) -> None:
    store = sim.orders

    @app.get(ORDERS_BASE)
    async def get_orders(request: Request) -> Response:
        account = await sim.enter(request, "getOrders")
        raw = request.query_params.get("NextToken")
        if raw:
            marketplaces = csv(request, "MarketplaceIds", required=True)
            f = _untoken(raw)
            if f.get("seller") != account.seller_id or set(marketplaces) != set(f.get("marketplaces", [])):
                raise bad_request("The NextToken does not belong to this request.", "NextToken")
        else:
            f = {**orders_filter(request, account, sim.now()), "seller": account.seller_id}
        try:
            page, following = select_orders(store.for_seller(account.seller_id), f)
        except (KeyError, TypeError) as exc:
            raise bad_request("Invalid NextToken.", "NextToken") from exc
        elements = request.state.data_elements
        payload: dict[str, Any] = {"Orders": [o.view(elements) for o in page]}
        payload["LastUpdatedBefore" if f["by_update"] else "CreatedBefore"] = iso(f["before"])
        if following is not None:
            payload["NextToken"] = _token(following)
        return sim.respond(request, 200, {"payload": payload})

    def own(account: Account, order_id: str) -> Order:
        try:
            return store.get(account.seller_id, order_id)
        except OrderError as exc:
            raise _sp_error(exc) from exc

    @app.get(f"{ORDERS_BASE}/{{order_id}}")
    async def get_order(request: Request, order_id: str) -> Response:
        account = await sim.enter(request, "getOrder")
        return sim.respond(request, 200, {"payload": own(account, order_id).view(request.state.data_elements)})

    @app.get(f"{ORDERS_BASE}/{{order_id}}/orderItems")
    async def get_order_items(request: Request, order_id: str) -> Response:
        account = await sim.enter(request, "getOrderItems")
        order = own(account, order_id)
        offset = 0
        if raw := request.query_params.get("NextToken"):
            state = _untoken(raw)
            if state.get("order") != order_id or not isinstance(state.get("offset"), int):
                raise bad_request("Invalid NextToken.", "NextToken")
            offset = state["offset"]
        items = order.items[offset: offset + ORDER_ITEMS_PAGE]
        payload: dict[str, Any] = {"AmazonOrderId": order_id, "OrderItems": [i.view() for i in items]}
        if offset + ORDER_ITEMS_PAGE < len(order.items):
            payload["NextToken"] = _token({"order": order_id, "offset": offset + ORDER_ITEMS_PAGE})
        return sim.respond(request, 200, {"payload": payload})

    @app.post(TOKENS_PATH)
    async def create_restricted_data_token(request: Request) -> Response:
        account = await sim.enter(request, "createRestrictedDataToken")
        body = await json_body(request, schemas.TOKENS, "CreateRestrictedDataTokenRequest")
        resources = body["restrictedResources"]
        if not 1 <= len(resources) <= 50:
            raise bad_request("restrictedResources takes 1 to 50 resources.", "restrictedResources")
        grants: dict[tuple[str, str], frozenset[str]] = {}
        for resource in resources:
            key = restricted_operation(resource["method"], resource["path"])
            if key is None:
                raise bad_request(f"{resource['method']} {resource['path']} is not a restricted operation.",
                                  "restrictedResources")
            elements = resource.get("dataElements") or []
            if elements and not RESTRICTED[key]:
                raise bad_request(f"dataElements are not accepted for {resource['path']}.", "dataElements")
            if any(e not in DATA_ELEMENTS for e in elements):
                raise bad_request(f"Invalid dataElements: {elements}.", "dataElements")
            grant = (resource["method"], resource["path"])
            grants[grant] = grants.get(grant, frozenset()) | frozenset(elements)
        if not account.pii_role:
            raise role_missing(resources)
        token = "Atz.sprdt|" + base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
        sim.tokens[token] = Token(account, "", [], sim.now() + RDT_SECONDS, restricted=grants)
        return sim.respond(request, 200, {"restrictedDataToken": token, "expiresIn": RDT_SECONDS})

    def require_rdt(request: Request) -> None:
        """Restricted operations answer only a Restricted Data Token (the gate checked it covers this path)."""
        if not request.state.restricted:
            raise SpApiError(403, "Unauthorized", "Access to requested resource is denied.",
                             "This operation needs a restricted data token (createRestrictedDataToken).")

    @app.get(f"{ORDERS_BASE}/{{order_id}}/address")
    async def get_order_address(request: Request, order_id: str) -> Response:
        account = await sim.enter(request, "getOrderAddress")
        require_rdt(request)
        return sim.respond(request, 200, {"payload": own(account, order_id).address_view()})

    @app.get(f"{ORDERS_BASE}/{{order_id}}/buyerInfo")
    async def get_order_buyer_info(request: Request, order_id: str) -> Response:
        account = await sim.enter(request, "getOrderBuyerInfo")
        require_rdt(request)
        return sim.respond(request, 200, {"payload": own(account, order_id).buyer_view()})

    @app.post(f"{ORDERS_BASE}/{{order_id}}/shipmentConfirmation")
    async def confirm_shipment(request: Request, order_id: str) -> Response:
        account = await sim.enter(request, "confirmShipment")
        body = await json_body(request, schemas.ORDERS, "ConfirmShipmentRequest")
        check_marketplaces(account, [body["marketplaceId"]])
        order = own(account, order_id)
        try:
            store.confirm_shipment(order, body, sim.now())
        except OrderError as exc:
            raise _sp_error(exc) from exc
        sim.calls["confirmShipment"]["204"] += 1
        return Response(status_code=204, headers=sim.headers(request))

    # --- admin -----------------------------------------------------------------------------------------------
    @app.post("/_sim/orders", status_code=201)
    async def create_order(body: NewOrder) -> Response:
        sim.tick()
        try:
            order = store.place(body.sellerId, body.marketplaceId, [(x.sku, x.quantity) for x in body.lines],
                                sim.now(), fulfillment=body.fulfillmentChannel, status=body.orderStatus)
        except OrderError as exc:
            return JSONResponse({"error": exc.message}, exc.status)
        return JSONResponse(order.state(), 201)

    @app.get("/_sim/orders")
    async def list_orders(sellerId: str | None = None, orderStatus: str | None = None) -> dict[str, Any]:
        sim.tick()
        orders = [o for o in store.orders.values() if (sellerId is None or o.seller_id == sellerId)
                  and (orderStatus is None or o.status == orderStatus)]
        return {"orders": [o.state() for o in orders]}

    @app.get("/_sim/orders/shipments")
    async def list_shipments(sellerId: str | None = None) -> dict[str, Any]:
        return {"shipments": [{"amazonOrderId": o.amazon_order_id, **s} for o in store.orders.values()
                              if sellerId is None or o.seller_id == sellerId for s in o.shipments]}

    @app.get("/_sim/orders/cancellations")
    async def list_cancellations(sellerId: str | None = None) -> dict[str, Any]:
        return {"cancellations": [c for c in store.cancellations if sellerId is None or c["sellerId"] == sellerId]}

    def admin_order(order_id: str) -> Order | None:
        sim.tick()
        return store.orders.get(order_id)

    @app.get("/_sim/orders/{order_id}")
    async def order_state(order_id: str) -> Response:
        order = admin_order(order_id)
        if order is None:
            return JSONResponse({"error": "not found"}, 404)
        return JSONResponse(order.state())

    @app.post("/_sim/orders/{order_id}/status")
    async def set_order_status(order_id: str, body: StatusChange) -> Response:
        order = admin_order(order_id)
        if order is None:
            return JSONResponse({"error": "not found"}, 404)
        store.set_status(order, body.orderStatus, sim.now())
        return JSONResponse(order.state())

    @app.post("/_sim/orders/{order_id}/buyer-cancel-request")
    async def buyer_cancel_request(order_id: str, body: CancelRequest) -> Response:
        order = admin_order(order_id)
        if order is None:
            return JSONResponse({"error": "not found"}, 404)
        store.request_cancel(order, body.reason, sim.now())
        return JSONResponse(order.state())
