"""Outbound order actions: shipment confirmations (confirmShipment) and cancellations (acknowledgement feed).

The consumers only store each request in `order_actions`. A sender then works the open rows, claiming
them in a short transaction, calling Amazon outside any and recording in a second one (a claim whose
sender died expires and the rows go back to pending):

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
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg
from prometheus_client import Counter

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

ORDER_ACTIONS = Counter(
    "saleschannel_amazon_order_actions_total", "Shipment confirmations and cancellations answered, by action and "
    "outcome (accepted, rejected, failed)", ["service", "action", "outcome"])

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
    """Claims open rows in a short transaction, talks to Amazon outside any, records what came of them in another.

    A row is recorded only while it is still under this sender's claim, so a sender whose claim ran out
    (and was taken over) writes nothing, and every request is answered once.
    """

    def __init__(
        self, *, pool: asyncpg.Pool | None, schema: str, producer: str, client: SpApiClient,
        batch_size: int = 100, concurrency: int = 4, idle_s: float = 0.5, feed_check_s: float = 30.0,
        lease_s: float = 300.0,
    ) -> None:
        self.pool: Any = pool  # set by the service once it has started
        self.schema = schema
        self.producer = producer
        self.client = client
        self.batch_size = batch_size
        self.idle_s = idle_s
        self.feed_check = timedelta(seconds=feed_check_s)
        self.lease = timedelta(seconds=lease_s)
        self._slots = asyncio.Semaphore(concurrency)

    async def run(self) -> None:
        """Work open rows for the service's lifetime; nothing Amazon answers stops it."""
        while True:
            try:
                await self.reclaim_expired()
                worked = await self.confirm_once() + await self.cancel_once() + await self.check_feeds_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: try again shortly
                log.warning("order_action_sender_failed", error=repr(exc))
                worked = 0
            if not worked:
                await asyncio.sleep(self.idle_s)

    async def reclaim_expired(self) -> int:
        """Rows whose sender died mid-call go back to pending (the calls are safe to repeat: see domain.orders)."""
        status = await self.pool.execute(
            "UPDATE order_actions SET status = 'pending', claim = NULL, updated_at = now() "
            "WHERE status = 'sending' AND claimed_until < now()")
        return int(status.split()[-1])

    async def _claim(self, conn: asyncpg.Connection, claim: uuid.UUID, where: str, *args: Any) -> list[asyncpg.Record]:
        return await conn.fetch(
            "UPDATE order_actions SET status = 'sending', claim = $1, claimed_until = now() + $2::interval, "
            "updated_at = now() WHERE request_id IN (SELECT request_id FROM order_actions WHERE status = 'pending' "
            f"AND {where} ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING request_id, request",
            claim, self.lease, self.batch_size, *args)

    # ------------------------------------------------------------ confirmShipment

    async def confirm_once(self) -> int:
        claim = uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await self._claim(conn, claim, "action = $4", CONFIRM)
        if not rows:
            return 0
        requests: list[ShipmentConfirmRequested] = [decode(r["request"], {"ShipmentConfirmRequested"})
                                                    for r in rows]  # type: ignore[misc]
        outcomes = await asyncio.gather(*(self._confirm(r) for r in requests))
        async with self.pool.acquire() as conn, conn.transaction():
            events = [await self._settle(conn, claim, request, CONFIRM, issues, failure)
                      for request, (issues, failure) in zip(requests, outcomes, strict=True)]
            await outbox.write(conn, self.schema, [e for e in events if e is not None])
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
        """Send the pending cancellations of one account and marketplace (the oldest waiting) as one feed."""
        claim = uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            head = await conn.fetchrow(
                "SELECT account_id, marketplace_id FROM order_actions WHERE status = 'pending' AND action = $1 "
                "ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED", CANCEL)
            if head is None:
                return 0
            rows = await self._claim(conn, claim, "action = $4 AND account_id = $5 AND marketplace_id = $6",
                                     CANCEL, head["account_id"], head["marketplace_id"])
        requests: list[OrderCancelRequested] = [decode(r["request"], {"OrderCancelRequested"})
                                                for r in rows]  # type: ignore[misc]
        answered: list[tuple[OrderCancelRequested, list[AmazonIssue], dict[str, Any] | None]] = []
        messages: list[tuple[OrderCancelRequested, domain.Cancellation]] = []
        for request in requests:
            try:
                items = await self.client.get_order_items(request.account_id, request.amazon_order_id)
            except AmazonCallFailed as exc:
                answered.append((request, *self._refusal_or_failure(exc)))
                continue
            item_ids = [str(i["OrderItemId"]) for i in items if i.get("OrderItemId")]
            if not item_ids:
                answered.append((request, domain.rejection(
                    "InvalidRequest", f"order {request.amazon_order_id} has no items to cancel"), None))
                continue
            messages.append((request, domain.Cancellation.of(len(messages) + 1, request, item_ids)))
        feed_id: str | None = None
        if messages:
            feed_id, issues, failure = await self._submit(head["account_id"], head["marketplace_id"],
                                                          [m for _, m in messages])
            if feed_id is None:
                answered += [(r, issues, failure) for r, _ in messages]
        async with self.pool.acquire() as conn, conn.transaction():
            events = [await self._settle(conn, claim, r, CANCEL, issues, failure) for r, issues, failure in answered]
            if feed_id is not None:
                await conn.execute(
                    "UPDATE order_actions AS a SET status = 'submitted', feed_id = $1, message_id = u.m, claim = NULL, "
                    "attempts = attempts + 1, check_after = now() + $4::interval, updated_at = now() "
                    "FROM unnest($2::uuid[], $3::int[]) AS u(id, m) WHERE a.request_id = u.id AND a.claim = $5",
                    feed_id, [r.event_id for r, _ in messages], [m.message_id for _, m in messages], self.feed_check,
                    claim)
                log.info("cancellation_feed_submitted", account_id=head["account_id"],
                         marketplace_id=head["marketplace_id"], feed_id=feed_id, orders=len(messages))
            await outbox.write(conn, self.schema, [e for e in events if e is not None])
        return len(rows)

    async def _submit(self, account_id: str, marketplace_id: str, messages: list[domain.Cancellation]
                      ) -> tuple[str | None, list[AmazonIssue], dict[str, Any] | None]:
        """The feed id, or why there is none: Amazon's refusal (issues) or the failure to reach it."""
        content = domain.cancellation_feed(self.client.account(account_id).seller_id, messages)
        try:
            document_id, url = await self.client.create_feed_document(account_id, domain.ACKNOWLEDGEMENT_CONTENT_TYPE)
            await self.client.upload_feed_document(url, content, domain.ACKNOWLEDGEMENT_CONTENT_TYPE)
            feed_id = await self.client.create_feed(account_id, domain.ACKNOWLEDGEMENT_FEED, [marketplace_id],
                                                    document_id)
        except AmazonCallFailed as exc:
            return None, *self._refusal_or_failure(exc)
        except ValueError as exc:  # an answer without the ids we need
            return None, [], {"operation": "createFeed", "code": "UnexpectedResponse", "attempts": 1,
                              "message": redact(str(exc))}
        return feed_id, [], None

    async def check_feeds_once(self) -> int:
        """Read the outcome of one submitted feed that is due for a look."""
        claim = uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            head = await conn.fetchrow(
                "SELECT account_id, feed_id FROM order_actions WHERE status = 'submitted' AND check_after <= now() "
                "ORDER BY check_after LIMIT 1 FOR UPDATE SKIP LOCKED")
            if head is None:
                return 0
            rows = await conn.fetch(
                "UPDATE order_actions SET claim = $1, check_after = now() + $2::interval WHERE feed_id = $3 "
                "AND status = 'submitted' RETURNING request_id, request, message_id",
                claim, self.lease, head["feed_id"])
        account_id, feed_id = head["account_id"], head["feed_id"]
        requests: list[tuple[OrderCancelRequested, int]] = [
            (decode(r["request"], {"OrderCancelRequested"}), r["message_id"]) for r in rows]  # type: ignore[misc]
        outcomes = await self._feed_outcome(account_id, feed_id, requests)
        async with self.pool.acquire() as conn, conn.transaction():
            if outcomes is None:  # still queued or in progress: look again later
                await conn.execute("UPDATE order_actions SET check_after = now() + $3::interval "
                                   "WHERE feed_id = $1 AND status = 'submitted' AND claim = $2",
                                   feed_id, claim, self.feed_check)
                return 0
            events = [await self._settle(conn, claim, request, CANCEL, issues, failure)
                      for (request, _), (issues, failure) in zip(requests, outcomes, strict=True)]
            await outbox.write(conn, self.schema, [e for e in events if e is not None])
        return len(rows)

    async def _feed_outcome(self, account_id: str, feed_id: str, requests: list[tuple[OrderCancelRequested, int]]
                            ) -> list[tuple[list[AmazonIssue], dict[str, Any] | None]] | None:
        """Per request, Amazon's verdict from the processing report (or the failure to get it); None while running."""
        try:
            feed = await self.client.get_feed(account_id, feed_id)
            status = feed.get("processingStatus")
            if status not in FEED_DONE:
                return None
            report = None
            if feed.get("resultFeedDocumentId"):
                document = await self.client.get_feed_document(account_id, str(feed["resultFeedDocumentId"]))
                report = domain.parse_processing_report(await self.client.download_feed_document(document))
        except AmazonCallFailed as exc:
            return [([], exc.fields)] * len(requests)
        except (domain.UnreadableReport, ValueError) as exc:
            failure = {"operation": "getFeedDocument", "code": "UnreadableReport", "attempts": 1,
                       "message": redact(str(exc))}
            return [([], failure)] * len(requests)
        outcomes: list[tuple[list[AmazonIssue], dict[str, Any] | None]] = []
        for _, message_id in requests:
            if status == "CANCELLED":
                issues = domain.rejection("FeedCancelled", f"feed {feed_id} was cancelled")
            elif report is None:
                issues = domain.rejection("NoProcessingReport", f"feed {feed_id} ended {status} without a report")
            else:
                issues = report.outcome(message_id, fatal=status == "FATAL")
            outcomes.append((issues, None))
        return outcomes

    # ------------------------------------------------------------ recording

    async def _settle(self, conn: asyncpg.Connection, claim: uuid.UUID,
                      request: ShipmentConfirmRequested | OrderCancelRequested, action: str,
                      issues: list[AmazonIssue], failure: dict[str, Any] | None) -> Event | None:
        """The row's new status and the one event that answers it (OrderActionResult or CommunicationError);
        None when the row is no longer under this claim (another sender answers it)."""
        status = "failed" if failure is not None else "done"
        note = f"{failure['code']}: {failure['message']}" if failure is not None else (
            "; ".join(f"{i.code}: {i.message}" for i in issues) or None)
        row = await conn.fetchrow(
            "UPDATE order_actions SET status = $3, claim = NULL, attempts = attempts + 1, last_error = $4, "
            "updated_at = now() WHERE request_id = $1 AND claim = $2 RETURNING feed_id",
            request.event_id, claim, status, note)
        if row is None:
            return None
        outcome = "failed" if failure is not None else (
            "rejected" if any(i.severity == "ERROR" for i in issues) else "accepted")
        ORDER_ACTIONS.labels(self.producer, action, outcome).inc()
        if failure is not None:
            account = self.client.accounts.get(request.account_id)
            log.warning("order_action_failed", account_id=request.account_id, order=request.amazon_order_id,
                        action=action, operation=failure["operation"], code=failure["code"])
            return CommunicationError.new(
                producer=self.producer, caused_by=request, system="amazon", account_id=request.account_id,
                marketplace_id=request.marketplace_id, region=account.region if account else None,
                operation=failure["operation"], code=failure["code"], message=failure["message"],
                attempts=failure["attempts"], request_ref=str(request.event_id))
        return OrderActionResult.new(
            producer=self.producer, caused_by=request, account_id=request.account_id,
            marketplace_id=request.marketplace_id, amazon_order_id=request.amazon_order_id, action=action,
            request_event_id=request.event_id, accepted=not any(i.severity == "ERROR" for i in issues),
            feed_id=row["feed_id"], issues=issues)


