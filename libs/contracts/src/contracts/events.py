"""Every event in the platform's catalogue.

Envelope fields come from `Event`; each class adds its own. Names are in the past tense for
facts and end in `Requested` for commands.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.envelope import AccountScoped, Event, ListingScoped
from contracts.money import DecimalString, Money


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# ---------------------------------------------------------------- catalog


class ProductStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    DELETED = "deleted"


class TierPrice(_Part):
    customer_group_id: int = Field(description="Commerce customer group; 32000 means all groups")
    quantity: DecimalString = Field(description="Minimum quantity the price applies from")
    price: Money


class ProductChanged(Event):
    """A Commerce product's price, stock or attributes changed."""

    event_type: Literal["ProductChanged"] = "ProductChanged"
    store_code: str = Field(default="default", description="Commerce store view code")
    sku: str = Field(description="Commerce catalog SKU", min_length=1, max_length=64)
    name: str = Field(description="Product name")
    status: ProductStatus = Field(description="Commerce product status")
    price: Money = Field(description="Base price in the Commerce default currency")
    quantity: int = Field(description="Salable quantity", ge=0)
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Other attribute codes and values (ean, upc, brand...)"
    )
    website_attributes: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per website code, the attribute values (price ones included) set at website "
        "scope; a website absent here, or an attribute absent for it, uses the default value",
    )
    updated_at: AwareDatetime = Field(description="Commerce updated_at; older changes are stale")
    product_type: str | None = Field(
        default=None, description="Commerce type_id: simple, virtual, configurable, bundle, grouped, downloadable"
    )
    visibility: int | None = Field(
        default=None, ge=1, le=4,
        description="Commerce visibility: 1 not visible individually, 2 catalog, 3 search, 4 catalog and search",
    )
    parent_sku: str | None = Field(
        default=None, description="SKU of the configurable product this one is a child of"
    )
    special_price: Money | None = Field(default=None, description="Special (sale) price, base currency")
    special_price_from: AwareDatetime | None = Field(default=None, description="Start of the special price")
    special_price_to: AwareDatetime | None = Field(default=None, description="End of the special price")
    msrp: Money | None = Field(default=None, description="Manufacturer's suggested retail price")
    cost: Money | None = Field(default=None, description="The merchant's cost")
    tier_prices: list[TierPrice] = Field(default_factory=list, description="Quantity and customer-group prices")
    in_stock: bool | None = Field(default=None, description="Commerce stock status; null when not reported")
    manage_stock: bool | None = Field(
        default=None, description="Whether Commerce tracks the quantity; null when not reported"
    )
    website_ids: list[int] = Field(default_factory=list, description="Commerce websites the product is in")


class CommerceProductRequested(Event, ListingScoped):
    """Create a Commerce product from an Amazon listing, or write mapped Amazon values into an existing one.

    `account_id`/`marketplace_id`/`sku` name the Amazon listing it comes from; `commerce_sku` the product.
    """

    event_type: Literal["CommerceProductRequested"] = "CommerceProductRequested"
    action: Literal["create", "update"] = Field(
        description="create: a new product (never a second one for the same commerce_sku); "
        "update: write `attributes` (and the other fields given) into the existing product")
    store_code: str = Field(default="default", description="Commerce store view the values are written in")
    commerce_sku: str = Field(min_length=1, max_length=64, description="SKU of the Commerce product")
    asin: str | None = Field(default=None, description="The listing's ASIN, written to amazon_asin when set")
    name: str | None = Field(default=None, max_length=255, description="Product name; required to create")
    price: Money | None = Field(default=None, description="Base price, in the store's base currency")
    quantity: int | None = Field(default=None, ge=0, description="Stock quantity; null leaves stock alone")
    status: ProductStatus = Field(default=ProductStatus.DISABLED,
                                  description="Status of a created product (disabled until the seller reviews it)")
    visibility: int = Field(default=4, ge=1, le=4, description="Commerce visibility of a created product")
    attribute_set_id: int = Field(default=4, ge=1, description="Commerce attribute set of a created product")
    website_ids: list[int] = Field(default_factory=list, description="Websites of a created product")
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Commerce attribute code -> value, mapped from the Amazon listing")


