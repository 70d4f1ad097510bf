"""Listing updates out to Amazon: store each request, then send the newest per listing field.

The consumer only stores requests (`on_listing_updates`). The `Sender` picks pending rows, lets
the domain coalescer decide what goes out, calls the Listings Items API per SKU, checks with
getListingsItem that Amazon applied what it accepted, and records the outcome with its events in
one transaction.

Every request gets exactly one answer: a ListingUpdateResult (accepted, rejected with Amazon's
issues, or rejected as superseded with an INFO issue coded `Superseded` when a newer request for
the same fields made it pointless), or, when the call failed for good, a CommunicationError while
the row stays `failed` for replay (a replayed row then gets its ListingUpdateResult).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from amazon_gateway.client import AmazonCallFailed, SpApiClient
from amazon_gateway.domain import payloads
from amazon_gateway.domain.coalesce import (
    ListingKey,
    ListingUpdateCoalescer,
    PendingUpdate,
    SingleCall,
    Superseded,
)
from amazon_gateway.domain.retry import redact
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
NOT_APPLIED_CODE = "NotApplied"
UNEXPECTED_CODE = "UnexpectedResponse"

# ---------------------------------------------------------------- consuming


async def on_listing_updates(tx: Tx, events: list[ListingUpdateRequested]) -> None:
    """Store every request durably; deciding what to send is the sender's job."""
    await tx.conn.execute(
        """
        INSERT INTO pending_updates (request_id, account_id, marketplace_id, sku, requested_at, request)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bytea[])
        ON CONFLICT (request_id) DO NOTHING
        """,
        [e.event_id for e in events], [e.account_id for e in events], [e.marketplace_id for e in events],
        [e.sku for e in events], [e.requested_at for e in events], [encode(e) for e in events])


# ---------------------------------------------------------------- sending


