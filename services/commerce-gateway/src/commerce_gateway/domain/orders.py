"""An Amazon order as Commerce wants it: the `POST /V1/orders` entity, its addresses and items, the customer.

`POST /V1/orders` stores what it is sent (no quote, no catalogue price), so Amazon's prices, taxes and totals
are the order's. The Amazon order id is the order's `ext_order_id`: looking it up before creating is what
keeps one Amazon order from becoming two Commerce orders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from contracts.events import Address, CommerceOrderRequested, FulfillmentBy, OrderLine
from contracts.money import round_money

Json = dict[str, Any]

AMAZON_ORDER_FIELD = "ext_order_id"
GUEST_GROUP_ID = 0
GENERAL_GROUP_ID = 1
PLACEHOLDER = "Not provided"
PLACEHOLDER_PERSON = ("Amazon", "Customer")

# Commerce's default status of each state (Magento\Sales\Model\Order::STATE_*); a custom status is `processing`.
STATE_OF_STATUS: dict[str, str] = {
    "pending": "new",
    "pending_payment": "pending_payment",
    "processing": "processing",
    "fraud": "processing",
    "complete": "complete",
    "closed": "closed",
    "canceled": "canceled",
    "holded": "holded",
    "payment_review": "payment_review",
}

_NOT_NAME = re.compile(r"[^\w\s'.\-]", re.UNICODE)


class InvalidOrderRequest(Exception):
    """The request cannot become a Commerce order as it is; Commerce is not asked."""


@dataclass(frozen=True)
class StoreView:
    id: int
    code: str
    website_id: int


@dataclass(frozen=True)
class Customer:
    id: int
    firstname: str
    lastname: str
    group_id: int = GENERAL_GROUP_ID


@dataclass(frozen=True)
class OrderOptions:
    payment_method: str = "checkmo"
    shipping_method: str = "flatrate_flatrate"
    shipping_description: str = "Amazon shipping"
    default_country: str = "US"
    invoice: bool = True  # invoice a merchant-fulfilled order when it is created (Amazon took the payment)


@dataclass(frozen=True)
class CreatedOrder:
    entity_id: str
    increment_id: str | None
    to_invoice: bool = False  # Commerce would take an invoice: items left to invoice, in a state that allows it


NOT_INVOICEABLE_STATES = frozenset({"complete", "closed", "canceled", "holded", "payment_review"})


def store_views(body: Any) -> dict[str, StoreView]:
    """`GET /V1/store/storeViews` by code, without the admin scope (id 0)."""
    views: dict[str, StoreView] = {}
    for v in body if isinstance(body, list) else []:
        if isinstance(v, dict) and isinstance(v.get("code"), str) and int(v.get("id") or 0) > 0:
            views[v["code"]] = StoreView(int(v["id"]), v["code"], int(v.get("website_id") or 0))
    return views


def created_order(order: Any) -> CreatedOrder:
    """The ids of an order as Commerce answers it (`POST /V1/orders` or a search result item)."""
    if not isinstance(order, dict) or order.get("entity_id") in (None, ""):
        raise ValueError("the order has no entity_id")
    increment = order.get("increment_id")
    return CreatedOrder(str(order["entity_id"]), str(increment) if increment not in (None, "") else None,
                        to_invoice=order.get("state") not in NOT_INVOICEABLE_STATES and any(
                            _quantity(i.get("qty_ordered")) - _quantity(i.get("qty_invoiced"))
                            - _quantity(i.get("qty_canceled")) > 0
                            for i in order.get("items") or [] if isinstance(i, dict)))


def _quantity(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except ArithmeticError:
        return Decimal(0)


def wants_invoice(request: CommerceOrderRequested, order: CreatedOrder, options: OrderOptions) -> bool:
    """A merchant-fulfilled Amazon order is paid (Amazon took the payment), so it is invoiced when created: then a
    Commerce shipment of every item completes it, as Commerce completes an invoiced and shipped order. An order
    fulfilled by Amazon is created complete, for the record, and never invoiced."""
    return options.invoice and request.fulfillment == FulfillmentBy.MFN and order.to_invoice


def invoice_payload() -> Json:
    """`POST /V1/order/{orderId}/invoice`: every item, the payment captured, no email to the buyer (Amazon writes
    to the buyer)."""
    return {"capture": True, "notify": False}


def find_order(search: Json, amazon_order_id: str) -> CreatedOrder | None:
    """The order of this Amazon order id among search results, if any."""
    for item in search.get("items", []):
        if str(item.get(AMAZON_ORDER_FIELD) or "") == amazon_order_id:
            return created_order(item)
    return None


def find_customer(search: Json, email: str, website_id: int) -> Customer | None:
    """The customer with this email on the store's website (Commerce keeps emails unique per website)."""
    for item in search.get("items", []):
        if str(item.get("email", "")).lower() == email.lower() and int(item.get("website_id") or 0) == website_id:
            return Customer(int(item["id"]), str(item.get("firstname") or ""), str(item.get("lastname") or ""),
                            int(item.get("group_id") or GENERAL_GROUP_ID))
    return None


