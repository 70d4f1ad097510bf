"""Inbound SP-API notifications: a batch of raw bodies in, events out through the outbox, once each.

Whatever delivers the bodies (the SQS reader, or `POST /notifications` for pushes) hands them to
`NotificationProcessor.process`, which reads them with the pure `domain.notifications` and, in
one transaction per batch:

- records each NotificationId in `notifications_seen` (`ON CONFLICT DO NOTHING RETURNING`), and
  writes the events only of the ones not seen before, so a redelivered notification emits nothing;
- keeps every body that cannot be read, or whose values fail the domain's checks, in
  `notifications_rejected` and reports it once as a CommunicationError (operation
  `notification:<type>`). Every body is checked before deduplication, so a body reusing a seen
  NotificationId with values that fail is rejected, not answered as a duplicate.

Only after that commit may the deliverer acknowledge (delete the SQS messages). ORDER_CHANGE emits
no event: it wakes the order poller for its account, when the service has one.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter

from amazon_gateway.accounts import AmazonAccount
from amazon_gateway.client import AmazonCallFailed, SpApiClient
from amazon_gateway.domain import notifications as domain
from amazon_gateway.domain.notifications import (
    IssuesChange,
    NotificationRejected,
    OrderChange,
    SellerAccount,
    Sellers,
)
from amazon_gateway.domain.retry import redact
from amazon_gateway.sqs import QueueSettings, SqsReader
from contracts import Event
from contracts.events import CommunicationError
from servicekit import audit, outbox
from servicekit.auth import Principal, Scope, requires
from servicekit.logging import get_logger
from servicekit.problems import problem_response

log = get_logger(component="notifications")

NOTIFICATIONS = Counter(
    "saleschannel_amazon_notifications_total",
    "SP-API notifications received, by type and outcome (emitted, duplicate, rejected)",
    ["service", "type", "outcome"],
)
ORDER_CHANGES = Counter(
    "saleschannel_amazon_order_change_notifications_total",
    "ORDER_CHANGE notifications that woke the order poller (or would have, without one)",
    ["service", "account_id"],
)
ISSUES_INCLUDED = "summaries,issues"
UNEXPECTED = "UnexpectedNotification"


@dataclass(slots=True)
class _Read:
    """One body, read: its events (or the order to wake), or why it was rejected."""

    body: bytes
    notification: domain.Notification | None = None
    events: list[Event] = field(default_factory=list)
    order: OrderChange | None = None
    issues: IssuesChange | None = None
    rejected: NotificationRejected | None = None
    operation: str | None = None  # the Amazon call that failed, when that is why it was rejected
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one body: `emitted`, `duplicate` or `rejected` (then with the code and kept row)."""

    outcome: str
    notification_type: str | None = None
    notification_id: str | None = None
    code: str | None = None
    message: str | None = None
    kept_id: int | None = None


def sellers_of(accounts: Mapping[str, AmazonAccount]) -> Sellers:
    return Sellers(SellerAccount(a.account_id, a.seller_id, tuple(a.marketplace_ids)) for a in accounts.values())


