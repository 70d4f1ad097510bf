"""Event handlers: offers, listings and products in; prices out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from contracts.events import ListingChanged, OfferPriceObserved, ProductChanged, ProductStatus
from repricer import translate
from repricer.config import PricingConfig
from repricer.repricing import ListingKey, reprice
from servicekit import Tx

ConfigSource = Callable[[], PricingConfig]

_UPSERT_OFFERS = """
WITH stored AS (
    INSERT INTO offers AS o (marketplace_id, asin, observed_at, snapshot)
    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[])
    ON CONFLICT (marketplace_id, asin) DO UPDATE SET observed_at = EXCLUDED.observed_at,
        snapshot = EXCLUDED.snapshot
    WHERE o.observed_at <= EXCLUDED.observed_at
    RETURNING marketplace_id, asin
)
SELECT l.account_id, l.marketplace_id, l.sku, l.asin FROM stored s
JOIN listings l ON l.marketplace_id = s.marketplace_id AND l.asin = s.asin
"""


async def on_offers(tx: Tx, events: list[OfferPriceObserved], config: ConfigSource) -> None:
    """Keep the newest offer set per ASIN (an older notification never overwrites a newer one)
    and reprice every listing of each ASIN whose offers changed; storing the offer sets and
    finding those listings is one round trip."""
    newest: dict[tuple[str, str], OfferPriceObserved] = {}
    for e in events:
        k = (e.marketplace_id, e.asin)
        if k not in newest or newest[k].observed_at <= e.observed_at:
            newest[k] = e
    batch = list(newest.values())
    rows = await tx.conn.fetch(
        _UPSERT_OFFERS, [e.marketplace_id for e in batch], [e.asin for e in batch],
        [e.observed_at for e in batch], [translate.snapshot_json(e) for e in batch])
    if not rows:
        return
    keys: list[ListingKey] = [(r["account_id"], r["marketplace_id"], r["sku"]) for r in rows]
    causes = {key: newest[(key[1], r["asin"])] for key, r in zip(keys, rows, strict=True)}
    markets = {(key[1], r["asin"]): translate.market_of(newest[(key[1], r["asin"])])
               for key, r in zip(keys, rows, strict=True)}
    for event in await reprice(tx.conn, config(), keys, datetime.now(UTC), causes, markets):
        tx.emit(event)


async def on_listings(tx: Tx, events: list[ListingChanged], config: ConfigSource) -> None:
    """Track listings (their ASIN, condition, status and product) and reprice the changed ones."""
    newest: dict[ListingKey, ListingChanged] = {}
    for e in events:
        k = (e.account_id, e.marketplace_id, e.sku)
        if k not in newest or newest[k].version <= e.version:
            newest[k] = e
    batch = list(newest.values())
    stored = await tx.conn.fetch(
        """
        INSERT INTO listings AS l (account_id, marketplace_id, sku, product_sku, asin, condition, status, version)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::text[], $8::int[])
        ON CONFLICT (account_id, marketplace_id, sku) DO UPDATE SET
            product_sku = EXCLUDED.product_sku, asin = EXCLUDED.asin, condition = EXCLUDED.condition,
            status = EXCLUDED.status, version = EXCLUDED.version
        WHERE l.version < EXCLUDED.version
        RETURNING account_id, marketplace_id, sku
        """,
        [e.account_id for e in batch], [e.marketplace_id for e in batch], [e.sku for e in batch],
        [e.product_sku for e in batch], [e.asin for e in batch], [e.condition for e in batch],
        [e.status.value for e in batch], [e.version for e in batch])
    keys = [(r["account_id"], r["marketplace_id"], r["sku"]) for r in stored]
    for event in await reprice(tx.conn, config(), keys, datetime.now(UTC), {k: newest[k] for k in keys}):
        tx.emit(event)


async def on_products(tx: Tx, events: list[ProductChanged], config: ConfigSource) -> None:
    """Keep each product's price attributes (older Commerce changes are stale) and reprice the
    listings of the products that changed. A deleted product is not sellable: its values are kept
    as they were and its listings are not repriced (catalog-sync makes them Ineligible)."""
    newest: dict[str, ProductChanged] = {}
    for e in events:
        if e.sku not in newest or newest[e.sku].updated_at <= e.updated_at:
            newest[e.sku] = e
    batch = [e for e in newest.values() if e.status is not ProductStatus.DELETED]
    if not batch:
        return
    rows = [translate.product_row(e) for e in batch]
    stored = await tx.conn.fetch(
        """
        INSERT INTO products AS p (sku, store_code, currency, price, attributes, website_attributes, updated_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::jsonb[], $6::jsonb[],
                             $7::timestamptz[])
        ON CONFLICT (sku) DO UPDATE SET store_code = EXCLUDED.store_code, currency = EXCLUDED.currency,
            price = EXCLUDED.price, attributes = EXCLUDED.attributes,
            website_attributes = EXCLUDED.website_attributes, updated_at = EXCLUDED.updated_at
        WHERE p.updated_at <= EXCLUDED.updated_at
        RETURNING sku
        """,
        *[list(col) for col in zip(*rows, strict=True)])
    skus = [r["sku"] for r in stored]
    listed = await tx.conn.fetch(
        "SELECT account_id, marketplace_id, sku, product_sku FROM listings WHERE product_sku = ANY($1::text[])",
        skus)
    keys = [(r["account_id"], r["marketplace_id"], r["sku"]) for r in listed]
    causes = {k: newest[r["product_sku"]] for k, r in zip(keys, listed, strict=True)}
    for event in await reprice(tx.conn, config(), keys, datetime.now(UTC), causes):
        tx.emit(event)