def clean_name(name: str | None) -> str:
    """A person's name without special characters (Commerce refuses some), spaces collapsed."""
    return " ".join(_NOT_NAME.sub(" ", name or "").split())


def split_name(name: str | None) -> tuple[str, str]:
    """(first name, last name); a single word is both, no name is the placeholder person."""
    words = clean_name(name).split()
    if not words:
        return PLACEHOLDER_PERSON
    if len(words) == 1:
        return words[0], words[0]
    return words[0], " ".join(words[1:])


def _street(address: Address) -> list[str]:
    lines = [line.strip() for line in (address.line1, address.line2) if line and line.strip()]
    return lines or [PLACEHOLDER]


def _text(value: str | None) -> str:
    return value.strip() if value and value.strip() else PLACEHOLDER


def order_address(address: Address | None, email: str, kind: str, options: OrderOptions) -> Json:
    """A `sales-data-order-address-interface` (kind: billing or shipping); what Amazon withheld is a placeholder."""
    a = address or Address()
    first, last = split_name(a.name)
    out: Json = {
        "address_type": kind, "firstname": first, "lastname": last, "street": _street(a),
        "city": _text(a.city), "postcode": _text(a.postal_code),
        "country_id": (a.country_code or options.default_country).upper(), "telephone": _text(a.phone),
        "email": email,
    }
    if a.region and a.region.strip():
        out["region"] = a.region.strip()
        if len(a.region.strip()) <= 3:
            out["region_code"] = a.region.strip().upper()
    return out


def guest_email(request: CommerceOrderRequested) -> str:
    """Commerce needs an email on every order; Amazon does not always share the buyer's."""
    return request.customer_email or f"{request.amazon_order_id}@marketplace.amazon.invalid"


def wants_customer(request: CommerceOrderRequested) -> bool:
    return request.create_customer and bool(request.customer_email)


def customer_payload(request: CommerceOrderRequested, store: StoreView) -> Json:
    """`POST /V1/customers`: the buyer, with the shipping address as default shipping and billing address."""
    if not request.customer_email:
        raise InvalidOrderRequest(f"order {request.amazon_order_id} asks for a customer but has no email")
    first, last = split_name(request.shipping_address.name if request.shipping_address else None)
    customer: Json = {"email": request.customer_email, "firstname": first, "lastname": last,
                      "website_id": store.website_id, "store_id": store.id, "group_id": GENERAL_GROUP_ID}
    if request.shipping_address is not None:
        a = order_address(request.shipping_address, request.customer_email, "shipping", OrderOptions())
        address: Json = {"firstname": a["firstname"], "lastname": a["lastname"], "street": a["street"],
                         "city": a["city"], "postcode": a["postcode"], "country_id": a["country_id"],
                         "telephone": a["telephone"], "default_shipping": True, "default_billing": True}
        if "region" in a:  # region_id 0: Commerce keeps the region as text
            address["region"] = {"region": a["region"], "region_code": a.get("region_code", ""), "region_id": 0}
        customer["addresses"] = [address]
    return {"customer": customer}


def _zero(currency: str) -> Decimal:
    return round_money(Decimal(0), currency)


def _currency(request: CommerceOrderRequested, lines: list[OrderLine]) -> str:
    currencies = {line.item_price.currency for line in lines}
    currencies |= {m.currency for line in lines for m in (line.item_tax, line.shipping_price) if m is not None}
    if request.order_total is not None:
        currencies.add(request.order_total.currency)
    if len(currencies) != 1:
        raise InvalidOrderRequest(
            f"order {request.amazon_order_id} mixes currencies {', '.join(sorted(currencies))}")
    return currencies.pop()


def order_lines(request: CommerceOrderRequested) -> list[OrderLine]:
    """The lines with something to order (Amazon keeps cancelled items at quantity 0)."""
    lines = [line for line in request.lines if line.quantity > 0]
    if not lines:
        raise InvalidOrderRequest(f"order {request.amazon_order_id} has no items to order")
    return lines


