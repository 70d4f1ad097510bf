-- Listing updates waiting for (or done with) their trip to Amazon, one row per ListingUpdateRequested.
-- status: pending -> done | superseded | failed; failed rows are kept for replay (POST /replay).
CREATE TABLE pending_updates (
    request_id     uuid PRIMARY KEY,
    seq            bigserial NOT NULL,
    account_id     text NOT NULL,
    marketplace_id text NOT NULL,
    sku            text NOT NULL,
    requested_at   timestamptz NOT NULL,
    request        bytea NOT NULL,
    status         text NOT NULL DEFAULT 'pending',
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text,
    received_at    timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_updates_pending ON pending_updates (seq) WHERE status = 'pending';
CREATE INDEX pending_updates_listing ON pending_updates (account_id, marketplace_id, sku);

-- Per listing field, the requested_at of the newest request sent to Amazon: an older request
-- arriving later is superseded, never sent.
CREATE TABLE sent_fields (
    account_id     text NOT NULL,
    marketplace_id text NOT NULL,
    sku            text NOT NULL,
    field          text NOT NULL,
    requested_at   timestamptz NOT NULL,
    PRIMARY KEY (account_id, marketplace_id, sku, field)
);
