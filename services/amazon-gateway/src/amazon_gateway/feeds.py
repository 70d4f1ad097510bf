"""Large backlogs as JSON_LISTINGS_FEEDs: submit, poll, read the processing report, check, record.

The sender's claim builds the feed document and stores it in `listing_feeds` with the request
each message carries, in the same transaction that marks the rows in flight. A `FeedRunner` then
takes the feed from there, writing down each step, so a sender that dies mid-feed is replaced by one
that continues where it stopped: a feed not yet submitted is submitted (the stored document,
unchanged), a submitted one is polled again; neither is lost nor built anew.

One gap remains: if the process dies after Amazon created the feed but before its feedId was
stored, the stored document is submitted a second time. Both copies carry the same values and the
listings stay locked until the second one is recorded, so the outcome is the same values applied
twice.

After the feed is DONE, each message's outcome comes from the processing report. The document asks
for the listings in the report (`header.report.includedData`), so checking that an accepted price
or quantity was really applied costs no extra call; listings the report leaves out are read back
with searchListingsItems, 20 SKUs a call. Unapplied updates go back to pending and are sent again
(newest-wins still decides what), up to `verify_attempts` sends, then a CommunicationError.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from amazon_gateway.client import SEARCH_MAX_IDENTIFIERS, AmazonCallFailed
from amazon_gateway.domain import payloads
from amazon_gateway.domain.coalesce import PendingUpdate
from amazon_gateway.domain.retry import redact
from contracts import Event, decode
from contracts.events import CommunicationError, ListingUpdateRequested
from servicekit import outbox
from servicekit.logging import get_logger

if TYPE_CHECKING:
    from amazon_gateway.outbound import Sender

log = get_logger(component="feeds")

FEED_TYPE = "JSON_LISTINGS_FEED"
CONTENT_TYPE = "application/json; charset=UTF-8"
FINISHED = ("DONE", "FATAL", "CANCELLED")
UNREADABLE_REPORT = "UnreadableReport"
NOT_APPLIED_CODE = "NotApplied"


@dataclass(frozen=True)
class StoredFeed:
    """A feed as `listing_feeds` keeps it, with the updates its messages carry."""

    id: int
    account_id: str
    marketplace_id: str
    status: str
    amazon_feed_id: str | None
    document: bytes
    updates_by_message: dict[int, PendingUpdate]
    sends: dict[uuid.UUID, int]

    @property
    def updates(self) -> list[PendingUpdate]:
        return list(self.updates_by_message.values())

    def submitted(self) -> payloads.FeedDocument:
        return payloads.FeedDocument(json.loads(self.document), self.updates_by_message)


def rebuild_messages(messages: dict[str, dict[str, str]], requests: dict[str, ListingUpdateRequested],
                     ) -> dict[int, PendingUpdate]:
    """Message id -> the update it carries, from the stored map and the requests still in flight."""
    out: dict[int, PendingUpdate] = {}
    for message_id, fields in messages.items():
        held = {name: requests[rid] for name, rid in fields.items() if rid in requests}
        if held:
            first = next(iter(held.values()))
            out[int(message_id)] = PendingUpdate((first.account_id, first.marketplace_id, first.sku), held)
    return out


def resend_or_fail(sends: int, verify_attempts: int) -> str:
    """What to do with an update Amazon accepted but did not apply, after `sends` sends."""
    return "failed" if sends >= verify_attempts else "pending"


def not_applied(operation: str, attempts: int) -> dict[str, Any]:
    return {"operation": operation, "code": NOT_APPLIED_CODE, "attempts": attempts,
            "message": f"Amazon accepted the update {attempts} times but did not apply it"}


async def record_sent_fields(conn: asyncpg.Connection, updates: Sequence[PendingUpdate]) -> None:
    """Remember per listing field the newest request sent, so an older one arriving later is never sent."""
    rows = [(*u.key, name, r.requested_at) for u in updates for name, r in u.fields.items()]
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    await conn.execute(
        """
        INSERT INTO sent_fields AS s (account_id, marketplace_id, sku, field, requested_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
        ON CONFLICT (account_id, marketplace_id, sku, field)
        DO UPDATE SET requested_at = greatest(s.requested_at, EXCLUDED.requested_at)
        """, *[list(c) for c in columns])


class FeedRunner:
    def __init__(self, sender: Sender, *, poll_s: float, poll_max_s: float) -> None:
        self.sender = sender
        self.poll_s = poll_s
        self.poll_max_s = max(poll_s, poll_max_s)

    @property
    def client(self) -> Any:
        return self.sender.client

    async def run(self, feed_id: int, stored: StoredFeed | None = None) -> None:
        """Take one feed to its end (`stored`: the feed just built, not read back); on a surprise, let it go
        so it is adopted again after the lease."""
        try:
            await self._run(feed_id, stored)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("feed_step_failed", feed_id=feed_id, error=redact(repr(exc)))
            async with self.sender.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE listing_feeds SET claim = NULL, claimed_at = now(), last_error = $3, updated_at = now() "
                    "WHERE id = $1 AND claim = $2", feed_id, self.sender.instance, redact(repr(exc))[:500])

    async def _run(self, feed_id: int, stored: StoredFeed | None) -> None:
        feed = stored or await self.load(feed_id)
        if feed is None:
            return
        if not feed.updates_by_message:
            await self._close(feed.id, "done")
            return
        amazon_id = feed.amazon_feed_id
        if feed.status == "new":
            amazon_id = await self._submit(feed)
            if amazon_id is None:
                return
        assert amazon_id is not None
        status = await self._poll(feed, amazon_id)
        if status.get("processingStatus") == "CANCELLED":
            await self._requeue_all(feed)
            return
        report = await self._report(feed, status)
        if report is None:
            return
        parsed = payloads.parse_processing_report(report, feed.submitted())
        unapplied = await self._verify(feed, parsed, report)
        await self._record(feed, amazon_id, status, parsed, unapplied)

    async def load(self, feed_id: int) -> StoredFeed | None:
        async with self.sender.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM listing_feeds WHERE id = $1 AND claim = $2 AND status IN ('new', 'submitted')",
                feed_id, self.sender.instance)
            if row is None:
                return None
            rows = await conn.fetch(
                "SELECT request_id, request, attempts FROM pending_updates WHERE feed_id = $1 AND status = 'in_flight'",
                feed_id)
        requests = {str(r["request_id"]): decode(r["request"], {"ListingUpdateRequested"}) for r in rows}
        messages = json.loads(row["messages"])
        return StoredFeed(
            row["id"], row["account_id"], row["marketplace_id"], row["status"], row["amazon_feed_id"],
            bytes(row["document"]), rebuild_messages(messages, requests),  # type: ignore[arg-type]
            {r["request_id"]: r["attempts"] for r in rows})

    # ------------------------------------------------------------ submitting and polling

    async def _submit(self, feed: StoredFeed) -> str | None:
        account = feed.account_id
        try:
            document_id, url = await self.client.create_feed_document(account, CONTENT_TYPE)
            await self.client.upload_feed_document(url, feed.document, CONTENT_TYPE)
            amazon_id: str = await self.client.create_feed(account, FEED_TYPE, [feed.marketplace_id], document_id)
        except AmazonCallFailed as exc:
            await self._fail_all(feed, exc.fields)
            return None
        async with self.sender.pool.acquire() as conn:
            await conn.execute(
                "UPDATE listing_feeds SET status = 'submitted', amazon_feed_id = $3, submitted_at = now(), "
                "updated_at = now() WHERE id = $1 AND claim = $2", feed.id, self.sender.instance, amazon_id)
        log.info("feed_submitted", feed_id=feed.id, amazon_feed_id=amazon_id, account_id=account,
                 messages=len(feed.updates_by_message))
        return amazon_id

    async def _poll(self, feed: StoredFeed, amazon_id: str) -> dict[str, Any]:
        """getFeed until the feed is finished, waiting longer each time (getFeed allows 2/s; feeds take minutes)."""
        delay = self.poll_s
        reported = False
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.poll_max_s)
            try:
                status = await self.client.get_feed(feed.account_id, amazon_id)
            except AmazonCallFailed as exc:
                if not reported:
                    reported = await self._report_error(feed, exc.fields)
                delay = self.poll_max_s
                continue
            processing = status.get("processingStatus")
            async with self.sender.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE listing_feeds SET polls = polls + 1, processing_status = $2, updated_at = now() "
                    "WHERE id = $1", feed.id, str(processing))
            if processing in FINISHED:
                return status

    async def _report(self, feed: StoredFeed, status: dict[str, Any]) -> dict[str, Any] | None:
        """The processing report; a FATAL feed without one gets a report naming only the feed."""
        document_id = status.get("resultFeedDocumentId")
        if not document_id:
            if status.get("processingStatus") == "FATAL":
                return {"issues": [{"code": "FATAL", "severity": "ERROR",
                                    "message": "Amazon did not process the feed (FATAL) and gave no report"}]}
            await self._fail_all(feed, {"operation": "getFeed", "code": UNREADABLE_REPORT, "attempts": 1,
                                        "message": "the finished feed names no result document"})
            return None
        reported = False
        while True:
            try:
                document = await self.client.get_feed_document(feed.account_id, document_id)
                content = await self.client.download_feed_document(document)
            except AmazonCallFailed as exc:
                if not reported:
                    reported = await self._report_error(feed, exc.fields)
                await asyncio.sleep(self.poll_max_s)
                continue
            try:
                report = json.loads(content)
                if not isinstance(report, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                await self._fail_all(feed, {"operation": "getFeedDocument", "code": UNREADABLE_REPORT,
                                            "attempts": 1, "message": f"processing report unreadable: {exc}"[:300]})
                return None
            return report

    # ------------------------------------------------------------ verify after write

    async def _verify(self, feed: StoredFeed, parsed: payloads.ProcessingReport, report: dict[str, Any],
                      ) -> dict[int, list[ListingUpdateRequested]]:
        """Per accepted message, the price and quantity requests Amazon did not apply."""
        items = payloads.report_items(report)
        checked = {m: u for m, u in feed.updates_by_message.items()
                   if parsed.by_message[m].accepted and payloads.verifiable(u.requests)}
        unseen = sorted({u.sku for u in checked.values() if u.sku not in items})
        if unseen:
            items |= await self._read_back(feed, unseen)
        unapplied: dict[int, list[ListingUpdateRequested]] = {}
        for message_id, update in checked.items():
            if update.sku not in items:
                continue  # could not be read back: accepted, unverified
            missing = payloads.verify_applied(update.requests, items[update.sku])
            if missing:
                unapplied[message_id] = missing
        if unapplied:
            log.warning("feed_accepted_not_applied", feed_id=feed.id, listings=len(unapplied))
        return unapplied

    async def _read_back(self, feed: StoredFeed, skus: list[str]) -> dict[str, Any]:
        """Listings the report did not carry, 20 a call; a listing Amazon does not know reads as empty."""
        found: dict[str, Any] = {}
        plain = [s for s in skus if "," not in s]
        try:
            for i in range(0, len(plain), SEARCH_MAX_IDENTIFIERS):
                page = plain[i: i + SEARCH_MAX_IDENTIFIERS]
                listed = await self.client.listings_by_sku(feed.account_id, feed.marketplace_id, page)
                by_sku = {str(x.get("sku")): x for x in listed}
                found |= {s: by_sku.get(s, {}) for s in page}
            for sku in (s for s in skus if "," in s):
                found[sku] = await self.client.get_listings_item(feed.account_id, feed.marketplace_id, sku) or {}
        except (AmazonCallFailed, ValueError) as exc:
            log.warning("feed_read_back_failed", feed_id=feed.id, error=redact(repr(exc)))
        return found

    # ------------------------------------------------------------ recording

    async def _record(self, feed: StoredFeed, amazon_id: str, status: dict[str, Any],
                      parsed: payloads.ProcessingReport, unapplied: dict[int, list[ListingUpdateRequested]]) -> None:
        sender = self.sender
        done: list[PendingUpdate] = []
        events: list[Event] = []
        again: list[uuid.UUID] = []
        failed: list[PendingUpdate] = []
        for message_id, update in feed.updates_by_message.items():
            outcome = parsed.by_message[message_id]
            if message_id in unapplied:
                sends = 1 + max(feed.sends.get(i, 0) for i in update.request_ids)
                if resend_or_fail(sends, sender.verify_attempts) == "failed":
                    failed.append(update)
                else:
                    again.extend(update.request_ids)
                continue
            done.append(update)
            events.extend(sender.result(r, outcome.accepted, list(outcome.issues), amazon_id) for r in update.requests)
        async with sender.pool.acquire() as conn, conn.transaction():
            if not await self._close(feed.id, "done", conn, status):
                return
            await conn.execute(
                "UPDATE pending_updates SET status = 'done', attempts = attempts + 1, claim = NULL, claimed_at = NULL, "
                "updated_at = now() WHERE request_id = ANY($1::uuid[]) AND feed_id = $2 AND status = 'in_flight'",
                [i for u in done for i in u.request_ids], feed.id)
            await conn.execute(
                "UPDATE pending_updates SET status = 'pending', attempts = attempts + 1, claim = NULL, "
                "claimed_at = NULL, feed_id = NULL, message_id = NULL, updated_at = now() "
                "WHERE request_id = ANY($1::uuid[]) AND feed_id = $2 AND status = 'in_flight'", again, feed.id)
            failure = not_applied("createFeed", sender.verify_attempts)
            await self._mark_failed(conn, feed, failed, failure)
            events.extend(sender.communication_error(u, failure) for u in failed)
            await record_sent_fields(conn, done)
            await outbox.write(conn, sender.schema, events)
        log.info("feed_recorded", feed_id=feed.id, amazon_feed_id=amazon_id, done=len(done),
                 accepted=sum(1 for m in feed.updates_by_message if parsed.by_message[m].accepted),
                 resend=len(again), failed=len(failed))

    async def _close(self, feed_id: int, status: str, conn: asyncpg.Connection | None = None,
                     amazon: dict[str, Any] | None = None) -> bool:
        """End the feed if this sender still holds it."""
        sql = ("UPDATE listing_feeds SET status = $3, processing_status = coalesce($4, processing_status), "
               "result_document_id = $5, finished_at = now(), updated_at = now() "
               "WHERE id = $1 AND claim = $2 AND status IN ('new', 'submitted') RETURNING id")
        args = (feed_id, self.sender.instance, status, (amazon or {}).get("processingStatus"),
                (amazon or {}).get("resultFeedDocumentId"))
        if conn is not None:
            return await conn.fetchval(sql, *args) is not None
        async with self.sender.pool.acquire() as own:
            return await own.fetchval(sql, *args) is not None

    async def _mark_failed(self, conn: asyncpg.Connection, feed: StoredFeed, updates: list[PendingUpdate],
                           failure: dict[str, Any]) -> None:
        await conn.execute(
            "UPDATE pending_updates SET status = 'failed', attempts = attempts + 1, last_error = $3, claim = NULL, "
            "claimed_at = NULL, updated_at = now() "
            "WHERE request_id = ANY($1::uuid[]) AND feed_id = $2 AND status = 'in_flight'",
            [i for u in updates for i in u.request_ids], feed.id, f"{failure['code']}: {failure['message']}")

    async def _fail_all(self, feed: StoredFeed, failure: dict[str, Any]) -> None:
        """The feed could not be sent or read: every update fails for replay, with a CommunicationError each."""
        async with self.sender.pool.acquire() as conn, conn.transaction():
            if not await self._close(feed.id, "failed", conn):
                return
            await conn.execute("UPDATE listing_feeds SET last_error = $2 WHERE id = $1", feed.id,
                               f"{failure['code']}: {failure['message']}")
            await self._mark_failed(conn, feed, feed.updates, failure)
            await outbox.write(conn, self.sender.schema,
                               [self.sender.communication_error(u, failure) for u in feed.updates])
        log.warning("feed_failed", feed_id=feed.id, operation=failure["operation"], code=failure["code"])

    async def _requeue_all(self, feed: StoredFeed) -> None:
        """A cancelled feed changed nothing: its updates are pending again."""
        async with self.sender.pool.acquire() as conn, conn.transaction():
            if not await self._close(feed.id, "cancelled", conn, {"processingStatus": "CANCELLED"}):
                return
            await conn.execute(
                "UPDATE pending_updates SET status = 'pending', claim = NULL, claimed_at = NULL, feed_id = NULL, "
                "message_id = NULL, updated_at = now() WHERE feed_id = $1 AND status = 'in_flight'", feed.id)
        log.warning("feed_cancelled", feed_id=feed.id)

    async def _report_error(self, feed: StoredFeed, failure: dict[str, Any]) -> bool:
        """A call about a submitted feed failed for good: say so once; the feed is still followed."""
        first = feed.updates[0]
        account = self.client.accounts.get(feed.account_id)
        event = CommunicationError.new(
            producer=self.sender.producer, caused_by=first.requests[0], system="amazon", account_id=feed.account_id,
            marketplace_id=feed.marketplace_id, region=account.region if account else None,
            operation=failure["operation"], code=failure["code"], message=failure["message"],
            attempts=failure["attempts"], request_ref=f"listing_feeds:{feed.id}")
        async with self.sender.pool.acquire() as conn, conn.transaction():
            await outbox.write(conn, self.sender.schema, [event])
        return True
