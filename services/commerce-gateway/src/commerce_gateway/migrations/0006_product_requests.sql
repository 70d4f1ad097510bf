-- Catalogue out: one row per CommerceProductRequested (event id), stored by the consumer in its transaction and
-- worked by the product sender (pending -> sending -> done | failed), in order per commerce_sku. A failed row waits
-- for POST /replay/products.
CREATE TABLE IF NOT EXISTS product_requests (
    request_id          uuid PRIMARY KEY,
    commerce_sku        text NOT NULL,
    action              text NOT NULL CHECK (action IN ('create', 'update')),
    account_id          text NOT NULL,
    marketplace_id      text NOT NULL,
    sku                 text NOT NULL,
    store_code          text NOT NULL,
    request             bytea NOT NULL,
    seq                 bigserial,
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'done', 'failed')),
    outcome             text CHECK (outcome IN ('created', 'updated', 'exists', 'refused', 'unreachable')),
    commerce_product_id bigint,
    attempts            integer NOT NULL DEFAULT 0,
    duplicates          integer NOT NULL DEFAULT 0,
    last_error          text,
    note                text,
    claim               uuid,
    claimed_until       timestamptz,
    received_at         timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS product_requests_open ON product_requests (seq) WHERE status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS product_requests_sku ON product_requests (commerce_sku, seq);
