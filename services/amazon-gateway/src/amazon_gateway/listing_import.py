"""Listing import: the seller's existing Amazon listings in, one AmazonListingObserved per listing out.

searchListingsItems is paged through in SKU order (stable while listings change meanwhile). Each page's
events go to the outbox in the same transaction that records the next page token in `listing_imports`,
so a page is written whole or not at all and an interrupted import continues after the last page it
wrote. A call failing for good writes a CommunicationError, marks the import failed (it resumes from
the same page next time) and raises `ImportFailed`.

Amazon lets search page through the first 1000 SKUs only; `numberOfResults` still counts them all, so
`Progress.unreachable` says how many a search cannot reach.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg
from pydantic import ValidationError

from amazon_gateway.client import AmazonCallFailed, SpApiClient
from contracts import Event
from contracts.events import AmazonIssue, AmazonListingObserved, CommunicationError
from contracts.money import Money
from servicekit import outbox
from servicekit.logging import get_logger

log = get_logger(component="listing-import")

SEARCH_PAGEABLE = 1000
MAX_PAGE_SIZE = 20
MFN_CHANNEL = "DEFAULT"
IDENTIFIER_ATTRIBUTE = "externally_assigned_product_identifier"

Json = dict[str, Any]

# ---------------------------------------------------------------- mapping (pure)


def _for_marketplace(entries: Any, marketplace_id: str) -> list[Json]:
    """The entries of a per-marketplace list that belong to this marketplace (or name none)."""
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict) and e.get("marketplaceId", marketplace_id) == marketplace_id]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def offer_price(item: Json, marketplace_id: str) -> Money | None:
    """The price of the B2C offer in this marketplace; Amazon sends the amount as a decimal string."""
    offers = _for_marketplace(item.get("offers"), marketplace_id)
    offers.sort(key=lambda o: o.get("offerType", "B2C") != "B2C")
    for offer in offers:
        price = offer.get("price")
        amount = price.get("amount") if isinstance(price, dict) else None
        if isinstance(amount, bool) or not isinstance(amount, str | int | float):
            continue
        try:
            # A number (as some other APIs send) is read through its shortest decimal text, never as binary.
            return Money(amount=Decimal(str(amount)) if isinstance(amount, float) else amount,
                         currency=price.get("currencyCode"))
        except (InvalidOperation, ValidationError):
            continue
    return None


def available_quantity(item: Json) -> int | None:
    """The merchant-fulfilled (DEFAULT) quantity, which this platform manages; else the sum of the channels
    that report one (Amazon-fulfilled stock); None when no channel says."""
    entries = [e for e in item.get("fulfillmentAvailability") or [] if isinstance(e, dict)
               and isinstance(e.get("quantity"), int) and not isinstance(e.get("quantity"), bool)
               and e["quantity"] >= 0]
    merchant = [e["quantity"] for e in entries if e.get("fulfillmentChannelCode") == MFN_CHANNEL]
    if merchant:
        return sum(merchant)
    return sum(e["quantity"] for e in entries) if entries else None


def _attribute_values(item: Json, name: str, marketplace_id: str) -> list[Json]:
    values = (item.get("attributes") or {}).get(name) if isinstance(item.get("attributes"), dict) else None
    if not isinstance(values, list):
        return []
    return [v for v in values if isinstance(v, dict) and v.get("marketplace_id", marketplace_id) == marketplace_id]


def identifiers(item: Json, summary: Json, marketplace_id: str) -> dict[str, str]:
    """EAN, UPC, GTIN, ISBN... as the listing's attributes hold them, and the FNSKU of an FBA listing."""
    out: dict[str, str] = {}
    for entry in _attribute_values(item, IDENTIFIER_ATTRIBUTE, marketplace_id):
        kind, value = _text(entry.get("type")), entry.get("value")
        if kind and isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            out[kind.upper()] = str(value)
    if fnsku := _text(summary.get("fnSku")):
        out["FNSKU"] = fnsku
    return out


