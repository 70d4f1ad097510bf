"""Deleted products: one ProductChanged with status `deleted` per product that was emitted and is gone.

Two ways in, one way out:

- a webhook says a product was deleted (`webhooks.py` hands it to `pushed_deletion`);
- the reconciliation lists every SKU of the catalogue (`GET /V1/products` in entity_id order, asking for
  `fields=items[sku],search_criteria,total_count` only) and compares them with `product_hashes`, the SKUs
  emitted so far: the incremental sync reads by `updated_at` and cannot see a product that is no more.
  A SKU the listing lacks is looked up once more (`sku in …`) before it counts as deleted, so a page
  boundary shifted by a deletion during the listing deletes nothing else. It runs after a full import
  completes and every `CATALOG_RECONCILE_INTERVAL_S`.

Either way the deleted event is written with the removal of the SKU's `product_hashes` row, under that row's
lock, in one transaction: a SKU is announced deleted once, and a product created again under it later is
new and emitted again. A row written after the reconciliation began (the product was read meanwhile) is
left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from commerce_gateway.catalog import Catalog, ImportBusy, _communication_error
from commerce_gateway.client import CommerceCallFailed
from commerce_gateway.domain import paging
from commerce_gateway.domain.deletions import deleted_product, gone, lookup_batches
from commerce_gateway.domain.products import NotImportable, product_changed
from contracts.events import ProductChanged
from servicekit import outbox
from servicekit.logging import get_logger

log = get_logger(component="deletions")

Json = dict[str, Any]
SKUS_ONLY = "items[sku],search_criteria,total_count"
LOOKUP_BATCH = 100


async def write_deleted(pool: asyncpg.Pool, schema: str, store_code: str, events: list[ProductChanged],
                        *, emitted_before: datetime | None = None) -> list[ProductChanged]:
    """Emit the deleted events whose SKU `product_hashes` holds (written before `emitted_before`, when given)
    and remove those rows, in one transaction; the events emitted."""
    by_sku = {e.sku: e for e in events}
    if not by_sku:
        return []
    async with pool.acquire() as conn, conn.transaction():
        held = await conn.fetch(
            "SELECT sku FROM product_hashes WHERE store_code = $1 AND sku = ANY($2::text[]) "
            "AND ($3::timestamptz IS NULL OR updated_at < $3) ORDER BY sku FOR UPDATE",
            store_code, sorted(by_sku), emitted_before)
        out = [by_sku[r["sku"]] for r in held]
        await outbox.write(conn, schema, out)
        await conn.execute("DELETE FROM product_hashes WHERE store_code = $1 AND sku = ANY($2::text[])",
                           store_code, [e.sku for e in out])
    return out


async def pushed_deletion(catalog: Catalog, item: Json, parents: dict[int, str] | None = None) -> int:
    """A product Commerce deleted, as it was: its deleted event (with its last values) if it was emitted."""
    currency = await catalog.base_currency()
    try:
        last: ProductChanged | None = product_changed(item, store_code=catalog.store_code, currency=currency,
                                                      producer=catalog.producer, parents=parents)
    except NotImportable:
        last = None  # a container was never emitted; a product that cannot be read is named by its SKU
    event = deleted_product(str(item["sku"]), store_code=catalog.store_code, currency=currency,
                            producer=catalog.producer, at=datetime.now(UTC), last=last)
    written = await write_deleted(catalog.pool, catalog.schema, catalog.store_code, [event])
    if written:
        log.info("product_deleted", store_code=catalog.store_code, sku=event.sku, source="webhook")
        await catalog._committed()
    return len(written)


@dataclass(frozen=True)
class ReconcileResult:
    known: int  # SKUs emitted before the pass began
    listed: int  # SKUs Commerce listed
    deleted: int  # deleted events written


@dataclass
class CatalogReconcile(Catalog):
    lookup_batch: int = LOOKUP_BATCH

    async def run_once(self) -> ReconcileResult:
        """One comparison; a failed call writes a CommunicationError and deletes nothing. ImportBusy when
        another replica reconciles the store."""
        result: ReconcileResult = await self._locked("reconcile", self._run)
        return result

    async def _run(self) -> ReconcileResult:
        try:
            return await self._pass()
        except CommerceCallFailed as exc:
            async with self.pool.acquire() as conn, conn.transaction():
                await _communication_error(conn, self.schema, self.producer, exc.fields,
                                           f"catalog-reconcile:{self.store_code}")
            await self._committed()
            raise

    async def _pass(self) -> ReconcileResult:
        began: datetime = await self.pool.fetchval("SELECT now()")
        known = [r["sku"] for r in await self.pool.fetch(
            "SELECT sku FROM product_hashes WHERE store_code = $1 AND updated_at < $2", self.store_code, began)]
        if not known:
            return ReconcileResult(0, 0, 0)
        listed = await self.skus()
        missing = await self.absent(gone(known, listed))
        written: list[ProductChanged] = []
        if missing:
            currency = await self.base_currency()
            at = datetime.now(UTC)
            written = await write_deleted(
                self.pool, self.schema, self.store_code,
                [deleted_product(sku, store_code=self.store_code, currency=currency, producer=self.producer, at=at)
                 for sku in missing], emitted_before=began)
        if written:
            await self._committed()
        log.info("catalog_reconcile_done", store_code=self.store_code, known=len(known), listed=len(listed),
                 deleted=len(written))
        return ReconcileResult(len(known), len(listed), len(written))

    async def skus(self) -> list[str]:
        """Every SKU of the catalogue, a page of the largest size at a time, SKUs only."""
        out: list[str] = []
        page = 1
        while True:
            body = await self.client.search_products(page=page, page_size=paging.MAX_PAGE_SIZE, fields=SKUS_ONLY)
            total = body["total_count"]
            items = body["items"] if page <= paging.page_count(total, paging.MAX_PAGE_SIZE) else []
            out += [i["sku"] for i in items if isinstance(i.get("sku"), str)]
            if paging.is_last(page, total, paging.MAX_PAGE_SIZE) or not items:
                return out
            page += 1

    async def absent(self, skus: list[str]) -> list[str]:
        """Of these SKUs, those Commerce does not find when asked for them by name."""
        out: list[str] = []
        for batch in lookup_batches(skus, self.lookup_batch):
            condition = ("sku", "eq", batch[0]) if len(batch) == 1 else ("sku", "in", ",".join(batch))
            body = await self.client.search_products(page=1, page_size=max(len(batch), paging.MIN_PAGE_SIZE),
                                                     filters=(condition,), fields=SKUS_ONLY)
            found = {i["sku"].casefold() for i in body["items"] if isinstance(i.get("sku"), str)}
            out += [sku for sku in batch if sku.casefold() not in found]
        return out

    async def run_forever(self, interval_s: float, wake: asyncio.Event,
                          wait: Callable[[asyncio.Event, float], Awaitable[None]] | None = None) -> None:
        """A pass every `interval_s`, and one as soon as `wake` is set (a full import completed)."""
        while True:
            await (wait or _wait)(wake, interval_s)
            wake.clear()
            try:
                await self.run_once()
            except (CommerceCallFailed, ImportBusy) as exc:
                log.warning("catalog_reconcile_stopped", store_code=self.store_code, reason=str(exc))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: the next pass compares again
                log.warning("catalog_reconcile_error", store_code=self.store_code, error=repr(exc))


async def _wait(wake: asyncio.Event, timeout_s: float) -> None:
    try:
        await asyncio.wait_for(wake.wait(), timeout_s)
    except TimeoutError:
        pass


def attach(service: Any, shared: Callable[[], dict[str, Any]], interval_s: float) -> asyncio.Event:
    """Run the reconciliation in the background; set the event returned to run it now (after an import)."""
    wake = asyncio.Event()

    async def run() -> None:
        await CatalogReconcile(**shared()).run_forever(interval_s, wake)

    service.background("catalog-reconcile", run)
    return wake
