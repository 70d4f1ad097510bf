"""The Luma sample catalogue, read from the sample-data fixture CSVs into product templates.

A template is the product's data in the simulator's internal shape (see `catalog.Product`): select and
multiselect attributes hold option IDs as Magento's REST API does, links hold the IDs of copy 0.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ATTRIBUTE_SETS = {"Default": 4, "Top": 9, "Bottom": 10, "Gear": 11, "Bag": 12, "Downloadable": 13,
                  "Sprite Stasis Ball": 14, "Sprite Yoga Strap": 15}
VISIBILITY = {"Not Visible Individually": 1, "Catalog": 2, "Search": 3, "Catalog, Search": 4}
SECOND_WEBSITE_RATE = 0.92  # website 2 sells in EUR at this rate, rounded to .99 prices
CATALOG = "CatalogSampleData/fixtures"
CONFIGURABLE = "ConfigurableSampleData/fixtures"


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


class Options:
    """Option IDs of select and multiselect attributes, numbered as an install would (first seen, first served)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str], int] = {}
        self.attribute_ids: dict[str, int] = {"color": 93, "size": 144}
        self.kinds: dict[str, str] = {}
        self._next = itertools.count(4)
        self._next_attribute = itertools.count(150)

    def learn(self, path: Path) -> None:
        for row in _rows(path):
            code = row["attribute_code"]
            self.kinds[code] = row["frontend_input"]
            self.attribute_ids.setdefault(code, next(self._next_attribute))
            for label in filter(None, (x.strip() for x in row["option"].split("\n"))):
                self.option(code, label)

    def option(self, code: str, label: str) -> int:
        key = (code, label.strip())
        if key not in self.ids:
            self.ids[key] = next(self._next)
        return self.ids[key]

    def value(self, code: str, labels: list[str]) -> str:
        """The REST value of an attribute: option IDs (comma-joined) for selects, `1`/`0` for booleans."""
        labels = [x for x in (label.strip() for label in labels) if x]
        kind = self.kinds.get(code, "select" if code in ("color", "size") else "text")
        if kind == "boolean":
            return "1" if labels and labels[0].lower() in ("1", "yes") else "0"
        if kind in ("select", "multiselect"):
            return ",".join(str(self.option(code, label)) for label in labels)
        return ",".join(labels)


def _website_price(price: float) -> float:
    return round(max(1.0, round(price * SECOND_WEBSITE_RATE)) - 0.01, 2) if price else 0.0


def _base(sku: str, name: str, type_id: str, price: float, attribute_set: str, visibility: int = 4,
          weight: float | None = None, qty: float = 100.0) -> dict[str, Any]:
    stocked = type_id in ("simple", "virtual", "downloadable")
    data: dict[str, Any] = {
        "sku": sku, "name": name, "type_id": type_id, "price": price, "status": 1, "visibility": visibility,
        "attribute_set_id": ATTRIBUTE_SETS.get(attribute_set, 4),
        "custom_attributes": {"tax_class_id": "2", "condition": "new"},
        "stock": {"qty": qty if stocked else 0.0, "is_in_stock": True, "manage_stock": stocked},
        "website_ids": [1, 2], "website_prices": {2: _website_price(price)},
        "tier_prices": [], "links": [],
    }
    if weight is not None:
        data["weight"] = weight
    if stocked and price:
        data["custom_attributes"]["cost"] = f"{price * 0.55:.6f}"
    if type_id in ("simple", "virtual"):
        data["identifiers"] = True  # a generated UPC, unique per product ID
    return data


def _attributes(data: dict[str, Any], row: dict[str, str], options: Options, codes: list[str]) -> None:
    for code in codes:
        if row.get(code):
            data["custom_attributes"][code] = options.value(code, row[code].split("\n"))


