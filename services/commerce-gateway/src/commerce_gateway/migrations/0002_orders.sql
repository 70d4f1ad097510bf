-- Orders out: one row per Amazon order asked for, stored by the consumer in its transaction and worked by
-- the sender (pending -> sending -> done | failed). A failed row waits for POST /replay/orders.
CREATE TABLE IF NOT EXISTS order_requests (
    amazon_order_id  text PRIMARY KEY,
    request_id       uuid NOT NULL,
    account_id       text NOT NULL,
    marketplace_id   text NOT NULL,
    store_code       text NOT NULL,
    request          bytea NOT NULL,
    seq              bigserial,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'done', 'failed')),
    outcome          text CHECK (outcome IN ('created', 'found', 'refused', 'unreachable')),
    commerce_order_id text,
    increment_id     text,
    customer_id      text,
    attempts         integer NOT NULL DEFAULT 0,
    duplicates       integer NOT NULL DEFAULT 0,
    last_error       text,
    claim            uuid,
    claimed_until    timestamptz,
    received_at      timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS order_requests_open ON order_requests (seq) WHERE status IN ('pending', 'sending');
