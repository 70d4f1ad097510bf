"""Listings state and the Listings Items 2021-08-01 semantics (put, patch, delete, get, search)."""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# Attributes whose updates the "accepted but not applied" fault may drop.
OFFER_ATTRIBUTES = ("purchasable_offer", "fulfillment_availability")
CONDITION_TYPES = {
    "new_new", "new_open_box", "new_oem", "refurbished_refurbished", "used_like_new", "used_very_good", "used_good",
    "used_acceptable", "collectible_like_new", "collectible_very_good", "collectible_good", "collectible_acceptable",
    "club_club",
}
INCLUDED_DATA = (
    "summaries", "attributes", "issues", "offers", "fulfillmentAvailability", "procurement", "relationships",
    "productTypes",
)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def asin_for(seller_id: str, sku: str) -> str:
    digest = hashlib.sha1(f"{seller_id}/{sku}".encode()).hexdigest().upper()
    return "B0" + digest[:8]


def issue(code: str, message: str, attribute: str | None = None, severity: str = "ERROR",
          category: str = "INVALID_ATTRIBUTE") -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "message": message, "severity": severity, "categories": [category]}
    if attribute:
        out["attributeNames"] = [attribute]
    return out


@dataclass
class Listing:
    seller_id: str
    sku: str
    product_type: str
    requirements: str
    attributes: dict[str, Any]
    marketplaces: list[str]
    created: float
    updated: float
    asin: str = ""
    issues: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.asin = self.asin or asin_for(self.seller_id, self.sku)

    # --- derived views -------------------------------------------------------------------------------------
    def offers(self) -> list[dict[str, Any]]:
        out = []
        for entry in self.attributes.get("purchasable_offer") or []:
            price = our_price(entry)
            if price is None:
                continue
            marketplace = entry.get("marketplace_id") or self.marketplaces[0]
            out.append({
                "marketplaceId": marketplace,
                "offerType": "B2B" if entry.get("audience") == "B2B" else "B2C",
                "price": {"currencyCode": str(entry.get("currency") or "USD"), "amount": str(price)},
                "audience": {"value": "B2B" if entry.get("audience") == "B2B" else "ALL",
                             "displayName": "Business" if entry.get("audience") == "B2B" else "Sales to all customers"},
            })
        return out

    def fulfillment_availability(self) -> list[dict[str, Any]]:
        out = []
        for entry in self.attributes.get("fulfillment_availability") or []:
            item: dict[str, Any] = {"fulfillmentChannelCode": str(entry.get("fulfillment_channel_code", "DEFAULT"))}
            if isinstance(entry.get("quantity"), int) and entry["quantity"] >= 0:
                item["quantity"] = entry["quantity"]
            out.append(item)
        return out

    def quantity(self) -> int:
        return sum(f.get("quantity", 0) for f in self.fulfillment_availability())

    def status(self) -> list[str]:
        if any(i["severity"] == "ERROR" for i in self.issues):
            return []
        status = ["DISCOVERABLE"]
        if self.offers() and self.quantity() > 0:
            status.insert(0, "BUYABLE")
        return status

    def item_name(self) -> str | None:
        for entry in self.attributes.get("item_name") or []:
            if isinstance(entry, dict) and entry.get("value"):
                return str(entry["value"])
        return None

    def summaries(self) -> list[dict[str, Any]]:
        out = []
        condition = None
        for entry in self.attributes.get("condition_type") or []:
            if isinstance(entry, dict) and entry.get("value") in CONDITION_TYPES:
                condition = entry["value"]
        for marketplace in self.marketplaces:
            summary: dict[str, Any] = {
                "marketplaceId": marketplace, "asin": self.asin, "productType": self.product_type,
                "status": self.status(), "createdDate": iso(self.created), "lastUpdatedDate": iso(self.updated),
            }
            if condition:
                summary["conditionType"] = condition
            if name := self.item_name():
                summary["itemName"] = name
            out.append(summary)
        return out

    def item(self, included: list[str], marketplaces: list[str] | None = None) -> dict[str, Any]:
        item: dict[str, Any] = {"sku": self.sku}
        for key in included:
            if key == "summaries":
                item[key] = [s for s in self.summaries() if not marketplaces or s["marketplaceId"] in marketplaces]
            elif key == "attributes":
                item[key] = copy.deepcopy(self.attributes)
            elif key == "issues":
                item[key] = copy.deepcopy(self.issues)
            elif key == "offers":
                item[key] = [o for o in self.offers() if not marketplaces or o["marketplaceId"] in marketplaces]
            elif key == "fulfillmentAvailability":
                item[key] = self.fulfillment_availability()
            elif key == "procurement":
                item[key] = []
            elif key == "relationships":
                item[key] = [{"marketplaceId": m, "relationships": []} for m in self.marketplaces]
            elif key == "productTypes":
                item[key] = [{"marketplaceId": m, "productType": self.product_type} for m in self.marketplaces]
        return item


