"""SP-API notifications: the documents Amazon publishes, and their delivery to SQS or an HTTP endpoint.

Builders return exactly the shapes of Amazon's notification schemas (vendored in `amazon_models/`):
the PascalCase envelope with `NotificationMetadata`, amounts as JSON numbers. The market builds
ANY_OFFER_CHANGED (`market.py`); listing and order changes are built here.

`NotificationHub` queues what the simulator publishes, keeps the most recent for `/_sim/notifications`,
and delivers in the background: `SendMessageBatch` to a configured SQS queue (as Amazon does) and/or
a POST of the same JSON to a configured URL (push mode), with `Authorization: Bearer <push_token>`
when a token is set. A failed delivery is retried a few times and then counted as dropped, like a
destination Amazon cannot reach; `counts` name each failure's reason (`push_failed:401`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter, deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from aiobotocore.session import get_session
from pydantic import BaseModel, Field, SecretStr

from amazon_sim.listings import Listing, ListingSnapshot, iso

APPLICATION_ID = "amzn1.sellerapps.app.simulated-0000-0000-0000-000000000000"
TYPES = ("ANY_OFFER_CHANGED", "LISTINGS_ITEM_STATUS_CHANGE", "LISTINGS_ITEM_ISSUES_CHANGE", "ORDER_CHANGE")


class NotificationSettings(BaseModel):
    push_url: str | None = Field(default=None, description="POST every notification here (push mode)")
    push_token: SecretStr | None = Field(default=None, description="Every push carries `Authorization: Bearer` "
                                         "this token; never shown back")
    sqs_queue_url: str | None = Field(default=None, description="SendMessage every notification to this queue")
    sqs_endpoint_url: str | None = Field(default=None, description="SQS endpoint (an SQS-compatible server)")
    sqs_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    types: list[str] = Field(default_factory=lambda: list(TYPES), description="Types published")
    issues_payload_version: str = Field(default="1.0", description="LISTINGS_ITEM_ISSUES_CHANGE version: "
                                        "1.0 or 2023-12-13")
    keep_recent: int = Field(default=2000, ge=0, description="Notifications kept for /_sim/notifications")
    max_attempts: int = Field(default=5, ge=1)

    def public(self) -> dict[str, Any]:
        """The settings as admin responses show them: without secrets, saying whether a push token is set."""
        shown = self.model_dump(exclude={"aws_secret_access_key", "push_token"})
        return shown | {"push_token_set": bool(self.push_token and self.push_token.get_secret_value())}


def number(amount: Decimal) -> float | int:
    """Notification amounts are JSON numbers; the shortest float repr of a 2-decimal amount is exact text."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def money(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"Amount": number(amount), "CurrencyCode": currency}


def envelope(kind: str, payload: dict[str, Any], now: float, payload_version: str = "1.0") -> dict[str, Any]:
    at = iso(now)
    return {
        "NotificationVersion": "1.0", "NotificationType": kind, "PayloadVersion": payload_version, "EventTime": at,
        "Payload": payload,
        "NotificationMetadata": {"ApplicationId": APPLICATION_ID, "SubscriptionId": f"sim-{kind.lower()}",
                                 "PublishTime": at, "NotificationId": str(uuid.uuid4())},
    }


# --- listings ---------------------------------------------------------------------------------------------------

def listing_status_change(listing: Listing | None, seller_id: str, sku: str, marketplace_id: str,
                          asin: str, now: float) -> dict[str, Any]:
    """LISTINGS_ITEM_STATUS_CHANGE; a deleted listing reports DELETED."""
    payload: dict[str, Any] = {"SellerId": seller_id, "MarketplaceId": marketplace_id, "Asin": asin, "Sku": sku}
    if listing is None:
        payload["Status"] = ["DELETED"]
    else:
        payload["CreatedDate"] = iso(listing.created)
        payload["Status"] = listing.status()
    return envelope("LISTINGS_ITEM_STATUS_CHANGE", payload, now)


def listing_issues_change(listing: Listing, marketplace_id: str, now: float,
                          payload_version: str = "1.0") -> dict[str, Any]:
    """LISTINGS_ITEM_ISSUES_CHANGE: only severities and enforcement actions, as Amazon sends it."""
    severities = sorted({i["severity"] for i in listing.issues if i.get("severity") in ("ERROR", "WARNING")})
    payload: dict[str, Any] = {"SellerId": listing.seller_id, "MarketplaceId": marketplace_id, "Asin": listing.asin,
                               "Sku": listing.sku, "Severities": severities or ["NONE"]}
    if "ERROR" in severities:
        payload["EnforcementActions"] = (["LISTING_SUPPRESSED"] if payload_version == "2023-12-13"
                                         else ["SEARCH_SUPPRESSED"])
    return envelope("LISTINGS_ITEM_ISSUES_CHANGE", payload, now, payload_version)


