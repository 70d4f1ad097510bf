"""Catalogue in: Commerce products read through `GET /V1/products`, one ProductChanged per product out.

Full import: pages in entity_id order, each page's events written to the outbox in the transaction that
stores the next page in `catalog_imports`, so an interrupted import continues from the next page and
neither skips nor repeats one; the next page is read while one is written. It stops on total_count
(Commerce answers a page past the end with the last page again). A call failing for good writes a
CommunicationError, marks the import failed (it resumes from the same page) and raises `ImportFailed`.

Incremental sync: products whose updated_at is after the cursor in `catalog_cursors` less an overlap
window, in entity_id order; a product emits only when its content hash (`product_hashes`) changed, and the
cursor moves when a pass has read every page.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from commerce_gateway.client import CommerceCallFailed, CommerceClient
from commerce_gateway.domain import paging
from commerce_gateway.domain.products import (
    PageEvents,
    Parents,
    commerce_time,
    content_hash,
    page_events,
    parents_of,
)
from contracts.events import CommunicationError, ProductChanged
from servicekit import outbox
from servicekit.logging import get_logger

log = get_logger(component="catalog")

Json = dict[str, Any]
DEFAULT_PAGE_SIZE = 300


class ImportFailed(Exception):
    """Commerce failed for good; the CommunicationError is written and the import resumes from this page."""

    def __init__(self, fields: Json, progress: Progress) -> None:
        super().__init__(f"{fields['operation']} failed after {fields['attempts']} attempt(s): "
                         f"{fields['code']}: {fields['message']}")
        self.fields = fields
        self.progress = progress


class ImportBusy(Exception):
    """Another import of the same store holds its lock."""


@dataclass(frozen=True)
class Progress:
    store_code: str
    run_id: uuid.UUID
    status: str  # running | done | failed
    page_size: int
    next_page: int
    pages: int
    imported: int
    skipped: int
    total: int | None
    last_error: str | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    def as_json(self) -> Json:
        return {"store_code": self.store_code, "run_id": str(self.run_id), "status": self.status,
                "page_size": self.page_size, "next_page": self.next_page, "pages": self.pages,
                "imported": self.imported, "skipped": self.skipped, "total": self.total,
                "resumable": self.status != "done", "last_error": self.last_error,
                "started_at": self.started_at.isoformat(), "updated_at": self.updated_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None}


_COLUMNS = ("store_code, run_id, status, page_size, next_page, pages, imported, skipped, total, last_error, "
            "started_at, updated_at, finished_at")


async def progress(conn: asyncpg.Connection | asyncpg.Pool, store_code: str) -> Progress | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM catalog_imports WHERE store_code = $1", store_code)
    return Progress(**dict(row)) if row else None


async def _store_hashes(conn: asyncpg.Connection, events: list[ProductChanged]) -> None:
    if events:
        await conn.execute(
            """
            INSERT INTO product_hashes (store_code, sku, hash)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
            ON CONFLICT (store_code, sku) DO UPDATE SET hash = EXCLUDED.hash, updated_at = now()
            """, [e.store_code for e in events], [e.sku for e in events], [content_hash(e) for e in events])


async def _communication_error(conn: asyncpg.Connection, schema: str, producer: str, fields: Json,
                               request_ref: str, correlation_id: uuid.UUID | None = None) -> None:
    error = CommunicationError.new(producer=producer, system="commerce", operation=fields["operation"],
                                   code=fields["code"], message=fields["message"], attempts=fields["attempts"],
                                   request_ref=request_ref)
    if correlation_id:
        error = error.model_copy(update={"correlation_id": correlation_id})
    await outbox.write(conn, schema, [error])


@dataclass
class Catalog:
    """What import and sync share: the client, the store, the currency and configurable parents."""

    pool: asyncpg.Pool
    schema: str
    client: CommerceClient
    producer: str
    store_code: str = "default"
    currency: str | None = None  # the store's base currency; read from Commerce when not configured
    page_size: int = DEFAULT_PAGE_SIZE
    after_commit: Callable[[], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        if not paging.MIN_PAGE_SIZE <= self.page_size <= paging.MAX_PAGE_SIZE:
            raise ValueError(f"page size must be between {paging.MIN_PAGE_SIZE} and {paging.MAX_PAGE_SIZE}")

    async def base_currency(self) -> str:
        if self.currency is None:
            self.currency = await self.client.base_currency()
        return self.currency

    async def parents(self) -> dict[int, str]:
        """Child entity id -> configurable parent SKU, from every configurable product."""
        out: dict[int, str] = {}
        async for items in self._configurables():
            out.update(parents_of(items))
        return out

    async def _configurables(self) -> AsyncIterator[list[Json]]:
        page = 1
        while True:
            body = await self.client.search_products(page=page, page_size=self.page_size,
                                                     filters=(("type_id", "eq", "configurable"),))
            yield body["items"]
            if paging.is_last(page, body["total_count"], self.page_size):
                return
            page += 1

    def events(self, items: list[Json], currency: str, parents: Mapping[int, str],
               correlation_id: uuid.UUID | None) -> PageEvents:
        built = page_events(items, store_code=self.store_code, currency=currency, producer=self.producer,
                            parents=parents, correlation_id=correlation_id)
        for why in built.skipped:
            log.debug("product_skipped", store_code=self.store_code, item=why)
        return built

    async def write_changed(self, items: list[Json], currency: str, parents: dict[int, str]) -> int:
        """Emit the products whose event differs from the one last emitted (`product_hashes`); how many did."""
        built = self.events(items, currency, parents, None)
        if not built.events:
            return 0
        async with self.pool.acquire() as conn, conn.transaction():
            skus = [e.sku for e in built.events]
            # Locked in SKU order, so a concurrent import and sync never both announce one change.
            known = {r["sku"]: r["hash"] for r in await conn.fetch(
                "SELECT sku, hash FROM product_hashes WHERE store_code = $1 AND sku = ANY($2::text[]) "
                "ORDER BY sku FOR UPDATE", self.store_code, sorted(skus))}
            changed = [e for e in built.events if known.get(e.sku) != content_hash(e)]
            await outbox.write(conn, self.schema, changed)
            await _store_hashes(conn, changed)
        if changed:
            await self._committed()
        return len(changed)

    async def _committed(self) -> None:
        if self.after_commit:
            await self.after_commit()

    async def _locked(self, name: str, work: Callable[[], Awaitable[Any]]) -> Any:
        async with self.pool.acquire() as lock_conn:
            args = (f"{self.schema}.{name}", self.store_code)
            if not await lock_conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1), hashtext($2))", *args):
                raise ImportBusy(f"a catalogue {name} of store {self.store_code} is already running")
            try:
                return await work()
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock(hashtext($1), hashtext($2))", *args)


@dataclass
class CatalogImport(Catalog):
    async def run(self, *, restart: bool = False,
                  on_progress: Callable[[Progress], None] | None = None) -> Progress:
        """Page through to the end; returns the finished import's progress, or raises ImportFailed/ImportBusy."""
        result: Progress = await self._locked("import", lambda: self._run(restart, on_progress))
        return result

    async def _begin(self, restart: bool) -> Progress:
        """Continue the stored import unless it finished or `restart`: then start over (at the new page size)."""
        async with self.pool.acquire() as conn:
            state = await progress(conn, self.store_code)
            if state is None or restart or state.status == "done":
                row = await conn.fetchrow(
                    f"""
                    INSERT INTO catalog_imports (store_code, run_id, status, page_size) VALUES ($1, $2, 'running', $3)
                    ON CONFLICT (store_code) DO UPDATE SET run_id = EXCLUDED.run_id, status = 'running',
                        page_size = EXCLUDED.page_size, next_page = 1, pages = 0, imported = 0, skipped = 0,
                        total = NULL, last_error = NULL, started_at = now(), updated_at = now(), finished_at = NULL
                    RETURNING {_COLUMNS}
                    """, self.store_code, uuid.uuid4(), self.page_size)
            else:  # the stored page size keeps page numbers meaning the same products
                row = await conn.fetchrow(
                    f"UPDATE catalog_imports SET status = 'running', updated_at = now() WHERE store_code = $1 "
                    f"RETURNING {_COLUMNS}", self.store_code)
        assert row is not None
        return Progress(**dict(row))

    async def _run(self, restart: bool, on_progress: Callable[[Progress], None] | None) -> Progress:
        state = await self._begin(restart)
        log.info("catalog_import_started", store_code=self.store_code, run_id=str(state.run_id),
                 resumed=state.pages > 0, next_page=state.next_page)
        if on_progress:
            on_progress(state)
        try:
            currency = await self.base_currency()
            parents = Parents()  # the whole catalogue's children, compact
            async for items in self._configurables():
                parents.add(items)
        except CommerceCallFailed as exc:
            state = await self._fail(state, exc.fields)
            raise ImportFailed(exc.fields, state) from exc
        reading = self._read(state.next_page, state.page_size)
        try:
            while True:
                try:
                    page = await reading
                except CommerceCallFailed as exc:
                    state = await self._fail(state, exc.fields)
                    raise ImportFailed(exc.fields, state) from exc
                if not paging.is_last(state.next_page, page["total_count"], state.page_size):
                    reading = self._read(state.next_page + 1, state.page_size)  # while this page is written
                state = await self._write_page(state, page, currency, parents)
                await self._committed()
                if on_progress:
                    on_progress(state)
                if state.status == "done":
                    log.info("catalog_import_done", store_code=self.store_code, imported=state.imported,
                             skipped=state.skipped, total=state.total)
                    return state
        finally:
            if not reading.done():
                reading.cancel()
            elif not reading.cancelled():
                reading.exception()  # a read ahead that failed while a page could not be written: retried on resume

    def _read(self, page: int, page_size: int) -> asyncio.Task[Json]:
        return asyncio.create_task(self.client.search_products(page=page, page_size=page_size))

    async def _write_page(self, state: Progress, page: Json, currency: str, parents: Mapping[int, str]
                          ) -> Progress:
        total = page["total_count"]
        items = page["items"] if state.next_page <= paging.page_count(total, state.page_size) else []
        built = self.events(items, currency, parents, state.run_id)
        done = paging.is_last(state.next_page, total, state.page_size)
        async with self.pool.acquire() as conn, conn.transaction():
            await outbox.write(conn, self.schema, built.events)
            await _store_hashes(conn, built.events)
            row = await conn.fetchrow(
                f"""
                UPDATE catalog_imports SET next_page = next_page + 1, pages = pages + 1, imported = imported + $2,
                    skipped = skipped + $3, total = $4, status = $5, last_error = NULL, updated_at = now(),
                    finished_at = CASE WHEN $5 = 'done' THEN now() END
                WHERE store_code = $1 AND run_id = $6 AND next_page = $7
                RETURNING {_COLUMNS}
                """, self.store_code, len(built.events), len(built.skipped), total,
                "done" if done else "running", state.run_id, state.next_page)
            if row is None:
                raise RuntimeError("the import was restarted elsewhere; this page is not written")
        return Progress(**dict(row))

    async def _fail(self, state: Progress, fields: Json) -> Progress:
        async with self.pool.acquire() as conn, conn.transaction():
            await _communication_error(conn, self.schema, self.producer, fields,
                                       f"catalog-import:{state.run_id}", state.run_id)
            row = await conn.fetchrow(
                f"UPDATE catalog_imports SET status = 'failed', last_error = $2, updated_at = now() "
                f"WHERE store_code = $1 RETURNING {_COLUMNS}",
                self.store_code, f"{fields['code']}: {fields['message']}")
        await self._committed()
        log.warning("catalog_import_failed", store_code=self.store_code, **fields)
        assert row is not None
        return Progress(**dict(row))


