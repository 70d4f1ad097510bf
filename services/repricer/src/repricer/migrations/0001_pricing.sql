-- What the repricer knows of products, listings and offers, and the prices it decided.
CREATE TABLE products (
    sku                text PRIMARY KEY,
    store_code         text NOT NULL,
    currency           text NOT NULL,
    price              numeric NOT NULL,
    attributes         jsonb NOT NULL,
    website_attributes jsonb NOT NULL,
    updated_at         timestamptz NOT NULL
);

CREATE TABLE listings (
    account_id     text NOT NULL,
    marketplace_id text NOT NULL,
    sku            text NOT NULL,
    product_sku    text,
    asin           text,
    condition      text,
    status         text NOT NULL,
    version        integer NOT NULL,
    PRIMARY KEY (account_id, marketplace_id, sku)
);
CREATE INDEX listings_by_asin ON listings (marketplace_id, asin);
CREATE INDEX listings_by_product ON listings (product_sku);

CREATE TABLE offers (
    marketplace_id text NOT NULL,
    asin           text NOT NULL,
    observed_at    timestamptz NOT NULL,
    snapshot       jsonb NOT NULL,
    PRIMARY KEY (marketplace_id, asin)
);

CREATE TABLE prices (
    account_id     text NOT NULL,
    marketplace_id text NOT NULL,
    sku            text NOT NULL,
    price          numeric NOT NULL,
    currency       text NOT NULL,
    decided_at     timestamptz NOT NULL,
    decision       jsonb NOT NULL,
    history        jsonb NOT NULL DEFAULT '[]',
    competitive    jsonb,
    PRIMARY KEY (account_id, marketplace_id, sku)
);
