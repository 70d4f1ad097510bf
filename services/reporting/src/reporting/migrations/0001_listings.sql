CREATE TABLE listings (
    account_id     text NOT NULL,
    marketplace_id text NOT NULL,
    sku            text NOT NULL,
    product_sku    text,
    asin           text,
    status         text NOT NULL,
    quantity       integer NOT NULL,
    price          numeric,
    currency       text,
    version        integer NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (account_id, marketplace_id, sku)
);
CREATE INDEX listings_status ON listings (account_id, marketplace_id, status);

CREATE TABLE listing_changes (
    id             bigserial PRIMARY KEY,
    event_id       uuid NOT NULL,
    causation_id   uuid,
    account_id     text NOT NULL,
    marketplace_id text NOT NULL,
    sku            text NOT NULL,
    listing_action text NOT NULL,
    field          text NOT NULL,
    old_value      text,
    new_value      text,
    comment        text NOT NULL,
    created_at     timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (event_id, field)
);
CREATE INDEX listing_changes_listing ON listing_changes (account_id, marketplace_id, sku, id);
