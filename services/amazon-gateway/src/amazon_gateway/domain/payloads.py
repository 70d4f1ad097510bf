"""Listings Items API bodies, JSON_LISTINGS_FEED documents, and reading back what Amazon did.

Money has one shape per API. Inside listing attributes (`purchasable_offer.our_price`) a price is a
JSON number; in the Listings Items API's own `Money` (offers of getListingsItem) it is
`{"amount": "<decimal string>", "currencyCode": ...}`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from amazon_gateway.domain.coalesce import (
    ATTRIBUTE_PREFIX,
    FEED_SCHEMA_MAX_MESSAGES,
    LIFECYCLE,
    PRICE,
    QUANTITY,
    PendingUpdate,
)
from contracts.events import AmazonIssue, ListingUpdateKind, ListingUpdateRequested
from contracts.money import Money

# Amazon's product type for offer-only changes to an existing listing.
OFFER_ONLY_PRODUCT_TYPE = "PRODUCT"
MERCHANT_FULFILLMENT = "DEFAULT"
FEED_VERSION = "2.0"
LISTINGS_API_VERSION = "2021-08-01"
# What a processing report must show of each listing to check prices and quantities were applied.
VERIFY_REPORT_INCLUDED = ("summaries", "offers", "fulfillmentAvailability")

Json = dict[str, Any]


class NotRepresentable(ValueError):
    """An amount that a JSON number would not carry exactly."""


def attribute_number(money: Money) -> int | float:
    """The price as the JSON number listing attributes take, rounded to the currency's minor unit."""
    amount = money.rounded().amount
    if amount == amount.to_integral_value():
        return int(amount)
    number = float(amount)
    if Decimal(repr(number)) != amount:
        raise NotRepresentable(f"{money} has no exact JSON number")
    return number


def listings_money(money: Money) -> Json:
    """Money as the Listings Items API's `Money` definition: a decimal string amount."""
    return {"currencyCode": money.currency, "amount": format(money.rounded().amount, "f")}


def money_from_listings(value: Mapping[str, Any]) -> Money:
    return Money(amount=str(value["amount"]), currency=str(value["currencyCode"]))


def purchasable_offer(price: Money, marketplace_id: str) -> list[Json]:
    return [
        {
            "marketplace_id": marketplace_id,
            "currency": price.currency,
            "our_price": [{"schedule": [{"value_with_tax": attribute_number(price)}]}],
        }
    ]


def fulfillment_availability(quantity: int, handling_time_days: int | None = None) -> list[Json]:
    entry: Json = {"fulfillment_channel_code": MERCHANT_FULFILLMENT, "quantity": quantity}
    if handling_time_days is not None:
        entry["lead_time_to_ship_max_days"] = handling_time_days
    return [entry]


def attribute_value(value: str, marketplace_id: str) -> list[Json]:
    return [{"value": value, "marketplace_id": marketplace_id}]


class MissingValue(ValueError):
    """A request lacks the value its kind needs (a price without price...)."""


def _attributes(update: PendingUpdate) -> dict[str, list[Json]]:
    """Attribute name -> value for every field of the update except the lifecycle."""
    marketplace = update.marketplace_id
    attributes: dict[str, list[Json]] = {}
    for name, request in update.fields.items():
        if name == PRICE:
            if request.price is None:
                raise MissingValue(f"price request {request.event_id} has no price")
            attributes["purchasable_offer"] = purchasable_offer(request.price, marketplace)
        elif name == QUANTITY:
            if request.quantity is None:
                raise MissingValue(f"quantity request {request.event_id} has no quantity")
            attributes["fulfillment_availability"] = fulfillment_availability(
                request.quantity, request.handling_time_days
            )
        elif name.startswith(ATTRIBUTE_PREFIX):
            attribute = name.removeprefix(ATTRIBUTE_PREFIX)
            attributes[attribute] = attribute_value(request.attributes[attribute], marketplace)
    return attributes


def _create_attributes(update: PendingUpdate) -> dict[str, list[Json]]:
    create = update.fields[LIFECYCLE]
    attributes = {name: attribute_value(value, update.marketplace_id) for name, value in create.attributes.items()}
    if create.price is not None and PRICE not in update.fields:
        attributes["purchasable_offer"] = purchasable_offer(create.price, update.marketplace_id)
    if create.quantity is not None and QUANTITY not in update.fields:
        attributes["fulfillment_availability"] = fulfillment_availability(create.quantity, create.handling_time_days)
    attributes.update(_attributes(update))
    return attributes