@dataclass(frozen=True)
class SyncResult:
    read: int
    emitted: int
    cursor: datetime | None


@dataclass
class CatalogSync(Catalog):
    overlap_s: float = 300.0

    async def run_once(self) -> SyncResult:
        """One incremental pass; a failed call writes a CommunicationError and leaves the cursor where it was
        after the last written page. ImportBusy when another replica syncs the store."""
        result: SyncResult = await self._locked("sync", self._run)
        return result

    async def _run(self) -> SyncResult:
        try:
            return await self._pass()
        except CommerceCallFailed as exc:
            async with self.pool.acquire() as conn, conn.transaction():
                await _communication_error(conn, self.schema, self.producer, exc.fields,
                                           f"catalog-sync:{self.store_code}")
            await self._committed()
            raise

    async def _pass(self) -> SyncResult:
        """Pages in entity_id order, which an update does not reorder; the cursor moves once the pass read every
        page, to the newest updated_at it saw. A product updated during the pass on a page already read has an
        updated_at within the overlap window of that cursor (while a pass takes less than the window), so the
        next pass reads it."""
        currency = await self.base_currency()
        parents = await self.parents()
        cursor: datetime | None = await self.pool.fetchval(
            "SELECT updated_at FROM catalog_cursors WHERE store_code = $1", self.store_code)
        filters = (("updated_at", "gt", paging.updated_since(cursor, self.overlap_s)),) if cursor else ()
        page, read, emitted, newest = 1, 0, 0, cursor
        while True:
            body = await self.client.search_products(page=page, page_size=self.page_size, filters=filters)
            total = body["total_count"]
            items = body["items"] if page <= paging.page_count(total, self.page_size) else []
            read += len(items)
            emitted += await self.write_changed(items, currency, parents)
            for seen in (commerce_time(i.get("updated_at")) for i in items):
                if seen is not None and (newest is None or seen > newest):
                    newest = seen
            if paging.is_last(page, total, self.page_size) or not items:
                break
            page += 1
        if newest is not None:
            await self.pool.execute(
                "INSERT INTO catalog_cursors (store_code, updated_at) VALUES ($1, $2) ON CONFLICT (store_code) "
                "DO UPDATE SET updated_at = GREATEST(catalog_cursors.updated_at, EXCLUDED.updated_at), "
                "synced_at = now()", self.store_code, newest)
        log.info("catalog_sync_done", store_code=self.store_code, read=read, emitted=emitted)
        return SyncResult(read, emitted, newest)

    async def run_forever(self, interval_s: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        while True:
            try:
                await self.run_once()
            except (CommerceCallFailed, ImportBusy) as exc:
                log.warning("catalog_sync_stopped", store_code=self.store_code, reason=str(exc))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: the next pass starts from the stored cursor
                log.warning("catalog_sync_error", store_code=self.store_code, error=repr(exc))
            await sleep(interval_s)
