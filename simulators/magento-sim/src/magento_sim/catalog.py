"""The catalogue: products in memory, their REST rendering, writes, and searchCriteria evaluation.

Seeded products share one template per sample product: copy k of a template is a small record (ID, SKU, copy
number) until something writes to it, when it gets its own data. That keeps `--multiply 50` (about 100,000
products) to a few seconds and a few tens of MB.
"""

from __future__ import annotations

import copy
import itertools
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

STOCK_DEFAULTS: dict[str, Any] = {
    "stock_id": 1, "is_qty_decimal": False, "show_default_notification_message": False,
    "use_config_min_qty": True, "min_qty": 0, "use_config_min_sale_qty": 1, "min_sale_qty": 1,
    "use_config_max_sale_qty": True, "max_sale_qty": 10000, "use_config_backorders": True, "backorders": 0,
    "use_config_notify_stock_qty": True, "notify_stock_qty": 1, "use_config_qty_increments": True,
    "qty_increments": 0, "use_config_enable_qty_inc": True, "enable_qty_increments": False,
    "use_config_manage_stock": True, "low_stock_date": "", "is_decimal_divided": False,
    "stock_status_changed_auto": 0,
}
TOP_LEVEL = ("id", "entity_id", "sku", "name", "attribute_set_id", "price", "status", "visibility", "type_id",
             "created_at", "updated_at", "weight")
ALL_GROUPS = 32000
# Attribute codes of the store besides those the seeded products carry: core ones, and those the Amazon channel
# recommends (amazon_asin, amazon_condition, EAN, ISBN, UPC). A REST write drops any other custom attribute code
# without a word, as Commerce does.
STORE_ATTRIBUTES = frozenset({
    "description", "short_description", "special_price", "special_from_date", "special_to_date", "cost", "msrp",
    "msrp_display_actual_price_type", "manufacturer", "country_of_manufacture", "tax_class_id", "url_key",
    "meta_title", "meta_keyword", "meta_description", "image", "small_image", "thumbnail", "swatch_image", "color",
    "size", "news_from_date", "news_to_date", "gift_message_available", "category_ids", "options_container",
    "page_layout", "condition", "amazon_asin", "amazon_condition", "ean", "isbn", "upc",
})
REQUIRED_TO_CREATE = (("name", "Product Name"), ("price", "Price"))
PRICED_TYPES = frozenset({"simple", "virtual", "downloadable"})
NOT_VISIBLE_INDIVIDUALLY = 1
T = TypeVar("T")


def magento_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


class ProductNotFound(Exception):
    pass