class CommerceProductResult(Event, ListingScoped):
    """Commerce's answer to a CommerceProductRequested."""

    event_type: Literal["CommerceProductResult"] = "CommerceProductResult"
    request_event_id: UUID = Field(description="event_id of the CommerceProductRequested this answers")
    commerce_sku: str = Field(min_length=1, max_length=64)
    outcome: Literal["created", "updated", "exists", "failed"] = Field(
        description="created; updated; exists: a create found the product already there (nothing written); "
        "failed: Commerce refused, see code and message")
    commerce_product_id: int | None = Field(default=None, description="Commerce entity id of the product")
    code: str | None = Field(default=None, description="On failure: the HTTP status or a reason code")
    message: str | None = Field(default=None, description="On failure: Commerce's message, placeholders filled in")


class AmazonIssue(_Part):
    code: str
    message: str
    severity: Literal["ERROR", "WARNING", "INFO"]
    attribute_names: list[str] = Field(default_factory=list)


class AmazonListingObserved(Event, ListingScoped):
    """An existing Amazon listing was imported or reported."""

    event_type: Literal["AmazonListingObserved"] = "AmazonListingObserved"
    asin: str | None = Field(default=None, description="ASIN, when Amazon assigned one")
    product_type: str | None = Field(default=None, description="Amazon product type")
    status: list[str] = Field(default_factory=list, description="Amazon statuses, e.g. BUYABLE")
    price: Money | None = None
    quantity: int | None = Field(default=None, ge=0)
    condition: str | None = Field(default=None, description="Amazon condition_type")
    identifiers: dict[str, str] = Field(
        default_factory=dict, description="Identifiers Amazon holds: EAN, UPC, ISBN..."
    )
    issues: list[AmazonIssue] | None = Field(
        default=None, description="Amazon's issues on the listing; null when this report does not say"
    )
    source: Literal["import", "status_notification", "issues_notification", "report"] | None = Field(
        default=None, description="What reported it: the listing import, a LISTINGS_ITEM_* notification, "
        "or a report"
    )


class ListingStatus(StrEnum):
    INCOMPLETE = "Incomplete"
    NEW_THIRD_PARTY = "New Third Party"
    READY_TO_LIST = "Ready to List"
    LIST_IN_PROGRESS = "List in Progress"
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    INELIGIBLE = "Ineligible"
    MANUALLY_ENDED = "Manually Ended"
    RELIST_IN_PROGRESS = "Relist in Progress"


class FieldChange(_Part):
    field: str = Field(description="Changed field, e.g. 'price' or 'quantity'")
    old: str | None = Field(description="Previous value as text, null when new")
    new: str | None = Field(description="New value as text")


class ListingChanged(Event, ListingScoped):
    """A listing's state changed (status, match, quantity, price, overrides...)."""

    event_type: Literal["ListingChanged"] = "ListingChanged"
    product_sku: str | None = Field(description="Matched Commerce SKU, null when unmatched")
    asin: str | None = None
    condition: str | None = Field(
        default=None, description="Amazon condition of our offer, e.g. new_new; null means new"
    )
    status: ListingStatus
    quantity: int = Field(ge=0)
    price: Money | None = Field(description="Listing price in the marketplace currency")
    version: int = Field(ge=1, description="Increases by one with every change of this listing")
    changes: list[FieldChange] = Field(description="What changed in this version")


# ---------------------------------------------------------------- pricing


class FulfillmentChannel(StrEnum):
    AMAZON = "Amazon"
    MERCHANT = "Merchant"


class Offer(_Part):
    seller_id: str
    is_ours: bool = Field(description="True for the seller's own offer; never a competitor")
    condition: str = Field(description="new, used, collectible, refurbished, club")
    sub_condition: str | None = None
    fulfillment_channel: FulfillmentChannel
    listing_price: Money
    shipping: Money
    feedback_rating: int | None = Field(default=None, ge=0, le=100)
    feedback_count: int | None = Field(default=None, ge=0)
    is_buy_box_winner: bool = False
    is_prime: bool = False


class OfferPriceObserved(Event):
    """Competitor offers for an ASIN in one marketplace: lowest prices, Buy Box, offers."""

    event_type: Literal["OfferPriceObserved"] = "OfferPriceObserved"
    marketplace_id: str = Field(min_length=1)
    asin: str = Field(min_length=1)
    account_id: str | None = Field(default=None, description="Account whose subscription saw it")
    observed_at: AwareDatetime = Field(description="Amazon's time of the offer change")
    lowest_landed_price: Money | None = None
    buy_box_landed_price: Money | None = None
    offers: list[Offer] = Field(default_factory=list)


class PriceTraceStep(_Part):
    step: str = Field(description="e.g. base_price, rule, competitor, floor, ceiling, vat, currency")
    detail: str
    price: Money | None = None


