-- What Amazon reports of a listing (ASIN, condition, its statuses) and the price the repricer set.
ALTER TABLE listings ADD COLUMN IF NOT EXISTS asin text;
ALTER TABLE listings ADD COLUMN IF NOT EXISTS condition text;
ALTER TABLE listings ADD COLUMN IF NOT EXISTS price numeric;
ALTER TABLE listings ADD COLUMN IF NOT EXISTS currency text;
ALTER TABLE listings ADD COLUMN IF NOT EXISTS amazon_status text[];
-- Imported listings are matched to products by the product's amazon_asin attribute.
CREATE INDEX IF NOT EXISTS products_amazon_asin ON products ((attributes ->> 'amazon_asin'));
