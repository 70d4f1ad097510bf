"""The sales side: customers, orders, invoices and shipments in memory, with Magento's order lifecycle.

Records are kept in the shapes the REST API answers (`customer-data-customer-interface`,
`sales-data-order-interface`, `sales-data-shipment-interface`); money is computed in `Decimal` and stored
rounded to cents. No HTTP here: refusals are `SalesError`s carrying Magento's message and status.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from magento_sim import catalog, stores

CENT = Decimal("0.01")
CLOSED_STATES = ("holded", "payment_review", "canceled", "complete", "closed")
STATE_STATUSES = {"new": ("pending",), "pending_payment": ("pending_payment",), "processing": ("processing", "fraud"),
                  "complete": ("complete",), "closed": ("closed",), "canceled": ("canceled",),
                  "holded": ("holded",), "payment_review": ("payment_review", "fraud")}
# An integration saving an order through the repository may give it any of these states (an order imported for
# the record, e.g. one Amazon fulfilled, is created complete); anything else starts new.
CREATABLE_STATES = ("new", "pending_payment", "processing", "complete", "holded")
ADDRESS_REQUIRED = ("firstname", "lastname", "street", "city", "postcode", "telephone", "country_id")

Listener = Callable[[str, str, dict[str, Any]], None]  # (entity, event, record)


class SalesError(Exception):
    """A refusal in Magento's words: `message` with `%name` placeholders, `parameters`, HTTP status."""

    status = 400

    def __init__(self, message: str, parameters: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message, self.parameters = message, parameters


class NotFound(SalesError):
    status = 404


class InvalidInput(SalesError):
    pass


class CustomerExists(SalesError):
    pass


class ActionNotAllowed(SalesError):
    pass


def entity_not_found() -> NotFound:
    return NotFound("The entity that was requested doesn't exist. Verify the entity and try again.")


def required(value: Any, name: str) -> None:
    if value is None or value == "" or value == []:
        raise InvalidInput('"%fieldName" is required. Enter and try again.', {"fieldName": name})


def money(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0))
    except ArithmeticError as exc:
        raise InvalidInput('The "%fieldValue" value\'s type is invalid. The "float" type was expected. '
                           "Verify and try again.", {"fieldValue": str(value)}) from exc


def cents(value: Decimal) -> float:
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _qty(value: Decimal) -> float:
    return float(value)


def to_invoice(item: dict[str, Any]) -> Decimal:
    return money(item["qty_ordered"]) - money(item["qty_invoiced"]) - money(item["qty_canceled"])


def to_ship(item: dict[str, Any]) -> Decimal:
    return (money(item["qty_ordered"]) - money(item["qty_shipped"]) - money(item["qty_refunded"])
            - money(item["qty_canceled"]))


def can_hold(order: dict[str, Any]) -> bool:
    return order["state"] not in CLOSED_STATES


def can_cancel(order: dict[str, Any]) -> bool:
    return order["state"] not in CLOSED_STATES and any(to_invoice(i) > 0 for i in order["items"])


def can_invoice(order: dict[str, Any]) -> bool:
    return order["state"] not in CLOSED_STATES and any(to_invoice(i) > 0 for i in order["items"])


def can_ship(order: dict[str, Any]) -> bool:
    return (order["state"] not in CLOSED_STATES and not order.get("is_virtual")
            and any(to_ship(i) > 0 for i in order["items"]))


