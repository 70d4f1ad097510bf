"""Event handlers: translate between events, the database and the domain."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from catalog_sync.domain import (
    Listing,
    Reservation,
    StockKey,
    Target,
    apply_amazon,
    apply_price,
    apply_product,
    apply_reservation,
    fold_reservations,
    move_reserved,
)
from contracts.events import (
    AmazonListingObserved,
    FieldChange,
    ListingChanged,
    ListingStatus,
    PriceChanged,
    ProductChanged,
    StockReservationChanged,
)
from contracts.money import Money
from servicekit import Tx

SERVICE = "catalog-sync"

_UPSERT_PRODUCTS = """
INSERT INTO products (store_code, sku, name, status, price, currency, quantity, attributes, updated_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::text[],
                     $7::int[], $8::jsonb[], $9::timestamptz[])
ON CONFLICT (store_code, sku) DO UPDATE SET
    name = EXCLUDED.name, status = EXCLUDED.status, price = EXCLUDED.price,
    currency = EXCLUDED.currency, quantity = EXCLUDED.quantity, attributes = EXCLUDED.attributes,
    updated_at = EXCLUDED.updated_at
"""

_UPSERT_LISTINGS = """
INSERT INTO listings (account_id, marketplace_id, sku, product_sku, title, status, quantity, version,
                      asin, condition, price, currency, amazon_status, store_code)
SELECT a, m, s, p, t, st, q, v, asin, c, pr, cur,
       CASE WHEN ams IS NULL THEN NULL ELSE string_to_array(ams, E'\\x1f') END, sc
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::int[], $8::int[], $9::text[], $10::text[], $11::numeric[], $12::text[], $13::text[],
            $14::text[])
     AS u(a, m, s, p, t, st, q, v, asin, c, pr, cur, ams, sc)
ON CONFLICT (account_id, marketplace_id, sku) DO UPDATE SET
    product_sku = EXCLUDED.product_sku, title = EXCLUDED.title, status = EXCLUDED.status,
    quantity = EXCLUDED.quantity, version = EXCLUDED.version, asin = EXCLUDED.asin,
    condition = EXCLUDED.condition, price = EXCLUDED.price, currency = EXCLUDED.currency,
    amazon_status = EXCLUDED.amazon_status, store_code = EXCLUDED.store_code, updated_at = now()
"""

# What pending Amazon orders hold back is read by product changes and written by reservation changes.
# A product change holds this lock shared (product changes exclude each other by their product rows), a
# reservation change holds it alone. Without it, a product listed for the first time while its first
# reservation arrives could list Commerce's whole quantity: each would read the other's state before it commits.
_STOCK_LOCK = "hashtext('catalog-sync.stock-reservations'), hashtext(current_schema())"
_PRODUCTS_READING_STOCK = f"SELECT pg_advisory_xact_lock_shared({_STOCK_LOCK})"
_STOCK_WRITING = f"SELECT pg_advisory_xact_lock({_STOCK_LOCK})"

# Per (store code, SKU) of a batch, in the order given: the stored product's updated_at, its row locked,
# and the quantity pending orders hold back of it.
_PRODUCTS_AND_RESERVED = """
SELECT k.store_code, k.sku,
       (SELECT p.updated_at FROM products p WHERE p.store_code = k.store_code AND p.sku = k.sku FOR UPDATE)
           AS updated_at,
       (SELECT r.quantity FROM stock_reserved r WHERE r.store_code = k.store_code AND r.sku = k.sku) AS reserved
FROM unnest($1::text[], $2::text[]) AS k(store_code, sku)
"""

_UPSERT_RESERVATIONS = """
INSERT INTO stock_reservations (amazon_order_id, account_id, marketplace_id, store_code, version, reserved)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::jsonb[])
ON CONFLICT (amazon_order_id) DO UPDATE SET
    account_id = EXCLUDED.account_id, marketplace_id = EXCLUDED.marketplace_id, store_code = EXCLUDED.store_code,
    version = EXCLUDED.version, reserved = EXCLUDED.reserved, updated_at = now()
