-- Inbound orders. Per account and marketplace, where the next getOrders window starts (Amazon's
-- LastUpdatedBefore of the last complete poll; the poller subtracts its overlap window).
CREATE TABLE order_cursors (
    account_id     text NOT NULL,
    marketplace_id text NOT NULL,
    cursor_at      timestamptz NOT NULL,
    polled_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, marketplace_id)
);

-- Per order, the status last announced (OrderPlaced, then OrderStatusChanged) and its LastUpdateDate:
-- an order seen again with the same status, or in an older state, announces nothing.
CREATE TABLE order_states (
    account_id      text NOT NULL,
    amazon_order_id text NOT NULL,
    marketplace_id  text NOT NULL,
    status          text NOT NULL,
    last_update     timestamptz NOT NULL,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, amazon_order_id)
);

-- Outbound order actions, one row per ShipmentConfirmRequested or OrderCancelRequested.
-- status: pending -> sending -> done | failed (confirmShipment); pending -> sending -> submitted (in a
-- feed) -> done | failed (cancel). A sender claims rows (claim, claimed_until) in a short transaction,
-- calls Amazon outside any, and records only rows still under its claim; a claim left to expire (its
-- sender died) goes back to pending. Failed rows are kept for POST /replay/orders; a cancel that failed
-- after its feed was submitted keeps its feed_id and resumes reading that feed's report.
CREATE TABLE order_actions (
    request_id      uuid PRIMARY KEY,
    seq             bigserial NOT NULL,
    action          text NOT NULL CHECK (action IN ('confirm_shipment', 'cancel')),
    account_id      text NOT NULL,
    marketplace_id  text NOT NULL,
    amazon_order_id text NOT NULL,
    request         bytea NOT NULL,
    status          text NOT NULL DEFAULT 'pending',
    feed_id         text,
    message_id      integer,
    check_after     timestamptz NOT NULL DEFAULT now(),
    claim           uuid,
    claimed_until   timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_actions_open ON order_actions (seq) WHERE status IN ('pending', 'sending', 'submitted');
CREATE INDEX order_actions_failed ON order_actions (account_id) WHERE status = 'failed';