def order_item(line: OrderLine, currency: str, store: StoreView) -> Json:
    """One simple item; Amazon's ItemPrice is the line's total (unit price times quantity)."""
    row = line.item_price.amount
    tax = line.item_tax.amount if line.item_tax else _zero(currency)
    unit = round_money(row / line.quantity, currency)
    unit_incl = round_money((row + tax) / line.quantity, currency)
    return {
        "sku": line.sku, "name": line.sku, "product_type": "simple", "store_id": store.id,
        "qty_ordered": line.quantity, "price": unit, "base_price": unit, "original_price": unit,
        "base_original_price": unit, "price_incl_tax": unit_incl, "base_price_incl_tax": unit_incl,
        "row_total": row, "base_row_total": row, "row_total_incl_tax": row + tax,
        "base_row_total_incl_tax": row + tax, "tax_amount": tax, "base_tax_amount": tax,
        "discount_amount": _zero(currency), "ext_order_item_id": line.order_item_id,
    }


def order_payload(request: CommerceOrderRequested, store: StoreView, customer: Customer | None,
                  options: OrderOptions = OrderOptions()) -> Json:
    """`POST /V1/orders` `{"entity": …}` for this request in this store view, the Amazon order id as ext_order_id."""
    lines = order_lines(request)
    currency = _currency(request, lines)
    items = [order_item(line, currency, store) for line in lines]
    subtotal = sum((line.item_price.amount for line in lines), _zero(currency))
    tax = sum((line.item_tax.amount for line in lines if line.item_tax), _zero(currency))
    shipping = sum((line.shipping_price.amount for line in lines if line.shipping_price), _zero(currency))
    grand = request.order_total.amount if request.order_total is not None else subtotal + tax + shipping
    email = request.customer_email if customer is not None and request.customer_email else guest_email(request)
    shipping_address = order_address(request.shipping_address, email, "shipping", options)
    billing_address = {**shipping_address, "address_type": "billing"}
    if customer is not None:
        person: Json = {"customer_id": customer.id, "customer_is_guest": 0, "customer_group_id": customer.group_id,
                        "customer_firstname": customer.firstname or shipping_address["firstname"],
                        "customer_lastname": customer.lastname or shipping_address["lastname"]}
    else:
        person = {"customer_is_guest": 1, "customer_group_id": GUEST_GROUP_ID,
                  "customer_firstname": shipping_address["firstname"],
                  "customer_lastname": shipping_address["lastname"]}
    status = request.commerce_status
    entity: Json = {
        AMAZON_ORDER_FIELD: request.amazon_order_id,
        "store_id": store.id,
        "state": STATE_OF_STATUS.get(status, "processing"),
        "status": status,
        **({"increment_id": request.increment_id} if request.increment_id else {}),
        "customer_email": email,
        **person,
        "order_currency_code": currency, "base_currency_code": currency, "store_currency_code": currency,
        "global_currency_code": currency, "base_to_order_rate": 1, "base_to_global_rate": 1,
        "store_to_order_rate": 1, "store_to_base_rate": 1,
        "subtotal": subtotal, "base_subtotal": subtotal,
        "subtotal_incl_tax": subtotal + tax, "base_subtotal_incl_tax": subtotal + tax,
        "tax_amount": tax, "base_tax_amount": tax,
        "shipping_amount": shipping, "base_shipping_amount": shipping,
        "shipping_incl_tax": shipping, "base_shipping_incl_tax": shipping,
        "discount_amount": _zero(currency), "base_discount_amount": _zero(currency),
        "grand_total": grand, "base_grand_total": grand,
        "total_due": grand, "base_total_due": grand,
        "total_qty_ordered": sum(line.quantity for line in lines), "total_item_count": len(lines),
        "is_virtual": 0,
        "shipping_description": options.shipping_description,
        "items": items,
        "billing_address": billing_address,
        "payment": {"method": options.payment_method, "account_status": "", "cc_last4": "",
                    "additional_information": [f"Amazon order {request.amazon_order_id} "
                                               f"({request.fulfillment.value}, marketplace {request.marketplace_id})"],
                    "amount_ordered": grand, "base_amount_ordered": grand,
                    "shipping_amount": shipping, "base_shipping_amount": shipping},
        "extension_attributes": {"shipping_assignments": [{
            "shipping": {"address": shipping_address, "method": options.shipping_method,
                         "total": {"shipping_amount": shipping, "base_shipping_amount": shipping,
                                   "shipping_incl_tax": shipping, "base_shipping_incl_tax": shipping}},
            "items": items,
        }]},
    }
    return {"entity": entity}