class PriceChanged(Event, ListingScoped):
    """The repricer decided a new price, with the trace that led to it."""

    event_type: Literal["PriceChanged"] = "PriceChanged"
    old_price: Money | None
    new_price: Money
    business_price: Money | None = None
    trace: list[PriceTraceStep]


class CompetitivePriceObserved(Event, ListingScoped):
    """Competitive price analysis of one listing at one moment, for reporting."""

    event_type: Literal["CompetitivePriceObserved"] = "CompetitivePriceObserved"
    asin: str
    our_price: Money | None = Field(description="Our landed price, null while unpriced")
    lowest_landed_price: Money | None = Field(description="Lowest competitor landed price")
    lowest_condition: str | None = None
    buy_box_landed_price: Money | None = None
    buy_box_condition: str | None = None
    is_buy_box_winner: bool | None = Field(description="Whether we hold the Buy Box; null: no Buy Box")
    observed_at: AwareDatetime


class ListingUpdateKind(StrEnum):
    PRICE = "price"
    QUANTITY = "quantity"
    ATTRIBUTES = "attributes"
    CREATE = "create"
    DELETE = "delete"


class ListingUpdateRequested(Event, ListingScoped):
    """Push a price, quantity, attributes, a new listing or a deletion to Amazon."""

    event_type: Literal["ListingUpdateRequested"] = "ListingUpdateRequested"
    kind: ListingUpdateKind
    price: Money | None = None
    quantity: int | None = Field(default=None, ge=0)
    handling_time_days: int | None = Field(default=None, ge=0)
    product_type: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    urgent: bool = Field(default=False, description="Send now rather than in the next feed")
    requested_at: AwareDatetime = Field(description="Newest wins when coalescing per SKU")


class ListingUpdateResult(Event, ListingScoped):
    """Amazon accepted or rejected an update."""

    event_type: Literal["ListingUpdateResult"] = "ListingUpdateResult"
    request_event_id: str = Field(description="event_id of the ListingUpdateRequested")
    accepted: bool
    submission_id: str | None = None
    issues: list[AmazonIssue] = Field(default_factory=list)


# ---------------------------------------------------------------- orders


class FulfillmentBy(StrEnum):
    AFN = "AFN"
    MFN = "MFN"


class OrderLine(_Part):
    order_item_id: str
    sku: str
    asin: str
    quantity: int = Field(ge=0)
    item_price: Money
    item_tax: Money | None = None
    shipping_price: Money | None = None


class Address(_Part):
    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country_code: str | None = None
    phone: str | None = None


class OrderPlaced(Event, AccountScoped):
    """An Amazon order appeared."""

    event_type: Literal["OrderPlaced"] = "OrderPlaced"
    amazon_order_id: str = Field(min_length=1)
    purchase_date: AwareDatetime
    order_status: str = Field(description="Amazon OrderStatus, e.g. Unshipped")
    fulfillment: FulfillmentBy
    order_total: Money | None = None
    lines: list[OrderLine]
    buyer_email: str | None = Field(default=None, description="Only where the role allows")
    shipping_address: Address | None = None


class OrderStatusChanged(Event, AccountScoped):
    """An Amazon order's status changed."""

    event_type: Literal["OrderStatusChanged"] = "OrderStatusChanged"
    amazon_order_id: str = Field(min_length=1)
    previous_status: str | None
    order_status: str
    last_update_date: AwareDatetime
    buyer_email: str | None = Field(
        default=None, description="Set when Amazon shows buyer data it withheld before (only where the role allows)")
    shipping_address: Address | None = Field(
        default=None, description="Set when Amazon shows the full address it withheld before (e.g. no longer "
        "Pending; only where the role allows)")


class CommerceOrderRequested(Event, AccountScoped):
    """Create this order (and its customer) in Commerce."""

    event_type: Literal["CommerceOrderRequested"] = "CommerceOrderRequested"
    amazon_order_id: str
    store_code: str
    commerce_status: str
    fulfillment: FulfillmentBy
    lines: list[OrderLine]
    order_total: Money | None = None
    customer_email: str | None = None
    shipping_address: Address | None = None
    create_customer: bool = Field(
        default=False, description="Find or create the Commerce customer of customer_email; false: a guest order"
    )
    increment_id: str | None = Field(
        default=None, max_length=50,
        description="The Commerce order number to give the order (e.g. the Amazon order id); null: Commerce numbers it",
    )