async def replay_failed(pool: asyncpg.Pool, account_id: str | None = None) -> int:
    """Failed actions back to work: a cancellation whose feed was submitted reads that feed again, the rest resend."""
    status = await pool.execute(
        "UPDATE order_actions SET status = CASE WHEN feed_id IS NULL THEN 'pending' ELSE 'submitted' END, "
        "claim = NULL, check_after = now(), updated_at = now() "
        "WHERE status = 'failed' AND ($1::text IS NULL OR account_id = $1)",
        account_id)
    return int(status.split()[-1])


def attach(service: Any, client: SpApiClient) -> OrderActionSender:
    """Consume shipment confirmations and cancellations; send them in the background."""
    from contracts import topics

    s = service.settings
    sender = OrderActionSender(pool=None, schema=service.schema, producer=service.name, client=client,
                               batch_size=s.order_action_batch_size, idle_s=s.order_action_idle_s,
                               feed_check_s=s.order_feed_check_s, lease_s=s.order_action_lease_s)

    async def run() -> None:
        sender.pool = service.pool
        await sender.run()

    service.subscribe(topics.SHIPMENT_CONFIRMATIONS, on_shipment_confirmations)
    service.subscribe(topics.ORDER_CANCELLATIONS, on_order_cancellations)
    service.background("order-action-sender", run)
    service.order_action_sender = sender
    return sender

