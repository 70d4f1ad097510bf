CREATE TABLE products (
    store_code  text NOT NULL,
    sku         text NOT NULL,
    name        text NOT NULL,
    status      text NOT NULL,
    price       numeric NOT NULL,
    currency    text NOT NULL,
    quantity    integer NOT NULL,
    attributes  jsonb NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (store_code, sku)
);

CREATE TABLE listings (
    account_id     text NOT NULL,
    marketplace_id text NOT NULL,
    sku            text NOT NULL,
    product_sku    text,
    title          text NOT NULL,
    status         text NOT NULL,
    quantity       integer NOT NULL,
    version        integer NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, marketplace_id, sku)
);
CREATE INDEX listings_product_sku ON listings (product_sku);