class CommerceOrderCreated(Event, AccountScoped):
    """Commerce created the order, or refused it."""

    event_type: Literal["CommerceOrderCreated"] = "CommerceOrderCreated"
    amazon_order_id: str
    created: bool
    commerce_order_id: str | None = None
    increment_id: str | None = None
    error: str | None = None


class CommerceOrderFailed(Event, AccountScoped):
    """Commerce refused to create the order (or its customer); nothing was created."""

    event_type: Literal["CommerceOrderFailed"] = "CommerceOrderFailed"
    amazon_order_id: str
    store_code: str = Field(description="The store view the order was requested in")
    request_event_id: UUID = Field(description="event_id of the CommerceOrderRequested this answers")
    operation: str = Field(description="The call Commerce refused, e.g. POST /V1/orders")
    code: str = Field(description="The HTTP status Commerce answered, or a reason code of the gateway")
    message: str = Field(description="Commerce's error message, placeholders filled in")


class CommerceOrderCancelled(Event, AccountScoped):
    """An Amazon order's Commerce order was cancelled in Commerce."""

    event_type: Literal["CommerceOrderCancelled"] = "CommerceOrderCancelled"
    amazon_order_id: str = Field(min_length=1)
    store_code: str = Field(description="The store view the order was created in")
    commerce_order_id: str = Field(description="Commerce entity_id of the order")
    increment_id: str | None = Field(default=None, description="Commerce order number")
    cancelled_at: AwareDatetime = Field(description="Commerce updated_at of the cancellation")


class StockReservationChanged(Event, AccountScoped):
    """What an Amazon order holds back from Commerce's quantity now (a state, not a delta: the newest wins).

    order-import reserves the quantities of a merchant-fulfilled order Commerce has no order for yet (Pending,
    or waiting on a blocker) when the store reserves quantity for pending orders, and releases them (an empty
    `reserved`) once Commerce has the order or the order will never be imported. Consumers subtract the sum of
    every order's current reservation from a product's quantity.
    """

    event_type: Literal["StockReservationChanged"] = "StockReservationChanged"
    amazon_order_id: str = Field(min_length=1)
    store_code: str = Field(description="Commerce store view whose stock is reserved")
    reserved: dict[str, int] = Field(description="Commerce product SKU -> quantity this order now reserves; "
                                     "empty when it reserves nothing")
    version: int = Field(ge=1, description="Increases with every change of this order's reservation")


class ShipmentCreated(Event, AccountScoped):
    """Commerce shipped (part of) an Amazon order."""

    event_type: Literal["ShipmentCreated"] = "ShipmentCreated"
    amazon_order_id: str
    commerce_shipment_id: str
    carrier_code: str
    carrier_name: str | None = None
    tracking_number: str
    shipped_at: AwareDatetime
    items: dict[str, int] = Field(description="order_item_id -> quantity")


class ShipmentConfirmRequested(Event, AccountScoped):
    """Confirm a shipment to Amazon (carrier, tracking, items)."""

    event_type: Literal["ShipmentConfirmRequested"] = "ShipmentConfirmRequested"
    amazon_order_id: str
    carrier_code: str
    carrier_name: str | None = None
    shipping_method: str | None = None
    tracking_number: str
    ship_date: AwareDatetime
    items: dict[str, int] = Field(description="order_item_id -> quantity")


class OrderActionResult(Event, AccountScoped):
    """Amazon's answer to a ShipmentConfirmRequested or an OrderCancelRequested."""

    event_type: Literal["OrderActionResult"] = "OrderActionResult"
    amazon_order_id: str
    action: Literal["confirm_shipment", "cancel"]
    request_event_id: UUID = Field(description="event_id of the request this answers")
    accepted: bool
    feed_id: str | None = Field(default=None, description="Feeds API feed id, for cancellations")
    issues: list[AmazonIssue] = Field(default_factory=list)


class OrderCancelRequested(Event, AccountScoped):
    """Cancel an Amazon order with one of Amazon's reason codes."""

    event_type: Literal["OrderCancelRequested"] = "OrderCancelRequested"
    amazon_order_id: str
    reason_code: Literal[
        "NoInventory",
        "ShippingAddressUndeliverable",
        "CustomerExchange",
        "BuyerCanceled",
        "GeneralAdjustment",
        "CarrierCreditDecision",
        "RiskAssessmentInformationNotValid",
        "CarrierCoverageFailure",
        "CustomerReturn",
        "MerchandiseNotReceived",
    ]


# ---------------------------------------------------------------- commerce store


