"""Listing updates out to Amazon: store each request, then send the newest per listing field.

The consumer only stores requests (`on_listing_updates`). The `Sender` works in three steps so no
database connection waits on Amazon:

1. claim, in one short transaction: the oldest listings with pending rows and none in flight; the
   domain coalescer keeps the newest request per field, the rest are answered as superseded right
   there, and the rows to send are marked `in_flight` with this sender's id and the time;
2. call Amazon with no transaction open: a patch/put/delete per listing, checked with
   getListingsItem, while the backlog is small; a JSON_LISTINGS_FEED (`feeds.py`) when it is large;
3. record, in a second short transaction: the rows' status, what was sent per field, and the events.

While a listing has a row in flight nothing else of it is claimed, so an older value never lands
after a newer one, even across replicas. Each sender holds a lease (`sender_leases`, one row it
renews every third of `lease_s`) and claims only while it holds it; rows and feeds claimed by a
sender whose lease ran out (it died) are taken back: single calls go back to pending and are sent
again (a price sent twice is the same price), feeds are adopted and polled where they were. Rows a
live sender could not finish (its database calls failed) it puts back to pending itself.

Every request gets exactly one answer: a ListingUpdateResult (accepted, rejected with Amazon's
issues, or rejected as superseded with an INFO issue coded `Superseded` when a newer request for
the same fields made it pointless), or, when the call failed for good, a CommunicationError while
the row stays `failed` for replay (a replayed row then gets its ListingUpdateResult).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from amazon_gateway.client import AmazonCallFailed, SpApiClient
from amazon_gateway.domain import payloads
from amazon_gateway.domain.coalesce import (
    DEFAULT_FEED_MESSAGES,
    Candidate,
    ListingKey,
    ListingUpdateCoalescer,
    PendingUpdate,
    SingleCall,
    Superseded,
    choose_keys,
    plan_calls,
)
from amazon_gateway.domain.retry import redact
from amazon_gateway.feeds import FeedRunner, StoredFeed, not_applied, record_sent_fields
from contracts import Event, decode, encode
from contracts.events import (
    AmazonIssue,
    CommunicationError,
    ListingUpdateRequested,
    ListingUpdateResult,
)
from servicekit import Tx, outbox
from servicekit.logging import get_logger

log = get_logger(component="outbound")

SUPERSEDED_CODE = "Superseded"
UNEXPECTED_CODE = "UnexpectedResponse"
INVALID_CODE = "InvalidRequest"
LOCK_SPACE = "amazon-gateway.listing"

SentMarks = dict[tuple[str, str, str, str], datetime]

# ---------------------------------------------------------------- consuming


async def on_listing_updates(tx: Tx, events: list[ListingUpdateRequested]) -> None:
    """Store every request durably; deciding what to send is the sender's job."""
    await tx.conn.execute(
        """
        INSERT INTO pending_updates (request_id, account_id, marketplace_id, sku, requested_at, request, urgent)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bytea[],
                             $7::boolean[])
        ON CONFLICT (request_id) DO NOTHING
        """,
        [e.event_id for e in events], [e.account_id for e in events], [e.marketplace_id for e in events],
        [e.sku for e in events], [e.requested_at for e in events], [encode(e) for e in events],
        [e.urgent for e in events])


# ---------------------------------------------------------------- sending


@dataclass(frozen=True)
class Sent:
    """What came of one listing's update: Amazon's outcome, or the failure to report."""

    update: PendingUpdate
    outcome: payloads.Outcome | None = None
    failure: dict[str, Any] | None = None


@dataclass
class Claim:
    """What one claim took: listings to send one call each, feeds built and stored, requests superseded."""

    singles: list[PendingUpdate] = field(default_factory=list)
    feeds: list[StoredFeed] = field(default_factory=list)
    superseded: list[Superseded] = field(default_factory=list)
    rows: int = 0
    taken: set[uuid.UUID] = field(default_factory=set)


def coalesce(requests: Sequence[ListingUpdateRequested], sent: dict[tuple[str, str, str, str], datetime],
             ) -> tuple[list[PendingUpdate], list[Superseded]]:
    """Per listing, the newest request per field not older than what was already sent; and what that supersedes."""
    coalescer = ListingUpdateCoalescer()
    superseded = coalescer.add_all(requests)
    updates: list[PendingUpdate] = []
    for drained in coalescer.drain():
        update, dropped = drop_stale_fields(drained, sent)
        superseded.extend(dropped)
        if update is not None:
            updates.append(update)
            superseded.extend(update.superseded)
    return updates, superseded