class NotificationProcessor:
    def __init__(self, *, pool: Callable[[], asyncpg.Pool | None], schema: str, producer: str,
                 client: SpApiClient, wake_orders: Callable[[str], Any] | None = None) -> None:
        self._pool = pool
        self.schema = schema
        self.producer = producer
        self.client = client
        self.sellers = sellers_of(client.accounts)
        self.wake_orders = wake_orders
        self._wakes: set[asyncio.Future[Any]] = set()

    def pool(self) -> asyncpg.Pool:
        pool = self._pool()
        if pool is None:
            raise RuntimeError("the service is not started")
        return pool

    # ------------------------------------------------------------ reading

    def read(self, body: bytes, received_at: datetime | None = None) -> _Read:
        """Parse, check and map one body (a copy of a notification already seen is checked all the same);
        never raises for anything the body contains. Times in it may not lie beyond `received_at` (now)."""
        read = _Read(body)
        try:
            notification = read.notification = domain.parse(body, received_at or datetime.now(UTC))
            kind = notification.notification_type
            if kind == domain.ANY_OFFER_CHANGED:
                read.events.append(domain.offer_price_observed(notification, self.sellers, self.producer))
            elif kind == domain.LISTINGS_ITEM_STATUS_CHANGE:
                read.events.append(domain.listing_status_observed(notification, self.sellers, self.producer))
            elif kind == domain.LISTINGS_ITEM_ISSUES_CHANGE:
                read.issues = domain.issues_change(notification, self.sellers)
            elif kind == domain.ORDER_CHANGE:
                read.order = domain.order_change(notification, self.sellers)
            else:
                raise domain.unsupported(notification)
        except NotificationRejected as exc:
            read.rejected = exc
        except Exception as exc:  # a notification this code cannot handle is kept and reported, never looped on
            log.exception("notification_unreadable")
            kind = read.notification.notification_type if read.notification else None
            read.rejected = NotificationRejected(UNEXPECTED, redact(f"{type(exc).__name__}: {exc}"),
                                                 notification_type=kind)
        return read

    async def _complete_issues(self, read: _Read) -> None:
        """An issues notification names no issues: read them (and the status) from the listing."""
        assert read.issues is not None
        ref = read.issues.listing
        try:
            item = await self.client.get_listings_item(ref.account_id, ref.marketplace_id, ref.sku,
                                                       included_data=ISSUES_INCLUDED)
            read.events.append(domain.listing_issues_observed(read.issues, item, self.producer))
        except AmazonCallFailed as exc:
            f = exc.fields
            read.rejected = NotificationRejected(
                str(f["code"]), f"getListingsItem for the issues of {ref.sku} failed: {f['message']}",
                notification_type=domain.LISTINGS_ITEM_ISSUES_CHANGE,
                notification_id=read.issues.notification.notification_id, account_id=ref.account_id,
                marketplace_id=ref.marketplace_id)
            read.operation = str(f["operation"])
            read.attempts = int(f["attempts"])
        except Exception as exc:  # an answer we cannot read: keep the notification for replay
            read.rejected = NotificationRejected(
                UNEXPECTED, redact(f"getListingsItem for the issues of {ref.sku}: {type(exc).__name__}: {exc}"),
                notification_type=domain.LISTINGS_ITEM_ISSUES_CHANGE, account_id=ref.account_id,
                marketplace_id=ref.marketplace_id)
            read.operation = "getListingsItem"

    # ------------------------------------------------------------ recording

    async def process(self, bodies: Sequence[bytes], source: str) -> list[Outcome]:
        """Read, dedup and record a batch in one transaction; raises only when the database fails,
        in which case nothing was recorded and the batch must be delivered again."""
        received_at = datetime.now(UTC)
        reads = [self.read(body, received_at) for body in bodies]
        pending: dict[str, _Read] = {}
        for read in reads:  # the first copy of a notification is the one recorded (see _first_sightings)
            if read.issues is not None and read.rejected is None:
                pending.setdefault(read.issues.notification.notification_id, read)
        if pending:  # a copy of one already handled needs no call to Amazon: it will be a duplicate
            known = await self._seen_before(list(pending))
            await asyncio.gather(*(self._complete_issues(r) for i, r in pending.items() if i not in known))
        async with self.pool().acquire() as conn, conn.transaction():
            fresh = await self._first_sightings(conn, [r for r in reads if r.rejected is None])
            kept = await self._keep_rejected(conn, [r for r in reads if r.rejected is not None], source)
            events: list[Event] = []
            for read in reads:
                if read.rejected is None and id(read) in fresh:
                    events.extend(read.events)
                elif read.rejected is not None and id(read) in kept:
                    events.append(self._error(read, kept[id(read)]))
            await outbox.write(conn, self.schema, events)
        return self._after_commit(reads, fresh, kept)

    async def _seen_before(self, ids: list[str]) -> set[str]:
        rows = await self.pool().fetch(
            "SELECT notification_id FROM notifications_seen WHERE notification_id = ANY($1::text[])", ids)
        return {r["notification_id"] for r in rows}

    async def _first_sightings(self, conn: asyncpg.Connection, reads: list[_Read]) -> set[int]:
        """The reads whose NotificationId was not seen before (a copy later in the same batch is a duplicate)."""
        first: dict[str, _Read] = {}
        for read in reads:
            assert read.notification is not None
            first.setdefault(read.notification.notification_id, read)
        if not first:
            return set()
        ids = list(first)
        rows = await conn.fetch(
            "INSERT INTO notifications_seen (notification_id, notification_type, account_id) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) "
            "ON CONFLICT (notification_id) DO NOTHING RETURNING notification_id",
            ids, [first[i].notification.notification_type for i in ids],  # type: ignore[union-attr]
            [_account_of(first[i]) for i in ids])
        return {id(first[r["notification_id"]]) for r in rows}

    async def _keep_rejected(self, conn: asyncpg.Connection, reads: list[_Read], source: str) -> dict[int, int]:
        """Keep each rejected body (once per distinct body); returns the kept row id of the ones new here."""
        by_hash: dict[bytes, _Read] = {}
        for read in reads:
            by_hash.setdefault(hashlib.sha256(read.body).digest(), read)
        if not by_hash:
            return {}
        hashes = list(by_hash)
        rej = [by_hash[h].rejected for h in hashes]
        rows = await conn.fetch(
            "INSERT INTO notifications_rejected "
            "(body_sha256, body, source, notification_type, notification_id, account_id, code, message) "
            "SELECT h, b, $3, t, n, a, c, m FROM unnest($1::bytea[], $2::bytea[], $4::text[], $5::text[], "
            "$6::text[], $7::text[], $8::text[]) AS u(h, b, t, n, a, c, m) "
            "ON CONFLICT (body_sha256) DO NOTHING RETURNING id, body_sha256",
            hashes, [by_hash[h].body for h in hashes], source,
            [r.notification_type for r in rej], [r.notification_id for r in rej],  # type: ignore[union-attr]
            [r.account_id for r in rej], [r.code for r in rej], [r.message for r in rej])  # type: ignore[union-attr]
        return {id(by_hash[bytes(r["body_sha256"])]): r["id"] for r in rows}

    def _error(self, read: _Read, kept_id: int) -> CommunicationError:
        rejected = read.rejected
        assert rejected is not None
        kind = rejected.notification_type or "unknown"
        account = self.client.accounts.get(rejected.account_id) if rejected.account_id else None
        return CommunicationError.new(
            producer=self.producer, system="amazon", account_id=rejected.account_id,
            marketplace_id=rejected.marketplace_id, region=account.region if account else None,
            operation=read.operation or f"notification:{kind}", code=rejected.code,
            message=rejected.message[:2000], attempts=read.attempts, request_ref=f"notifications_rejected:{kept_id}")

    def _after_commit(self, reads: list[_Read], fresh: set[int], kept: dict[int, int]) -> list[Outcome]:
        outcomes = []
        for read in reads:
            n = read.notification
            kind = n.notification_type if n else None
            if read.rejected is not None:
                r = read.rejected
                outcomes.append(Outcome("rejected", r.notification_type or kind, r.notification_id, r.code,
                                        r.message, kept.get(id(read))))
                log.warning("notification_rejected", notification_type=r.notification_type, code=r.code,
                            reason=r.message, kept_id=kept.get(id(read)))
            elif id(read) in fresh:
                outcomes.append(Outcome("emitted", kind, n.notification_id if n else None))
                if read.order is not None:
                    self._wake(read.order)
            else:
                outcomes.append(Outcome("duplicate", kind, n.notification_id if n else None))
            NOTIFICATIONS.labels(self.producer, outcomes[-1].notification_type or "unknown",
                                 outcomes[-1].outcome).inc()
        return outcomes

    def _wake(self, order: OrderChange) -> None:
        ORDER_CHANGES.labels(self.producer, order.account_id).inc()
        if self.wake_orders is None:
            return
        try:
            woken = self.wake_orders(order.account_id)
            if inspect.isawaitable(woken):
                task = asyncio.ensure_future(woken)
                self._wakes.add(task)
                task.add_done_callback(self._wakes.discard)
        except Exception as exc:  # the poller's sweep catches the order anyway
            log.warning("order_poller_wake_failed", account_id=order.account_id, error=repr(exc))


