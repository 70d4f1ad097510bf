"""The sales operations: customers, orders, invoices, shipments and stock items, in the model's paths and shapes.

Handlers translate the wire to `sales.Sales` and back; the lifecycle rules live there.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from magento_sim import catalog, model
from magento_sim.core import MagentoError, Simulator
from magento_sim.rest import Operation, criteria, snake, wrapped_body

CUSTOMERS = "Magento_Customer::customer"
ORDERS = "Magento_Sales::actions_view"
CREATE = "Magento_Sales::create"
STOCK = "Magento_CatalogInventory::cataloginventory"


def _id(request: Request, name: str) -> int:
    value = request.path_params[name]
    try:
        return int(value)
    except ValueError as exc:
        raise MagentoError(400, 'The "%fieldValue" value\'s type is invalid. The "int" type was expected. '
                           "Verify and try again.", {"fieldValue": value}) from exc


async def _json(request: Request, path: str) -> dict[str, Any]:
    """A body that may be empty (`{}`), checked against the model's request schema for its types."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MagentoError(400, "Decoding error: \nSyntax error") from exc
    if not isinstance(body, dict):
        raise MagentoError(400, "Decoding error: \nSyntax error")
    validator = model.request_validator(request.method, path)
    if validator is not None:
        for error in validator.iter_errors(body):
            if error.validator != "required":
                raise MagentoError(400, 'The "%fieldName" value is invalid: %fieldValue', {
                    "fieldName": "/".join(map(str, error.absolute_path)), "fieldValue": error.message})
    return snake(body)


def _search(records: list[dict[str, Any]], wanted: catalog.Criteria) -> tuple[list[dict[str, Any]], int]:
    def value(record: dict[str, Any], name: str) -> Any:
        if name in ("id", "entity_id"):
            return record.get("entity_id", record.get("id"))
        return record.get(name)

    try:
        return catalog.select(records, wanted, value)
    except catalog.InvalidCriteria as exc:
        raise MagentoError(400, str(exc)) from exc


async def _results(sim: Simulator, request: Request, records: list[dict[str, Any]]) -> Response:
    wanted = criteria(request)
    page, total = _search(records, wanted)
    return await sim.respond(request, {"items": copy.deepcopy(page), "search_criteria": wanted.echo(),
                                       "total_count": total})


# --- customers ----------------------------------------------------------------------------------------------------

async def search_customers(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    return await _results(sim, request, list(sim.sales.customers.values()))


async def get_customer(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    return await sim.respond(request, sim.sales.customer(_id(request, "customerId")))


async def post_customer(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    body = snake(await wrapped_body(request, "POST", "/V1/customers", "customer"))
    website = view["website_id"] or 1
    customer = sim.sales.create_customer(body, website, view["id"] or 1)
    return await sim.respond(request, customer, committed=True)


# --- orders -------------------------------------------------------------------------------------------------------

async def create_order(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    entity = snake(await wrapped_body(request, "POST", "/V1/orders", "entity"))  # one body for both paths
    order = sim.sales.create_order(entity, view["id"] or 1)
    return await sim.respond(request, copy.deepcopy(order), committed=True)


async def search_orders(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    return await _results(sim, request, list(sim.sales.orders.values()))


async def get_order(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    return await sim.respond(request, copy.deepcopy(sim.sales.order(_id(request, "id"))))


async def comment_order(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    body = await _json(request, "/V1/orders/{id}/comments")
    if not isinstance(body.get("status_history"), dict):
        raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "statusHistory"})
    sim.sales.comment(_id(request, "id"), body["status_history"])
    return await sim.respond(request, True, committed=True)


async def hold_order(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    sim.sales.hold(_id(request, "id"))
    return await sim.respond(request, True, committed=True)


async def unhold_order(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    sim.sales.unhold(_id(request, "id"))
    return await sim.respond(request, True, committed=True)


async def cancel_order(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    canceled = sim.sales.cancel(_id(request, "id"))
    return await sim.respond(request, canceled, committed=canceled)


async def invoice_order(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    body = await _json(request, "/V1/order/{orderId}/invoice")
    invoice_id = sim.sales.invoice(_id(request, "orderId"), body.get("items"), bool(body.get("capture", True)))
    return await sim.respond(request, invoice_id, committed=True)


async def ship_order(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    body = await _json(request, "/V1/order/{orderId}/ship")
    shipment = sim.sales.ship(_id(request, "orderId"), body.get("items"), body.get("tracks") or [],
                              body.get("comment"))
    return await sim.respond(request, shipment["entity_id"], committed=True)


async def search_shipments(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    return await _results(sim, request, list(sim.sales.shipments.values()))


async def get_shipment(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    return await sim.respond(request, copy.deepcopy(sim.sales.shipment(_id(request, "id"))))


# --- stock --------------------------------------------------------------------------------------------------------

async def put_stock_item(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    body = await _json(request, "/V1/products/{productSku}/stockItems/{itemId}")
    if not isinstance(body.get("stock_item"), dict):
        raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "stockItem"})
    item_id = sim.sales.set_stock(request.path_params["productSku"], body["stock_item"])
    return await sim.respond(request, item_id, committed=True)


OPERATIONS = (
    Operation("GET", "/V1/customers/search", "GetV1CustomersSearch", CUSTOMERS, search_customers),
    Operation("GET", "/V1/customers/{customerId}", "GetV1CustomersCustomerId", CUSTOMERS, get_customer),
    Operation("POST", "/V1/customers", "PostV1Customers", None, post_customer),
    Operation("POST", "/V1/orders", "PostV1Orders", CREATE, create_order),
    Operation("PUT", "/V1/orders/create", "PutV1OrdersCreate", CREATE, create_order),
    Operation("GET", "/V1/orders", "GetV1Orders", ORDERS, search_orders),
    Operation("GET", "/V1/orders/{id}", "GetV1OrdersId", ORDERS, get_order),
    Operation("POST", "/V1/orders/{id}/comments", "PostV1OrdersIdComments", "Magento_Sales::comment", comment_order),
    Operation("POST", "/V1/orders/{id}/hold", "PostV1OrdersIdHold", "Magento_Sales::hold", hold_order),
    Operation("POST", "/V1/orders/{id}/unhold", "PostV1OrdersIdUnhold", "Magento_Sales::unhold", unhold_order),
    Operation("POST", "/V1/orders/{id}/cancel", "PostV1OrdersIdCancel", "Magento_Sales::cancel", cancel_order),
    Operation("POST", "/V1/order/{orderId}/invoice", "PostV1OrderOrderIdInvoice", "Magento_Sales::sales_invoice",
              invoice_order),
    Operation("POST", "/V1/order/{orderId}/ship", "PostV1OrderOrderIdShip", "Magento_Sales::ship", ship_order),
    Operation("GET", "/V1/shipments", "GetV1Shipments", "Magento_Sales::shipment", search_shipments),
    Operation("GET", "/V1/shipment/{id}", "GetV1ShipmentId", "Magento_Sales::shipment", get_shipment),
    Operation("PUT", "/V1/products/{productSku}/stockItems/{itemId}", "PutV1ProductsProductSkuStockItemsItemId",
              STOCK, put_stock_item),
)