@dataclass(frozen=True)
class Sent:
    """What came of one listing's update: Amazon's outcome, or the failure to report."""

    update: PendingUpdate
    outcome: payloads.Outcome | None = None
    failure: dict[str, Any] | None = None


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
        verify_delay_s: float = 1.0, idle_s: float = 0.25,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.producer = producer
        self.client = client
        self.batch_size = batch_size
        self.verify_attempts = verify_attempts
        self.verify_delay_s = verify_delay_s
        self.idle_s = idle_s
        self._slots = asyncio.Semaphore(concurrency)

    async def run(self) -> None:
        """Send for the service's lifetime; nothing Amazon answers stops it."""
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

    async def send_once(self) -> int:
        """One batch of pending rows, start to finish in one transaction; returns the rows handled."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT request_id, account_id, marketplace_id, sku, request FROM pending_updates "
                "WHERE status = 'pending' ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED", self.batch_size)
            if not rows:
                return 0
            rows = await self._own_listings(conn, rows)
            requests = [decode(r["request"], {"ListingUpdateRequested"}) for r in rows]
            sent_marks = await self._sent_marks(conn, {(r["account_id"], r["marketplace_id"], r["sku"])
                                                       for r in rows})
            coalescer = ListingUpdateCoalescer()
            superseded = coalescer.add_all(requests)  # type: ignore[arg-type]
            updates: list[PendingUpdate] = []
            for drained in coalescer.drain():
                update, dropped = drop_stale_fields(drained, sent_marks)
                superseded.extend(dropped)
                if update is not None:
                    updates.append(update)
                    superseded.extend(update.superseded)
            results = await asyncio.gather(*(self._send(u) for u in updates))
            events = self._record_superseded(superseded)
            for result in results:
                events.extend(await self._record(conn, result))
            await self._mark(conn, [s.request.event_id for s in superseded], "superseded", sent=False)
            await outbox.write(conn, self.schema, events)
        return len(rows)

    async def _own_listings(self, conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[asyncpg.Record]:
        """Only rows of listings no other replica is sending right now (per-listing order)."""
        keys = sorted({f"{r['account_id']}|{r['marketplace_id']}|{r['sku']}" for r in rows})
        owned = {k for k in keys if await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtext('amazon-gateway.listing'), hashtext($1))", k)}
        return [r for r in rows if f"{r['account_id']}|{r['marketplace_id']}|{r['sku']}" in owned]

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

    # ------------------------------------------------------------ talking to Amazon

    async def _send(self, update: PendingUpdate) -> Sent:
        async with self._slots:
            try:
                return await self._send_and_verify(update)
            except AmazonCallFailed as exc:
                return Sent(update, failure=exc.fields)
            except (payloads.MissingValue, payloads.NotRepresentable) as exc:
                issue = AmazonIssue(code="InvalidRequest", message=str(exc), severity="ERROR")
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
        return Sent(update, failure={
            "operation": operation, "code": NOT_APPLIED_CODE, "attempts": self.verify_attempts,
            "message": f"Amazon accepted the update {self.verify_attempts} times but did not apply it"})

    # ------------------------------------------------------------ recording

    def _result(self, request: ListingUpdateRequested, accepted: bool, issues: list[AmazonIssue],
                submission_id: str | None = None) -> Event:
        return ListingUpdateResult.new(
            producer=self.producer, caused_by=request, account_id=request.account_id,
            marketplace_id=request.marketplace_id, sku=request.sku, request_event_id=str(request.event_id),
            accepted=accepted, submission_id=submission_id, issues=issues)

    def _record_superseded(self, superseded: list[Superseded]) -> list[Event]:
        events = []
        for s in superseded:
            by = f" by request {s.by}" if s.by else " by a newer request already sent"
            issue = AmazonIssue(code=SUPERSEDED_CODE, severity="INFO",
                                message=f"not sent: superseded{by}")
            events.append(self._result(s.request, False, [issue]))
        return events

    async def _record(self, conn: asyncpg.Connection, sent: Sent) -> list[Event]:
        update = sent.update
        requests = update.requests
        ids = [r.event_id for r in requests]
        if sent.failure is not None:
            f = sent.failure
            await conn.execute(
                "UPDATE pending_updates SET status = 'failed', attempts = attempts + 1, last_error = $2, "
                "updated_at = now() WHERE request_id = ANY($1::uuid[])", ids, f"{f['code']}: {f['message']}")
            account = self.client.accounts.get(update.account_id)
            return [CommunicationError.new(
                producer=self.producer, caused_by=requests[0], system="amazon", account_id=update.account_id,
                marketplace_id=update.marketplace_id, region=account.region if account else None,
                operation=f["operation"], code=f["code"], message=f["message"], attempts=f["attempts"],
                request_ref=",".join(str(i) for i in ids))]
        assert sent.outcome is not None
        await self._mark(conn, ids, "done")
        names = list(update.fields)
        await conn.execute(
            """
            INSERT INTO sent_fields AS s (account_id, marketplace_id, sku, field, requested_at)
            SELECT $1, $2, $3, f, t FROM unnest($4::text[], $5::timestamptz[]) AS u(f, t)
            ON CONFLICT (account_id, marketplace_id, sku, field)
            DO UPDATE SET requested_at = greatest(s.requested_at, EXCLUDED.requested_at)
            """,
            *update.key, names, [update.fields[n].requested_at for n in names])
        o = sent.outcome
        return [self._result(r, o.accepted, list(o.issues), o.submission_id) for r in requests]

    @staticmethod
    async def _mark(conn: asyncpg.Connection, ids: list[uuid.UUID], status: str, *, sent: bool = True) -> None:
        if ids:
            await conn.execute(
                "UPDATE pending_updates SET status = $2, attempts = attempts + $3, updated_at = now() "
                "WHERE request_id = ANY($1::uuid[])", ids, status, int(sent))


async def replay_failed(pool: asyncpg.Pool, account_id: str | None = None) -> int:
    """Put failed rows back to pending; returns how many."""
    status = await pool.execute(
        "UPDATE pending_updates SET status = 'pending', updated_at = now() "
        "WHERE status = 'failed' AND ($1::text IS NULL OR account_id = $1)", account_id)
    return int(status.split()[-1])