def _account_of(read: _Read) -> str | None:
    for event in read.events:
        return getattr(event, "account_id", None)
    if read.order is not None:
        return read.order.account_id
    return read.issues.listing.account_id if read.issues is not None else None


async def replay_rejected(processor: NotificationProcessor, code: str | None = None,
                          limit: int = 1000) -> dict[str, int]:
    """Process kept bodies again (after a fix: an account added, Amazon reachable again); the ones that now
    go through leave `notifications_rejected`. Safe to repeat: a replayed notification emits only once."""
    pool = processor.pool()
    rows = await pool.fetch("SELECT id, body FROM notifications_rejected WHERE $1::text IS NULL OR code = $1 "
                            "ORDER BY id LIMIT $2", code, limit)
    done: list[int] = []
    for start in range(0, len(rows), 10):
        chunk = rows[start:start + 10]
        outcomes = await processor.process([bytes(r["body"]) for r in chunk], "replay")
        done += [r["id"] for r, o in zip(chunk, outcomes, strict=True) if o.outcome != "rejected"]
    if done:
        await pool.execute("DELETE FROM notifications_rejected WHERE id = ANY($1::bigint[])", done)
    return {"replayed": len(done), "still_rejected": len(rows) - len(done)}


async def prune_seen(pool: asyncpg.Pool, retention_days: float) -> int:
    """Forget NotificationIds older than the retention: Amazon does not redeliver that late."""
    status = await pool.execute("DELETE FROM notifications_seen WHERE received_at < now() - make_interval(secs => $1)",
                                retention_days * 86400)
    return int(status.split()[-1])