def listing_issues(item: Json) -> list[AmazonIssue] | None:
    """Amazon's issues on the listing; None when the answer did not include them."""
    raw = item.get("issues")
    if not isinstance(raw, list):
        return None
    out = []
    for issue in raw:
        if not isinstance(issue, dict) or issue.get("severity") not in ("ERROR", "WARNING", "INFO"):
            continue
        names = issue.get("attributeNames")
        out.append(AmazonIssue(code=str(issue.get("code") or ""), message=str(issue.get("message") or ""),
                               severity=issue["severity"],
                               attribute_names=[n for n in names if isinstance(n, str)]
                               if isinstance(names, list) else []))
    return out


def condition(item: Json, summary: Json, marketplace_id: str) -> str | None:
    if value := _text(summary.get("conditionType")):
        return value
    for entry in _attribute_values(item, "condition_type", marketplace_id):
        if value := _text(entry.get("value")):
            return value
    return None


def product_type(item: Json, summary: Json, marketplace_id: str) -> str | None:
    if value := _text(summary.get("productType")):
        return value
    for entry in _for_marketplace(item.get("productTypes"), marketplace_id):
        if value := _text(entry.get("productType")):
            return value
    return None


def observed(item: Json, *, account_id: str, marketplace_id: str, producer: str,
             correlation_id: uuid.UUID) -> AmazonListingObserved:
    """One searchListingsItems item as the platform's event; ValidationError when it cannot be one."""
    summaries = _for_marketplace(item.get("summaries"), marketplace_id)
    summary = summaries[0] if summaries else {}
    status = summary.get("status")
    event = AmazonListingObserved.new(
        producer=producer, account_id=account_id, marketplace_id=marketplace_id, sku=item.get("sku"),
        asin=_text(summary.get("asin")), product_type=product_type(item, summary, marketplace_id),
        status=[s for s in status if isinstance(s, str)] if isinstance(status, list) else [],
        price=offer_price(item, marketplace_id), quantity=available_quantity(item),
        condition=condition(item, summary, marketplace_id),
        identifiers=identifiers(item, summary, marketplace_id), issues=listing_issues(item), source="import")
    return event.model_copy(update={"correlation_id": correlation_id})


@dataclass(frozen=True)
class PageEvents:
    events: list[AmazonListingObserved]
    skipped: list[str]  # "sku: why" for items that could not become an event


def page_events(items: Iterable[Json], *, account_id: str, marketplace_id: str, producer: str,
                correlation_id: uuid.UUID) -> PageEvents:
    """Events for a page's items; an item that cannot be an event (a SKU over 40 characters) is named, not
    fatal."""
    events, skipped = [], []
    for item in items:
        try:
            events.append(observed(item, account_id=account_id, marketplace_id=marketplace_id, producer=producer,
                                   correlation_id=correlation_id))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            skipped.append(f"{item.get('sku')!r}: {'.'.join(map(str, first['loc']))}: {first['msg']}")
    return PageEvents(events, skipped)


def next_token(page: Json) -> str | None:
    pagination = page.get("pagination")
    return _text(pagination.get("nextToken")) if isinstance(pagination, dict) else None


# ---------------------------------------------------------------- progress


@dataclass(frozen=True)
class Progress:
    account_id: str
    marketplace_id: str
    run_id: uuid.UUID
    status: str  # running | done | failed
    pages: int
    imported: int
    skipped: int
    total: int | None
    next_page_token: str | None
    last_error: str | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def unreachable(self) -> int:
        """Listings Amazon counted that searchListingsItems cannot page to (beyond its first 1000)."""
        return max(0, (self.total or 0) - SEARCH_PAGEABLE)

    def as_json(self) -> Json:
        return {"account_id": self.account_id, "marketplace_id": self.marketplace_id, "run_id": str(self.run_id),
                "status": self.status, "pages": self.pages, "imported": self.imported, "skipped": self.skipped,
                "total": self.total, "unreachable": self.unreachable, "resumable": self.next_page_token is not None,
                "last_error": self.last_error, "started_at": self.started_at.isoformat(),
                "updated_at": self.updated_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None}


