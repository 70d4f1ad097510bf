-- A product change looks up its listings in every target by SKU.
CREATE INDEX IF NOT EXISTS listings_sku ON listings (sku);
