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
from typing import Any, Literal

import asyncpg
from fastapi import APIRouter, Query
from pydantic import ValidationError

from amazon_gateway.client import AmazonCallFailed, SpApiClient
from amazon_gateway.domain.orders import MARKETPLACE_CURRENCY
from contracts import Event
from contracts.events import AmazonIssue, AmazonListingObserved, CommunicationError
from contracts.money import Money
from servicekit import audit, outbox
from servicekit.auth import Principal, Scope, requires
from servicekit.logging import get_logger
from servicekit.problems import FieldError, ProblemError

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
    source: str  # search | report
    report_id: str | None
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
        return max(0, (self.total or 0) - SEARCH_PAGEABLE) if self.source == "search" else 0

    @property
    def rows_done(self) -> int:
        return self.imported + self.skipped

    def as_json(self) -> Json:
        return {"account_id": self.account_id, "marketplace_id": self.marketplace_id, "run_id": str(self.run_id),
                "status": self.status, "source": self.source, "report_id": self.report_id, "pages": self.pages,
                "imported": self.imported, "skipped": self.skipped, "total": self.total,
                "unreachable": self.unreachable, "resumable": self.status != "done",
                "last_error": self.last_error, "started_at": self.started_at.isoformat(),
                "updated_at": self.updated_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None}


_COLUMNS = ("account_id, marketplace_id, run_id, status, source, report_id, pages, imported, skipped, total, "
            "next_page_token, last_error, started_at, updated_at, finished_at")


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


async def _begin(conn: asyncpg.Connection, account_id: str, marketplace_id: str, source: str,
                 restart: bool) -> Progress:
    """Continue the stored import unless it finished, used the other source, or `restart`: then start over."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM listing_imports WHERE account_id = $1 AND marketplace_id = $2",
        account_id, marketplace_id)
    if row is None or restart or row["status"] == "done" or row["source"] != source:
        row = await conn.fetchrow(
            f"""
            INSERT INTO listing_imports (account_id, marketplace_id, run_id, status, source)
            VALUES ($1, $2, $3, 'running', $4)
            ON CONFLICT (account_id, marketplace_id) DO UPDATE SET
                run_id = EXCLUDED.run_id, status = 'running', source = EXCLUDED.source, report_id = NULL,
                next_page_token = NULL, pages = 0, imported = 0, skipped = 0, total = NULL, last_error = NULL,
                started_at = now(), updated_at = now(), finished_at = NULL
            RETURNING {_COLUMNS}
            """, account_id, marketplace_id, uuid.uuid4(), source)
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
    source: str = "search"  # or "report": GET_MERCHANT_LISTINGS_ALL_DATA, for catalogues beyond 1000 SKUs
    report_poll_s: float = 15.0  # first wait for the report; doubles up to report_poll_max_s
    report_poll_max_s: float = 120.0
    report_chunk: int = 500  # report rows written per transaction
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}")
        if self.source not in ("search", "report"):
            raise ValueError(f"unknown source {self.source!r}: search or report")

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
            state = await _begin(conn, account_id, marketplace_id, self.source, restart)
        log.info("listing_import_started", account_id=account_id, marketplace_id=marketplace_id,
                 run_id=str(state.run_id), source=self.source, resumed=state.pages > 0 or bool(state.report_id))
        if on_progress:
            on_progress(state)
        if self.source == "report":
            return await self._from_report(state, on_progress)
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

    async def _from_report(self, state: Progress, on_progress: Callable[[Progress], None] | None) -> Progress:
        try:
            state = await _write_report(self, state, on_progress)
        except AmazonCallFailed as exc:
            state = await self._fail(state, exc.fields)
            raise ImportFailed(exc.fields, state) from exc
        except _ReportEnded as exc:
            state = await self._fail(state, exc.fields, forget_report=True)
            raise ImportFailed(exc.fields, state) from exc
        log.info("listing_import_done", account_id=state.account_id, marketplace_id=state.marketplace_id,
                 source="report", imported=state.imported, skipped=state.skipped, total=state.total)
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

    async def _fail(self, state: Progress, fields: Json, *, forget_report: bool = False) -> Progress:
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
                f"UPDATE listing_imports SET status = 'failed', last_error = $3, updated_at = now(), "
                f"report_id = CASE WHEN $4 THEN NULL ELSE report_id END "
                f"WHERE account_id = $1 AND marketplace_id = $2 RETURNING {_COLUMNS}",
                state.account_id, state.marketplace_id, f"{fields['code']}: {fields['message']}", forget_report)
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


# ---------------------------------------------------------------- the service's admin surface


def attach(service: Any, client: SpApiClient) -> None:
    """`POST /import/listings` queues an import for the service's background worker; `GET` reads progress."""
    queue: asyncio.Queue[tuple[str, list[str], bool, str]] = asyncio.Queue()

    async def worker() -> None:
        while True:
            account_id, marketplaces, restart, source = await queue.get()
            importer = ListingImport(pool=service.pool, schema=service.schema, client=client, producer=service.name,
                                     source=source)
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
    Account = Query(min_length=1, max_length=200, description="A configured account")
    Marketplace = Query(None, min_length=1, max_length=40, description="One of the account's marketplaces")

    @router.post("/import/listings", status_code=202,
                 responses={404: {"description": "The account, or the marketplace of the account, is not configured"}})
    async def start_import(account_id: str = Account, marketplace_id: str | None = Marketplace, restart: bool = False,
                           source: Literal["search", "report"] = "search",
                           caller: Principal = requires(Scope.OPERATE)) -> Json:
        """Import the account's existing listings (every configured marketplace unless one is named) in the
        background, through searchListingsItems (first 1000 SKUs) or the merchant listings report (all);
        a failed or interrupted import continues where it stopped unless `restart`."""
        try:
            marketplaces = marketplaces_to_import(client, account_id, marketplace_id)
        except ValueError as exc:
            field = "query.marketplace_id" if marketplace_id and account_id in client.accounts else "query.account_id"
            raise ProblemError(404, str(exc), errors=[FieldError(field=field, reason=str(exc))]) from exc

        async def work(conn: Any) -> Json:
            queue.put_nowait((account_id, marketplaces, restart, source))
            return {"queued": marketplaces, "account_id": account_id, "source": source, "restart": restart}
        result = await audit.act(service, caller, "import.listings", f"account {account_id}", work)
        return {k: result[k] for k in ("queued", "account_id", "source")}

    @router.get("/import/listings", dependencies=[requires(Scope.READ)])
    async def import_progress(account_id: str = Account, marketplace_id: str | None = Marketplace) -> list[Json]:
        """Each marketplace's import: status, pages, imported of total, the last error."""
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        return [p.as_json() for p in await progress(service.pool, account_id, marketplace_id)]

    service.background("listing-import", worker)
    service.include_router(router)