_COLUMNS = ("account_id, marketplace_id, run_id, status, pages, imported, skipped, total, next_page_token, "
            "last_error, started_at, updated_at, finished_at")


def _progress(row: asyncpg.Record) -> Progress:
    return Progress(**dict(row))


async def progress(conn: asyncpg.Connection | asyncpg.Pool, account_id: str,
                   marketplace_id: str | None = None) -> list[Progress]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM listing_imports WHERE account_id = $1 "
        "AND ($2::text IS NULL OR marketplace_id = $2) ORDER BY marketplace_id", account_id, marketplace_id)
    return [_progress(r) for r in rows]


# ---------------------------------------------------------------- running


class ImportFailed(Exception):
    """Amazon failed for good; the CommunicationError is written and the import resumes from this page."""

    def __init__(self, fields: Json, progress: Progress) -> None:
        super().__init__(f"{fields['operation']} failed after {fields['attempts']} attempt(s): "
                         f"{fields['code']}: {fields['message']}")
        self.fields = fields
        self.progress = progress


class ImportBusy(Exception):
    """Another import of the same account and marketplace holds its lock."""


def _lock_key(account_id: str, marketplace_id: str) -> str:
    return f"{account_id}|{marketplace_id}"


async def _begin(conn: asyncpg.Connection, account_id: str, marketplace_id: str, restart: bool) -> Progress:
    """Continue the stored import unless it finished (or `restart`): then start over from the first page."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM listing_imports WHERE account_id = $1 AND marketplace_id = $2",
        account_id, marketplace_id)
    if row is None or restart or row["status"] == "done":
        row = await conn.fetchrow(
            f"""
            INSERT INTO listing_imports (account_id, marketplace_id, run_id, status)
            VALUES ($1, $2, $3, 'running')
            ON CONFLICT (account_id, marketplace_id) DO UPDATE SET
                run_id = EXCLUDED.run_id, status = 'running', next_page_token = NULL, pages = 0, imported = 0,
                skipped = 0, total = NULL, last_error = NULL, started_at = now(), updated_at = now(),
                finished_at = NULL
            RETURNING {_COLUMNS}
            """, account_id, marketplace_id, uuid.uuid4())
    else:
        row = await conn.fetchrow(
            f"UPDATE listing_imports SET status = 'running', updated_at = now() "
            f"WHERE account_id = $1 AND marketplace_id = $2 RETURNING {_COLUMNS}", account_id, marketplace_id)
    assert row is not None
    return _progress(row)


@dataclass
class ListingImport:
    """Imports one account's listings in one marketplace through the service's outbox."""

    pool: asyncpg.Pool
    schema: str
    client: SpApiClient
    producer: str
    page_size: int = MAX_PAGE_SIZE
    # After each committed page: the outbox rows may be published (the CLI relays them itself).
    after_commit: Callable[[], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}")

    async def run(self, account_id: str, marketplace_id: str, *, restart: bool = False,
                  on_progress: Callable[[Progress], None] | None = None) -> Progress:
        """Page through to the end; returns the finished import's progress, or raises ImportFailed/ImportBusy."""
        async with self.pool.acquire() as lock_conn:
            key = _lock_key(account_id, marketplace_id)
            if not await lock_conn.fetchval(
                    "SELECT pg_try_advisory_lock(hashtext('amazon-gateway.import'), hashtext($1))", key):
                raise ImportBusy(f"an import of {account_id} in {marketplace_id} is already running")
            try:
                return await self._run_locked(account_id, marketplace_id, restart, on_progress)
            finally:
                await lock_conn.execute(
                    "SELECT pg_advisory_unlock(hashtext('amazon-gateway.import'), hashtext($1))", key)

    async def _run_locked(self, account_id: str, marketplace_id: str, restart: bool,
                          on_progress: Callable[[Progress], None] | None) -> Progress:
        async with self.pool.acquire() as conn:
            state = await _begin(conn, account_id, marketplace_id, restart)
        log.info("listing_import_started", account_id=account_id, marketplace_id=marketplace_id,
                 run_id=str(state.run_id), resumed=state.pages > 0)
        if on_progress:
            on_progress(state)
        while True:
            try:
                page = await self.client.search_listings_items(
                    account_id, marketplace_id, page_size=self.page_size, page_token=state.next_page_token)
            except AmazonCallFailed as exc:
                state = await self._fail(state, exc.fields)
                raise ImportFailed(exc.fields, state) from exc
            state = await self._write_page(state, page)
            if self.after_commit:
                await self.after_commit()
            if on_progress:
                on_progress(state)
            if state.status == "done":
                log.info("listing_import_done", account_id=account_id, marketplace_id=marketplace_id,
                         imported=state.imported, skipped=state.skipped, total=state.total,
                         unreachable=state.unreachable)
                return state

    async def _write_page(self, state: Progress, page: Json) -> Progress:
        built = page_events(page["items"], account_id=state.account_id, marketplace_id=state.marketplace_id,
                            producer=self.producer, correlation_id=state.run_id)
        for why in built.skipped:
            log.warning("listing_import_item_skipped", account_id=state.account_id,
                        marketplace_id=state.marketplace_id, item=why)
        token = next_token(page)
        async with self.pool.acquire() as conn, conn.transaction():
            await outbox.write(conn, self.schema, built.events)
            row = await conn.fetchrow(
                f"""
                UPDATE listing_imports SET next_page_token = $3, pages = pages + 1, imported = imported + $4,
                    skipped = skipped + $5, total = $6, status = $7, last_error = NULL, updated_at = now(),
                    finished_at = CASE WHEN $7 = 'done' THEN now() END
                WHERE account_id = $1 AND marketplace_id = $2 AND run_id = $8
                RETURNING {_COLUMNS}
                """,
                state.account_id, state.marketplace_id, token, len(built.events), len(built.skipped),
                page["numberOfResults"], "running" if token else "done", state.run_id)
            if row is None:
                raise RuntimeError("the import was restarted elsewhere; this page is not written")
        return _progress(row)

    async def _fail(self, state: Progress, fields: Json) -> Progress:
        account = self.client.accounts.get(state.account_id)
        error: Event = CommunicationError.new(
            producer=self.producer, system="amazon", account_id=state.account_id,
            marketplace_id=state.marketplace_id, region=account.region if account else None,
            operation=fields["operation"], code=fields["code"], message=fields["message"],
            attempts=fields["attempts"], request_ref=f"listing-import:{state.run_id}")
        error = error.model_copy(update={"correlation_id": state.run_id})
        async with self.pool.acquire() as conn, conn.transaction():
            await outbox.write(conn, self.schema, [error])
            row = await conn.fetchrow(
                f"UPDATE listing_imports SET status = 'failed', last_error = $3, updated_at = now() "
                f"WHERE account_id = $1 AND marketplace_id = $2 RETURNING {_COLUMNS}",
                state.account_id, state.marketplace_id, f"{fields['code']}: {fields['message']}")
        if self.after_commit:
            await self.after_commit()
        log.warning("listing_import_failed", account_id=state.account_id, marketplace_id=state.marketplace_id,
                    **fields)
        assert row is not None
        return _progress(row)