def _address(raw: dict[str, Any] | None, kind: str, where: str, email: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidInput('"%fieldName" is required. Enter and try again.', {"fieldName": where})
    for name in ADDRESS_REQUIRED:
        required(raw.get(name), f"{where}.{name}")
    address = {k: v for k, v in raw.items() if k not in ("entity_id", "parent_id")}
    address["address_type"] = kind
    address.setdefault("email", email)
    if isinstance(address.get("street"), str):
        address["street"] = [address["street"]]
    return address


class Sales:
    """Customers, orders, invoices and shipments of one simulator; stock is taken from and given back to the
    catalogue. `listeners` hear `("order", "created" | "canceled", order)` and `("shipment", "created", …)`."""

    def __init__(self, products: catalog.Catalog, clock: Callable[[], float] = time.time) -> None:
        self.catalog = products
        self.clock = clock
        self.listeners: list[Listener] = []
        self.customers: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.invoices: dict[int, dict[str, Any]] = {}
        self.shipments: dict[int, dict[str, Any]] = {}
        self._ids: dict[str, int] = {}

    def _next(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def now(self) -> str:
        return catalog.magento_time(self.clock())

    def _tell(self, entity: str, event: str, record: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(entity, event, copy.deepcopy(record))

    # --- customers -----------------------------------------------------------------------------------------------
    def create_customer(self, body: dict[str, Any], website_id: int, store_id: int) -> dict[str, Any]:
        for name in ("email", "firstname", "lastname"):
            required(body.get(name), name)
        website_id = int(body.get("website_id") or website_id)
        email = str(body["email"]).strip()
        if any(c["email"].casefold() == email.casefold() and c["website_id"] == website_id
               for c in self.customers.values()):
            raise CustomerExists("A customer with the same email address already exists in an associated website.")
        customer_id, now = self._next("customer"), self.now()
        store_id = int(body.get("store_id") or store_id)
        view = next((v for v in stores.VIEWS if v["id"] == store_id), stores.VIEWS[1])
        customer = {k: v for k, v in body.items() if k not in ("id", "addresses", "created_at", "updated_at")}
        customer.update({"id": customer_id, "email": email, "group_id": int(body.get("group_id") or 1),
                         "created_at": now, "updated_at": now, "created_in": view["name"],
                         "store_id": store_id, "website_id": website_id, "disable_auto_group_change": 0,
                         "addresses": []})
        for raw in body.get("addresses") or []:
            address = {**raw, "id": self._next("customer_address"), "customer_id": customer_id}
            region = address.get("region")
            if isinstance(region, dict) or "region_id" in address:
                region = region if isinstance(region, dict) else {}
                address["region"] = {"region_code": str(region.get("region_code") or ""),
                                     "region": str(region.get("region") or ""),
                                     "region_id": int(region.get("region_id") or address.get("region_id") or 0)}
            for flag in ("default_billing", "default_shipping"):
                if address.get(flag):
                    customer[flag] = str(address["id"])
            customer["addresses"].append(address)
        self.customers[customer_id] = customer
        return copy.deepcopy(customer)

    def customer(self, customer_id: int) -> dict[str, Any]:
        if customer_id not in self.customers:
            raise NotFound("No such entity with %fieldName = %fieldValue",
                           {"fieldName": "customerId", "fieldValue": str(customer_id)})
        return copy.deepcopy(self.customers[customer_id])

    # --- orders --------------------------------------------------------------------------------------------------
    def order(self, order_id: int) -> dict[str, Any]:
        if order_id not in self.orders:
            raise entity_not_found()
        return self.orders[order_id]

    def create_order(self, entity: dict[str, Any], store_id: int) -> dict[str, Any]:
        """An order as `OrderRepositoryInterface::save` takes it from an integration, with the totals computed
        from the lines, and stock taken for stock-managed products, except for an order created complete (a record
        of goods shipped from elsewhere, e.g. by Amazon). A given `increment_id` is the order number (unique per
        store view); without one the store numbers it."""
        required(entity.get("customer_email"), "customer_email")
        required(entity.get("items"), "items")
        store_id = int(entity.get("store_id") or store_id)
        view = next((v for v in stores.VIEWS[1:] if v["id"] == store_id), None)
        if view is None:
            raise NotFound("The store that was requested wasn't found. Verify the store and try again.")
        payment = entity.get("payment") or {}
        required(payment.get("method"), "payment.method")
        email = str(entity["customer_email"])
        number = str(entity.get("increment_id") or "").strip()
        if number and any(o["increment_id"] == number and o["store_id"] == store_id for o in self.orders.values()):
            raise SalesError("Unique constraint violation found")
        customer_id = entity.get("customer_id")
        if customer_id:
            self.customer(int(customer_id))
        billing = _address(entity.get("billing_address"), "billing", "billing_address", email)
        assignments = (entity.get("extension_attributes") or {}).get("shipping_assignments") or []
        shipping = (assignments[0].get("shipping") or {}) if assignments else {}
        shipping_address = (_address(shipping["address"], "shipping", "shipping_address", email)
                            if shipping.get("address") else None)

        lines, wanted = [], {}
        for n, raw in enumerate(entity["items"]):
            required(raw.get("sku"), f"items[{n}].sku")
            product = self.catalog.by_sku.get(raw["sku"])
            if product is None:
                raise NotFound("The product that was requested doesn't exist. Verify the product and try again.")
            qty = money(raw.get("qty_ordered", 1))
            if qty <= 0:
                raise InvalidInput("The requested qty is not available")
            price = money(raw["price"]) if raw.get("price") is not None else money(
                self.catalog.price(product, view["website_id"]))
            lines.append((raw, product, qty, price))
            stock = product.data["stock"]
            if stock.get("manage_stock", True) and entity.get("state") != "complete":
                wanted[product.sku] = wanted.get(product.sku, Decimal(0)) + qty
        for sku, qty in wanted.items():
            stock = self.catalog.by_sku[sku].data["stock"]
            if not stock.get("backorders") and (not stock.get("is_in_stock", True)
                                                or money(stock.get("qty")) - qty < money(stock.get("min_qty", 0))):
                raise InvalidInput("Not all of your products are available in the requested quantity.")

        order_id, now = self._next("order"), self.now()
        currency = stores.WEBSITE_CURRENCY[view["website_id"]]
        items, subtotal, tax, discount, weight, qty_total = [], Decimal(0), Decimal(0), Decimal(0), Decimal(0), \
            Decimal(0)
        for raw, product, qty, price in lines:
            row = price * qty
            item_tax, item_discount = money(raw.get("tax_amount")), abs(money(raw.get("discount_amount")))
            item_weight = money(product.data.get("weight") or 0)
            virtual = product.data["type_id"] in ("virtual", "downloadable")
            item: dict[str, Any] = {
                "item_id": self._next("order_item"), "order_id": order_id, "store_id": store_id,
                "sku": product.sku, "name": raw.get("name") or product.name(), "product_id": product.id,
                "product_type": product.data["type_id"], "created_at": now, "updated_at": now,
                "qty_ordered": _qty(qty), "qty_invoiced": 0.0, "qty_shipped": 0.0, "qty_canceled": 0.0,
                "qty_refunded": 0.0, "qty_backordered": 0.0,
                "price": cents(price), "base_price": cents(price), "original_price": cents(price),
                "base_original_price": cents(price), "price_incl_tax": cents(price + item_tax / qty),
                "base_price_incl_tax": cents(price + item_tax / qty), "row_total": cents(row),
                "base_row_total": cents(row), "row_total_incl_tax": cents(row + item_tax),
                "base_row_total_incl_tax": cents(row + item_tax), "row_invoiced": 0.0, "base_row_invoiced": 0.0,
                "tax_amount": cents(item_tax), "base_tax_amount": cents(item_tax),
                "tax_percent": float(money(raw.get("tax_percent"))), "discount_amount": cents(item_discount),
                "base_discount_amount": cents(item_discount), "weight": float(item_weight),
                "row_weight": float(item_weight * qty), "is_virtual": int(virtual), "is_qty_decimal": 0,
                "no_discount": 0, "free_shipping": 0,
            }
            if raw.get("ext_order_item_id"):
                item["ext_order_item_id"] = str(raw["ext_order_item_id"])
            items.append(item)
            subtotal, tax, discount = subtotal + row, tax + item_tax, discount + item_discount
            weight, qty_total = weight + item_weight * qty, qty_total + qty
        total = shipping.get("total") or {}
        shipping_amount = money(entity.get("shipping_amount", total.get("shipping_amount")))
        shipping_tax = money(entity.get("shipping_tax_amount", total.get("shipping_tax_amount")))
        tax += shipping_tax
        grand = subtotal + tax + shipping_amount - discount
        state = entity.get("state") if entity.get("state") in CREATABLE_STATES else "new"
        status = entity.get("status") if entity.get("status") in STATE_STATUSES[state] else STATE_STATUSES[state][0]
        is_virtual = all(i["is_virtual"] for i in items)

        order: dict[str, Any] = {
            "entity_id": order_id, "increment_id": number or f"{store_id if store_id > 1 else 0}{order_id:08d}",
            "store_id": store_id, "store_name": f"{stores.WEBSITES[view['website_id']]['name']}\n"
                                                f"{stores.GROUPS[view['store_group_id']]['name']}\n{view['name']}",
            "state": state, "status": status, "created_at": now, "updated_at": now, "protect_code": f"{order_id:x}",
            "customer_email": email, "customer_firstname": entity.get("customer_firstname") or billing["firstname"],
            "customer_lastname": entity.get("customer_lastname") or billing["lastname"],
            "customer_is_guest": 0 if customer_id else 1, "customer_group_id": 1 if customer_id else 0,
            "customer_note_notify": 1, "email_sent": 0, "is_virtual": int(is_virtual),
            "base_currency_code": currency, "order_currency_code": entity.get("order_currency_code") or currency,
            "store_currency_code": currency, "global_currency_code": stores.WEBSITE_CURRENCY[1],
            "base_to_global_rate": 1.0, "base_to_order_rate": 1.0, "store_to_base_rate": 0.0,
            "store_to_order_rate": 0.0,
            "subtotal": cents(subtotal), "base_subtotal": cents(subtotal),
            "subtotal_incl_tax": cents(subtotal + tax - shipping_tax),
            "base_subtotal_incl_tax": cents(subtotal + tax - shipping_tax),
            "shipping_amount": cents(shipping_amount), "base_shipping_amount": cents(shipping_amount),
            "shipping_tax_amount": cents(shipping_tax), "base_shipping_tax_amount": cents(shipping_tax),
            "shipping_incl_tax": cents(shipping_amount + shipping_tax),
            "base_shipping_incl_tax": cents(shipping_amount + shipping_tax),
            "tax_amount": cents(tax), "base_tax_amount": cents(tax),
            "discount_amount": cents(-discount), "base_discount_amount": cents(-discount),
            "grand_total": cents(grand), "base_grand_total": cents(grand),
            "total_due": cents(grand), "base_total_due": cents(grand), "total_paid": 0.0, "base_total_paid": 0.0,
            "total_invoiced": 0.0, "base_total_invoiced": 0.0, "total_canceled": 0.0, "base_total_canceled": 0.0,
            "total_refunded": 0.0, "base_total_refunded": 0.0,
            "total_qty_ordered": _qty(qty_total), "total_item_count": len(items), "weight": float(weight),
            "shipping_description": entity.get("shipping_description") or shipping.get("method") or "",
            "items": items,
            "billing_address": {**billing, "entity_id": self._next("order_address"), "parent_id": order_id},
            "payment": {"entity_id": order_id, "parent_id": order_id, "method": str(payment["method"]),
                        "additional_information": [str(x) for x in payment.get("additional_information") or []],
                        "account_status": str(payment.get("account_status") or ""),
                        "cc_last4": str(payment.get("cc_last4") or ""), "amount_ordered": cents(grand),
                        "base_amount_ordered": cents(grand), "shipping_amount": cents(shipping_amount),
                        "base_shipping_amount": cents(shipping_amount)},
            "status_histories": [],
        }
        for name in ("ext_order_id", "ext_customer_id", "customer_note", "remote_ip"):
            if entity.get(name):
                order[name] = str(entity[name])
        if customer_id:
            order["customer_id"] = int(customer_id)
        order["billing_address_id"] = order["billing_address"]["entity_id"]
        extension: dict[str, Any] = {"converting_from_quote": False}
        if shipping_address is not None:
            shipping_address.update({"entity_id": self._next("order_address"), "parent_id": order_id})
            extension["shipping_assignments"] = [{
                "shipping": {"address": shipping_address, "method": shipping.get("method") or "flatrate_flatrate",
                             "total": {"shipping_amount": cents(shipping_amount),
                                       "base_shipping_amount": cents(shipping_amount),
                                       "shipping_tax_amount": cents(shipping_tax),
                                       "shipping_incl_tax": cents(shipping_amount + shipping_tax)}},
                "items": items, "stock_id": 1}]
        order["extension_attributes"] = extension
        for raw in entity.get("status_histories") or []:
            self._history(order, raw, now)

        for sku, qty in wanted.items():
            self._stock(sku, -qty)
        self.orders[order_id] = order
        self._tell("order", "created", order)
        return order

    def _stock(self, sku: str, change: Decimal) -> None:
        product = self.catalog.by_sku.get(sku)
        if product is None:
            return
        stock = product.materialise()["stock"]
        if not stock.get("manage_stock", True):
            return
        qty = money(stock.get("qty")) + change
        stock["qty"] = float(qty)
        stock["is_in_stock"] = bool(stock.get("backorders")) or qty > money(stock.get("min_qty", 0))
        self.catalog.touch(product)

    def _history(self, order: dict[str, Any], raw: dict[str, Any], now: str) -> None:
        status = raw.get("status") or order["status"]
        order["status_histories"].insert(0, {
            "entity_id": self._next("order_history"), "parent_id": order["entity_id"], "entity_name": "order",
            "comment": str(raw.get("comment") or ""), "created_at": now, "status": status,
            "is_customer_notified": int(raw.get("is_customer_notified") or 0),
            "is_visible_on_front": int(raw.get("is_visible_on_front") or 0)})

    def _touch(self, order: dict[str, Any]) -> None:
        now = self.now()
        order["updated_at"] = now
        for item in order["items"]:
            item["updated_at"] = now

    def comment(self, order_id: int, raw: dict[str, Any]) -> None:
        order = self.order(order_id)
        required(raw.get("comment"), "statusHistory.comment")
        if raw.get("status") in STATE_STATUSES.get(order["state"], ()):
            order["status"] = raw["status"]
        self._history(order, raw, self.now())
        self._touch(order)

    def hold(self, order_id: int) -> None:
        order = self.order(order_id)
        if not can_hold(order):
            raise ActionNotAllowed("A hold action is not available.")
        order["hold_before_state"], order["hold_before_status"] = order["state"], order["status"]
        order["state"] = order["status"] = "holded"
        self._touch(order)

    def unhold(self, order_id: int) -> None:
        order = self.order(order_id)
        if order["state"] != "holded":
            raise ActionNotAllowed("You cannot remove the hold.")
        order["state"] = order.pop("hold_before_state")
        order["status"] = order.pop("hold_before_status")
        self._touch(order)

    def cancel(self, order_id: int) -> bool:
        """`OrderManagementInterface::cancel`: false when the order cannot be canceled; what was not invoiced
        or shipped goes back to stock."""
        order = self.order(order_id)
        if not can_cancel(order):
            return False
        canceled = Decimal(0)
        for item in order["items"]:
            qty = (money(item["qty_ordered"]) - max(money(item["qty_invoiced"]), money(item["qty_shipped"]))
                   - money(item["qty_canceled"]))
            if qty > 0:
                item["qty_canceled"] = _qty(money(item["qty_canceled"]) + qty)
                canceled += money(item["price"]) * qty
                self._stock(item["sku"], qty)
        order["subtotal_canceled"] = order["base_subtotal_canceled"] = cents(canceled)
        remaining = money(order["grand_total"]) - money(order["total_invoiced"])
        order["total_canceled"] = order["base_total_canceled"] = cents(remaining)
        order["total_due"] = order["base_total_due"] = 0.0
        order["state"] = order["status"] = "canceled"
        self._touch(order)
        self._tell("order", "canceled", order)
        return True

    def _quantities(self, order: dict[str, Any], wanted: list[dict[str, Any]] | None,
                    left: Callable[[dict[str, Any]], Decimal], nothing: str) -> dict[int, Decimal]:
        by_id = {i["item_id"]: i for i in order["items"]}
        if not wanted:
            out = {item_id: left(i) for item_id, i in by_id.items() if left(i) > 0}
        else:
            out = {}
            for line in wanted:
                item = by_id.get(int(line.get("order_item_id") or 0))
                qty = money(line.get("qty"))
                if item is None or qty > left(item):
                    raise InvalidInput(nothing)
                if qty > 0:
                    out[item["item_id"]] = out.get(item["item_id"], Decimal(0)) + qty
        if not out:
            raise InvalidInput(nothing)
        return out

    def invoice(self, order_id: int, wanted: list[dict[str, Any]] | None, capture: bool = True) -> int:
        order = self.order(order_id)
        if not can_invoice(order):
            raise ActionNotAllowed("Invoice Document Validation Error(s):\nAn invoice cannot be created when an "
                                   f"order has a status of {order['status']}")
        qtys = self._quantities(order, wanted, to_invoice,
                                "Invoice Document Validation Error(s):\nThe invoice can't be created without "
                                "products. Add products and try again.")
        invoice_id, now, amount = self._next("invoice"), self.now(), Decimal(0)
        lines = []
        first = not any(inv["order_id"] == order_id for inv in self.invoices.values())
        for item in order["items"]:
            qty = qtys.get(item["item_id"])
            if not qty:
                continue
            ordered = money(item["qty_ordered"])
            row = money(item["price"]) * qty
            share = qty / ordered
            amount += row + money(item["tax_amount"]) * share - money(item["discount_amount"]) * share
            item["qty_invoiced"] = _qty(money(item["qty_invoiced"]) + qty)
            item["row_invoiced"] = item["base_row_invoiced"] = cents(money(item["row_invoiced"]) + row)
            lines.append({"order_item_id": item["item_id"], "sku": item["sku"], "qty": _qty(qty),
                          "price": item["price"], "row_total": cents(row)})
        if first:
            amount += money(order["shipping_amount"]) + money(order.get("shipping_tax_amount"))
        invoiced = money(order["total_invoiced"]) + amount
        order["total_invoiced"] = order["base_total_invoiced"] = cents(invoiced)
        if capture or order["payment"]["method"] in ("checkmo", "free", "banktransfer", "cashondelivery",
                                                     "purchaseorder"):
            paid = money(order["total_paid"]) + amount
            order["total_paid"] = order["base_total_paid"] = cents(paid)
            order["payment"]["amount_paid"] = order["payment"]["base_amount_paid"] = cents(paid)
            due = max(Decimal(0), money(order["grand_total"]) - paid)
            order["total_due"] = order["base_total_due"] = cents(due)
        self.invoices[invoice_id] = {"entity_id": invoice_id, "order_id": order_id, "created_at": now,
                                     "increment_id": f"{order['store_id'] if order['store_id'] > 1 else 0}"
                                                     f"{invoice_id:08d}",
                                     "grand_total": cents(amount), "items": lines}
        self._advance(order)
        return invoice_id

    def ship(self, order_id: int, wanted: list[dict[str, Any]] | None, tracks: list[dict[str, Any]],
             comment: dict[str, Any] | None = None) -> dict[str, Any]:
        order = self.order(order_id)
        if not can_ship(order):
            raise ActionNotAllowed("Shipment Document Validation Error(s):\nA shipment cannot be created when an "
                                   f"order has a status of {order['status']}")
        for n, track in enumerate(tracks):
            for name in ("track_number", "title", "carrier_code"):
                required(track.get(name), f"tracks[{n}].{name}")
        qtys = self._quantities(order, wanted, to_ship,
                                "Shipment Document Validation Error(s):\nYou can't create a shipment without "
                                "products.")
        shipment_id, now = self._next("shipment"), self.now()
        items, total_qty, total_weight = [], Decimal(0), Decimal(0)
        for item in order["items"]:
            qty = qtys.get(item["item_id"])
            if not qty:
                continue
            item["qty_shipped"] = _qty(money(item["qty_shipped"]) + qty)
            total_qty += qty
            total_weight += money(item["weight"]) * qty
            items.append({"entity_id": self._next("shipment_item"), "parent_id": shipment_id,
                          "order_item_id": item["item_id"], "product_id": item["product_id"], "sku": item["sku"],
                          "name": item["name"], "price": item["price"], "weight": item["weight"], "qty": _qty(qty),
                          "row_total": cents(money(item["price"]) * qty)})
        assignments = order["extension_attributes"].get("shipping_assignments") or []
        shipment: dict[str, Any] = {
            "entity_id": shipment_id, "increment_id": f"{order['store_id'] if order['store_id'] > 1 else 0}"
                                                      f"{shipment_id:08d}",
            "order_id": order_id, "store_id": order["store_id"], "created_at": now, "updated_at": now,
            "billing_address_id": order["billing_address_id"], "email_sent": 0,
            "total_qty": _qty(total_qty), "total_weight": float(total_weight), "items": items, "packages": [],
            "tracks": [{"entity_id": self._next("shipment_track"), "parent_id": shipment_id, "order_id": order_id,
                        "created_at": now, "updated_at": now, "track_number": str(t["track_number"]),
                        "title": str(t["title"]), "carrier_code": str(t["carrier_code"]),
                        "weight": float(total_weight), "qty": _qty(total_qty), "description": ""}
                       for t in tracks],
            "comments": [],
        }
        if assignments:
            shipment["shipping_address_id"] = assignments[0]["shipping"]["address"]["entity_id"]
        if order.get("customer_id"):
            shipment["customer_id"] = order["customer_id"]
        if comment and comment.get("comment"):
            shipment["comments"].append({"entity_id": self._next("shipment_comment"), "parent_id": shipment_id,
                                         "comment": str(comment["comment"]), "created_at": now,
                                         "is_customer_notified": 0,
                                         "is_visible_on_front": int(comment.get("is_visible_on_front") or 0)})
        self.shipments[shipment_id] = shipment
        self._advance(order)
        self._tell("shipment", "created", shipment)
        return shipment

    def shipment(self, shipment_id: int) -> dict[str, Any]:
        if shipment_id not in self.shipments:
            raise entity_not_found()
        return self.shipments[shipment_id]

    def _advance(self, order: dict[str, Any]) -> None:
        """new → processing on the first invoice or shipment; complete once everything is invoiced and shipped."""
        if order["state"] == "new":
            order["state"], order["status"] = "processing", "processing"
        if all(to_invoice(i) <= 0 for i in order["items"]) and all(
                to_ship(i) <= 0 or i["is_virtual"] for i in order["items"]):
            order["state"], order["status"] = "complete", "complete"
        self._touch(order)

    # --- stock ---------------------------------------------------------------------------------------------------
    def set_stock(self, sku: str, item: dict[str, Any]) -> int:
        product = self.catalog.by_sku.get(sku)
        if product is None:
            raise NotFound("The product that was requested doesn't exist. Verify the product and try again.")
        stock = product.materialise()["stock"]
        for name in ("qty", "is_in_stock", "manage_stock", "backorders", "min_qty", "is_qty_decimal"):
            if name in item:
                stock[name] = item[name]
        if "qty" in item and "is_in_stock" not in item and stock.get("manage_stock", True):
            stock["is_in_stock"] = bool(stock.get("backorders")) or money(stock["qty"]) > money(
                stock.get("min_qty", 0))
        self.catalog.touch(product)
        return product.id