# ---------------------------------------------------------------- the merchant listings report


REPORT_TYPE = "GET_MERCHANT_LISTINGS_ALL_DATA"
REPORT_FINAL_FAILURES = ("CANCELLED", "FATAL")
# The report's numeric item-condition -> the Listings API's condition_type
REPORT_CONDITIONS = {
    "1": "used_like_new", "2": "used_very_good", "3": "used_good", "4": "used_acceptable",
    "5": "collectible_like_new", "6": "collectible_very_good", "7": "collectible_good", "8": "collectible_acceptable",
    "10": "refurbished_refurbished", "11": "new_new",
}
# The report's product-id-type -> identifier name (1 is the ASIN, carried as `asin`)
REPORT_ID_TYPES = {"2": "ISBN", "3": "UPC", "4": "EAN"}
# The report's status -> the Listings API's summary statuses
REPORT_STATUSES = {"Active": ["BUYABLE", "DISCOVERABLE"], "Inactive": ["DISCOVERABLE"]}


def report_rows(content: bytes) -> list[dict[str, str]]:
    """The rows of a tab-separated report. Amazon writes UTF-8 for some marketplaces and windows-1252 for
    others, without saying which: UTF-8 when it decodes, else cp1252 (which decodes any byte)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = [h.strip() for h in lines[0].split("\t")]
    return [dict(zip(header, (v.strip() for v in line.split("\t")), strict=False)) for line in lines[1:]]


def observed_from_row(row: dict[str, str], *, account_id: str, marketplace_id: str, currency: str | None,
                      producer: str, correlation_id: uuid.UUID) -> AmazonListingObserved:
    """One GET_MERCHANT_LISTINGS_ALL_DATA row as the platform's event; ValidationError when it cannot be one.
    The report has no product type and no issues: those stay unknown (None)."""
    price: Money | None = None
    if (amount := row.get("price", "")) and currency:
        try:
            price = Money(amount=amount, currency=currency)
        except ValidationError:
            price = None
    quantity = row.get("quantity", "")
    kind, value = REPORT_ID_TYPES.get(row.get("product-id-type", "")), row.get("product-id", "")
    event = AmazonListingObserved.new(
        producer=producer, account_id=account_id, marketplace_id=marketplace_id, sku=row.get("seller-sku"),
        asin=row.get("asin1") or None, status=REPORT_STATUSES.get(row.get("status", ""), []), price=price,
        quantity=int(quantity) if quantity.isdigit() else None,
        condition=REPORT_CONDITIONS.get(row.get("item-condition", "")),
        identifiers={kind: value} if kind and value else {}, source="report")
    return event.model_copy(update={"correlation_id": correlation_id})


def report_events(rows: Iterable[dict[str, str]], *, account_id: str, marketplace_id: str, currency: str | None,
                  producer: str, correlation_id: uuid.UUID) -> PageEvents:
    events, skipped = [], []
    for row in rows:
        try:
            events.append(observed_from_row(row, account_id=account_id, marketplace_id=marketplace_id,
                                            currency=currency, producer=producer, correlation_id=correlation_id))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            skipped.append(f"{row.get('seller-sku')!r}: {'.'.join(map(str, first['loc']))}: {first['msg']}")
    return PageEvents(events, skipped)


async def _write_report(self: ListingImport, state: Progress,
                        on_progress: Callable[[Progress], None] | None) -> Progress:
    """Request the report once per import, wait for it, then write its rows in chunks from where it stopped."""
    account_id, marketplace_id = state.account_id, state.marketplace_id
    if state.report_id is None:
        report_id = await self.client.create_report(account_id, REPORT_TYPE, [marketplace_id])
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"UPDATE listing_imports SET report_id = $3, updated_at = now() WHERE account_id = $1 "
                f"AND marketplace_id = $2 AND run_id = $4 RETURNING {_COLUMNS}",
                account_id, marketplace_id, report_id, state.run_id)
        if row is None:
            raise RuntimeError("the import was restarted elsewhere")
        state = _progress(row)
    assert state.report_id is not None
    wait = self.report_poll_s
    while (report := await self.client.get_report(account_id, state.report_id))["processingStatus"] != "DONE":
        if report["processingStatus"] in REPORT_FINAL_FAILURES:
            raise _ReportEnded(report["processingStatus"], state.report_id)
        await self.sleep(wait)
        wait = min(wait * 2, self.report_poll_max_s)
    document = await self.client.get_report_document(account_id, report["reportDocumentId"])
    rows = report_rows(await self.client.download_report_document(document))
    currency = MARKETPLACE_CURRENCY.get(marketplace_id)
    start = state.rows_done
    while True:
        chunk = rows[start: start + self.report_chunk]
        built = report_events(chunk, account_id=account_id, marketplace_id=marketplace_id, currency=currency,
                              producer=self.producer, correlation_id=state.run_id)
        for why in built.skipped:
            log.warning("listing_import_item_skipped", account_id=account_id, marketplace_id=marketplace_id,
                        item=why)
        start += len(chunk)
        finished = start >= len(rows)
        async with self.pool.acquire() as conn, conn.transaction():
            await outbox.write(conn, self.schema, built.events)
            row = await conn.fetchrow(
                f"""
                UPDATE listing_imports SET pages = pages + 1, imported = imported + $3, skipped = skipped + $4,
                    total = $5, status = $6, last_error = NULL, updated_at = now(),
                    finished_at = CASE WHEN $6 = 'done' THEN now() END
                WHERE account_id = $1 AND marketplace_id = $2 AND run_id = $7
                RETURNING {_COLUMNS}
                """,
                account_id, marketplace_id, len(built.events), len(built.skipped), len(rows),
                "done" if finished else "running", state.run_id)
        if row is None:
            raise RuntimeError("the import was restarted elsewhere; this chunk is not written")
        state = _progress(row)
        if self.after_commit:
            await self.after_commit()
        if on_progress:
            on_progress(state)
        if finished:
            return state


class _ReportEnded(Exception):
    def __init__(self, status: str, report_id: str) -> None:
        super().__init__(status)
        self.fields = {"operation": "getReport", "code": status, "attempts": 1,
                       "message": f"report {report_id} ({REPORT_TYPE}) ended {status}; the next run requests a new one"}
