"""The topic registry: each topic's name, partition key, event types and dead-letter topic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from contracts import events as ev
from contracts.envelope import Event


def listing_key(e: Event) -> str:
    return f"{e.account_id}|{e.marketplace_id}|{e.sku}"  # type: ignore[attr-defined]


def offer_set_key(e: Event) -> str:
    return f"{e.marketplace_id}|{e.asin}"  # type: ignore[attr-defined]


def order_key(e: Event) -> str:
    return e.amazon_order_id  # type: ignore[attr-defined]


def product_key(e: Event) -> str:
    return f"{e.store_code}|{e.sku}"  # type: ignore[attr-defined]


def account_key(e: Event) -> str:
    return str(getattr(e, "account_id", None) or e.producer)


@dataclass(frozen=True)
class Topic:
    name: str
    key_description: str
    key: Callable[[Event], str] = field(repr=False, compare=False)
    event_types: tuple[type[Event], ...]
    description: str = ""

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    @cached_property
    def event_type_names(self) -> frozenset[str]:
        return frozenset(t.__name__ for t in self.event_types)


PRODUCTS = Topic(
    "commerce.products.v1", "store_code|sku", product_key, (ev.ProductChanged,),
    "Commerce product changes",
)
PRODUCT_REQUESTS = Topic(
    "commerce.product-requests.v1", "account_id|marketplace_id|sku", listing_key,
    (ev.CommerceProductRequested,), "Commerce products to create or update from Amazon listings",
)
PRODUCT_RESULTS = Topic(
    "commerce.product-results.v1", "account_id|marketplace_id|sku", listing_key,
    (ev.CommerceProductResult,), "Commerce's answers to product creations and updates",
)
STORES = Topic(
    "commerce.stores.v1", "commerce", lambda e: e.commerce,  # type: ignore[attr-defined]
    (ev.StoreStructureObserved, ev.CurrencyRatesObserved),
    "Commerce store structure (websites, store groups, store views) and currency rates",
)
AMAZON_LISTINGS = Topic(
    "amazon.listings.v1", "account_id|marketplace_id|sku", listing_key,
    (ev.AmazonListingObserved,), "Listings as Amazon reports them",
)
LISTINGS = Topic(
    "catalog.listings.v1", "account_id|marketplace_id|sku", listing_key, (ev.ListingChanged,),
    "Listing state owned by catalog-sync",
)
OFFERS = Topic(
    "amazon.offers.v1", "marketplace_id|asin", offer_set_key, (ev.OfferPriceObserved,),
    "Competitor offers per ASIN",
)
PRICES = Topic(
    "repricer.prices.v1", "account_id|marketplace_id|sku", listing_key, (ev.PriceChanged,),
    "Prices decided by the repricer, with their trace",
)
COMPETITIVE_PRICES = Topic(
    "repricer.competitive-prices.v1", "account_id|marketplace_id|sku", listing_key,
    (ev.CompetitivePriceObserved,), "Competitive price analysis per listing over time",
)
LISTING_UPDATES = Topic(
    "amazon.listing-updates.v1", "account_id|marketplace_id|sku", listing_key,
    (ev.ListingUpdateRequested,), "Listing changes to push to Amazon",
)
LISTING_UPDATE_RESULTS = Topic(
    "amazon.listing-update-results.v1", "account_id|marketplace_id|sku", listing_key,
    (ev.ListingUpdateResult,), "Amazon's answer to each listing update",
)
ORDERS = Topic(
    "amazon.orders.v1", "amazon_order_id", order_key, (ev.OrderPlaced, ev.OrderStatusChanged),
    "Amazon orders and their status changes",
)
COMMERCE_ORDER_REQUESTS = Topic(
    "commerce.order-requests.v1", "amazon_order_id", order_key, (ev.CommerceOrderRequested,),
    "Orders to create in Commerce",
)
COMMERCE_ORDERS = Topic(
    "commerce.orders.v1", "amazon_order_id", order_key,
    (ev.CommerceOrderCreated, ev.CommerceOrderFailed, ev.CommerceOrderCancelled),
    "Amazon orders in Commerce: created, refused with Commerce's message, or cancelled there",
)
STOCK_RESERVATIONS = Topic(
    "orders.stock-reservations.v1", "amazon_order_id", order_key, (ev.StockReservationChanged,),
    "Commerce quantities held back by Amazon orders not yet in Commerce",
)
SHIPMENTS = Topic(
    "commerce.shipments.v1", "amazon_order_id", order_key, (ev.ShipmentCreated,),
    "Shipments made in Commerce",
)
SHIPMENT_CONFIRMATIONS = Topic(
    "amazon.shipment-confirmations.v1", "amazon_order_id", order_key,
    (ev.ShipmentConfirmRequested,), "Shipments to confirm to Amazon",
)
ORDER_CANCELLATIONS = Topic(
    "amazon.order-cancellations.v1", "amazon_order_id", order_key, (ev.OrderCancelRequested,),
    "Orders to cancel on Amazon",
)
ORDER_ACTION_RESULTS = Topic(
    "amazon.order-action-results.v1", "amazon_order_id", order_key, (ev.OrderActionResult,),
    "Amazon's answers to shipment confirmations and cancellations",
)
COMMUNICATION_ERRORS = Topic(
    "platform.communication-errors.v1", "account_id", account_key, (ev.CommunicationError,),
    "Failed calls to Amazon or Commerce",
)
AUDIT = Topic(
    "platform.audit.v1", "producer", lambda e: e.producer, (ev.AuditRecorded,),
    "Configuration changes and operating actions: who, when, what, before and after",
)

ALL_TOPICS: tuple[Topic, ...] = (
    PRODUCTS, PRODUCT_REQUESTS, PRODUCT_RESULTS, STORES,
    AMAZON_LISTINGS, LISTINGS, OFFERS, PRICES, COMPETITIVE_PRICES, LISTING_UPDATES, LISTING_UPDATE_RESULTS,
    ORDERS, COMMERCE_ORDER_REQUESTS, COMMERCE_ORDERS, STOCK_RESERVATIONS, SHIPMENTS, SHIPMENT_CONFIRMATIONS,
    ORDER_CANCELLATIONS, ORDER_ACTION_RESULTS, COMMUNICATION_ERRORS, AUDIT,
)
TOPICS_BY_NAME: dict[str, Topic] = {t.name: t for t in ALL_TOPICS}
TOPIC_FOR_EVENT: dict[type[Event], Topic] = {
    event_type: t for t in ALL_TOPICS for event_type in t.event_types
}


def topic_for(event: Event | type[Event]) -> Topic:
    cls = event if isinstance(event, type) else type(event)
    return TOPIC_FOR_EVENT[cls]
