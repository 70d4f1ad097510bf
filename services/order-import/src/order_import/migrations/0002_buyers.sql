-- order-import: each order's buyer personal data (email, name, shipping address), sealed with AES-256-GCM.
-- The plain values are never stored; key_id names the key that sealed the row (rotation). Once the
-- order is shipped or cancelled, purge_after is set; the purge then erases key_id and sealed and keeps
-- the row without data, so a replayed order cannot store the data again.

CREATE TABLE IF NOT EXISTS order_buyers (
    amazon_order_id text PRIMARY KEY,
    key_id          text,                  -- which buyer data key sealed it (a fingerprint, not the key)
    sealed          bytea,                 -- nonce || ciphertext || tag; NULL when not stored or purged
    stored_at       timestamptz,
    settled_at      timestamptz,           -- the order was shipped or cancelled (the earliest)
    purge_after     timestamptz,           -- settled_at + retention
    purged_at       timestamptz,
    CHECK ((key_id IS NULL) = (sealed IS NULL))
);

CREATE INDEX IF NOT EXISTS order_buyers_due ON order_buyers (purge_after) WHERE sealed IS NOT NULL;