def listing_changes(seller_id: str, sku: str, before: ListingSnapshot | None, listing: Listing | None, now: float,
                    issues_payload_version: str = "1.0") -> list[dict[str, Any]]:
    """The notifications one listing change causes: status and/or issues, per marketplace."""
    after = ListingSnapshot.of(listing)
    known = after or before
    if known is None:
        return []
    out = []
    if (before.status if before else None) != (after.status if after else None):
        out.extend(listing_status_change(listing, seller_id, sku, m, known.asin, now) for m in known.marketplaces)
    if listing is not None and after is not None and (before.issues if before else ()) != after.issues:
        out.extend(listing_issues_change(listing, m, now, issues_payload_version) for m in listing.marketplaces)
    return out


# --- orders -----------------------------------------------------------------------------------------------------

def order_change(order: Any, change_type: str, now: float, reason: str | None = None) -> dict[str, Any]:
    """ORDER_CHANGE for an order of `orders.py` (duck-typed: AmazonOrderId, status, items...); no PII."""
    shipped = sum(i.quantity_shipped for i in order.items)
    total = sum(i.quantity for i in order.items)
    summary: dict[str, Any] = {
        "MarketplaceId": order.marketplace_id, "OrderStatus": order.status, "PurchaseDate": iso(order.purchased),
        "DestinationPostalCode": (order.address or {}).get("PostalCode"), "FulfillmentType": order.fulfillment,
        "OrderType": "StandardOrder", "NumberOfItemsShipped": shipped,
        "NumberOfItemsUnshipped": 0 if order.status == "Canceled" else total - shipped,
        "EarliestShipDate": iso(order.purchased), "LatestShipDate": iso(order.purchased + 2 * 86400),
        "OrderItems": [{
            "OrderItemId": i.order_item_id, "SellerSKU": i.sku, "SupplySourceId": None,
            "OrderItemStatus": "Shipped" if i.quantity_shipped >= i.quantity else "Unshipped",
            "Quantity": i.quantity, "QuantityShipped": i.quantity_shipped,
            "IsBuyerRequestedCancel": bool(i.buyer_requested_cancel)} for i in order.items],
    }
    if change_type not in ("BuyerRequestedChange", "DeliveryTipChange", "OrderStatusChange"):
        change_type = "OrderStatusChange"
    payload = {"OrderChangeNotification": {
        "NotificationLevel": "OrderLevel", "SellerId": order.seller_id, "AmazonOrderId": order.amazon_order_id,
        "OrderChangeType": change_type,
        "OrderChangeTrigger": {"TimeOfOrderChange": iso(order.updated),
                               "ChangeReason": reason or {"BuyerRequestedChange": "Buyer Requested Cancel"}.get(
                                   change_type, "Order Status Changed")},
        "Summary": summary}}
    return envelope("ORDER_CHANGE", payload, now)


# --- delivery ---------------------------------------------------------------------------------------------------

