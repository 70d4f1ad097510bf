"""ListingChanged -> the listings read model and the Listing Changes Log."""

from __future__ import annotations

from contracts.events import ListingChanged
from reporting.domain import change_log_row
from servicekit import Tx

SERVICE = "reporting"

_UPSERT = """
INSERT INTO listings AS l (account_id, marketplace_id, sku, product_sku, asin, status, quantity,
                           price, currency, version, updated_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::int[], $8::numeric[], $9::text[], $10::int[], $11::timestamptz[])
ON CONFLICT (account_id, marketplace_id, sku) DO UPDATE SET
    product_sku = EXCLUDED.product_sku, asin = EXCLUDED.asin, status = EXCLUDED.status,
    quantity = EXCLUDED.quantity, price = EXCLUDED.price, currency = EXCLUDED.currency,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
WHERE l.version < EXCLUDED.version
"""

_LOG = """
INSERT INTO listing_changes (event_id, causation_id, account_id, marketplace_id, sku,
                             listing_action, field, old_value, new_value, comment, created_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[])
"""


async def on_listings_changed(tx: Tx, events: list[ListingChanged]) -> None:
    newest: dict[tuple[str, str, str], ListingChanged] = {}
    for e in events:
        key = (e.account_id, e.marketplace_id, e.sku)
        if key not in newest or newest[key].version < e.version:
            newest[key] = e
    rows = list(newest.values())
    await tx.conn.execute(
        _UPSERT,
        [e.account_id for e in rows], [e.marketplace_id for e in rows], [e.sku for e in rows],
        [e.product_sku for e in rows], [e.asin for e in rows], [e.status.value for e in rows],
        [e.quantity for e in rows], [e.price.amount if e.price else None for e in rows],
        [e.price.currency if e.price else None for e in rows], [e.version for e in rows],
        [e.occurred_at for e in rows],
    )
    log = [(e, change_log_row(c)) for e in events for c in e.changes]
    if log:
        await tx.conn.execute(
            _LOG,
            [e.event_id for e, _ in log], [e.causation_id for e, _ in log],
            [e.account_id for e, _ in log], [e.marketplace_id for e, _ in log],
            [e.sku for e, _ in log], [r.listing_action for _, r in log], [r.field for _, r in log],
            [r.old_value for _, r in log], [r.new_value for _, r in log],
            [r.comment for _, r in log], [e.occurred_at for e, _ in log],
        )