def our_price(entry: Any) -> Decimal | None:
    """The `our_price` schedule value of one purchasable_offer entry."""
    if not isinstance(entry, dict):
        return None
    for price in entry.get("our_price") or []:
        for sched in (price or {}).get("schedule") or []:
            raw = (sched or {}).get("value_with_tax", (sched or {}).get("value"))
            try:
                return Decimal(str(raw)).quantize(Decimal("0.01"))
            except (InvalidOperation, ValueError):
                return None
    return None


def validate_attributes(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    """The checks Amazon would make against the product type definition, reduced to offer and quantity."""
    issues = []
    for name, value in attributes.items():
        if not isinstance(value, list):
            issues.append(issue("4000001", f"The value of '{name}' must be an array.", name))
    for entry in attributes.get("purchasable_offer") or []:
        if not isinstance(entry, dict):
            continue
        has_price = bool(entry.get("our_price"))
        price = our_price(entry)
        if has_price and (price is None or price <= 0):
            issues.append(issue("90244", "The value provided for 'our_price' must be a positive number.",
                                "purchasable_offer", category="INVALID_PRICE"))
    for entry in attributes.get("fulfillment_availability") or []:
        if not isinstance(entry, dict):
            continue
        qty = entry.get("quantity")
        if qty is not None and (not isinstance(qty, int) or isinstance(qty, bool) or qty < 0):
            issues.append(issue("90245", "The value provided for 'quantity' must be a whole number of 0 or more.",
                                "fulfillment_availability"))
    return issues


@dataclass(frozen=True)
class ListingSnapshot:
    """What listeners compare before and after a change: status, issues and offer prices."""

    status: tuple[str, ...]
    issues: tuple[tuple[str, str], ...]
    prices: tuple[tuple[str, Decimal], ...]
    asin: str = ""
    marketplaces: tuple[str, ...] = ()

    @classmethod
    def of(cls, listing: Listing | None) -> ListingSnapshot | None:
        if listing is None:
            return None
        prices = sorted((o["marketplaceId"], Decimal(o["price"]["amount"])) for o in listing.offers()
                        if o["offerType"] == "B2C")
        return cls(tuple(listing.status()), tuple(sorted((i["code"], i["severity"]) for i in listing.issues)),
                   tuple(prices), listing.asin, tuple(listing.marketplaces))


# Told (seller_id, sku, before, after, now) after every change of a listing; None is "no listing".
ListingListener = Callable[[str, str, "ListingSnapshot | None", "Listing | None", float], None]


class ListingStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Listing] = {}
        self.listeners: list[ListingListener] = []

    def _changed(self, seller_id: str, sku: str, before: ListingSnapshot | None, now: float) -> None:
        listing = self.get(seller_id, sku)
        if self.listeners and ListingSnapshot.of(listing) != before:
            for listener in list(self.listeners):
                listener(seller_id, sku, before, listing, now)

    def set_issues(self, seller_id: str, sku: str, issues: list[dict[str, Any]], now: float) -> bool:
        """Replace the issues Amazon reports on a listing (as its catalog checks would); False when unknown."""
        listing = self.get(seller_id, sku)
        if listing is None:
            return False
        before = ListingSnapshot.of(listing)
        listing.issues = copy.deepcopy(issues)
        listing.updated = now
        self._changed(seller_id, sku, before, now)
        return True

    def get(self, seller_id: str, sku: str) -> Listing | None:
        return self.items.get((seller_id, sku))

    def for_seller(self, seller_id: str) -> list[Listing]:
        return [v for (s, _), v in self.items.items() if s == seller_id]

    # --- operations, shared by the Listings Items API and JSON_LISTINGS_FEED ----------------------------------
    def put(self, seller_id: str, sku: str, product_type: str, requirements: str | None, attributes: dict[str, Any],
            marketplaces: list[str], now: float, *, preview: bool = False, drop_offer: bool = False) -> list[dict]:
        issues = validate_attributes(attributes)
        if issues or preview:
            return issues
        existing = self.get(seller_id, sku)
        before = ListingSnapshot.of(existing)
        attributes = copy.deepcopy(attributes)
        if drop_offer and existing is not None:
            for name in OFFER_ATTRIBUTES:
                attributes.pop(name, None)
                if name in existing.attributes:
                    attributes[name] = copy.deepcopy(existing.attributes[name])
        elif drop_offer:
            for name in OFFER_ATTRIBUTES:
                attributes.pop(name, None)
        listing = Listing(seller_id, sku, product_type, requirements or "LISTING", attributes,
                          sorted(set(marketplaces) | set(existing.marketplaces if existing else [])),
                          existing.created if existing else now, now)
        self.items[(seller_id, sku)] = listing
        self._changed(seller_id, sku, before, now)
        return []

    def patch(self, seller_id: str, sku: str, product_type: str, patches: list[dict[str, Any]],
              marketplaces: list[str], now: float, *, preview: bool = False, drop_offer: bool = False) -> list[dict]:
        listing = self.get(seller_id, sku)
        if listing is None:
            return [issue("4000004", f"The SKU '{sku}' does not exist for this seller.", category="MISSING_ATTRIBUTE")]
        attributes = copy.deepcopy(listing.attributes)
        issues: list[dict[str, Any]] = []
        for patch in patches:
            path = str(patch.get("path", ""))
            parts = path.strip("/").split("/")
            if len(parts) != 2 or parts[0] != "attributes" or not parts[1]:
                issues.append(issue("4000003", f"Invalid patch path '{path}': only top-level attributes can be "
                                    "patched, as /attributes/<name>."))
                continue
            name, op = parts[1], patch.get("op")
            if drop_offer and name in OFFER_ATTRIBUTES:
                continue
            value = patch.get("value")
            if op in ("add", "replace"):
                if value is None:
                    issues.append(issue("4000003", f"Patch '{op}' of '{path}' needs a value.", name))
                    continue
                attributes[name] = copy.deepcopy(value)
            elif op == "merge":
                merged = list(attributes.get(name) or [])
                for new in value or []:
                    key = new.get("marketplace_id") if isinstance(new, dict) else None
                    merged = [m for m in merged if not (isinstance(m, dict) and m.get("marketplace_id") == key)]
                    merged.append(copy.deepcopy(new))
                attributes[name] = merged
            elif op == "delete":
                attributes.pop(name, None)
        issues += validate_attributes(attributes)
        if issues or preview:
            return issues
        before = ListingSnapshot.of(listing)
        listing.attributes = attributes
        listing.product_type = product_type or listing.product_type
        listing.marketplaces = sorted(set(listing.marketplaces) | set(marketplaces))
        listing.updated = now
        self._changed(seller_id, sku, before, now)
        return []

    def delete(self, seller_id: str, sku: str, now: float | None = None) -> bool:
        removed = self.items.pop((seller_id, sku), None)
        if removed is not None and self.listeners:
            self._changed(seller_id, sku, ListingSnapshot.of(removed), removed.updated if now is None else now)
        return removed is not None


def submission_id() -> str:
    return uuid.uuid4().hex