def marketplaces_to_import(client: SpApiClient, account_id: str, marketplace_id: str | None) -> list[str]:
    """The one asked for, else every marketplace the account is configured for; ValueError when neither helps."""
    account = client.accounts.get(account_id)
    if account is None:
        raise ValueError(f"no credentials configured for account {account_id!r} "
                         "(AMAZON_ACCOUNTS or AMAZON_ACCOUNTS_FILE)")
    if marketplace_id:
        if account.marketplace_ids and marketplace_id not in account.marketplace_ids:
            raise ValueError(f"account {account_id!r} is not configured for marketplace {marketplace_id!r} "
                             f"(it has {', '.join(account.marketplace_ids)})")
        return [marketplace_id]
    if not account.marketplace_ids:
        raise ValueError(f"account {account_id!r} lists no marketplace_ids: name one with a marketplace id")
    return list(account.marketplace_ids)


# ---------------------------------------------------------------- publishing without a running gateway


class OutboxFlush:
    """Publishes the gateway's outbox from this process while no gateway relay leads.

    The CLI writes through the outbox like the service does. When a gateway runs, its relay holds the
    outbox lock and publishes the rows (woken by the NOTIFY of each commit); otherwise this takes the
    same lock and relays after every page, so the command also works alone. Rows it cannot publish
    (no broker) stay in the outbox for the next gateway start.
    """

    def __init__(self, *, dsn: str, schema: str, bootstrap: str, service: str) -> None:
        self.dsn, self.schema, self.bootstrap, self.service = dsn, schema, bootstrap, service
        self.conn: asyncpg.Connection | None = None
        self.relay: Any = None
        self.problem: str | None = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        from servicekit.outbox import OutboxRelay

        self.conn = await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema})
        if not await self.conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"{self.schema}.outbox"):
            return  # a running gateway's relay publishes them
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", client_id=f"{self.service}-import")
        try:
            await producer.start()
        except Exception as exc:  # no broker: the rows wait in the outbox
            self.problem = f"broker {self.bootstrap} unreachable: {exc!r}"
            await producer.stop()
            return
        self.relay = OutboxRelay(service=self.service, dsn=self.dsn, schema=self.schema, producer=producer)

    @property
    def relaying(self) -> bool:
        return self.relay is not None

    async def __call__(self) -> None:
        if self.relay is None or self.conn is None:
            return
        try:
            while await self.relay.relay_once(self.conn) >= self.relay.batch_size:
                pass
        except Exception as exc:  # kept in the outbox; published by the next relay that runs
            self.problem = f"publishing failed: {exc!r}"
            log.warning("listing_import_publish_failed", error=repr(exc))

    async def waiting(self) -> int:
        assert self.conn is not None
        return int(await self.conn.fetchval("SELECT count(*) FROM _outbox"))

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.producer.stop()
        if self.conn is not None:
            await self.conn.close()  # ends the session, and with it the advisory lock