def patches(update: PendingUpdate) -> list[Json]:
    return [
        {"op": "replace", "path": f"/attributes/{name}", "value": value}
        for name, value in _attributes(update).items()
    ]


def patch_request(update: PendingUpdate) -> Json:
    """Body of patchListingsItem (ListingsItemPatchRequest)."""
    return {"productType": update.product_type or OFFER_ONLY_PRODUCT_TYPE, "patches": patches(update)}


def put_request(update: PendingUpdate) -> Json:
    """Body of putListingsItem (ListingsItemPutRequest) for a CREATE."""
    if update.product_type is None:
        raise MissingValue(f"creating {update.sku} needs a product type")
    return {"productType": update.product_type, "requirements": "LISTING", "attributes": _create_attributes(update)}


def feed_message(message_id: int, update: PendingUpdate) -> Json:
    base: Json = {"messageId": message_id, "sku": update.sku}
    match update.lifecycle:
        case ListingUpdateKind.DELETE:
            return base | {"operationType": "DELETE"}
        case ListingUpdateKind.CREATE:
            request = put_request(update)
            return base | {
                "operationType": "UPDATE",
                "productType": request["productType"],
                "requirements": request["requirements"],
                "attributes": request["attributes"],
            }
    body = patch_request(update)
    return base | {"operationType": "PATCH", "productType": body["productType"], "patches": body["patches"]}


@dataclass(frozen=True)
class FeedDocument:
    document: Json
    updates_by_message: dict[int, PendingUpdate]


def feed_document(
    seller_id: str, updates: Iterable[PendingUpdate], *, issue_locale: str | None = None,
    report_included: Sequence[str] = (),
) -> FeedDocument:
    """A JSON_LISTINGS_FEED document (v2); message ids count from 1 in the given order.

    With `report_included` the processing report carries each accepted listing as Amazon holds it
    after processing: the read-back that verify-after-write needs, at no extra call.
    """
    by_message = {i: u for i, u in enumerate(updates, start=1)}
    if not 1 <= len(by_message) <= FEED_SCHEMA_MAX_MESSAGES:
        raise ValueError(f"a feed holds 1 to {FEED_SCHEMA_MAX_MESSAGES} messages, got {len(by_message)}")
    header: Json = {"sellerId": seller_id, "version": FEED_VERSION}
    if issue_locale:
        header["issueLocale"] = issue_locale
    if report_included:
        header["report"] = {"includedData": list(report_included), "apiVersion": LISTINGS_API_VERSION}
    messages = [feed_message(i, u) for i, u in by_message.items()]
    return FeedDocument({"header": header, "messages": messages}, by_message)


# ---------------------------------------------------------------- what Amazon answered


def _issue(raw: Mapping[str, Any]) -> AmazonIssue:
    names = raw.get("attributeNames") or ([raw["attributeName"]] if raw.get("attributeName") else [])
    severity = raw.get("severity")
    return AmazonIssue(
        code=str(raw.get("code") or "unknown"),
        message=str(raw.get("message") or ""),
        severity=severity if severity in ("ERROR", "WARNING", "INFO") else "ERROR",
        attribute_names=[str(n) for n in names],
    )


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    issues: list[AmazonIssue] = field(default_factory=list)
    submission_id: str | None = None


def submission_outcome(response: Mapping[str, Any]) -> Outcome:
    """Read a ListingsItemSubmissionResponse (put, patch or delete)."""
    issues = [_issue(i) for i in response.get("issues") or []]
    accepted = response.get("status") in ("ACCEPTED", "VALID") and not any(i.severity == "ERROR" for i in issues)
    return Outcome(accepted, issues, response.get("submissionId"))


@dataclass(frozen=True)
class ProcessingReport:
    feed_id: str | None
    by_message: dict[int, Outcome]
    feed_issues: list[AmazonIssue]
    by_sku: dict[str, Outcome]