"""

# Rows of nothing reserved are removed: the table holds only what is held back now.
_WRITE_RESERVED = """
WITH released AS (
    DELETE FROM stock_reserved USING unnest($4::text[], $5::text[]) AS z(store_code, sku)
    WHERE stock_reserved.store_code = z.store_code AND stock_reserved.sku = z.sku
)
INSERT INTO stock_reserved (store_code, sku, quantity)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[])
ON CONFLICT (store_code, sku) DO UPDATE SET quantity = EXCLUDED.quantity
"""
_STATUS_SEPARATOR = "\x1f"


def _listing(r: Any) -> Listing:
    price = Money(amount=r["price"], currency=r["currency"]) if r["price"] is not None else None
    return Listing(
        account_id=r["account_id"], marketplace_id=r["marketplace_id"], sku=r["sku"],
        product_sku=r["product_sku"], title=r["title"], status=ListingStatus(r["status"]),
        quantity=r["quantity"], version=r["version"], asin=r["asin"], condition=r["condition"], price=price,
        amazon_status=tuple(r["amazon_status"]) if r["amazon_status"] is not None else None,
        store_code=r["store_code"],
    )


async def _store_listings(conn: Any, listings: Iterable[Listing]) -> None:
    ls = list(listings)
    if not ls:
        return
    await conn.execute(
        _UPSERT_LISTINGS,
        [x.account_id for x in ls], [x.marketplace_id for x in ls], [x.sku for x in ls],
        [x.product_sku for x in ls], [x.title for x in ls], [x.status.value for x in ls],
        [x.quantity for x in ls], [x.version for x in ls], [x.asin for x in ls], [x.condition for x in ls],
        [x.price.amount if x.price else None for x in ls], [x.price.currency if x.price else None for x in ls],
        [_STATUS_SEPARATOR.join(x.amazon_status) if x.amazon_status is not None else None for x in ls],
        [x.store_code for x in ls],
    )


def _changed(listing: Listing, changes: Sequence[FieldChange], cause: Any) -> ListingChanged:
    return ListingChanged.new(
        producer=SERVICE, caused_by=cause,
        account_id=listing.account_id, marketplace_id=listing.marketplace_id, sku=listing.sku,
        product_sku=listing.product_sku, asin=listing.asin, condition=listing.condition, status=listing.status,
        quantity=listing.quantity, price=listing.price, version=listing.version, changes=list(changes),
    )


async def _locked_listings(conn: Any, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], Listing]:
    rows = await conn.fetch(
        "SELECT * FROM listings WHERE (account_id, marketplace_id, sku) IN "
        "(SELECT * FROM unnest($1::text[], $2::text[], $3::text[])) "
        "ORDER BY account_id, marketplace_id, sku FOR UPDATE",
        [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    return {(r["account_id"], r["marketplace_id"], r["sku"]): _listing(r) for r in rows}


async def on_products_changed(tx: Tx, events: list[ProductChanged], targets: list[Target]) -> None:
    """Store each product, derive its listing in every target, emit ListingChanged per change.

    One round trip per statement for the whole batch. A change older than the stored product
    (Commerce's updated_at) is stale and ignored. The listed quantity is Commerce's less what
    pending Amazon orders hold back of the product.
    """
    conn = tx.conn
    keys = sorted({(e.store_code, e.sku) for e in events})
    await conn.execute(_PRODUCTS_READING_STOCK)
    stored: dict[StockKey, Any] = {}
    reserved: dict[StockKey, int] = {}
    for r in await conn.fetch(_PRODUCTS_AND_RESERVED, [k[0] for k in keys], [k[1] for k in keys]):
        if r["updated_at"] is not None:
            stored[(r["store_code"], r["sku"])] = r["updated_at"]
        if r["reserved"] is not None:
            reserved[(r["store_code"], r["sku"])] = r["reserved"]
    skus = sorted({e.sku for e in events})
    listings: dict[tuple[str, str, str], Listing] = {
        (r["account_id"], r["marketplace_id"], r["sku"]): _listing(r)
        for r in await conn.fetch(
            "SELECT * FROM listings WHERE sku = ANY($1::text[]) ORDER BY account_id, marketplace_id, sku "
            "FOR UPDATE",
            skus,
        )
    }

    latest: dict[tuple[str, str], ProductChanged] = {}
    changed: dict[tuple[str, str, str], Listing] = {}
    for event in events:
        key = (event.store_code, event.sku)
        seen = latest[key].updated_at if key in latest else stored.get(key)
        if seen is not None and event.updated_at < seen:
            continue
        latest[key] = event
        for target in targets:
            lkey = (target.account_id, target.marketplace_id, event.sku)
            outcome = apply_product(listings.get(lkey), event, target, reserved.get(key, 0))
            if outcome is None:
                continue
            listing, changes = outcome
            listings[lkey] = changed[lkey] = listing
            if changes:
                tx.emit(_changed(listing, changes, event))

    if latest:
        p = list(latest.values())
        await conn.execute(
            _UPSERT_PRODUCTS,
            [e.store_code for e in p], [e.sku for e in p], [e.name for e in p],
            [e.status.value for e in p], [e.price.amount for e in p], [e.price.currency for e in p],
            [e.quantity for e in p], [json.dumps(e.attributes) for e in p],
            [e.updated_at for e in p],
        )
    await _store_listings(conn, changed.values())


async def on_amazon_listings(tx: Tx, events: list[AmazonListingObserved]) -> None:
    """Amazon reported listings (import, status or issues notifications): match them, update them.

    A listing is matched to the Commerce product with its seller SKU, else to the one product whose
    `amazon_asin` attribute holds its ASIN; an unmatched listing is New Third Party. One ListingChanged
    per listing that changed, carrying its whole state.
    """
    conn = tx.conn
    keys = sorted({(e.account_id, e.marketplace_id, e.sku) for e in events})
    listings = await _locked_listings(conn, keys)
    skus = sorted({e.sku for e in events})
    asins = sorted({e.asin for e in events if e.asin})
    by_sku: dict[str, str] = {}
    by_asin: dict[str, list[tuple[str, str]]] = {}
    for r in await conn.fetch(
        "SELECT sku, name, attributes ->> 'amazon_asin' AS asin FROM products "
        "WHERE sku = ANY($1::text[]) OR attributes ->> 'amazon_asin' = ANY($2::text[])", skus, asins,
    ):
        if r["sku"] in skus:
            by_sku[r["sku"]] = r["name"]
        if r["asin"]:
            by_asin.setdefault(r["asin"], []).append((r["sku"], r["name"]))
    changed: dict[tuple[str, str, str], Listing] = {}
    for event in events:
        key = (event.account_id, event.marketplace_id, event.sku)
        product: tuple[str, str] | None = None
        if event.sku in by_sku:
            product = (event.sku, by_sku[event.sku])
        elif event.asin and len(candidates := {c for c in by_asin.get(event.asin, [])}) == 1:
            product = next(iter(candidates))
        outcome = apply_amazon(listings.get(key), event, product[0] if product else None,
                               product[1] if product else None)
        if outcome is None:
            continue
        listing, changes = outcome
        listings[key] = changed[key] = listing
        if changes:
            tx.emit(_changed(listing, changes, event))
    await _store_listings(conn, changed.values())


async def on_prices(tx: Tx, events: list[PriceChanged]) -> None:
    """The repricer's newest price becomes the listing's price, so the listing's state carries it."""
    conn = tx.conn
    keys = sorted({(e.account_id, e.marketplace_id, e.sku) for e in events})
    listings = await _locked_listings(conn, keys)
    changed: dict[tuple[str, str, str], Listing] = {}
    for event in events:
        key = (event.account_id, event.marketplace_id, event.sku)
        outcome = apply_price(listings.get(key), event)
        if outcome is None:
            continue
        listing, changes = outcome
        listings[key] = changed[key] = listing
        tx.emit(_changed(listing, changes, event))
    await _store_listings(conn, changed.values())


async def on_stock_reservations(tx: Tx, events: list[StockReservationChanged]) -> None:
    """Pending Amazon orders hold back Commerce stock: keep each order's newest reservation, the sum
    held back per product, and list every listing of a product whose sum moved at Commerce's quantity
    less that sum, emitting a ListingChanged where the listed quantity changed.

    A version no newer than the order's stored one changes nothing (duplicates, late deliveries).
    """
    conn = tx.conn
    incoming = [Reservation.of(e) for e in events]
    by_version: dict[tuple[str, int], StockReservationChanged] = {}
    for event in events:
        by_version.setdefault((event.amazon_order_id, event.version), event)
    await conn.execute(_STOCK_WRITING)
    current = {
        r["amazon_order_id"]: Reservation(r["amazon_order_id"], r["store_code"], r["version"],
                                          json.loads(r["reserved"]))
        for r in await conn.fetch(
            "SELECT amazon_order_id, store_code, version, reserved FROM stock_reservations "
            "WHERE amazon_order_id = ANY($1::text[])", sorted({r.amazon_order_id for r in incoming}))
    }
    replaced, moved = fold_reservations(current, incoming)
    if replaced:
        rs = list(replaced.values())
        accepted = [by_version[(x.amazon_order_id, x.version)] for x in rs]
        await conn.execute(
            _UPSERT_RESERVATIONS, [x.amazon_order_id for x in rs], [e.account_id for e in accepted],
            [e.marketplace_id for e in accepted], [x.store_code for x in rs], [x.version for x in rs],
            [json.dumps(dict(x.reserved)) for x in rs])
    if not moved:
        return
    causes: dict[StockKey, StockReservationChanged] = {}
    for order, reservation in replaced.items():
        before = current.get(order)
        for key in (*(before.held() if before else ()), *reservation.held()):
            if key in moved:
                causes[key] = by_version[(order, reservation.version)]

    keys = sorted(moved)
    stores, skus = [k[0] for k in keys], [k[1] for k in keys]
    commerce: dict[StockKey, int] = {}
    reserved: dict[StockKey, int] = {}
    for r in await conn.fetch(
        "SELECT k.store_code, k.sku, p.quantity, coalesce(s.quantity, 0) AS reserved "
        "FROM unnest($1::text[], $2::text[]) AS k(store_code, sku) "
        "LEFT JOIN products p ON p.store_code = k.store_code AND p.sku = k.sku "
        "LEFT JOIN stock_reserved s ON s.store_code = k.store_code AND s.sku = k.sku", stores, skus,
    ):
        key = (r["store_code"], r["sku"])
        reserved[key] = r["reserved"]
        if r["quantity"] is not None:
            commerce[key] = r["quantity"]
    totals = move_reserved(reserved, moved)
    held = [k for k in keys if totals[k]]
    free = [k for k in keys if not totals[k]]
    await conn.execute(
        _WRITE_RESERVED, [k[0] for k in held], [k[1] for k in held], [totals[k] for k in held],
        [k[0] for k in free], [k[1] for k in free])

    changed: dict[tuple[str, str, str], Listing] = {}
    for r in await conn.fetch(
        "SELECT * FROM listings WHERE sku = ANY($2::text[]) AND product_sku = sku "
        "AND (store_code, sku) IN (SELECT * FROM unnest($1::text[], $2::text[])) "
        "ORDER BY account_id, marketplace_id, sku FOR UPDATE", stores, skus,
    ):
        listing = _listing(r)
        key = (r["store_code"], r["sku"])
        if key not in commerce:
            continue
        outcome = apply_reservation(listing, commerce[key], totals[key])
        if outcome is None:
            continue
        updated, changes = outcome
        changed[listing.key] = updated
        tx.emit(_changed(updated, changes, causes[key]))
    await _store_listings(conn, changed.values())
