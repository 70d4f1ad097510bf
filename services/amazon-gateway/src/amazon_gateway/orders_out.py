"""Outbound order actions: shipment confirmations (confirmShipment) and cancellations (acknowledgement feed).

The consumers only store each request in `order_actions`. A sender then works the open rows:

- a shipment confirmation is one confirmShipment call; 204 is accepted, a 4xx refusal is rejected with
  Amazon's error as the issue;
- the pending cancellations of one account and marketplace go out together as one
  POST_ORDER_ACKNOWLEDGEMENT_DATA feed (createFeed allows about one call every two minutes), one
  message per order with every item's CancelReason; the rows wait `submitted` until the feed is done,
  then the processing report decides each one.

Every request gets one OrderActionResult, written through the outbox with the row's new status. When
Amazon cannot be reached after the client's retries, a CommunicationError instead, and the row stays
`failed` until `POST /replay/orders`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg

from amazon_gateway.client import AmazonCallFailed, SpApiClient
from amazon_gateway.domain import orders as domain
from amazon_gateway.domain.retry import redact
from contracts import Event, decode, encode
from contracts.events import (
    AmazonIssue,
    CommunicationError,
    OrderActionResult,
    OrderCancelRequested,
    ShipmentConfirmRequested,
)
from servicekit import Tx, outbox
from servicekit.logging import get_logger

log = get_logger(component="orders-out")

CONFIRM = "confirm_shipment"
CANCEL = "cancel"
# Amazon's answers that are a verdict on the request (it was refused), not a failure to reach Amazon.
REFUSAL_STATUSES = frozenset({400, 404, 409, 413, 415, 422})
FEED_DONE = frozenset({"DONE", "FATAL", "CANCELLED"})

# ---------------------------------------------------------------- consuming


async def _store(tx: Tx, action: str, events: Sequence[ShipmentConfirmRequested | OrderCancelRequested]) -> None:
    await tx.conn.execute(
        """
        INSERT INTO order_actions (request_id, action, account_id, marketplace_id, amazon_order_id, request)
        SELECT u.id, $1, u.a, u.m, u.o, u.r FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::bytea[])
            AS u(id, a, m, o, r)
        ON CONFLICT (request_id) DO NOTHING
        """,
        action, [e.event_id for e in events], [e.account_id for e in events], [e.marketplace_id for e in events],
        [e.amazon_order_id for e in events], [encode(e) for e in events])


async def on_shipment_confirmations(tx: Tx, events: list[ShipmentConfirmRequested]) -> None:
    """Keep every shipment confirmation durably; the sender sends it."""
    await _store(tx, CONFIRM, events)


async def on_order_cancellations(tx: Tx, events: list[OrderCancelRequested]) -> None:
    """Keep every cancellation durably; the sender batches them into feeds."""
    await _store(tx, CANCEL, events)


# ---------------------------------------------------------------- sending


class OrderActionSender:
    def __init__(
        self, *, pool: asyncpg.Pool | None, schema: str, producer: str, client: SpApiClient,
        batch_size: int = 100, concurrency: int = 4, idle_s: float = 0.5, feed_check_s: float = 30.0,
    ) -> None:
        self.pool: Any = pool  # set by the service once it has started
        self.schema = schema
        self.producer = producer
        self.client = client
        self.batch_size = batch_size
        self.idle_s = idle_s
        self.feed_check = timedelta(seconds=feed_check_s)
        self._slots = asyncio.Semaphore(concurrency)

    async def run(self) -> None:
        """Work open rows for the service's lifetime; nothing Amazon answers stops it."""
        while True:
            try:
                worked = await self.confirm_once() + await self.cancel_once() + await self.check_feeds_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: try again shortly
                log.warning("order_action_sender_failed", error=repr(exc))
                worked = 0
            if not worked:
                await asyncio.sleep(self.idle_s)

    # ------------------------------------------------------------ confirmShipment

    async def confirm_once(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT request_id, request FROM order_actions WHERE status = 'pending' AND action = $1 "
                "ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED", CONFIRM, self.batch_size)
            if not rows:
                return 0
            requests = [decode(r["request"], {"ShipmentConfirmRequested"}) for r in rows]
            outcomes = await asyncio.gather(*(self._confirm(r) for r in requests))  # type: ignore[arg-type]
            events: list[Event] = []
            for request, (issues, failure) in zip(requests, outcomes, strict=True):
                events.append(await self._settle(conn, request, CONFIRM, issues, failure))  # type: ignore[arg-type]
            await outbox.write(conn, self.schema, events)
        return len(rows)

    async def _confirm(self, request: ShipmentConfirmRequested) -> tuple[list[AmazonIssue], dict[str, Any] | None]:
        """(issues, None) when Amazon answered (no issues: accepted), (_, failure) when it could not be reached."""
        try:
            domain.check_shipment(request)
        except domain.InvalidAction as exc:
            return domain.rejection("InvalidRequest", str(exc)), None
        async with self._slots:
            try:
                await self.client.confirm_shipment(request.account_id, request.amazon_order_id,
                                                   domain.confirm_shipment_body(request))
            except AmazonCallFailed as exc:
                return self._refusal_or_failure(exc)
        return [], None

    @staticmethod
    def _refusal_or_failure(exc: AmazonCallFailed) -> tuple[list[AmazonIssue], dict[str, Any] | None]:
        if exc.status in REFUSAL_STATUSES:
            return domain.rejection(str(exc.fields["code"]), str(exc.fields["message"])), None
        return [], exc.fields

    # ------------------------------------------------------------ cancellation feeds

    async def cancel_once(self) -> int:
        """Send every pending cancellation of one account and marketplace as one feed."""
        async with self.pool.acquire() as conn, conn.transaction():
            first = await conn.fetchrow(
                "SELECT account_id, marketplace_id FROM order_actions WHERE status = 'pending' AND action = $1 "
                "ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED", CANCEL)
            if first is None:
                return 0
            rows = await conn.fetch(
                "SELECT request_id, request FROM order_actions WHERE status = 'pending' AND action = $1 "
                "AND account_id = $2 AND marketplace_id = $3 ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED",
                CANCEL, first["account_id"], first["marketplace_id"], self.batch_size)
            requests: list[OrderCancelRequested] = [decode(r["request"], {"OrderCancelRequested"})
                                                    for r in rows]  # type: ignore[misc]
            events: list[Event] = []
            messages: list[tuple[OrderCancelRequested, domain.Cancellation]] = []
            for request in requests:
                try:
                    items = await self.client.get_order_items(request.account_id, request.amazon_order_id)
                except AmazonCallFailed as exc:
                    issues, failure = self._refusal_or_failure(exc)
                    events.append(await self._settle(conn, request, CANCEL, issues, failure))
                    continue
                item_ids = [str(i.get("OrderItemId")) for i in items if i.get("OrderItemId")]
                if not item_ids:
                    events.append(await self._settle(conn, request, CANCEL, domain.rejection(
                        "InvalidRequest", f"order {request.amazon_order_id} has no items to cancel"), None))
                    continue
                messages.append((request, domain.Cancellation.of(len(messages) + 1, request, item_ids)))
            if messages:
                events += await self._submit(conn, first["account_id"], first["marketplace_id"], messages)
            await outbox.write(conn, self.schema, events)
        return len(rows)

    async def _submit(self, conn: asyncpg.Connection, account_id: str, marketplace_id: str,
                      messages: list[tuple[OrderCancelRequested, domain.Cancellation]]) -> list[Event]:
        seller = self.client.account(account_id).seller_id
        content = domain.cancellation_feed(seller, (m for _, m in messages))
        try:
            document_id, url = await self.client.create_feed_document(account_id, domain.ACKNOWLEDGEMENT_CONTENT_TYPE)
            await self.client.upload_feed_document(url, content, domain.ACKNOWLEDGEMENT_CONTENT_TYPE)
            feed_id = await self.client.create_feed(account_id, domain.ACKNOWLEDGEMENT_FEED, [marketplace_id],
                                                    document_id)
        except AmazonCallFailed as exc:
            issues, failure = self._refusal_or_failure(exc)
            return [await self._settle(conn, r, CANCEL, issues, failure) for r, _ in messages]
        except ValueError as exc:  # an answer without the ids we need
            failure = {"operation": "createFeed", "code": "UnexpectedResponse", "attempts": 1,
                       "message": redact(str(exc))}
            return [await self._settle(conn, r, CANCEL, [], failure) for r, _ in messages]
        await conn.execute(
            "UPDATE order_actions AS a SET status = 'submitted', feed_id = $1, message_id = u.m, "
            "attempts = attempts + 1, check_after = now() + $4::interval, updated_at = now() "
            "FROM unnest($2::uuid[], $3::int[]) AS u(id, m) WHERE a.request_id = u.id",
            feed_id, [r.event_id for r, _ in messages], [m.message_id for _, m in messages], self.feed_check)
        log.info("cancellation_feed_submitted", account_id=account_id, marketplace_id=marketplace_id,
                 feed_id=feed_id, orders=len(messages))
        return []

    async def check_feeds_once(self) -> int:
        """Read the outcome of one submitted feed that is due for a look."""
        async with self.pool.acquire() as conn, conn.transaction():
            head = await conn.fetchrow(
                "SELECT account_id, feed_id FROM order_actions WHERE status = 'submitted' AND check_after <= now() "
                "ORDER BY check_after LIMIT 1 FOR UPDATE SKIP LOCKED")
            if head is None:
                return 0
            rows = await conn.fetch(
                "SELECT request_id, request, message_id FROM order_actions WHERE status = 'submitted' "
                "AND feed_id = $1 ORDER BY message_id FOR UPDATE", head["feed_id"])
            requests = [(decode(r["request"], {"OrderCancelRequested"}), r["message_id"]) for r in rows]
            account_id, feed_id = head["account_id"], head["feed_id"]
            try:
                feed = await self.client.get_feed(account_id, feed_id)
                status = feed.get("processingStatus")
                if status not in FEED_DONE:
                    await conn.execute("UPDATE order_actions SET check_after = now() + $2::interval "
                                       "WHERE feed_id = $1 AND status = 'submitted'", feed_id, self.feed_check)
                    return 0
                report = None
                if feed.get("resultFeedDocumentId"):
                    document = await self.client.get_feed_document(account_id, str(feed["resultFeedDocumentId"]))
                    report = domain.parse_processing_report(await self.client.download_feed_document(document))
            except AmazonCallFailed as exc:
                events = [await self._settle(conn, r, CANCEL, [], exc.fields) for r, _ in requests]  # type: ignore[arg-type]
            except (domain.UnreadableReport, ValueError) as exc:
                failure = {"operation": "getFeedDocument", "code": "UnreadableReport", "attempts": 1,
                           "message": redact(str(exc))}
                events = [await self._settle(conn, r, CANCEL, [], failure) for r, _ in requests]  # type: ignore[arg-type]
            else:
                events = []
                for request, message_id in requests:
                    if status == "CANCELLED":
                        issues = domain.rejection("FeedCancelled", f"feed {feed_id} was cancelled")
                    elif report is None:
                        issues = domain.rejection("NoProcessingReport", f"feed {feed_id} ended {status} "
                                                  "without a processing report")
                    else:
                        issues = report.outcome(message_id, fatal=status == "FATAL")
                    events.append(await self._settle(conn, request, CANCEL, issues, None))  # type: ignore[arg-type]
            await outbox.write(conn, self.schema, events)
        return len(rows)

    # ------------------------------------------------------------ recording

    async def _settle(self, conn: asyncpg.Connection, request: ShipmentConfirmRequested | OrderCancelRequested,
                      action: str, issues: list[AmazonIssue], failure: dict[str, Any] | None) -> Event:
        """The row's new status and the one event that answers it: OrderActionResult or CommunicationError."""
        feed_id = await conn.fetchval("SELECT feed_id FROM order_actions WHERE request_id = $1", request.event_id)
        if failure is not None:
            await conn.execute(
                "UPDATE order_actions SET status = 'failed', attempts = attempts + 1, last_error = $2, "
                "updated_at = now() WHERE request_id = $1", request.event_id,
                f"{failure['code']}: {failure['message']}")
            account = self.client.accounts.get(request.account_id)
            log.warning("order_action_failed", account_id=request.account_id, order=request.amazon_order_id,
                        action=action, operation=failure["operation"], code=failure["code"])
            return CommunicationError.new(
                producer=self.producer, caused_by=request, system="amazon", account_id=request.account_id,
                marketplace_id=request.marketplace_id, region=account.region if account else None,
                operation=failure["operation"], code=failure["code"], message=failure["message"],
                attempts=failure["attempts"], request_ref=str(request.event_id))
        await conn.execute(
            "UPDATE order_actions SET status = 'done', attempts = attempts + 1, last_error = $2, updated_at = now() "
            "WHERE request_id = $1", request.event_id, "; ".join(f"{i.code}: {i.message}" for i in issues) or None)
        return OrderActionResult.new(
            producer=self.producer, caused_by=request, account_id=request.account_id,
            marketplace_id=request.marketplace_id, amazon_order_id=request.amazon_order_id, action=action,
            request_event_id=request.event_id, accepted=not any(i.severity == "ERROR" for i in issues),
            feed_id=feed_id, issues=issues)