class InvalidProduct(Exception):
    def __init__(self, message: str, field_name: str | None = None,
                 parameters: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.field_name = field_name
        self.parameters = parameters


class InvalidCriteria(Exception):
    pass


class Product:
    """One product: `data` is its template's until the first write gives it its own."""

    __slots__ = ("copy", "created_at", "data", "id", "offset", "own", "sku", "updated_at")

    def __init__(self, id: int, sku: str, data: dict[str, Any], copy: int, offset: int, created_at: str) -> None:
        self.id, self.sku, self.data, self.copy, self.offset = id, sku, data, copy, offset
        self.own = False
        self.created_at = self.updated_at = created_at

    def materialise(self) -> dict[str, Any]:
        """Its own data, with links turned into this copy's IDs and SKUs."""
        if not self.own:
            data = copy.deepcopy(self.data)
            data["children"] = [i + self.offset for i in data.get("children", [])]
            data["link_ids"] = [i + self.offset for i in data.get("link_ids", [])]
            for option in data.get("bundle_options", []):
                option["ids"] = [i + self.offset for i in option.get("ids", [])]
            data["custom_attributes"] = self.custom_attributes()
            if self.copy:
                data["name"] = self.name()
            data.pop("identifiers", None)
            self.data, self.own, self.offset = data, True, 0
        return self.data

    def name(self) -> str:
        name = self.data.get("name", "")
        return f"{name} {self.copy}" if self.copy and not self.own else name

    def custom_attributes(self) -> dict[str, str]:
        attributes: dict[str, str] = self.data.get("custom_attributes", {})
        if self.data.get("identifiers") and not self.own:
            attributes = {**attributes, "upc": upc(self.id)}
        return attributes


def url_key(name: str) -> str:
    """The URL key Commerce makes of a product name: lower case, runs of anything but letters and digits a dash."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")


def upc(product_id: int) -> str:
    digits = f"0{840000000 + product_id:010d}"[-11:]
    odd = sum(int(d) for d in digits[0::2])
    even = sum(int(d) for d in digits[1::2])
    return digits + str((10 - (odd * 3 + even) % 10) % 10)


@dataclass
class Criteria:
    groups: list[list[tuple[str, str, str]]] = field(default_factory=list)  # (field, value, condition)
    sort: list[tuple[str, str]] = field(default_factory=list)
    page_size: int | None = None
    current_page: int | None = None

    def echo(self) -> dict[str, Any]:
        out: dict[str, Any] = {"filter_groups": [
            {"filters": [{"field": f, "value": v, "condition_type": c} for f, v, c in group]}
            for group in self.groups]}
        if self.sort:
            out["sort_orders"] = [{"field": f, "direction": d} for f, d in self.sort]
        if self.page_size is not None:
            out["page_size"] = self.page_size
        if self.current_page is not None:
            out["current_page"] = self.current_page
        return out


CONDITIONS = ("eq", "neq", "gt", "gteq", "lt", "lteq", "moreq", "from", "to", "like", "nlike", "in", "nin",
              "finset", "nfinset", "null", "notnull")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(actual: Any, wanted: str) -> int:
    a, w = _number(actual), _number(wanted)
    if a is not None and w is not None:
        return (a > w) - (a < w)
    sa, sw = str(actual).casefold(), wanted.casefold()
    return (sa > sw) - (sa < sw)


def _like(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile("".join(parts) + r"\Z", re.IGNORECASE | re.DOTALL)


def matcher(condition: str, wanted: str) -> Callable[[Any], bool]:
    """A predicate on a field's value for one filter (MySQL semantics: NULL matches only null)."""
    if condition == "null":
        return lambda v: v is None or v == ""
    if condition == "notnull":
        return lambda v: v is not None and v != ""
    if condition in ("in", "nin", "finset", "nfinset"):
        values = {x.strip().casefold() for x in wanted.split(",")}
        if condition in ("in", "nin"):
            hit = lambda v: v is not None and (  # noqa: E731
                str(v).casefold() in values or any(_compare(v, x) == 0 for x in values))
        else:
            hit = lambda v: v is not None and bool(values & {x.strip().casefold() for x in str(v).split(",")})  # noqa: E731
        return hit if condition in ("in", "finset") else (lambda v: v is not None and not hit(v))
    if condition in ("like", "nlike"):
        rx = _like(wanted)
        if condition == "like":
            return lambda v: v is not None and rx.match(str(v)) is not None
        return lambda v: v is not None and rx.match(str(v)) is None
    tests: dict[str, Callable[[int], bool]] = {
        "eq": lambda c: c == 0, "neq": lambda c: c != 0, "gt": lambda c: c > 0, "gteq": lambda c: c >= 0,
        "moreq": lambda c: c >= 0, "from": lambda c: c >= 0, "lt": lambda c: c < 0, "lteq": lambda c: c <= 0,
        "to": lambda c: c <= 0,
    }
    if condition not in tests:
        raise InvalidCriteria(condition)
    test = tests[condition]
    return lambda v: v is not None and test(_compare(v, wanted))


class Catalog:
    """Every product of one simulator, by SKU and by ID (IDs are dense from 1 for seeded products)."""

    def __init__(self, templates: list[dict[str, Any]], multiply: int, created_at: str,
                 price_scope: str = "website", clock: Callable[[], float] = time.time) -> None:
        self.price_scope = price_scope
        self.clock = clock
        self.listeners: list[Callable[[Product], None]] = []
        self.templates = _numbered(templates)
        n = len(self.templates)
        self.by_id: dict[int, Product] = {}
        self.by_sku: dict[str, Product] = {}
        for k in range(multiply):
            offset = k * n
            suffix = f"-{k}" if k else ""
            for i, data in enumerate(self.templates):
                product = Product(offset + i + 1, data["sku"] + suffix, data, k, offset, created_at)
                self.by_id[product.id] = product
                self.by_sku[product.sku] = product
        self.next_id = multiply * n + 1
        self.attribute_codes = STORE_ATTRIBUTES | {code for t in self.templates for code in t["custom_attributes"]}
        self.url_keys: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.by_sku)

    def get(self, sku: str) -> Product:
        product = self.by_sku.get(sku)
        if product is None:
            raise ProductNotFound(sku)
        return product

    # --- reading ------------------------------------------------------------------------------------------------
    def price(self, product: Product, website_id: int | None) -> float:
        data = product.data
        if self.price_scope == "website" and website_id is not None:
            return float(data.get("website_prices", {}).get(website_id, data.get("price", 0.0)))
        return float(data.get("price", 0.0))

    def value(self, product: Product, name: str, website_id: int | None) -> Any:
        """A field's value for filtering and sorting: top-level fields, stock, website IDs, custom attributes."""
        data = product.data
        if name in ("id", "entity_id"):
            return product.id
        if name == "sku":
            return product.sku
        if name == "name":
            return product.name()
        if name == "price":
            return self.price(product, website_id)
        if name == "created_at":
            return product.created_at
        if name == "updated_at":
            return product.updated_at
        if name in ("qty", "is_in_stock"):
            value = data["stock"].get(name)
            return int(value) if isinstance(value, bool) else value
        if name == "website_id":
            return ",".join(map(str, data.get("website_ids", [])))
        if name in TOP_LEVEL:
            return data.get(name)
        return product.custom_attributes().get(name)

    def render(self, product: Product, website_id: int | None) -> dict[str, Any]:
        """The product as `catalog-data-product-interface`."""
        data, offset = product.data, product.offset
        extension: dict[str, Any] = {
            "website_ids": list(data.get("website_ids", [])),
            "stock_item": {"item_id": product.id, "product_id": product.id, **STOCK_DEFAULTS, **data["stock"]},
        }
        if data.get("category_links"):
            extension["category_links"] = [dict(link) for link in data["category_links"]]
        if data["type_id"] == "configurable":
            extension["configurable_product_options"] = [
                {"id": product.id * 10 + i, "product_id": product.id, "is_use_default": False, **option}
                for i, option in enumerate(data.get("configurable_options", []))]
            extension["configurable_product_links"] = [i + offset for i in data.get("children", [])]
        if data["type_id"] == "bundle":
            extension["bundle_product_options"] = [
                {"option_id": product.id * 10 + o["position"], "title": o["title"], "required": True,
                 "type": o["type"], "position": o["position"], "sku": product.sku,
                 "product_links": [self._bundle_link(product, o, i + offset, j)
                                   for j, i in enumerate(o.get("ids", []))]}
                for o in data.get("bundle_options", [])]
        if data["type_id"] == "downloadable":
            extension["downloadable_product_links"] = [
                {"id": product.id * 10 + j, "title": link["title"], "sort_order": j, "is_shareable": 2,
                 "price": link["price"], "number_of_downloads": 0, "link_type": "file",
                 "link_file": link["link_file"], "sample_type": "url"}
                for j, link in enumerate(data.get("downloadable_links", []))]
            extension["downloadable_product_samples"] = []
        out: dict[str, Any] = {
            "id": product.id, "sku": product.sku, "name": product.name(),
            "attribute_set_id": data["attribute_set_id"], "price": self.price(product, website_id),
            "status": data["status"], "visibility": data["visibility"], "type_id": data["type_id"],
            "created_at": product.created_at, "updated_at": product.updated_at,
        }
        if data.get("weight") is not None:
            out["weight"] = data["weight"]
        out["extension_attributes"] = extension
        out["product_links"] = [
            {"sku": product.sku, "link_type": link["link_type"], "linked_product_sku": self._sku(i + offset),
             "linked_product_type": self.by_id[i + offset].data["type_id"] if i + offset in self.by_id else "simple",
             "position": j + 1}
            for j, (link, i) in enumerate(zip(data.get("links", []), data.get("link_ids", []), strict=False))]
        out["options"] = []
        out["media_gallery_entries"] = []
        out["tier_prices"] = [
            {"customer_group_id": t["customer_group_id"], "qty": t["qty"], "value": t["value"],
             "extension_attributes": {"website_id": t.get("website_id", 0)}}
            for t in data.get("tier_prices", [])]
        out["custom_attributes"] = [{"attribute_code": code, "value": value}
                                    for code, value in product.custom_attributes().items()]
        return out

    def _sku(self, product_id: int) -> str:
        product = self.by_id.get(product_id)
        return product.sku if product else ""

    def _bundle_link(self, parent: Product, option: dict[str, Any], child_id: int, j: int) -> dict[str, Any]:
        return {"id": str(child_id), "sku": self._sku(child_id), "option_id": parent.id * 10 + option["position"],
                "qty": 1, "position": j, "is_default": j == 0, "price": 0, "price_type": 0,
                "can_change_quantity": 0}

    # --- searching ----------------------------------------------------------------------------------------------
    def search(self, criteria: Criteria, website_id: int | None) -> tuple[list[Product], int]:
        """The page of products the criteria select, and how many match in all.

        Unfiltered pages in entity_id order (how a catalogue is read in full) are sliced from `by_id`, which
        holds products in id order (ids only grow), instead of sorting the whole catalogue for every page; pages
        of one product type in entity_id order (how the configurable parents are read) compare the type alone."""
        in_id_order = all(f == "entity_id" and d.upper() == "ASC" for f, d in criteria.sort)
        if not criteria.groups and criteria.page_size and in_id_order:
            total = len(self.by_id)
            pages = max(1, -(-total // criteria.page_size))
            start = (min(max(1, criteria.current_page or 1), pages) - 1) * criteria.page_size
            return list(itertools.islice(self.by_id.values(), start, start + criteria.page_size)), total
        type_id = _type_wanted(criteria)
        if type_id is not None and in_id_order:
            of_type = [p for p in self.by_id.values()
                       if p.data.get("type_id") is not None and str(p.data["type_id"]).casefold() == type_id]
            return select(of_type, Criteria(page_size=criteria.page_size, current_page=criteria.current_page),
                          lambda p, name: None)
        return select(self.by_id.values(), criteria, lambda p, name: self.value(p, name, website_id))

    # --- writing ------------------------------------------------------------------------------------------------
    def stored_attributes(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body without custom attribute codes the store does not have (Commerce drops them silently)."""
        attributes = body.get("custom_attributes")
        if not isinstance(attributes, list):
            return body
        return {**body, "custom_attributes": [a for a in attributes if isinstance(a, dict)
                                              and a.get("attribute_code") in self.attribute_codes]}

    def check_new(self, body: dict[str, Any]) -> dict[str, Any]:
        """A REST body that creates a product, as Commerce checks it: the required attributes set and a URL key
        (given, else made of the name) no other visible product has; the body with that URL key."""
        type_id = body.get("type_id", "simple")
        for code, label in REQUIRED_TO_CREATE:
            if code == "price" and type_id not in PRICED_TYPES:
                continue
            if body.get(code) is None or str(body[code]).strip() == "":
                raise InvalidProduct('The "%1" attribute value is empty. Set the attribute and try again.',
                                     parameters={"1": label})
        attributes = {a.get("attribute_code"): a.get("value") for a in body.get("custom_attributes") or []
                      if isinstance(a, dict)}
        key = url_key(str(attributes.get("url_key") or body["name"]))
        if body.get("visibility", 4) != NOT_VISIBLE_INDIVIDUALLY:
            holder = self.by_id.get(self._url_keys().get(key, 0))
            if holder is not None and holder.data["visibility"] != NOT_VISIBLE_INDIVIDUALLY:
                raise InvalidProduct("URL key for specified store already exists.")
        kept = [a for a in body.get("custom_attributes") or [] if a.get("attribute_code") != "url_key"]
        return {**body, "custom_attributes": [*kept, {"attribute_code": "url_key", "value": key}]}

    def _url_keys(self) -> dict[str, int]:
        """The product id holding each URL key (a product's key is made once, when it is created), built when
        first needed; a deleted product's key is free again."""
        if self.url_keys is None:
            self.url_keys = {
                p.custom_attributes().get("url_key") or url_key(p.name()): p.id for p in self.by_id.values()
                if p.data["visibility"] != NOT_VISIBLE_INDIVIDUALLY}
        return self.url_keys

    def save(self, body: dict[str, Any], sku: str | None, website_id: int | None) -> Product:
        """Create or update a product from a REST `product` body; fields left out keep their values."""
        sku = sku or body.get("sku")
        if not sku:
            raise InvalidProduct('"%fieldName" is required. Enter and try again.', "sku")
        product = self.by_sku.get(sku)
        new = product is None
        if product is None:
            product = self._create(sku, body)
        new_sku = body.get("sku")
        if new_sku and new_sku != product.sku:
            if new_sku in self.by_sku:
                raise InvalidProduct("The product was unable to be saved. Please try again.", "sku")
            del self.by_sku[product.sku]
            product.sku = new_sku
            self.by_sku[new_sku] = product
        data = product.materialise()
        self._apply(product, data, body, website_id, new)
        if new and self.url_keys is not None and data["custom_attributes"].get("url_key"):
            self.url_keys[data["custom_attributes"]["url_key"]] = product.id
        self.touch(product)
        return product

    def _create(self, sku: str, body: dict[str, Any]) -> Product:
        if len(sku) > 64:
            raise InvalidProduct("SKU length should be 64 characters maximum.", "sku")
        type_id = body.get("type_id", "simple")
        data: dict[str, Any] = {
            "sku": sku, "name": body.get("name", sku), "type_id": type_id, "price": 0.0, "status": 1,
            "visibility": 4, "attribute_set_id": 4, "custom_attributes": {},
            "stock": {"qty": 0.0, "is_in_stock": False, "manage_stock": True}, "website_ids": [1],
            "website_prices": {}, "tier_prices": [], "links": [], "link_ids": [], "children": [],
        }
        product = Product(self.next_id, sku, data, 0, 0, magento_time(self.clock()))
        product.own = True
        self.next_id += 1
        self.by_id[product.id] = product
        self.by_sku[sku] = product
        return product

    def _apply(self, product: Product, data: dict[str, Any], body: dict[str, Any], website_id: int | None,
               new: bool = False) -> None:
        for name in ("name", "attribute_set_id", "status", "visibility", "type_id", "weight"):
            if name in body:
                data[name] = body[name]
        if "price" in body:
            scoped = self.price_scope == "website" and website_id not in (None, 1)
            if scoped:
                data["website_prices"][website_id] = float(body["price"])
            if not scoped or new:  # a new product's first value is its default too
                data["price"] = float(body["price"])
        for attribute in body.get("custom_attributes") or []:
            code, value = attribute["attribute_code"], attribute.get("value")
            if value is None or value == "":
                data["custom_attributes"].pop(code, None)
            else:
                data["custom_attributes"][code] = value if isinstance(value, str) else _text(value)
        if "tier_prices" in body:
            data["tier_prices"] = [
                {"customer_group_id": t["customer_group_id"], "qty": float(t["qty"]), "value": float(t["value"]),
                 "website_id": (t.get("extension_attributes") or {}).get("website_id", 0)}
                for t in body["tier_prices"] or []]
        extension = body.get("extension_attributes") or {}
        if "stock_item" in extension:
            stock = extension["stock_item"] or {}
            for name in ("qty", "is_in_stock", "manage_stock", "backorders", "min_qty", "is_qty_decimal"):
                if name in stock:
                    data["stock"][name] = stock[name]
        if "website_ids" in extension:
            data["website_ids"] = sorted(set(extension["website_ids"]))
        if "category_links" in extension:
            data["category_links"] = extension["category_links"]
        if "configurable_product_links" in extension:
            children = []
            for child_id in extension["configurable_product_links"] or []:
                if child_id not in self.by_id or child_id == product.id:
                    raise InvalidProduct(f'The product with ID "{child_id}" doesn\'t exist.',
                                         "configurable_product_links")
                children.append(child_id)
            data["children"] = children
        if "configurable_product_options" in extension:
            data["configurable_options"] = [
                {"attribute_id": str(o.get("attribute_id", "")), "label": o.get("label", ""),
                 "position": o.get("position", 0), "values": o.get("values", [])}
                for o in extension["configurable_product_options"] or []]

    def delete(self, sku: str) -> Product:
        """Remove a product, and every link to it: a configurable's child, a bundle option's, a related product."""
        product = self.get(sku)
        del self.by_sku[product.sku]
        del self.by_id[product.id]
        for other in self.by_id.values():
            if _links_to(other, product.id):
                data = other.materialise()
                data["children"] = [i for i in data.get("children", []) if i != product.id]
                kept = [(link, i) for link, i in zip(data.get("links", []), data.get("link_ids", []), strict=False)
                        if i != product.id]
                data["links"], data["link_ids"] = [link for link, _ in kept], [i for _, i in kept]
                for option in data.get("bundle_options", []):
                    option["ids"] = [i for i in option.get("ids", []) if i != product.id]
        return product

    def touch(self, product: Product) -> None:
        product.updated_at = magento_time(self.clock())
        for listener in self.listeners:
            listener(product)


def _type_wanted(criteria: Criteria) -> str | None:
    """The type (casefolded) when the criteria's only filter is `type_id eq <a type name>`; what `matcher`
    compares then is the casefolded text of each product's type_id."""
    if len(criteria.groups) == 1 and len(criteria.groups[0]) == 1:
        name, wanted, condition = criteria.groups[0][0]
        if name == "type_id" and condition == "eq" and _number(wanted) is None:
            return wanted.casefold()
    return None


def select(records: Iterable[T], criteria: Criteria, value: Callable[[T, str], Any]) -> tuple[list[T], int]:
    """The page of records the criteria select (`value(record, field)` reads a field), and how many match in all.

    Filters in a group are OR'ed, groups AND'ed. A page past the end answers the last page again, as
    Magento's collections do.
    """
    predicates = []
    for group in criteria.groups:
        tests = []
        for name, wanted, condition in group:
            if condition not in CONDITIONS:
                raise InvalidCriteria(f'Invalid condition type "{condition}".')
            tests.append((name, matcher(condition, wanted)))
        predicates.append(tests)
    if predicates:
        records = [r for r in records
                   if all(any(test(value(r, name)) for name, test in tests) for tests in predicates)]
    else:
        records = list(records)
    for name, direction in reversed(criteria.sort):
        records.sort(key=lambda r, n=name: _sort_key(value(r, n)), reverse=direction.upper() == "DESC")
    total = len(records)
    if criteria.page_size:
        pages = max(1, -(-total // criteria.page_size))
        page = min(max(1, criteria.current_page or 1), pages)
        start = (page - 1) * criteria.page_size
        records = records[start:start + criteria.page_size]
    return records, total


def _links_to(product: Product, target_id: int) -> bool:
    local = target_id - product.offset  # a template's links are copy 0's ids
    data = product.data
    return (local in data.get("children", ()) or local in data.get("link_ids", ())
            or any(local in option.get("ids", ()) for option in data.get("bundle_options", ())))


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _sort_key(value: Any) -> tuple[int, float, str]:
    if value is None or value == "":
        return (0, 0.0, "")
    number = _number(value)
    return (1, number, "") if number is not None else (2, 0.0, str(value).casefold())


def _numbered(templates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Templates with links resolved from SKUs to the IDs of copy 0 (ID = position + 1)."""
    ids = {t["sku"]: i + 1 for i, t in enumerate(templates)}
    for t in templates:
        t["children"] = [ids[s] for s in t.get("children", []) if s in ids]
        t["link_ids"] = [ids[link["linked_product_sku"]] for link in t.get("links", [])
                         if link["linked_product_sku"] in ids]
        t["links"] = [link for link in t.get("links", []) if link["linked_product_sku"] in ids]
        for option in t.get("bundle_options", []):
            option["ids"] = [ids[s] for s in option.pop("skus", option.get("skus", [])) if s in ids]
        if t["type_id"] == "simple" and t["price"] >= 30 and t["visibility"] == 4:
            t["tier_prices"] = [{"customer_group_id": ALL_GROUPS, "qty": 5.0, "value": round(t["price"] * 0.9, 2)}]
    return templates
