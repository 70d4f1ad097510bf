"""Event handlers: translate between events, the database and the domain."""

from __future__ import annotations

import json

from catalog_sync.domain import Listing, Target, apply_product
from contracts.events import ListingChanged, ListingStatus, ProductChanged
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
INSERT INTO listings (account_id, marketplace_id, sku, product_sku, title, status, quantity, version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::int[], $8::int[])
ON CONFLICT (account_id, marketplace_id, sku) DO UPDATE SET
    product_sku = EXCLUDED.product_sku, title = EXCLUDED.title, status = EXCLUDED.status,
    quantity = EXCLUDED.quantity, version = EXCLUDED.version, updated_at = now()
"""


async def on_products_changed(tx: Tx, events: list[ProductChanged], targets: list[Target]) -> None:
    """Store each product, derive its listing in every target, emit ListingChanged per change.

    One round trip per statement for the whole batch. A change older than the stored product
    (Commerce's updated_at) is stale and ignored.
    """
    conn = tx.conn
    keys = sorted({(e.store_code, e.sku) for e in events})
    stored = {
        (r["store_code"], r["sku"]): r["updated_at"]
        for r in await conn.fetch(
            "SELECT store_code, sku, updated_at FROM products "
            "WHERE (store_code, sku) IN (SELECT * FROM unnest($1::text[], $2::text[])) "
            "ORDER BY store_code, sku FOR UPDATE",
            [k[0] for k in keys], [k[1] for k in keys],
        )
    }
    skus = sorted({e.sku for e in events})
    listings: dict[tuple[str, str, str], Listing] = {
        (r["account_id"], r["marketplace_id"], r["sku"]): Listing(
            account_id=r["account_id"], marketplace_id=r["marketplace_id"], sku=r["sku"],
            product_sku=r["product_sku"], title=r["title"], status=ListingStatus(r["status"]),
            quantity=r["quantity"], version=r["version"],
        )
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
            outcome = apply_product(listings.get(lkey), event, target)
            if outcome is None:
                continue
            listing, changes = outcome
            listings[lkey] = changed[lkey] = listing
            tx.emit(ListingChanged.new(
                producer=SERVICE, caused_by=event,
                account_id=listing.account_id, marketplace_id=listing.marketplace_id,
                sku=listing.sku, product_sku=listing.product_sku, status=listing.status,
                quantity=listing.quantity, price=None, version=listing.version, changes=changes,
            ))

    if latest:
        p = list(latest.values())
        await conn.execute(
            _UPSERT_PRODUCTS,
            [e.store_code for e in p], [e.sku for e in p], [e.name for e in p],
            [e.status.value for e in p], [e.price.amount for e in p], [e.price.currency for e in p],
            [e.quantity for e in p], [json.dumps(e.attributes) for e in p],
            [e.updated_at for e in p],
        )
    if changed:
        ls = list(changed.values())
        await conn.execute(
            _UPSERT_LISTINGS,
            [x.account_id for x in ls], [x.marketplace_id for x in ls], [x.sku for x in ls],
            [x.product_sku for x in ls], [x.title for x in ls], [x.status.value for x in ls],
            [x.quantity for x in ls], [x.version for x in ls],
        )