def load(root: Path) -> list[dict[str, Any]]:
    """Every sample product, parents before their children's links resolve (links hold SKUs until `number`)."""
    base = root / "app/code/Magento"
    options = Options()
    for path in (base / CATALOG / "attributes.csv", base / CONFIGURABLE / "attributes.csv",
                 base / "DownloadableSampleData/fixtures/attributes.csv"):
        if path.exists():
            options.learn(path)
    products: list[dict[str, Any]] = []

    for row in _rows(base / CONFIGURABLE / "products.csv"):
        type_id = row["product_type"]
        price = float(row["price"] or 0)
        data = _base(row["sku"], row["name"], type_id, price, row["attribute_set_code"],
                     VISIBILITY.get(row["visibility"], 4), float(row["weight"]) if row["weight"] else None,
                     float(row["qty"] or 0))
        data["custom_attributes"]["url_key"] = row["url_key"]
        for pair in filter(None, row["additional_attributes"].split(",")):
            code, _, value = pair.partition("=")
            if code not in ("has_options", "required_options"):
                data["custom_attributes"][code] = options.value(code, value.split("|"))
        if type_id == "configurable":
            variations = [dict(p.split("=", 1) for p in v.split(","))
                          for v in row["configurable_variations"].split("|")]
            data["children"] = [v["sku"] for v in variations]
            axes = [k for k in variations[0] if k != "sku"]
            data["configurable_options"] = [
                {"attribute_id": str(options.attribute_ids.get(axis, 0)), "label": axis.title(), "position": i,
                 "values": [{"value_index": options.option(axis, label)}
                            for label in dict.fromkeys(v[axis] for v in variations)]}
                for i, axis in enumerate(axes)]
        products.append(data)

    extra = ("features_bags", "pattern", "strap_bags", "material", "style_bags", "activity", "category_gear",
             "gender", "eco_collection", "performance_fabric", "erin_recommends", "new", "sale", "size", "color",
             "format")
    for path in sorted((base / CATALOG / "SimpleProduct").glob("products_*.csv")):
        for row in _rows(path):
            price = float(row["price"] or 0)
            data = _base(row["sku"], row["name"], "simple", price, row["attribute_set"],
                         int(row.get("visibility") or 4), 1.0, float(row["qty"] or 100))
            _attributes(data, row, options, list(extra))
            if row.get("special_price"):
                data["custom_attributes"]["special_price"] = f"{float(row['special_price']):.6f}"
            products.append(data)

    for row in _rows(base / "BundleSampleData/fixtures/yoga_bundle.csv"):
        data = _base(row["sku"], row["name"], "bundle", 0.0, row["attribute_set"])
        _attributes(data, row, options, list(extra))
        data["bundle_options"] = []
        for position, line in enumerate(filter(None, row["bundle_options"].split("\n")), start=1):
            title, _, rest = line.partition("|")
            kind, _, skus = rest.partition(":")
            data["bundle_options"].append({"title": title, "type": kind, "position": position,
                                           "skus": [s.strip() for s in skus.split(",") if s.strip()]})
        products.append(data)

    for row in _rows(base / "GroupedProductSampleData/fixtures/yoga_grouped.csv"):
        data = _base(row["sku"], row["name"], "grouped", 0.0, row["attribute_set"])
        _attributes(data, row, options, list(extra))
        data["links"] = [{"link_type": "associated", "linked_product_sku": s.strip()}
                         for s in row["associated_sku"].split(",") if s.strip()]
        products.append(data)

    downloads: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(base / "DownloadableSampleData/fixtures/downloadable_data_training_video_download.csv"):
        downloads.setdefault(row["product_sku"], []).append(
            {"title": row["link_item_title"], "price": float(row["link_item_price"] or 0),
             "link_file": row["link_item_file"]})
    for row in _rows(base / "DownloadableSampleData/fixtures/products_training_video_download.csv"):
        data = _base(row["sku"], row["name"], "downloadable", float(row["price"] or 0), row["attribute_set"])
        _attributes(data, row, options, list(extra))
        data["downloadable_links"] = downloads.get(row["sku"], [])
        data.pop("weight", None)
        products.append(data)

    msrp = {row["sku"]: row["msrp"] for row in _rows(base / "MsrpSampleData/fixtures/products_msrp.csv")}
    for data in products:
        if data["sku"] in msrp:
            data["custom_attributes"]["msrp"] = f"{float(msrp[data['sku']]):.6f}"
    return products