async def replay_failed(pool: asyncpg.Pool, account_id: str | None = None) -> int:
    """Failed actions back to work: a cancellation whose feed was submitted reads that feed again, the rest resend."""
    status = await pool.execute(
        "UPDATE order_actions SET status = CASE WHEN feed_id IS NULL THEN 'pending' ELSE 'submitted' END, "
        "check_after = now(), updated_at = now() WHERE status = 'failed' AND ($1::text IS NULL OR account_id = $1)",
        account_id)
    return int(status.split()[-1])


def attach(service: Any, client: SpApiClient) -> OrderActionSender:
    """Consume shipment confirmations and cancellations; send them in the background."""
    from contracts import topics

    s = service.settings
    sender = OrderActionSender(pool=None, schema=service.schema, producer=service.name, client=client,
                               batch_size=s.order_action_batch_size, idle_s=s.order_action_idle_s,
                               feed_check_s=s.order_feed_check_s)

    async def run() -> None:
        sender.pool = service.pool
        await sender.run()

    service.subscribe(topics.SHIPMENT_CONFIRMATIONS, on_shipment_confirmations)
    service.subscribe(topics.ORDER_CANCELLATIONS, on_order_cancellations)
    service.background("order-action-sender", run)
    service.order_action_sender = sender
    return sender