class CommerceWebsite(_Part):
    id: int = Field(ge=0)
    code: str
    name: str
    default_group_id: int | None = None


class CommerceStoreGroup(_Part):
    id: int = Field(ge=0)
    code: str
    name: str
    website_id: int = Field(ge=0)
    root_category_id: int | None = None
    default_store_id: int | None = None


class CommerceStoreView(_Part):
    id: int = Field(ge=0)
    code: str
    name: str
    website_id: int = Field(ge=0)
    store_group_id: int = Field(ge=0)
    is_active: bool = True
    base_currency: str = Field(pattern=r"^[A-Z]{3}$", description="The website's base currency")
    default_display_currency: str = Field(pattern=r"^[A-Z]{3}$")
    locale: str | None = Field(default=None, description="e.g. en_US")
    timezone: str | None = Field(default=None, description="e.g. America/Chicago")
    weight_unit: str | None = Field(default=None, description="lbs or kgs")


class StoreStructureObserved(Event):
    """Commerce's websites, store groups and store views; emitted at start and whenever they change."""

    event_type: Literal["StoreStructureObserved"] = "StoreStructureObserved"
    commerce: str = Field(default="default", description="Which Commerce installation (the gateway's name for it)")
    websites: list[CommerceWebsite]
    store_groups: list[CommerceStoreGroup]
    store_views: list[CommerceStoreView]
    observed_at: AwareDatetime


class CurrencyRatesObserved(Event):
    """Commerce's currency rates from its base currency; emitted at start and whenever they change."""

    event_type: Literal["CurrencyRatesObserved"] = "CurrencyRatesObserved"
    commerce: str = Field(default="default", description="Which Commerce installation (the gateway's name for it)")
    base_currency: str = Field(pattern=r"^[A-Z]{3}$")
    default_display_currency: str = Field(pattern=r"^[A-Z]{3}$")
    rates: dict[str, DecimalString] = Field(
        description="Currency code -> how many of it one unit of base_currency buys (the base itself is 1)")
    observed_at: AwareDatetime


# ---------------------------------------------------------------- operations


class CommunicationError(Event):
    """A call to Amazon or Commerce failed after its retries, with what and why."""

    event_type: Literal["CommunicationError"] = "CommunicationError"
    system: Literal["amazon", "commerce"]
    account_id: str | None = None
    marketplace_id: str | None = None
    region: str | None = None
    operation: str = Field(description="e.g. patchListingsItem")
    code: str = Field(description="Amazon or Commerce error code, or the HTTP status")
    message: str
    attempts: int = Field(ge=1)
    request_ref: str | None = Field(default=None, description="Id of the request kept for replay")


class AuditRecorded(Event):
    """A configuration change or an operating action, with who made it and what it changed."""

    event_type: Literal["AuditRecorded"] = "AuditRecorded"
    audit_id: int = Field(ge=1, description="The record's id in the producing service's audit trail")
    actor: str = Field(description="The API key's name or the token's subject; 'system' for the service itself")
    actor_kind: Literal["api_key", "oidc", "system"]
    action: str = Field(description="e.g. config.update, config.delete, replay.listings, import.listings")
    target: str = Field(description="What was acted on, e.g. PricingRule/clearance or account demo-seller")
    before: dict[str, Any] | None = Field(default=None, description="State before (null when created)")
    after: dict[str, Any] | None = Field(default=None, description="State after (null when deleted)")


ALL_EVENTS: tuple[type[Event], ...] = (
    ProductChanged,
    CommerceProductRequested,
    CommerceProductResult,
    AmazonListingObserved,
    ListingChanged,
    OfferPriceObserved,
    PriceChanged,
    CompetitivePriceObserved,
    ListingUpdateRequested,
    ListingUpdateResult,
    OrderPlaced,
    OrderStatusChanged,
    CommerceOrderRequested,
    CommerceOrderCreated,
    CommerceOrderFailed,
    CommerceOrderCancelled,
    StockReservationChanged,
    ShipmentCreated,
    ShipmentConfirmRequested,
    OrderCancelRequested,
    OrderActionResult,
    StoreStructureObserved,
    CurrencyRatesObserved,
    CommunicationError,
    AuditRecorded,
)

EVENTS_BY_TYPE: dict[str, type[Event]] = {cls.__name__: cls for cls in ALL_EVENTS}
__all__ = [cls.__name__ for cls in ALL_EVENTS] + ["ALL_EVENTS", "EVENTS_BY_TYPE", "datetime"]
