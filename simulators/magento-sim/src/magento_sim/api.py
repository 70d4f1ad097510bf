"""The admin REST operations served (catalogue and stores here, sales in `sales_api`), each under `/V1/...`,
`/rest/V1/...` and `/rest/<store_code>/V1/...`.

`OPERATIONS` lists them by the operationId of Adobe's published model; the wire tests drive each one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from magento_sim import catalog, fields, sales, sales_api, stores, webhooks
from magento_sim.core import MagentoError, Simulator, not_found_product
from magento_sim.rest import PREFIXES, Operation, criteria, wrapped_body

PRODUCTS = "Magento_Catalog::products"
STORES = "Magento_Backend::stores"
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
    wanted_fields = request.query_params.get("fields")
    tree = fields.parse(wanted_fields) if wanted_fields else None
    if tree is not None and _top_level_only(tree.get("items")):
        items = [{k: sim.catalog.value(p, k, website) for k in tree["items"]} for p in page]  # no full rendering
        body = fields.apply({"items": items, "search_criteria": wanted.echo(), "total_count": total}, tree)
        return await sim.respond(request, body)
    body = {"items": [sim.catalog.render(p, website) for p in page], "search_criteria": wanted.echo(),
            "total_count": total}
    return await sim.respond(request, fields.filtered(body, wanted_fields))


_PLAIN = frozenset({"id", "sku", "name", "attribute_set_id", "price", "status", "visibility", "type_id", "created_at",
                    "updated_at"})


def _top_level_only(items: Any) -> bool:
    """`items[...]` names only plain top-level fields, which a product answers without being rendered."""
    return isinstance(items, dict) and bool(items) and all(v == 1 and k in _PLAIN for k, v in items.items())


async def get_product(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    product = sim.catalog.by_sku.get(request.path_params["sku"])
    if product is None:
        raise not_found_product()
    body = sim.catalog.render(product, _website(view))
    return await sim.respond(request, fields.filtered(body, request.query_params.get("fields")))


async def delete_product(sim: Simulator, request: Request, view: dict[str, Any]) -> Response:
    """Removes the product (its links with it) and pushes the deletion with the product as it was; `true`."""
    product = sim.catalog.by_sku.get(request.path_params["sku"])
    if product is None:
        raise not_found_product()
    before = sim.catalog.render(product, 1)
    sim.catalog.delete(product.sku)
    sim.webhooks.publish(webhooks.product_deleted(before), "product")
    return await sim.respond(request, True, committed=True)


async def save_product(sim: Simulator, request: Request, view: dict[str, Any], sku: str | None,
                       path: str) -> Response:
    body = await wrapped_body(request, request.method, path, "product")
    if sku is None and not body.get("sku"):
        raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "sku"})
    body = sim.catalog.stored_attributes(body)
    try:
        if (sku or body["sku"]) not in sim.catalog.by_sku:  # POST and PUT both create a missing SKU
            body = _on_websites(sim.catalog.check_new(body), view)
        product = sim.catalog.save(body, sku, _website(view) if view["code"] != "default" else None)
    except catalog.InvalidProduct as exc:
        parameters = exc.parameters or ({"fieldName": exc.field_name} if exc.field_name else None)
        raise MagentoError(400, str(exc), parameters) from exc
    return await sim.respond(request, sim.catalog.render(product, _website(view)), committed=True)


def _on_websites(body: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    """A new product without website IDs is on the addressed store view's website, or on all through `all`."""
    extension = body.get("extension_attributes") or {}
    if extension.get("website_ids"):
        return body
    ids = [w["id"] for w in stores.WEBSITES if w["id"]] if view["code"] == "admin" else [view["website_id"]]
    return {**body, "extension_attributes": {**extension, "website_ids": ids}}


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
    Operation("DELETE", "/V1/products/{sku}", "DeleteV1ProductsSku", PRODUCTS, delete_product),
    Operation("GET", "/V1/store/websites", "GetV1StoreWebsites", STORES, get_websites),
    Operation("GET", "/V1/store/storeGroups", "GetV1StoreStoreGroups", STORES, get_groups),
    Operation("GET", "/V1/store/storeViews", "GetV1StoreStoreViews", STORES, get_views),
    Operation("GET", "/V1/store/storeConfigs", "GetV1StoreStoreConfigs", STORES, get_configs),
    Operation("GET", "/V1/directory/currency", "GetV1DirectoryCurrency", None, get_currency),
    *sales_api.OPERATIONS,
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
        try:
            return await op.handler(sim, request, view)
        except sales.SalesError as exc:
            raise MagentoError(exc.status, exc.message, exc.parameters) from exc

    endpoint.__name__ = op.operation_id
    return endpoint