def drop_stale_fields(
    update: PendingUpdate, sent: dict[tuple[str, str, str, str], datetime]
) -> tuple[PendingUpdate | None, list[Superseded]]:
    """Keep the fields whose request is not older than what was already sent for that field."""
    kept = {name: r for name, r in update.fields.items()
            if (mark := sent.get((*update.key, name))) is None or r.requested_at >= mark}
    live = {r.event_id for r in kept.values()}
    dropped = [Superseded(r) for r in update.requests if r.event_id not in live]
    if not kept:
        return None, [*update.superseded, *dropped]
    return PendingUpdate(update.key, kept, update.superseded), dropped


class Sender:
    def __init__(
        self, *, pool: asyncpg.Pool, schema: str, producer: str, client: SpApiClient,
        batch_size: int = 200, concurrency: int = 8, verify_attempts: int = 3,
        verify_delay_s: float = 1.0, idle_s: float = 0.25, backlog_threshold: int = 200,
        feed_messages: int = DEFAULT_FEED_MESSAGES, feed_linger_s: float = 2.0, feed_max_wait_s: float = 30.0,
        max_open_feeds: int = 5, feed_poll_s: float = 30.0, feed_poll_max_s: float = 300.0,
        lease_s: float = 60.0,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.producer = producer
        self.client = client
        self.batch_size = batch_size
        self.verify_attempts = verify_attempts
        self.verify_delay_s = verify_delay_s
        self.idle_s = idle_s
        self.backlog_threshold = backlog_threshold
        self.feed_messages = feed_messages
        self.feed_linger_s = feed_linger_s
        self.feed_max_wait_s = feed_max_wait_s
        self.max_open_feeds = max_open_feeds
        self.lease_s = lease_s
        self.instance = uuid.uuid4()
        self.feeds = FeedRunner(self, poll_s=feed_poll_s, poll_max_s=feed_poll_max_s)
        self._slots = asyncio.Semaphore(concurrency)
        self._feed_tasks: dict[int, asyncio.Task[None]] = {}
        self._orphans: set[uuid.UUID] = set()  # rows claimed by a batch that failed: back to pending when possible
        self._renewed_at: float | None = None

    async def run(self) -> None:
        """Send for the service's lifetime; nothing Amazon answers stops it."""
        await self._keep_until_leased()
        keeper = asyncio.create_task(self._keep_claims(), name="listing-sender-claims")
        try:
            while True:
                try:
                    sent = await self.send_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # database trouble: try again shortly
                    log.warning("sender_failed", error=repr(exc))
                    sent = 0
                if not sent:
                    await asyncio.sleep(self.idle_s)
        finally:
            keeper.cancel()
            for task in list(self._feed_tasks.values()):
                task.cancel()
            await asyncio.gather(keeper, *self._feed_tasks.values(), return_exceptions=True)

    async def send_once(self) -> int:
        """Claim, call Amazon for the single calls (feeds run on their own), record; returns the rows handled."""
        if not self.leased:
            return 0
        claim = await self.claim()
        try:
            for feed in claim.feeds:
                self._start_feed(feed.id, feed)
            await self.record_superseded(claim.superseded)
            if claim.singles:
                results = await asyncio.gather(*(self._send(u) for u in claim.singles))
                await self._record_all(results)
        except Exception:
            self._orphans.update(claim.taken)
            raise
        return claim.rows

    # ------------------------------------------------------------ claiming

    async def claim(self) -> Claim:
        """Step 1: take listings and mark their rows in flight, decide, then store feeds; two short transactions.

        Deciding (decoding, coalescing, building feed documents) runs between them with no
        transaction open. A failure in between leaves the rows to be put back to pending (or, if
        the process died, taken back once its lease runs out) and decided again.
        """
        started = time.monotonic()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                candidates = await self._candidates(conn)
                if not candidates:
                    return Claim()
                keys = choose_keys(
                    candidates, batch_size=self.batch_size, backlog_threshold=self.backlog_threshold,
                    linger_s=self.feed_linger_s, max_wait_s=self.feed_max_wait_s,
                    feeds_open=len(self._feed_tasks) < self.max_open_feeds)
                rows = await self._take_rows(conn, keys) if keys else []
                if not rows:
                    return Claim()
                sent_marks = await self._sent_marks(conn, {(r["account_id"], r["marketplace_id"], r["sku"])
                                                           for r in rows})
            claimed_s = time.monotonic() - started
            sends = {r["request_id"]: r["attempts"] for r in rows}
            try:
                return await self._decide_and_store(conn, rows, sent_marks, sends, started, claimed_s)
            except Exception:
                self._orphans.update(sends)
                raise

    async def _decide_and_store(
        self, conn: asyncpg.Connection, rows: list[asyncpg.Record], sent_marks: SentMarks,
        sends: dict[uuid.UUID, int], started: float, claimed_s: float,
    ) -> Claim:
        """Coalesce and plan with no transaction open, then store the feeds and answer what no message can carry."""
        requests = [decode(r["request"], {"ListingUpdateRequested"}) for r in rows]
        updates, superseded = coalesce(requests, sent_marks)  # type: ignore[arg-type]
        known = [u for u in updates if u.account_id in self.client.accounts]
        unknown = [u for u in updates if u.account_id not in self.client.accounts]  # they fail as single calls
        plan = plan_calls(known, self.backlog_threshold, feed_messages=self.feed_messages)
        claim = Claim(singles=[c.update for c in plan.calls] + unknown, rows=len(rows), superseded=superseded,
                      taken=set(sends))
        built = [self._build_feed(f.account_id, f.updates) for f in plan.feeds]
        decided_s = time.monotonic() - started - claimed_s
        async with conn.transaction():
            events: list[Event] = []
            for feed, (document, rejected) in zip(plan.feeds, built, strict=True):
                if document is not None:
                    claim.feeds.append(await self._store_feed(conn, feed.account_id, feed.marketplace_id,
                                                              document, sends))
                for update, reason in rejected:
                    issue = AmazonIssue(code=INVALID_CODE, message=reason, severity="ERROR")
                    events.extend(await self.record(conn, Sent(update,
                                                               outcome=payloads.Outcome(False, [issue]))))
            await outbox.write(conn, self.schema, events)
        if superseded or plan.feeds:
            log.info("listings_claimed", rows=len(rows), superseded=len(superseded), single=len(claim.singles),
                     feeds=len(claim.feeds), feed_listings=sum(len(f.updates) for f in plan.feeds),
                     claim_s=round(claimed_s, 3), decide_s=round(decided_s, 3),
                     store_s=round(time.monotonic() - started - claimed_s - decided_s, 3))
        return claim

    async def record_superseded(self, superseded: list[Superseded]) -> None:
        """Answer the requests a newer one made pointless (rows this sender still holds)."""
        if not superseded:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            owned = await self._owned(conn, [s.request.event_id for s in superseded], "superseded", counts=False)
            await outbox.write(conn, self.schema, self._record_superseded(
                [s for s in superseded if s.request.event_id in owned]))

    async def _candidates(self, conn: asyncpg.Connection) -> list[Candidate]:
        """Listings with pending rows and nothing in flight: urgent first, then by their oldest row."""
        rows = await conn.fetch(
            """
            SELECT p.account_id, p.marketplace_id, p.sku, bool_or(p.urgent) AS urgent,
                   extract(epoch FROM now() - min(p.received_at)) AS age_s,
                   extract(epoch FROM now() - max(p.received_at)) AS quiet_s
            FROM pending_updates p
            WHERE p.status = 'pending' AND NOT EXISTS (
                SELECT 1 FROM pending_updates f
                WHERE f.status = 'in_flight' AND f.account_id = p.account_id
                  AND f.marketplace_id = p.marketplace_id AND f.sku = p.sku)
            GROUP BY p.account_id, p.marketplace_id, p.sku
            ORDER BY bool_or(p.urgent) DESC, min(p.seq)
            LIMIT $1
            """, max(self.feed_messages, self.batch_size))
        return [Candidate((r["account_id"], r["marketplace_id"], r["sku"]), r["urgent"], float(r["age_s"]),
                          float(r["quiet_s"])) for r in rows]

    async def _take_rows(self, conn: asyncpg.Connection, keys: list[ListingKey]) -> list[asyncpg.Record]:
        """Mark in flight, for this sender, the pending rows of those listings it could lock; oldest first.

        The advisory lock keeps two replicas from claiming one listing at the same moment; the
        in-flight check runs after it, so it sees a claim another replica committed meanwhile.
        """
        names = [f"{a}|{m}|{s}" for a, m, s in keys]
        owned = set(await conn.fetchval(
            "SELECT coalesce(array_agg(k), '{}') FROM unnest($1::text[]) AS k "
            "WHERE pg_try_advisory_xact_lock(hashtext($2), hashtext(k))", sorted(names), LOCK_SPACE))
        mine = [k for k, n in zip(keys, names, strict=True) if n in owned]
        if not mine:
            return []
        rows = await conn.fetch(
            """
            UPDATE pending_updates t SET status = 'in_flight', claim = $4, claimed_at = now(), updated_at = now()
            FROM (
                SELECT p.request_id FROM pending_updates p
                JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(a, m, s)
                  ON p.account_id = k.a AND p.marketplace_id = k.m AND p.sku = k.s
                WHERE p.status = 'pending' AND NOT EXISTS (
                    SELECT 1 FROM pending_updates f
                    WHERE f.status = 'in_flight' AND f.account_id = p.account_id
                      AND f.marketplace_id = p.marketplace_id AND f.sku = p.sku)
                FOR UPDATE OF p SKIP LOCKED
            ) AS c
            WHERE t.request_id = c.request_id
            RETURNING t.request_id, t.account_id, t.marketplace_id, t.sku, t.request, t.attempts, t.seq
            """, [k[0] for k in mine], [k[1] for k in mine], [k[2] for k in mine], self.instance)
        return sorted(rows, key=lambda r: r["seq"])

    @staticmethod
    async def _sent_marks(conn: asyncpg.Connection, keys: set[ListingKey]) -> dict[tuple[str, str, str, str], datetime]:
        if not keys:
            return {}
        marks = await conn.fetch(
            "SELECT s.account_id, s.marketplace_id, s.sku, s.field, s.requested_at FROM sent_fields s "
            "JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(a, m, s2) "
            "ON s.account_id = k.a AND s.marketplace_id = k.m AND s.sku = k.s2",
            [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
        return {(m["account_id"], m["marketplace_id"], m["sku"], m["field"]): m["requested_at"] for m in marks}

    def _build_feed(self, account_id: str, updates: Sequence[PendingUpdate],
                    ) -> tuple[payloads.FeedDocument | None, list[tuple[PendingUpdate, str]]]:
        """The feed document, and the updates no message can carry (with why)."""
        rejected: list[tuple[PendingUpdate, str]] = []
        carried: list[PendingUpdate] = []
        for update in updates:
            try:
                payloads.feed_message(1, update)
            except (payloads.MissingValue, payloads.NotRepresentable) as exc:
                rejected.append((update, str(exc)))
            else:
                carried.append(update)
        if not carried:
            return None, rejected
        seller = self.client.accounts[account_id].seller_id
        return payloads.feed_document(seller, carried, report_included=payloads.VERIFY_REPORT_INCLUDED), rejected

    async def _store_feed(self, conn: asyncpg.Connection, account_id: str, marketplace_id: str,
                          built: payloads.FeedDocument, sends: dict[uuid.UUID, int]) -> StoredFeed:
        """Keep the document with the request each message carries, and tie the rows to it."""
        document = json.dumps(built.document, separators=(",", ":")).encode()
        messages = {str(i): {name: str(r.event_id) for name, r in u.fields.items()}
                    for i, u in built.updates_by_message.items()}
        feed_id = await conn.fetchval(
            "INSERT INTO listing_feeds (account_id, marketplace_id, claim, claimed_at, document, messages) "
            "VALUES ($1, $2, $3, now(), $4, $5::jsonb) RETURNING id",
            account_id, marketplace_id, self.instance, document, json.dumps(messages))
        ids = [(r.event_id, i) for i, u in built.updates_by_message.items() for r in u.requests]
        await conn.execute(
            "UPDATE pending_updates p SET feed_id = $1, message_id = u.m FROM unnest($2::uuid[], $3::int[]) AS u(r, m) "
            "WHERE p.request_id = u.r", feed_id, [r for r, _ in ids], [m for _, m in ids])
        return StoredFeed(feed_id, account_id, marketplace_id, "new", None, document, built.updates_by_message,
                          {r: sends.get(r, 0) for r, _ in ids})

    # ------------------------------------------------------------ keeping and taking back claims

    @property
    def leased(self) -> bool:
        """Whether this sender's lease is surely alive: renewed within half of it."""
        return self._renewed_at is not None and time.monotonic() - self._renewed_at < self.lease_s / 2

    async def _keep_until_leased(self) -> None:
        while not self.leased:
            try:
                await self.keep_claims()
            except Exception as exc:
                log.warning("claim_upkeep_failed", error=repr(exc))
                await asyncio.sleep(min(self.lease_s / 3, 5.0))

    async def _keep_claims(self) -> None:
        """Renew the lease and take back what senders whose lease ran out left behind."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.keep_claims()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("claim_upkeep_failed", error=repr(exc))

    async def keep_claims(self) -> None:
        renewing = time.monotonic()
        lease = f"make_interval(secs => {float(self.lease_s)})"
        dead = ("NOT EXISTS (SELECT 1 FROM sender_leases l WHERE l.claim = {t}.claim "
                f"AND l.renewed_at > now() - {lease})")
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO sender_leases (claim) VALUES ($1) "
                "ON CONFLICT (claim) DO UPDATE SET renewed_at = now()", self.instance)
            self._renewed_at = renewing
            orphans = list(self._orphans)
            if orphans:
                await conn.execute(
                    "UPDATE pending_updates SET status = 'pending', claim = NULL, updated_at = now() "
                    "WHERE request_id = ANY($1::uuid[]) AND claim = $2 AND status = 'in_flight' AND feed_id IS NULL",
                    orphans, self.instance)
                self._orphans.difference_update(orphans)
            back = await conn.execute(
                "UPDATE pending_updates p SET status = 'pending', claim = NULL, updated_at = now() "
                "WHERE status = 'in_flight' AND feed_id IS NULL AND " + dead.format(t="p"))
            adopted = [r["id"] for r in await conn.fetch(
                "UPDATE listing_feeds f SET claim = $1, claimed_at = now() WHERE status IN ('new', 'submitted') "
                f"AND claimed_at < now() - {lease} AND " + dead.format(t="f") + " RETURNING id", self.instance)]
            await conn.execute(f"DELETE FROM sender_leases WHERE renewed_at < now() - {lease} * 100")
        if back != "UPDATE 0":
            log.warning("claims_taken_back", rows=int(back.split()[-1]))
        for feed_id in adopted:
            log.warning("feed_adopted", feed_id=feed_id)
            self._start_feed(feed_id)

    def _start_feed(self, feed_id: int, stored: StoredFeed | None = None) -> None:
        if feed_id in self._feed_tasks:
            return
        task = asyncio.create_task(self.feeds.run(feed_id, stored), name=f"listing-feed-{feed_id}")
        self._feed_tasks[feed_id] = task
        task.add_done_callback(lambda _t: self._feed_tasks.pop(feed_id, None))

    @property
    def open_feeds(self) -> int:
        return len(self._feed_tasks)

    # ------------------------------------------------------------ talking to Amazon

    async def _send(self, update: PendingUpdate) -> Sent:
        async with self._slots:
            try:
                return await self._send_and_verify(update)
            except AmazonCallFailed as exc:
                return Sent(update, failure=exc.fields)
            except (payloads.MissingValue, payloads.NotRepresentable) as exc:
                issue = AmazonIssue(code=INVALID_CODE, message=str(exc), severity="ERROR")
                return Sent(update, outcome=payloads.Outcome(False, [issue]))
            except Exception as exc:  # an answer we cannot read: keep the row for replay, keep going
                log.warning("unexpected_answer", account_id=update.account_id, sku=update.sku, error=repr(exc))
                return Sent(update, failure={
                    "operation": SingleCall(update).operation, "code": UNEXPECTED_CODE, "attempts": 1,
                    "message": redact(f"{type(exc).__name__}: {exc}")})

    async def _send_and_verify(self, update: PendingUpdate) -> Sent:
        operation = SingleCall(update).operation
        account, marketplace, sku = update.key
        for attempt in range(1, self.verify_attempts + 1):
            if operation == "deleteListingsItem":
                response = await self.client.delete_listings_item(account, marketplace, sku)
            elif operation == "putListingsItem":
                response = await self.client.put_listings_item(account, marketplace, sku,
                                                               payloads.put_request(update))
            else:
                response = await self.client.patch_listings_item(account, marketplace, sku,
                                                                 payloads.patch_request(update))
            outcome = payloads.submission_outcome(response)
            if not outcome.accepted or operation == "deleteListingsItem":
                return Sent(update, outcome=outcome)
            if self.verify_delay_s:
                await asyncio.sleep(self.verify_delay_s)
            listing = await self.client.get_listings_item(account, marketplace, sku)
            missing = payloads.verify_applied(update.requests, listing)
            if not missing:
                return Sent(update, outcome=outcome)
            log.warning("accepted_not_applied", account_id=account, marketplace_id=marketplace, sku=sku,
                        operation=operation, attempt=attempt, requests=[str(r.event_id) for r in missing])
        return Sent(update, failure=not_applied(operation, self.verify_attempts))

    # ------------------------------------------------------------ recording

    async def _record_all(self, results: Sequence[Sent]) -> None:
        """Step 3: outcomes and their events, in one short transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            events: list[Event] = []
            for result in results:
                events.extend(await self.record(conn, result))
            await outbox.write(conn, self.schema, events)

    def result(self, request: ListingUpdateRequested, accepted: bool, issues: list[AmazonIssue],
               submission_id: str | None = None) -> Event:
        return ListingUpdateResult.new(
            producer=self.producer, caused_by=request, account_id=request.account_id,
            marketplace_id=request.marketplace_id, sku=request.sku, request_event_id=str(request.event_id),
            accepted=accepted, submission_id=submission_id, issues=issues)

    def communication_error(self, update: PendingUpdate, failure: dict[str, Any]) -> Event:
        account = self.client.accounts.get(update.account_id)
        return CommunicationError.new(
            producer=self.producer, caused_by=update.requests[0], system="amazon", account_id=update.account_id,
            marketplace_id=update.marketplace_id, region=account.region if account else None,
            operation=failure["operation"], code=failure["code"], message=failure["message"],
            attempts=failure["attempts"], request_ref=",".join(str(i) for i in update.request_ids))

    def _record_superseded(self, superseded: list[Superseded]) -> list[Event]:
        events = []
        for s in superseded:
            by = f" by request {s.by}" if s.by else " by a newer request already sent"
            issue = AmazonIssue(code=SUPERSEDED_CODE, severity="INFO",
                                message=f"not sent: superseded{by}")
            events.append(self.result(s.request, False, [issue]))
        return events

    async def _owned(self, conn: asyncpg.Connection, ids: Sequence[uuid.UUID], status: str,
                     error: str | None = None, *, counts: bool = True) -> set[uuid.UUID]:
        """Close this sender's in-flight rows with a status; returns the ids it still held.

        A row no longer held (its claim expired and another sender took it) is that sender's to
        answer, so no event is written for it here.
        """
        rows = await conn.fetch(
            "UPDATE pending_updates SET status = $2, attempts = attempts + $5, last_error = coalesce($4, last_error), "
            "claim = NULL, claimed_at = NULL, updated_at = now() "
            "WHERE request_id = ANY($1::uuid[]) AND status = 'in_flight' AND claim = $3 RETURNING request_id",
            list(ids), status, self.instance, error, int(counts))
        return {r["request_id"] for r in rows}

    async def record(self, conn: asyncpg.Connection, sent: Sent) -> list[Event]:
        update = sent.update
        if sent.failure is not None:
            f = sent.failure
            if not await self._owned(conn, update.request_ids, "failed", f"{f['code']}: {f['message']}"):
                return []
            return [self.communication_error(update, f)]
        assert sent.outcome is not None
        owned = await self._owned(conn, update.request_ids, "done")
        if not owned:
            return []
        await record_sent_fields(conn, [update])
        o = sent.outcome
        return [self.result(r, o.accepted, list(o.issues), o.submission_id)
                for r in update.requests if r.event_id in owned]


async def replay_failed(pool: asyncpg.Pool, account_id: str | None = None) -> int:
    """Put failed rows back to pending; returns how many."""
    status = await pool.execute(
        "UPDATE pending_updates SET status = 'pending', feed_id = NULL, message_id = NULL, updated_at = now() "
        "WHERE status = 'failed' AND ($1::text IS NULL OR account_id = $1)", account_id)
    return int(status.split()[-1])