# ---------------------------------------------------------------- the service's admin surface


def attach(service: Any, client: SpApiClient) -> None:
    """`POST /import/listings` queues an import for the service's background worker; `GET` reads progress."""
    from fastapi import APIRouter, HTTPException

    queue: asyncio.Queue[tuple[str, list[str], bool]] = asyncio.Queue()

    async def worker() -> None:
        while True:
            account_id, marketplaces, restart = await queue.get()
            importer = ListingImport(pool=service.pool, schema=service.schema, client=client, producer=service.name)
            for marketplace_id in marketplaces:
                try:
                    await importer.run(account_id, marketplace_id, restart=restart)
                except (ImportFailed, ImportBusy) as exc:
                    log.warning("listing_import_stopped", account_id=account_id, marketplace_id=marketplace_id,
                                reason=str(exc))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # database trouble: the import stays resumable
                    log.warning("listing_import_error", account_id=account_id, marketplace_id=marketplace_id,
                                error=repr(exc))

    router = APIRouter(tags=["import"])

    @router.post("/import/listings", status_code=202)
    async def start_import(account_id: str, marketplace_id: str | None = None, restart: bool = False) -> Json:
        """Import the account's existing listings (every configured marketplace unless one is named) in the
        background; a failed or interrupted import continues where it stopped unless `restart`."""
        try:
            marketplaces = marketplaces_to_import(client, account_id, marketplace_id)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        queue.put_nowait((account_id, marketplaces, restart))
        return {"queued": marketplaces, "account_id": account_id}

    @router.get("/import/listings")
    async def import_progress(account_id: str, marketplace_id: str | None = None) -> list[Json]:
        """Each marketplace's import: status, pages, imported of total, the last error."""
        assert service.pool is not None
        return [p.as_json() for p in await progress(service.pool, account_id, marketplace_id)]

    service.background("listing-import", worker)
    service.include_router(router)