class NotificationHub:
    def __init__(self, settings: NotificationSettings | None = None) -> None:
        self.settings = settings or NotificationSettings()
        self.pending: deque[tuple[dict[str, Any], int]] = deque()
        self.recent: deque[dict[str, Any]] = deque(maxlen=self.settings.keep_recent or None)
        self.counts: Counter[str] = Counter()
        self.http: httpx.AsyncClient | None = None  # tests hand in a client bound to an in-process app
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._wake = asyncio.Event()

    def configure(self, settings: NotificationSettings) -> None:
        self.settings = settings
        self.recent = deque(self.recent, maxlen=settings.keep_recent or None)

    def wants(self, kind: str) -> bool:
        return kind in self.settings.types

    def publish(self, doc: dict[str, Any]) -> None:
        kind = doc["NotificationType"]
        if not self.wants(kind):
            return
        self.counts[f"published:{kind}"] += 1
        if self.settings.keep_recent:
            self.recent.append(doc)
        for listener in list(self.listeners):
            listener(doc)
        if self.settings.push_url or self.settings.sqs_queue_url:
            self.pending.append((doc, 0))
            self._wake.set()

    def clear(self) -> None:
        self.pending.clear()
        self.recent.clear()
        self.counts.clear()

    async def run(self) -> None:
        """Deliver for the app's lifetime."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            with contextlib.suppress(Exception):
                await self.flush()
            if self.pending:  # failed ones wait a little before their next attempt
                await asyncio.sleep(0.2)
                self._wake.set()

    async def flush(self) -> int:
        """Deliver everything pending now; returns how many were delivered."""
        batch = list(self.pending)
        self.pending.clear()
        if not batch:
            return 0
        delivered = 0
        failed: list[tuple[dict[str, Any], int]] = []
        if self.settings.sqs_queue_url:
            ok = await self._to_sqs([doc for doc, _ in batch])
            delivered_sqs = [item for item, good in zip(batch, ok, strict=True) if good]
            failed.extend(item for item, good in zip(batch, ok, strict=True) if not good)
            batch = delivered_sqs
        if self.settings.push_url:
            still: list[tuple[dict[str, Any], int]] = []
            for doc, attempts in batch:
                if await self._push(doc):
                    still.append((doc, attempts))
                else:
                    failed.append((doc, attempts))
            batch = still
        delivered = len(batch)
        self.counts["delivered"] += delivered
        for doc, attempts in failed:
            if attempts + 1 >= self.settings.max_attempts:
                self.counts["dropped"] += 1
            else:
                self.pending.append((doc, attempts + 1))
        return delivered

    async def _push(self, doc: dict[str, Any]) -> bool:
        url, token = self.settings.push_url, self.settings.push_token
        assert url is not None
        content, headers = json.dumps(doc), {"content-type": "application/json"}
        if token and token.get_secret_value():
            headers["authorization"] = f"Bearer {token.get_secret_value()}"
        try:
            if self.http is None:
                async with httpx.AsyncClient(timeout=10) as own:
                    response = await own.post(url, content=content, headers=headers)
            else:
                response = await self.http.post(url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            self._failed("push", type(exc).__name__)
            return False
        # 401 and 403 refuse the sender, which may be let in later; another 4xx refuses this document, and
        # retrying the same bytes cannot help.
        if response.status_code >= 500 or response.status_code in (401, 403):
            self._failed("push", str(response.status_code))
            return False
        return True

    def _failed(self, destination: str, reason: str) -> None:
        self.counts[f"{destination}_failed"] += 1
        self.counts[f"{destination}_failed:{reason}"] += 1

    async def _to_sqs(self, docs: list[dict[str, Any]]) -> list[bool]:
        s = self.settings
        ok = [False] * len(docs)
        try:
            async with get_session().create_client(
                    "sqs", region_name=s.sqs_region, endpoint_url=s.sqs_endpoint_url,
                    aws_access_key_id=s.aws_access_key_id, aws_secret_access_key=s.aws_secret_access_key) as sqs:
                for start in range(0, len(docs), 10):
                    chunk = docs[start:start + 10]
                    answer = await sqs.send_message_batch(QueueUrl=s.sqs_queue_url, Entries=[
                        {"Id": str(i), "MessageBody": json.dumps(d)} for i, d in enumerate(chunk)])
                    for entry in answer.get("Successful") or []:
                        ok[start + int(entry["Id"])] = True
        except Exception as exc:  # the queue is unreachable: everything not confirmed is retried
            self._failed("sqs", type(exc).__name__)
        return ok


def listing_listener(hub: NotificationHub) -> Callable[[str, str, ListingSnapshot | None, Listing | None, float], None]:
    """A ListingStore listener publishing the status and issues notifications of each change."""
    def on_change(seller_id: str, sku: str, before: ListingSnapshot | None, listing: Listing | None,
                  now: float) -> None:
        for doc in listing_changes(seller_id, sku, before, listing, now, hub.settings.issues_payload_version):
            hub.publish(doc)
    return on_change


def order_listener(hub: NotificationHub) -> Callable[[Any, str], None]:
    """An OrderStore listener publishing ORDER_CHANGE, stamped with the order's LastUpdateDate."""
    def on_change(order: Any, change_type: str) -> None:
        if hub.wants("ORDER_CHANGE"):
            hub.publish(order_change(order, change_type, order.updated))
    return on_change


def start_local_sqs(host: str, port: int, queue_name: str = "sp-api-notifications") -> tuple[Any, str]:
    """A local SQS-compatible server (moto's server mode) with one queue, for running the whole system
    without AWS: the simulator sends notifications there and amazon-gateway reads them as from Amazon's
    queue. Returns the server (stop() it) and the queue URL."""
    from moto.server import ThreadedMotoServer  # loading moto takes a while: only when asked for


    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    endpoint = f"http://{host}:{port}"

    async def create() -> str:
        async with get_session().create_client("sqs", region_name="us-east-1", endpoint_url=endpoint,
                                               aws_access_key_id="local", aws_secret_access_key="local") as sqs:
            return str((await sqs.create_queue(QueueName=queue_name))["QueueUrl"])

    return server, asyncio.run(create())
