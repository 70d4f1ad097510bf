-- What pending Amazon orders hold back of Commerce's stock (StockReservationChanged).
-- Each order's newest reservation; a released one stays with an empty `reserved`, so an older
-- version delivered late is recognised as older.
CREATE TABLE IF NOT EXISTS stock_reservations (
    amazon_order_id text PRIMARY KEY,
    account_id      text NOT NULL,
    marketplace_id  text NOT NULL,
    store_code      text NOT NULL,
    version         integer NOT NULL,
    reserved        jsonb NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The sum every order holds back of one product now; no row when nothing is.
CREATE TABLE IF NOT EXISTS stock_reserved (
    store_code text NOT NULL,
    sku        text NOT NULL,
    quantity   integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (store_code, sku)
);

-- The store view of the product a listing's quantity follows (its reservations with it).
ALTER TABLE listings ADD COLUMN IF NOT EXISTS store_code text;
UPDATE listings AS l SET store_code = p.store_code
FROM (SELECT DISTINCT ON (sku) sku, store_code FROM products ORDER BY sku, updated_at DESC) AS p
WHERE l.store_code IS NULL AND l.product_sku = l.sku AND p.sku = l.sku;
