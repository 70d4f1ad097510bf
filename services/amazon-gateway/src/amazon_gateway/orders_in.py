"""Inbound orders: poll getOrders per account and marketplace, announce each real change once.

Polling is the backup for ORDER_CHANGE notifications (which can be late, duplicated or missing): a
timer polls every account, and `OrderPoller.wake(account_id)` polls one now. Each poll asks for
orders updated since the stored cursor less an overlap window, follows NextToken, and for every page
decides in PostgreSQL which orders are news (domain.orders.decide_all), writing the new order states
and their OrderPlaced / OrderStatusChanged events through the outbox in one transaction. The cursor
moves only after the last page, so an interrupted poll is simply repeated. Items are read only for
orders new to us. For accounts with `pii_role` getOrders is called with a Restricted Data Token for
buyerInfo and shippingAddress, so every page already holds the buyer e-mail and address an OrderPlaced
carries; other accounts' orders carry no buyer data. An order first seen Pending has no address yet: the
status change that first shows buyer data not yet announced carries it, and order_states records only
that it went out (buyer_email_announced, address_announced), never the data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from prometheus_client import Counter

from amazon_gateway.client import AmazonCallFailed, SpApiClient
from amazon_gateway.domain import orders as domain
from amazon_gateway.domain.retry import redact
from contracts import Event
from contracts.events import CommunicationError, OrderPlaced, OrderStatusChanged
from servicekit import outbox
from servicekit.logging import get_logger

log = get_logger(component="orders-in")

ORDER_POLLS = Counter(
    "saleschannel_amazon_order_polls_total", "getOrders polls of one account and marketplace, by outcome "
    "(done, failed)", ["service", "outcome"])
ORDER_EVENTS = Counter(
    "saleschannel_amazon_order_events_total", "OrderPlaced and OrderStatusChanged written, by event type",
    ["service", "event_type"])

Json = dict[str, Any]


class OrderPoller:
    def __init__(
        self, *, pool: asyncpg.Pool | None, schema: str, producer: str, client: SpApiClient, interval_s: float = 120.0,
        overlap_s: float = 600.0, first_lookback_s: float = 86400.0, max_lookback_s: float = 30 * 86400.0,
        page_size: int = 100, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool: Any = pool  # set by the service once it has started
        self.schema = schema
        self.producer = producer
        self.client = client
        self.interval_s = interval_s
        self.overlap = timedelta(seconds=overlap_s)
        self.first_lookback = timedelta(seconds=first_lookback_s)
        self.max_lookback = timedelta(seconds=max_lookback_s)
        self.page_size = page_size
        self.clock = clock
        self._woken: set[str] = set()
        self._wake = asyncio.Event()
        self.polls = 0  # polls finished (or given up), for observers
        self._rdts: dict[str, tuple[str, float]] = {}  # account -> (Restricted Data Token, usable until)

    def wake(self, account_id: str | None = None) -> None:
        """Poll this account (every account when None) as soon as possible, e.g. on an ORDER_CHANGE."""
        accounts = list(self.client.accounts) if account_id is None else [account_id]
        self._woken.update(a for a in accounts if a in self.client.accounts)
        self._wake.set()

    async def run(self) -> None:
        """Poll every account each interval and woken accounts at once; nothing Amazon answers stops it."""
        next_round = time.monotonic()
        while True:
            if time.monotonic() >= next_round:
                targets = list(self.client.accounts)
                next_round = time.monotonic() + self.interval_s
            else:
                targets = sorted(self._woken)
            self._woken.clear()
            self._wake.clear()
            for account_id in targets:
                await self.poll_account(account_id)
            if not self._woken:
                try:
                    await asyncio.wait_for(self._wake.wait(), max(0.0, next_round - time.monotonic()))
                except TimeoutError:
                    pass

    async def poll_account(self, account_id: str) -> int:
        """Poll each of the account's marketplaces; returns the events written."""
        account = self.client.accounts.get(account_id)
        written = 0
        for marketplace_id in account.marketplace_ids if account else []:
            try:
                written += await self.poll(account_id, marketplace_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: the next poll repeats this one
                log.warning("order_poll_error", account_id=account_id, marketplace_id=marketplace_id, error=repr(exc))
        return written

    async def poll(self, account_id: str, marketplace_id: str) -> int:
        """One poll of one marketplace, every page; returns the events written (0 when another replica polls)."""
        key = f"{account_id}|{marketplace_id}"
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext('amazon-gateway.orders-poll'), "
                                       "hashtext($1))", key):
                return 0
            try:
                return await self._poll(conn, account_id, marketplace_id)
            finally:
                self.polls += 1
                await conn.execute("SELECT pg_advisory_unlock(hashtext('amazon-gateway.orders-poll'), hashtext($1))",
                                   key)

    async def _poll(self, conn: asyncpg.Connection, account_id: str, marketplace_id: str) -> int:
        """Every page, on the one connection that holds the poll's lock."""
        cursor = await conn.fetchval(
            "SELECT cursor_at FROM order_cursors WHERE account_id = $1 AND marketplace_id = $2",
            account_id, marketplace_id)
        start = domain.window_start(cursor, self.clock(), overlap=self.overlap, first_lookback=self.first_lookback,
                                    max_lookback=self.max_lookback)
        reported_before: datetime | None = None
        seen: list[datetime] = []
        written = 0
        token: str | None = None
        try:
            while True:
                payload = await self._orders_page(account_id, marketplace_id, domain.amazon_time(start), token)
                if reported_before is None and payload.get("LastUpdatedBefore"):
                    try:
                        reported_before = domain.parse_amazon_time(payload["LastUpdatedBefore"])
                    except domain.UnreadableOrder:
                        reported_before = None
                sightings = await self._readable(conn, account_id, marketplace_id, payload["Orders"])
                seen += [s.last_update for _, s in sightings]
                written += await self._record_page(conn, account_id, marketplace_id, sightings)
                token = payload.get("NextToken") or None
                if token is None:
                    break
        except AmazonCallFailed as exc:
            await self._report(conn, account_id, marketplace_id, exc.fields,
                               f"orders-poll:{account_id}:{marketplace_id}")
            ORDER_POLLS.labels(self.producer, "failed").inc()
            return written
        moved = domain.next_cursor(cursor, reported_before, seen)
        if moved is not None:
            await conn.execute(
                "INSERT INTO order_cursors AS c (account_id, marketplace_id, cursor_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (account_id, marketplace_id) DO UPDATE "
                "SET cursor_at = greatest(c.cursor_at, EXCLUDED.cursor_at), polled_at = now()",
                account_id, marketplace_id, moved)
        ORDER_POLLS.labels(self.producer, "done").inc()
        log.info("orders_polled", account_id=account_id, marketplace_id=marketplace_id, events=written,
                 since=domain.amazon_time(start))
        return written

    async def _readable(self, conn: asyncpg.Connection, account_id: str, marketplace_id: str,
                        orders: list[Json]) -> list[tuple[Json, domain.Sighting]]:
        """The orders Amazon sent in full; one lacking its id, status or LastUpdateDate is reported and skipped,
        so it cannot hold up every other order of the account."""
        readable = []
        for order in orders:
            try:
                readable.append((order, domain.sighting(order)))
            except domain.UnreadableOrder as exc:
                await self._unreadable(conn, account_id, marketplace_id, order, exc)
        return readable

    async def _unreadable(self, conn: asyncpg.Connection, account_id: str, marketplace_id: str, order: Json,
                          exc: Exception) -> None:
        order_id = order.get("AmazonOrderId") if isinstance(order.get("AmazonOrderId"), str) else "unknown"
        await self._report(conn, account_id, marketplace_id, {
            "operation": "getOrders", "code": "UnreadableOrder", "attempts": 1,
            "message": redact(f"order {order_id}: {exc}")}, f"order:{account_id}:{order_id}")

    async def _known(self, conn: asyncpg.Connection, account_id: str, ids: list[str],
                     lock: bool = False) -> dict[str, domain.Known]:
        rows = await conn.fetch(
            "SELECT amazon_order_id, status, last_update, buyer_email_announced, address_announced "
            "FROM order_states WHERE account_id = $1 "
            f"AND amazon_order_id = ANY($2::text[]) ORDER BY amazon_order_id{' FOR UPDATE' if lock else ''}",
            account_id, ids)
        return {r["amazon_order_id"]: domain.Known(
            r["status"], r["last_update"], domain.Announced(r["buyer_email_announced"], r["address_announced"]))
            for r in rows}

    async def _record_page(self, conn: asyncpg.Connection, account_id: str, marketplace_id: str,
                           page: list[tuple[Json, domain.Sighting]]) -> int:
        """Decide and record one page: the order states and their events in one transaction."""
        if not page:
            return 0
        by_id = {s.order_id: order for order, s in page}
        sightings = [s for _, s in page]
        _, first_look = domain.decide_all(await self._known(conn, account_id, sorted(by_id)), sightings)
        buyer_data = self.client.account(account_id).pii_role
        # Items only for orders new to us, fetched outside the transaction.
        placed: dict[str, OrderPlaced] = {}
        for sight, decision in first_look:
            if decision.change is not domain.Change.PLACED:
                continue
            items = await self.client.get_order_items(account_id, sight.order_id)
            try:
                placed[sight.order_id] = domain.order_placed(
                    by_id[sight.order_id], items, account_id=account_id, marketplace_id=marketplace_id,
                    producer=self.producer, buyer_data=buyer_data)
            except domain.UnreadableOrder as exc:  # not recorded: reported, and tried again by the next poll
                await self._unreadable(conn, account_id, marketplace_id, by_id[sight.order_id], exc)
        new = {x.order_id for x, d in first_look if d.change is domain.Change.PLACED}
        sightings = [s for s in sightings if s.order_id not in new or s.order_id in placed]
        ids = sorted({s.order_id for s in sightings})
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('amazon-gateway.orders'), hashtext($1))",
                               f"{account_id}|{marketplace_id}")
            state, news = domain.decide_all(await self._known(conn, account_id, ids, lock=True), sightings)
            events: list[Event] = []
            for sight, decision in news:
                event: OrderPlaced | OrderStatusChanged
                if decision.change is domain.Change.PLACED:
                    event = placed[sight.order_id]
                else:
                    event = domain.order_status_changed(
                        by_id[sight.order_id], decision.previous_status, account_id=account_id,
                        marketplace_id=marketplace_id, producer=self.producer, buyer_data=buyer_data,
                        announced=state[sight.order_id].announced)
                known = state[sight.order_id]
                state[sight.order_id] = replace(known, announced=known.announced.after(event))
                events.append(event)
            await conn.execute(
                """
                INSERT INTO order_states AS s (account_id, amazon_order_id, marketplace_id, status, last_update,
                                               buyer_email_announced, address_announced)
                SELECT $1, i, $2, st, lu, em, ad
                FROM unnest($3::text[], $4::text[], $5::timestamptz[], $6::boolean[], $7::boolean[])
                    AS u(i, st, lu, em, ad)
                ON CONFLICT (account_id, amazon_order_id) DO UPDATE
                SET status = EXCLUDED.status, last_update = EXCLUDED.last_update,
                    buyer_email_announced = EXCLUDED.buyer_email_announced,
                    address_announced = EXCLUDED.address_announced, updated_at = now()
                WHERE (s.status, s.last_update, s.buyer_email_announced, s.address_announced)
                    IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.last_update, EXCLUDED.buyer_email_announced,
                                      EXCLUDED.address_announced)
                """,
                account_id, marketplace_id, ids, [state[i].status for i in ids], [state[i].last_update for i in ids],
                [state[i].announced.email for i in ids], [state[i].announced.address for i in ids])
            await outbox.write(conn, self.schema, events)
        for event in events:
            ORDER_EVENTS.labels(self.producer, event.event_type).inc()
        return len(events)

    async def _orders_page(self, account_id: str, marketplace_id: str, since: str, next_token: str | None) -> Json:
        """One getOrders page; for an account with the PII role read with its Restricted Data Token, and once
        more with a new token when Amazon denies the one held (revoked or expired early)."""
        async def page(rdt: str | None) -> Json:
            return await self.client.get_orders(account_id, marketplace_id, last_updated_after=since,
                                                next_token=next_token, max_results=self.page_size, rdt=rdt)

        if not self.client.account(account_id).pii_role:
            return await page(None)
        try:
            return await page(await self._restricted_data_token(account_id))
        except AmazonCallFailed as exc:
            if exc.status not in (401, 403):
                raise
            self._rdts.pop(account_id, None)
        return await page(await self._restricted_data_token(account_id))

    async def _restricted_data_token(self, account_id: str) -> str:
        """One Restricted Data Token per account for getOrders with buyer data, reused until shortly before it
        expires."""
        cached = self._rdts.get(account_id)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        token, lifetime = await self.client.create_restricted_data_token(account_id, domain.PII_RESOURCES)
        self._rdts[account_id] = (token, domain.token_usable_until(time.monotonic(), lifetime))
        return token

    async def _report(self, conn: asyncpg.Connection, account_id: str, marketplace_id: str,
                      fields: dict[str, Any], request_ref: str) -> None:
        account = self.client.accounts.get(account_id)
        event = CommunicationError.new(
            producer=self.producer, system="amazon", account_id=account_id, marketplace_id=marketplace_id,
            region=account.region if account else None, operation=fields["operation"], code=fields["code"],
            message=fields["message"], attempts=fields["attempts"], request_ref=request_ref)
        async with conn.transaction():
            await outbox.write(conn, self.schema, [event])
        log.warning("order_poll_failed", account_id=account_id, marketplace_id=marketplace_id,
                    operation=fields["operation"], code=fields["code"], request_ref=request_ref)


def attach(service: Any, client: SpApiClient) -> OrderPoller:
    """Put the poller on the service as `service.order_poller`; it polls once the service has started."""
    s = service.settings
    poller = OrderPoller(
        pool=None, schema=service.schema, producer=service.name, client=client,
        interval_s=s.order_poll_interval_s, overlap_s=s.order_poll_overlap_s,
        first_lookback_s=s.order_first_lookback_s, max_lookback_s=s.order_max_lookback_s,
        page_size=s.order_page_size)

    async def run() -> None:
        poller.pool = service.pool
        await poller.run()

    if s.order_poll_enabled:
        service.background("order-poller", run)
    service.order_poller = poller
    return poller
