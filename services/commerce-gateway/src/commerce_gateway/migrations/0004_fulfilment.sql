-- Fulfilment in: per store view and feed (shipments, cancellations), the newest Commerce updated_at read so far.
CREATE TABLE IF NOT EXISTS fulfilment_cursors (
    store_code text NOT NULL,
    feed       text NOT NULL CHECK (feed IN ('shipments', 'cancellations')),
    updated_at timestamptz NOT NULL,
    polled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_code, feed)
);

-- One row per Commerce shipment of an Amazon order, written with its ShipmentCreated: emitted; held (no tracking
-- number yet, looked at again on every poll, emitted when one appears); unmapped (no item of the Amazon order).
CREATE TABLE IF NOT EXISTS fulfilment_shipments (
    commerce_shipment_id text PRIMARY KEY,
    commerce_order_id    text NOT NULL,
    amazon_order_id      text NOT NULL,
    status               text NOT NULL CHECK (status IN ('emitted', 'held', 'unmapped')),
    event_id             uuid,
    carrier_code         text,
    carrier_name         text,
    tracking_number      text,
    items                jsonb NOT NULL DEFAULT '{}',
    shipped_at           timestamptz,
    first_seen_at        timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS fulfilment_shipments_order ON fulfilment_shipments (amazon_order_id);
CREATE INDEX IF NOT EXISTS fulfilment_shipments_held ON fulfilment_shipments (commerce_shipment_id)
    WHERE status = 'held';

-- One row per cancelled Commerce order of an Amazon order, written with its CommerceOrderCancelled.
CREATE TABLE IF NOT EXISTS fulfilment_cancellations (
    commerce_order_id text PRIMARY KEY,
    amazon_order_id   text NOT NULL,
    increment_id      text,
    cancelled_at      timestamptz NOT NULL,
    event_id          uuid NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS fulfilment_cancellations_order ON fulfilment_cancellations (amazon_order_id);

-- Shipments and cancelled orders are matched to the requests by the Commerce order id they became.
CREATE INDEX IF NOT EXISTS order_requests_commerce_order ON order_requests (commerce_order_id)
    WHERE commerce_order_id IS NOT NULL;
