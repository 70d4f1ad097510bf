"""Orders v0 state: orders with items, their status life, shipments, buyers, and the cancellation feed.

An order lives through Amazon's statuses: Pending (payment not yet authorised) → Unshipped →
PartiallyShipped → Shipped, or Canceled. Merchant-fulfilled (MFN) orders move on when the seller
confirms shipments or cancels them through POST_ORDER_ACKNOWLEDGEMENT_DATA; Amazon-fulfilled (AFN)
orders ship by themselves after a while. Every change moves LastUpdateDate and is told to
`order_listeners`, which is where ORDER_CHANGE notifications come from.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from amazon_sim.listings import Listing, ListingStore, iso, our_price
from amazon_sim.marketplaces import MARKETPLACES

# Default usage plans of the Orders v0 operations (rate per second, burst), as printed in ordersV0.json.
ORDER_USAGE_PLANS: dict[str, tuple[float, int]] = {
    "getOrders": (0.0167, 20),
    "getOrder": (0.5, 30),
    "getOrderItems": (0.5, 30),
    "getOrderAddress": (0.5, 30),
    "getOrderBuyerInfo": (0.5, 30),
    "getOrderItemsBuyerInfo": (0.5, 30),
    "confirmShipment": (2.0, 10),
    # Tokens 2021-03-01: the Restricted Data Tokens the PII operations need.
    "createRestrictedDataToken": (1.0, 10),
}

ACKNOWLEDGEMENT_FEED = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
STATUSES = ("Pending", "Unshipped", "PartiallyShipped", "Shipped", "Canceled")
CANCEL_REASONS = frozenset({
    "NoInventory", "ShippingAddressUndeliverable", "CustomerExchange", "BuyerCanceled", "GeneralAdjustment",
    "CarrierCreditDecision", "RiskAssessmentInformationNotValid", "CarrierCoverageFailure", "CustomerReturn",
    "MerchandiseNotReceived",
})
# Statuses whose shipping address Amazon returns (spec §3: only these carry ShippingAddress).
ADDRESS_STATUSES = frozenset({"Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"})
# The parts of Order.ShippingAddress that are not restricted data (ordersV0.json names Name, AddressLine1-3, Phone,
# AddressType and ExtendedFields as restricted).
UNRESTRICTED_ADDRESS = ("City", "County", "District", "StateOrRegion", "Municipality", "PostalCode", "CountryCode")

OrderListener = Callable[["Order", str], None]


class OrderError(Exception):
    """A request Amazon refuses: the caller turns it into a 400 (or 404) with this code and message."""

    def __init__(self, message: str, code: str = "InvalidInput", status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class OrderItem:
    order_item_id: str
    sku: str
    asin: str
    title: str
    quantity: int
    unit_price: Decimal
    currency: str
    quantity_shipped: int = 0
    buyer_requested_cancel: bool = False
    buyer_cancel_reason: str | None = None

    def money(self, amount: Decimal) -> dict[str, str]:
        return {"CurrencyCode": self.currency, "Amount": format(amount, "f")}

    def view(self) -> dict[str, Any]:
        """One OrderItem of getOrderItems; prices are per line (unit price times quantity), as Amazon gives them."""
        price = self.unit_price * self.quantity
        tax = (price * Decimal("0.08")).quantize(Decimal("0.01"))
        out: dict[str, Any] = {
            "ASIN": self.asin, "SellerSKU": self.sku, "OrderItemId": self.order_item_id, "Title": self.title,
            "QuantityOrdered": self.quantity, "QuantityShipped": self.quantity_shipped,
            "ProductInfo": {"NumberOfItems": "1"},
            "ItemPrice": self.money(price), "ItemTax": self.money(tax),
            "ShippingPrice": self.money(Decimal("0.00")), "ShippingTax": self.money(Decimal("0.00")),
            "PromotionDiscount": self.money(Decimal("0.00")), "IsGift": "false", "ConditionId": "New",
            "ConditionSubtypeId": "New", "SerialNumberRequired": False, "IsTransparency": False,
        }
        if self.buyer_requested_cancel:
            out["BuyerRequestedCancel"] = {"IsBuyerRequestedCancel": "true",
                                           "BuyerCancelReason": self.buyer_cancel_reason or ""}
        return out


@dataclass
class Order:
    amazon_order_id: str
    seller_id: str
    marketplace_id: str
    fulfillment: str  # MFN | AFN
    status: str
    purchased: float
    updated: float
    items: list[OrderItem]
    buyer_name: str
    buyer_email: str
    address: dict[str, str]
    shipments: list[dict[str, Any]] = field(default_factory=list)
    cancel_reason: str | None = None
    acknowledged: bool = False
    history: list[tuple[str, float]] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return MARKETPLACES[self.marketplace_id].currency

    def total(self) -> Decimal:
        return sum((i.unit_price * i.quantity for i in self.items), Decimal("0.00"))

    def view(self, data_elements: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The Order of getOrders/getOrder. Restricted data only as far as the Restricted Data Token's dataElements
        allow: `buyerInfo` adds BuyerInfo, `shippingAddress` the whole ShippingAddress; without them the address
        is only what Amazon shows to anyone (City, StateOrRegion, PostalCode, CountryCode)."""
        shipped = sum(i.quantity_shipped for i in self.items)
        unshipped = 0 if self.status == "Canceled" else sum(i.quantity for i in self.items) - shipped
        out: dict[str, Any] = {
            "AmazonOrderId": self.amazon_order_id, "PurchaseDate": iso(self.purchased),
            "LastUpdateDate": iso(self.updated), "OrderStatus": self.status, "FulfillmentChannel": self.fulfillment,
            "SalesChannel": MARKETPLACES[self.marketplace_id].name, "ShipServiceLevel": "Std US D2D Dom",
            "NumberOfItemsShipped": shipped, "NumberOfItemsUnshipped": unshipped, "PaymentMethod": "Other",
            "PaymentMethodDetails": ["Standard"], "MarketplaceId": self.marketplace_id,
            "ShipmentServiceLevelCategory": "Standard", "OrderType": "StandardOrder",
            "EarliestShipDate": iso(self.purchased), "LatestShipDate": iso(self.purchased + 2 * 86400),
            "IsBusinessOrder": False, "IsPrime": self.fulfillment == "AFN", "IsPremiumOrder": False,
            "IsGlobalExpressEnabled": False, "IsReplacementOrder": False, "IsSoldByAB": False, "IsISPU": False,
            "IsAccessPointOrder": False, "HasRegulatedItems": False,
        }
        if self.status != "Pending":
            out["OrderTotal"] = {"CurrencyCode": self.currency, "Amount": format(self.total(), "f")}
        if self.status in ADDRESS_STATUSES:
            out["ShippingAddress"] = (self.full_address() if "shippingAddress" in data_elements else
                                      {k: self.address[k] for k in UNRESTRICTED_ADDRESS if k in self.address})
        if "buyerInfo" in data_elements:
            out["BuyerInfo"] = {"BuyerEmail": self.buyer_email, "BuyerName": self.buyer_name}
        return out

    def full_address(self) -> dict[str, str]:
        """The whole shipping address (restricted data); Amazon never gives the phone of an order it fulfils."""
        return {k: v for k, v in self.address.items() if not (k == "Phone" and self.fulfillment == "AFN")}

    def address_view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"AmazonOrderId": self.amazon_order_id}
        if self.status in ADDRESS_STATUSES:
            out["ShippingAddress"] = self.full_address()
        return out

    def buyer_view(self) -> dict[str, Any]:
        return {"AmazonOrderId": self.amazon_order_id, "BuyerEmail": self.buyer_email, "BuyerName": self.buyer_name}

    def state(self) -> dict[str, Any]:
        """Everything the simulator knows about the order, for `/_sim/orders`."""
        return {
            **self.view(), "SellerId": self.seller_id, "Items": [i.view() for i in self.items],
            "Shipments": self.shipments, "CancelReason": self.cancel_reason, "Acknowledged": self.acknowledged,
            "StatusHistory": [{"status": s, "at": iso(t)} for s, t in self.history],
        }


_FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus")
_CITIES = (("Seattle", "WA", "98109"), ("Austin", "TX", "73301"), ("Boston", "MA", "02110"),
           ("Denver", "CO", "80202"))


class OrderStore:
    """Every order of every seller, the buyers who place them, and what happens to them."""

    def __init__(self, listings: ListingStore, *, orders_per_minute: float = 0.0, pending_seconds: float = 5.0,
                 afn_ship_seconds: float = 60.0, seed: int | None = None) -> None:
        self.listings = listings
        self.orders_per_minute = orders_per_minute
        self.pending_seconds = pending_seconds
        self.afn_ship_seconds = afn_ship_seconds
        self.orders: dict[str, Order] = {}
        self.order_listeners: list[OrderListener] = []
        self.cancellations: list[dict[str, Any]] = []
        self.rng = random.Random(seed)
        self._ids = random.Random()  # order ids stay unique across simulator instances, whatever the seed
        self._buyer_clock: float | None = None
        self._due_orders = 0.0
        self.sellers: Callable[[], list[tuple[str, list[str]]]] = list

    # --- changes ---------------------------------------------------------------------------------------------
    def _changed(self, order: Order, change_type: str) -> None:
        for listener in list(self.order_listeners):
            listener(order, change_type)

    def _set_status(self, order: Order, status: str, now: float) -> None:
        order.status = status
        order.updated = max(now, order.updated + 0.001)
        order.history.append((status, order.updated))
        self._changed(order, "OrderStatusChange")

    def new_order_id(self) -> str:
        r = self._ids
        return f"{r.randint(100, 999)}-{r.randint(0, 9999999):07d}-{r.randint(0, 9999999):07d}"

    def place(self, seller_id: str, marketplace_id: str, lines: list[tuple[str, int]], now: float, *,
              fulfillment: str = "MFN", status: str = "Pending") -> Order:
        """A buyer orders these (SKU, quantity) lines of the seller's listings, at the listings' prices."""
        if fulfillment not in ("MFN", "AFN"):
            raise OrderError(f"Unknown fulfillment channel {fulfillment}.")
        if status not in ("Pending", "Unshipped"):
            raise OrderError("A new order starts Pending or Unshipped.")
        if marketplace_id not in MARKETPLACES:
            raise OrderError(f"Unknown marketplace {marketplace_id}.")
        if not lines:
            raise OrderError("An order needs at least one line.")
        items = []
        for sku, quantity in lines:
            listing = self.listings.get(seller_id, sku)
            if listing is None:
                raise OrderError(f"Seller {seller_id} has no listing {sku}.", "NotFound", 404)
            price = price_in(listing, marketplace_id)
            if price is None:
                raise OrderError(f"Listing {sku} has no price in {marketplace_id}.")
            if quantity < 1:
                raise OrderError("Quantities start at 1.")
            items.append(OrderItem(f"{self._ids.randint(10**13, 10**14 - 1)}", sku, listing.asin,
                                   listing.item_name() or sku, quantity, price, MARKETPLACES[marketplace_id].currency))
        order_id = self.new_order_id()
        while order_id in self.orders:
            order_id = self.new_order_id()
        city, region, postal = self.rng.choice(_CITIES)
        name = f"{self.rng.choice(_FIRST_NAMES)} Buyer"
        order = Order(order_id, seller_id, marketplace_id, fulfillment, status, now, now, items, name,
                      f"{order_id.replace('-', '')}@marketplace.amazon.com",
                      {"Name": name, "AddressLine1": "410 Terry Ave N", "City": city, "StateOrRegion": region,
                       "PostalCode": postal, "CountryCode": MARKETPLACES[marketplace_id].country,
                       "Phone": "+1 206-555-0100", "AddressType": "Residential"})
        order.history.append((status, now))
        self.orders[order_id] = order
        self._changed(order, "OrderStatusChange")
        return order

    def set_status(self, order: Order, status: str, now: float) -> None:
        """Move an order to a status by hand (the admin surface); shipped items follow Shipped."""
        if status not in STATUSES:
            raise OrderError(f"Unknown order status {status}.")
        if status == order.status:
            return
        if status == "Shipped":
            for item in order.items:
                item.quantity_shipped = item.quantity
        self._set_status(order, status, now)

    def request_cancel(self, order: Order, reason: str, now: float) -> None:
        """The buyer asks to cancel: Amazon flags every item and tells the seller (BuyerRequestedChange)."""
        for item in order.items:
            item.buyer_requested_cancel, item.buyer_cancel_reason = True, reason
        order.updated = max(now, order.updated + 0.001)
        self._changed(order, "BuyerRequestedChange")

    # --- confirmShipment -------------------------------------------------------------------------------------
    def confirm_shipment(self, order: Order, body: dict[str, Any], now: float) -> None:
        """Apply a (schema-valid) ConfirmShipmentRequest, or refuse it the way Amazon does.

        A package whose packageReferenceId the order already has, with the same contents, is the same
        confirmation sent twice: it is accepted without shipping anything again.
        """
        if body["marketplaceId"] != order.marketplace_id:
            raise OrderError(f"Order {order.amazon_order_id} does not belong to marketplace {body['marketplaceId']}.")
        package = body["packageDetail"]
        reference = package["packageReferenceId"]
        if not reference.isdigit() or int(reference) < 1:
            raise OrderError("packageReferenceId must be a positive numeric string.")
        lines = {i["orderItemId"]: i["quantity"] for i in package["orderItems"]}
        previous = next((s for s in order.shipments if s["packageReferenceId"] == reference), None)
        if previous is not None:
            if previous["orderItems"] == lines and previous["trackingNumber"] == package["trackingNumber"]:
                return
            raise OrderError(f"packageReferenceId {reference} is already used in order {order.amazon_order_id}.")
        if order.fulfillment == "AFN":
            raise OrderError("Shipments of orders fulfilled by Amazon cannot be confirmed by the seller.")
        if order.status == "Canceled":
            raise OrderError(f"Order {order.amazon_order_id} is canceled and cannot be shipped.")
        if order.status == "Pending":
            raise OrderError(f"Order {order.amazon_order_id} is Pending: payment is not authorised, do not ship.")
        if order.status == "Shipped":
            raise OrderError(f"Order {order.amazon_order_id} is already shipped.")
        if package["carrierCode"] == "Other" and not package.get("carrierName"):
            raise OrderError("carrierName is required when carrierCode is Other.")
        if not _is_datetime(package["shipDate"]):
            raise OrderError(f"shipDate must be an ISO 8601 date-time, got {package['shipDate']!r}.")
        by_id = {i.order_item_id: i for i in order.items}
        for item_id, quantity in lines.items():
            item = by_id.get(item_id)
            if item is None:
                raise OrderError(f"Order item {item_id} is not in order {order.amazon_order_id}.")
            if quantity < 1 or item.quantity_shipped + quantity > item.quantity:
                raise OrderError(f"Quantity {quantity} of order item {item_id} exceeds what is left to ship.")
        for item_id, quantity in lines.items():
            by_id[item_id].quantity_shipped += quantity
        order.shipments.append({
            "packageReferenceId": reference, "carrierCode": package["carrierCode"],
            "carrierName": package.get("carrierName"), "shippingMethod": package.get("shippingMethod"),
            "trackingNumber": package["trackingNumber"], "shipDate": package["shipDate"], "orderItems": lines,
            "confirmedAt": iso(now)})
        done = all(i.quantity_shipped >= i.quantity for i in order.items)
        self._set_status(order, "Shipped" if done else "PartiallyShipped", now)

    # --- time ------------------------------------------------------------------------------------------------
    def advance(self, now: float) -> None:
        """Buyers place orders at the configured rate; payments clear; Amazon ships its own orders."""
        self._place_buyer_orders(now)
        for order in list(self.orders.values()):
            if order.status == "Pending" and now >= order.purchased + self.pending_seconds:
                self._set_status(order, "Unshipped", order.purchased + self.pending_seconds)
            if (order.fulfillment == "AFN" and order.status == "Unshipped"
                    and now >= order.purchased + self.pending_seconds + self.afn_ship_seconds):
                for item in order.items:
                    item.quantity_shipped = item.quantity
                self._set_status(order, "Shipped", order.purchased + self.pending_seconds + self.afn_ship_seconds)

    def _place_buyer_orders(self, now: float) -> None:
        if self._buyer_clock is None or self.orders_per_minute <= 0:
            self._buyer_clock = now
            return
        self._due_orders += max(0.0, now - self._buyer_clock) * self.orders_per_minute / 60.0
        self._buyer_clock = now
        while self._due_orders >= 1.0:
            self._due_orders -= 1.0
            choices = [(seller, marketplace, listing.sku) for seller, marketplaces in self.sellers()
                       for listing in self.listings.for_seller(seller) if listing.quantity() > 0
                       for marketplace in marketplaces if price_in(listing, marketplace) is not None]
            if not choices:
                return
            seller, marketplace, sku = self.rng.choice(choices)
            try:
                self.place(seller, marketplace, [(sku, self.rng.randint(1, 2))], now,
                           fulfillment="AFN" if self.rng.random() < 0.3 else "MFN")
            except OrderError:
                continue

    # --- queries ---------------------------------------------------------------------------------------------
    def get(self, seller_id: str, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None or order.seller_id != seller_id:
            raise OrderError(f"Order {order_id} was not found.", "InvalidInput", 404)
        return order

    def for_seller(self, seller_id: str) -> list[Order]:
        return [o for o in self.orders.values() if o.seller_id == seller_id]

    def clear(self) -> None:
        self.orders.clear()
        self.cancellations.clear()

    # --- POST_ORDER_ACKNOWLEDGEMENT_DATA ---------------------------------------------------------------------
    def process_acknowledgement_feed(self, seller_id: str, feed_id: str, content: bytes,
                                     now: float) -> tuple[bytes, bool]:
        """Apply an OrderAcknowledgement XML feed; returns the XML processing report and whether the feed is FATAL.

        StatusCode=Failure cancels the order with each item's CancelReason; Success only acknowledges it. The
        result codes are the simulator's own (Amazon's are undocumented in the models).
        """
        try:
            root = ET.fromstring(content)
        except ET.ParseError as exc:
            return processing_report(seller_id, feed_id, 0, [(0, "Error", "5000", f"The XML is not well-formed: {exc}",
                                                              None)]), True
        if root.tag != "AmazonEnvelope" or root.findtext("MessageType") != "OrderAcknowledgement":
            return processing_report(seller_id, feed_id, 0, [(0, "Error", "5001",
                                                              "Expected an AmazonEnvelope of MessageType "
                                                              "OrderAcknowledgement.", None)]), True
        if (root.findtext("Header/MerchantIdentifier") or "").strip() != seller_id:
            return processing_report(seller_id, feed_id, 0, [(0, "Error", "5002",
                                                              "The MerchantIdentifier does not match the "
                                                              "authorized seller.", None)]), True
        messages = root.findall("Message")
        results: list[tuple[int, str, str, str, str | None]] = []
        for index, message in enumerate(messages, start=1):
            raw_id = (message.findtext("MessageID") or "").strip()
            message_id = int(raw_id) if raw_id.isdigit() else index
            ack = message.find("OrderAcknowledgement")
            order_id = (ack.findtext("AmazonOrderID") if ack is not None else None) or None
            problem = self._acknowledge(seller_id, feed_id, ack, now)
            if problem:
                results.append((message_id, "Error", problem[0], problem[1], order_id))
        return processing_report(seller_id, feed_id, len(messages), results), False

    def _acknowledge(self, seller_id: str, feed_id: str, ack: ET.Element | None,
                     now: float) -> tuple[str, str] | None:
        if ack is None:
            return "5003", "The message has no OrderAcknowledgement."
        order_id = (ack.findtext("AmazonOrderID") or "").strip()
        status = (ack.findtext("StatusCode") or "").strip()
        order = self.orders.get(order_id)
        if order is None or order.seller_id != seller_id:
            return "18028", f"Order {order_id} was not found for this seller."
        if status == "Success":
            order.acknowledged = True
            return None
        if status != "Failure":
            return "5004", f"StatusCode must be Success or Failure, got {status!r}."
        items = ack.findall("Item")
        reasons = {(i.findtext("AmazonOrderItemCode") or "").strip(): (i.findtext("CancelReason") or "").strip()
                   for i in items}
        if not items:
            return "5005", "StatusCode Failure needs an Item with a CancelReason for every order item."
        for code, reason in reasons.items():
            if reason not in CANCEL_REASONS:
                return "5006", f"Invalid CancelReason {reason!r} for order item {code}."
        own = {i.order_item_id for i in order.items}
        if set(reasons) != own:
            return "5007", f"The items of order {order_id} are {sorted(own)}; every one must be listed to cancel it."
        if order.status == "Canceled":
            return None  # canceling twice changes nothing
        if order.fulfillment == "AFN":
            return "5008", f"Order {order_id} is fulfilled by Amazon and cannot be canceled by the seller."
        if order.status not in ("Unshipped", "Pending"):
            return "5009", f"Order {order_id} is {order.status}: an order with shipped items cannot be canceled."
        order.cancel_reason = next(iter(reasons.values()))
        self.cancellations.append({"amazonOrderId": order_id, "sellerId": seller_id, "feedId": feed_id,
                                   "reasons": reasons, "at": iso(now)})
        self._set_status(order, "Canceled", now)
        return None


def price_in(listing: Listing, marketplace_id: str) -> Decimal | None:
    """The listing's own price in a marketplace, if it has one there (buyers cannot buy it otherwise)."""
    if marketplace_id not in listing.marketplaces:
        return None
    return next((our_price(e) for e in listing.attributes.get("purchasable_offer") or []
                 if isinstance(e, dict) and (e.get("marketplace_id") or marketplace_id) == marketplace_id), None)


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in value


def processing_report(seller_id: str, feed_id: str, processed: int,
                      errors: list[tuple[int, str, str, str, str | None]]) -> bytes:
    """Amazon's XML ProcessingReport: a summary, then one Result per message with an error."""
    env = ET.Element("AmazonEnvelope", {"xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
                                        "xsi:noNamespaceSchemaLocation": "amzn-envelope.xsd"})
    header = ET.SubElement(env, "Header")
    ET.SubElement(header, "DocumentVersion").text = "1.02"
    ET.SubElement(header, "MerchantIdentifier").text = seller_id
    ET.SubElement(env, "MessageType").text = "ProcessingReport"
    message = ET.SubElement(env, "Message")
    ET.SubElement(message, "MessageID").text = "1"
    report = ET.SubElement(message, "ProcessingReport")
    ET.SubElement(report, "DocumentTransactionID").text = feed_id
    ET.SubElement(report, "StatusCode").text = "Complete"
    summary = ET.SubElement(report, "ProcessingSummary")
    failed = len({e[0] for e in errors if e[1] == "Error"})
    ET.SubElement(summary, "MessagesProcessed").text = str(processed)
    ET.SubElement(summary, "MessagesSuccessful").text = str(max(0, processed - failed))
    ET.SubElement(summary, "MessagesWithError").text = str(failed)
    ET.SubElement(summary, "MessagesWithWarning").text = "0"
    for message_id, result_code, code, description, order_id in errors:
        result = ET.SubElement(report, "Result")
        ET.SubElement(result, "MessageID").text = str(message_id)
        ET.SubElement(result, "ResultCode").text = result_code
        ET.SubElement(result, "ResultMessageCode").text = code
        ET.SubElement(result, "ResultDescription").text = description
        if order_id:
            ET.SubElement(ET.SubElement(result, "AdditionalInfo"), "AmazonOrderID").text = order_id
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(env, encoding="utf-8")
