-- order-import fulfilment: what was asked of Amazon for each order (shipment confirmations, cancellations) and
-- what it answered, the Commerce shipments heard of, and each order item's shipped and confirmed quantities.

CREATE TABLE IF NOT EXISTS order_actions (
    id                   bigserial PRIMARY KEY,
    amazon_order_id      text NOT NULL REFERENCES orders (amazon_order_id) ON DELETE CASCADE,
    kind                 text NOT NULL CHECK (kind IN ('confirm_shipment', 'cancel')),
    request_event_id     uuid NOT NULL UNIQUE,     -- the ShipmentConfirmRequested / OrderCancelRequested sent
    state                text NOT NULL DEFAULT 'requested' CHECK (state IN ('requested', 'accepted', 'rejected')),
    source               text NOT NULL CHECK (source IN ('commerce', 'api')),
    requested_by         text,                     -- the API caller; null for a Commerce shipment
    reason               text,                     -- cancel: Amazon's reason code
    carrier_code         text,                     -- confirm_shipment: Amazon's carrierCode
    carrier_name         text,
    tracking_number      text,
    ship_date            timestamptz,
    commerce_shipment_id text,
    items                jsonb NOT NULL DEFAULT '{}',   -- Amazon order_item_id -> quantity confirmed
    issues               jsonb NOT NULL DEFAULT '[]',   -- Amazon's issues when it answered
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS order_actions_order ON order_actions (amazon_order_id, id);
CREATE INDEX IF NOT EXISTS order_actions_state ON order_actions (state, id);
-- One cancellation at a time awaits Amazon per order.
CREATE UNIQUE INDEX IF NOT EXISTS order_actions_one_cancel ON order_actions (amazon_order_id)
    WHERE kind = 'cancel' AND state = 'requested';

-- Every Commerce shipment of an Amazon order heard of (ShipmentCreated), once: the confirmation it became, or why
-- none.
CREATE TABLE IF NOT EXISTS commerce_shipments (
    commerce_shipment_id text PRIMARY KEY,
    amazon_order_id      text NOT NULL,
    event_id             uuid NOT NULL,
    carrier_code         text NOT NULL,            -- as Commerce named it
    carrier_name         text,
    tracking_number      text NOT NULL,
    shipped_at           timestamptz NOT NULL,
    items                jsonb NOT NULL,
    action_id            bigint REFERENCES order_actions (id),
    note                 text,
    received_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS commerce_shipments_order ON commerce_shipments (amazon_order_id);

-- Per Amazon order item: how many were shipped (in Commerce, or reported by hand) and how many Amazon confirmed.
CREATE TABLE IF NOT EXISTS shipped_items (
    amazon_order_id text NOT NULL REFERENCES orders (amazon_order_id) ON DELETE CASCADE,
    order_item_id   text NOT NULL,
    shipped         integer NOT NULL DEFAULT 0 CHECK (shipped >= 0),
    confirmed       integer NOT NULL DEFAULT 0 CHECK (confirmed >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (amazon_order_id, order_item_id)
);