def parse_processing_report(report: Mapping[str, Any], submitted: FeedDocument | None = None) -> ProcessingReport:
    """Per message and per SKU: accepted unless an ERROR issue names it.

    With the submitted document, every message gets an outcome, those without issues accepted.
    Issues naming no message (a malformed feed) reject every message.
    """
    header = report.get("header") or {}
    per_message: dict[int, list[AmazonIssue]] = {}
    per_sku: dict[str, list[AmazonIssue]] = {}
    feed_issues: list[AmazonIssue] = []
    sku_of: dict[int, str] = {}
    if submitted is not None:
        sku_of = {i: u.sku for i, u in submitted.updates_by_message.items()}
        for i, sku in sku_of.items():
            per_message.setdefault(i, [])
            per_sku.setdefault(sku, [])
    messages_of: dict[str, list[int]] = {}
    for i, sku in sku_of.items():
        messages_of.setdefault(sku, []).append(i)
    for raw in report.get("issues") or []:
        issue = _issue(raw)
        message_id = raw.get("messageId")
        sku = raw.get("sku") or (sku_of.get(message_id) if isinstance(message_id, int) else None)
        if isinstance(message_id, int):
            per_message.setdefault(message_id, []).append(issue)
        elif sku:
            for i in messages_of.get(sku, []):
                per_message[i].append(issue)
        if sku:
            per_sku.setdefault(sku, []).append(issue)
        if not isinstance(message_id, int) and not sku:
            feed_issues.append(issue)
    feed_failed = any(i.severity == "ERROR" for i in feed_issues)

    def outcome(issues: list[AmazonIssue]) -> Outcome:
        accepted = not feed_failed and not any(i.severity == "ERROR" for i in issues)
        return Outcome(accepted, issues + feed_issues, header.get("feedId"))

    return ProcessingReport(
        feed_id=header.get("feedId"),
        by_message={i: outcome(v) for i, v in per_message.items()},
        feed_issues=feed_issues,
        by_sku={s: outcome(v) for s, v in per_sku.items()},
    )


def feed_outcomes(submitted: FeedDocument, report: Mapping[str, Any]) -> dict[uuid.UUID, Outcome]:
    """Outcome of every request the feed carried, by the request's event_id."""
    parsed = parse_processing_report(report, submitted)
    results: dict[uuid.UUID, Outcome] = {}
    for message_id, update in submitted.updates_by_message.items():
        for request in update.requests:
            results[request.event_id] = parsed.by_message[message_id]
    return results


def report_items(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The listings a processing report carries (when `includedData` was asked for), by SKU."""
    items = report.get("items")
    if not isinstance(items, list):
        return {}
    return {str(i["sku"]): i for i in items if isinstance(i, Mapping) and isinstance(i.get("sku"), str)}


# ---------------------------------------------------------------- accepted but not applied


def observed_price(listing: Mapping[str, Any], marketplace_id: str) -> Money | None:
    for offer in listing.get("offers") or []:
        if offer.get("marketplaceId") == marketplace_id and offer.get("offerType", "B2C") == "B2C":
            try:
                return money_from_listings(offer["price"])
            except (KeyError, ValueError, InvalidOperation):
                return None
    return None


def observed_quantity(listing: Mapping[str, Any]) -> int | None:
    for entry in listing.get("fulfillmentAvailability") or []:
        if entry.get("fulfillmentChannelCode") == MERCHANT_FULFILLMENT:
            quantity = entry.get("quantity")
            return quantity if isinstance(quantity, int) else None
    return None


def verifiable(requests: Iterable[ListingUpdateRequested]) -> bool:
    """Whether any of the requests sets a price or quantity, the values a read-back can confirm."""
    return any((r.kind is ListingUpdateKind.PRICE and r.price is not None)
               or (r.kind is ListingUpdateKind.QUANTITY and r.quantity is not None) for r in requests)


def verify_applied(
    requested: Iterable[ListingUpdateRequested], observed_listing: Mapping[str, Any] | None
) -> list[ListingUpdateRequested]:
    """The price and quantity requests that getListingsItem shows were not applied: re-send them.

    A listing Amazon does not know (None, or no summaries) has applied nothing.
    """
    resend: list[ListingUpdateRequested] = []
    known = bool(observed_listing) and bool(observed_listing.get("summaries") or observed_listing.get("offers"))
    for request in requested:
        if request.kind is ListingUpdateKind.PRICE and request.price is not None:
            seen = observed_price(observed_listing, request.marketplace_id) if known else None
            wanted = request.price.rounded()
            if seen is None or seen.currency != wanted.currency or seen.amount != wanted.amount:
                resend.append(request)
        elif request.kind is ListingUpdateKind.QUANTITY and request.quantity is not None:
            seen_qty = observed_quantity(observed_listing) if known else None
            if seen_qty != request.quantity:
                resend.append(request)
    return resend