def order_poller_waker(service: object) -> Callable[[str], Any]:
    """`service.order_poller.wake(account_id)`, looked up at call time: the poller is optional."""
    def wake(account_id: str) -> Any:
        poller = getattr(service, "order_poller", None)
        if poller is not None:
            return poller.wake(account_id)
        return None
    return wake


NOTIFICATION_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["NotificationType", "NotificationMetadata", "Payload"],
    "description": "An SP-API notification as Amazon delivers it (NotificationVersion 1.0 or 2023-12-13)",
    "properties": {"NotificationType": {"type": "string", "enum": [
                       "ANY_OFFER_CHANGED", "LISTINGS_ITEM_STATUS_CHANGE", "LISTINGS_ITEM_ISSUES_CHANGE",
                       "ORDER_CHANGE"]},
                   "NotificationVersion": {"type": "string"}, "PayloadVersion": {"type": "string"},
                   "EventTime": {"type": "string", "format": "date-time"},
                   "NotificationMetadata": {"type": "object"}, "Payload": {"type": "object"}}}}}}}


def router(processor: NotificationProcessor, service: Any) -> APIRouter:
    api = APIRouter(tags=["notifications"])

    @api.post("/notifications", dependencies=[requires(Scope.INGEST)], openapi_extra=NOTIFICATION_BODY, responses={
        400: {"description": "The notification cannot be handled; `code`, `detail` and `keptId` say why and "
                             "under which id the body is kept"}})
    async def push(request: Request) -> JSONResponse:
        """One notification pushed over HTTP (the simulator's push mode), processed like an SQS message. The
        sender needs a token with the `ingest` scope.

        200 when its events were recorded (or it was a duplicate); 400 when it cannot be read, with the
        reason and the id under which the body is kept."""
        outcome = (await processor.process([await request.body()], "http"))[0]
        body = {k: v for k, v in {
            "outcome": outcome.outcome, "notificationType": outcome.notification_type,
            "notificationId": outcome.notification_id, "code": outcome.code, "message": outcome.message,
            "keptId": outcome.kept_id}.items() if v is not None}
        if outcome.outcome == "rejected":
            return problem_response(400, outcome.message or "the notification cannot be handled",
                                    instance=request.url.path, extensions=body)
        return JSONResponse(body, 200)

    @api.post("/notifications/replay")
    async def replay(code: str | None = Query(None, min_length=1, max_length=200),
                     caller: Principal = requires(Scope.OPERATE)) -> dict[str, int]:
        """Process the kept (rejected) notifications again, optionally only those rejected with `code`."""
        result = await replay_rejected(processor, code)
        async def work(conn: Any) -> dict[str, Any]:
            return dict(result)
        await audit.act(service, caller, "replay.notifications", f"notifications {code or '*'}", work)
        return result

    return api


def attach(service: Any, client: SpApiClient) -> NotificationProcessor:
    """Wire notifications into a gateway: the push route always, the SQS reader when a queue is configured."""
    s = service.settings
    processor = NotificationProcessor(pool=lambda: service.pool, schema=service.schema, producer=service.name,
                                      client=client, wake_orders=order_poller_waker(service))
    service.include_router(router(processor, service))
    service.notifications = processor

    async def prune() -> None:
        while True:
            pool = service.pool
            try:
                if pool is not None and (pruned := await prune_seen(pool, s.inbox_retention_days)):
                    log.info("notifications_seen_pruned", rows=pruned)
            except Exception as exc:  # tried again at the next interval
                log.warning("notifications_prune_failed", error=repr(exc))
            await asyncio.sleep(s.inbox_prune_interval_s)

    service.background("notifications-prune", prune)
    if s.notifications_sqs_queue_url:
        secret = s.notifications_sqs_secret_access_key
        reader = SqsReader(QueueSettings(
            queue_url=s.notifications_sqs_queue_url, region=s.notifications_sqs_region,
            endpoint_url=s.notifications_sqs_endpoint_url, access_key_id=s.notifications_sqs_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None, wait_s=s.notifications_sqs_wait_s,
            visibility_timeout_s=s.notifications_sqs_visibility_timeout_s), processor.process)
        service.notifications_reader = reader
        service.background("notifications-sqs", reader.run)
    return processor
