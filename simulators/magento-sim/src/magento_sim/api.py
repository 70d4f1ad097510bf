"""The admin REST operations served, each under `/V1/...`, `/rest/V1/...` and `/rest/<store_code>/V1/...`.

`OPERATIONS` lists them by the operationId of Adobe's published model; the wire tests drive each one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from magento_sim import catalog, model, stores
from magento_sim.core import MagentoError, Simulator, not_found_product

PRODUCTS = "Magento_Catalog::products"
STORES = "Magento_Backend::stores"
PREFIXES = ("/V1", "/rest/V1", "/rest/{store_code}/V1")
KEY = re.compile(r"searchCriteria\[(\w+)\](?:\[(\d+)\]\[(\w+)\](?:\[(\d+)\]\[(\w+)\])?)?$")
SNAKE = {"filterGroups": "filter_groups", "sortOrders": "sort_orders", "pageSize": "page_size",
         "currentPage": "current_page", "conditionType": "condition_type"}

Handler = Callable[[Simulator, Request, dict[str, Any]], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as in the model
    operation_id: str
    resource: str | None  # the ACL resource a token needs; None: anonymous
    handler: Handler


def criteria(request: Request) -> catalog.Criteria:
    """`searchCriteria[...]` query parameters, camelCase or snake_case, into criteria."""
    params = request.query_params
    if not any(k == "searchCriteria" or k.startswith("searchCriteria[") for k in params):
        raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "searchCriteria"})
    groups: dict[int, dict[int, dict[str, str]]] = {}
    sorts: dict[int, dict[str, str]] = {}
    out = catalog.Criteria()
    for key, value in params.multi_items():
        m = KEY.match(key)
        if not m:
            continue
        name = SNAKE.get(m[1], m[1])
        if name == "filter_groups" and m[4] is not None:
            groups.setdefault(int(m[2]), {}).setdefault(int(m[4]), {})[SNAKE.get(m[5], m[5])] = value
        elif name == "sort_orders" and m[2] is not None:
            sorts.setdefault(int(m[2]), {})[m[3]] = value
        elif name in ("page_size", "current_page"):
            try:
                setattr(out, name, int(value))
            except ValueError as exc:
                raise MagentoError(400, 'The "%fieldValue" value\'s type is invalid. The "int" type was expected. '
                                   "Verify and try again.", {"fieldValue": value}) from exc
    for g in sorted(groups):
        group = []
        for f in sorted(groups[g]):
            filt = groups[g][f]
            if "field" not in filt:
                raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "field"})
            condition = filt.get("condition_type") or "eq"
            if condition not in catalog.CONDITIONS:
                raise MagentoError(400, 'Invalid condition type "%fieldValue".', {"fieldValue": condition})
            group.append((filt["field"], filt.get("value", ""), condition))
        out.groups.append(group)
    for s in sorted(sorts):
        direction = sorts[s].get("direction", "ASC").upper()
        out.sort.append((sorts[s].get("field", "entity_id"), "DESC" if direction == "DESC" else "ASC"))
    return out


async def product_body(request: Request, method: str, path: str) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MagentoError(400, "Decoding error: \nSyntax error") from exc
    if not isinstance(body, dict) or not isinstance(body.get("product"), dict):
        raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "product"})
    validator = model.request_validator(method, path)
    if validator is not None:
        for error in validator.iter_errors(body):
            if error.validator == "required" and len(error.absolute_path) > 0:
                continue  # Magento fills nested objects it is given partly (a stock_item with only qty)
            where = "/".join(map(str, error.absolute_path))
            raise MagentoError(400, 'The "%fieldName" value is invalid: %fieldValue', {
                "fieldName": where, "fieldValue": error.message})
    return body["product"]


def _website(view: dict[str, Any]) -> int | None:
    return None if view["code"] == "admin" else view["website_id"]


# --- products -------------------------------------------------------------------------------------------------

async def get_products(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    wanted = criteria(request)
    try:
        page, total = sim.catalog.search(wanted, _website(view))
    except catalog.InvalidCriteria as exc:
        raise MagentoError(400, str(exc)) from exc
    website = _website(view)
    return await sim.respond(request, {"items": [sim.catalog.render(p, website) for p in page],
                                       "search_criteria": wanted.echo(), "total_count": total})


async def get_product(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    product = sim.catalog.by_sku.get(request.path_params["sku"])
    if product is None:
        raise not_found_product()
    return await sim.respond(request, sim.catalog.render(product, _website(view)))


async def save_product(sim: Simulator, request: Request, view: dict[str, Any], sku: str | None,
                       path: str) -> Response:
    body = await product_body(request, request.method, path)
    if sku is None and not body.get("sku"):
        raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "sku"})
    try:
        product = sim.catalog.save(body, sku, _website(view) if view["code"] != "default" else None)
    except catalog.InvalidProduct as exc:
        raise MagentoError(400, str(exc), {"fieldName": exc.field_name} if exc.field_name else None) from exc
    return await sim.respond(request, sim.catalog.render(product, _website(view)), committed=True)


async def post_product(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    return await save_product(sim, request, view, None, "/V1/products")


async def put_product(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    return await save_product(sim, request, view, request.path_params["sku"], "/V1/products/{sku}")


# --- store structure --------------------------------------------------------------------------------------------

async def get_websites(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    return await sim.respond(request, stores.WEBSITES)


async def get_groups(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    return await sim.respond(request, stores.GROUPS)


async def get_views(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    return await sim.respond(request, stores.VIEWS)


async def get_configs(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    codes = [c for value in request.query_params.getlist("storeCodes") + request.query_params.getlist("storeCodes[]")
             for c in value.split(",") if c]
    return await sim.respond(request, stores.configs(str(request.base_url), codes))


async def get_currency(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    return await sim.respond(request, stores.currency(view["website_id"] or 1))


OPERATIONS = (
    Operation("GET", "/V1/products", "GetV1Products", PRODUCTS, get_products),
    Operation("POST", "/V1/products", "PostV1Products", PRODUCTS, post_product),
    Operation("GET", "/V1/products/{sku}", "GetV1ProductsSku", PRODUCTS, get_product),
    Operation("PUT", "/V1/products/{sku}", "PutV1ProductsSku", PRODUCTS, put_product),
    Operation("GET", "/V1/store/websites", "GetV1StoreWebsites", STORES, get_websites),
    Operation("GET", "/V1/store/storeGroups", "GetV1StoreStoreGroups", STORES, get_groups),
    Operation("GET", "/V1/store/storeViews", "GetV1StoreStoreViews", STORES, get_views),
    Operation("GET", "/V1/store/storeConfigs", "GetV1StoreStoreConfigs", STORES, get_configs),
    Operation("GET", "/V1/directory/currency", "GetV1DirectoryCurrency", None, get_currency),
)


def register(app: FastAPI, sim: Simulator) -> None:
    for op in OPERATIONS:
        endpoint = _endpoint(sim, op)
        tail = op.path.removeprefix("/V1")
        for prefix in PREFIXES:
            app.add_api_route(prefix + tail, endpoint, methods=[op.method],
                              name=op.operation_id if prefix == "/V1" else None,
                              include_in_schema=prefix == "/V1", tags=["Commerce REST"],
                              summary=f"{op.operation_id} (Commerce 2.4.8)")


def _endpoint(sim: Simulator, op: Operation) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        view = await sim.enter(request, op.operation_id, op.resource)
        return await op.handler(sim, request, view)

    endpoint.__name__ = op.operation_id
    return endpoint
