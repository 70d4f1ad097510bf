-- Offer sets are stored compactly as text ([observed_at, [offer fields, ...]]), and decisions as
-- json: every offer notification rewrites both, and nothing queries inside them, so PostgreSQL
-- need not convert them to jsonb (nor compress and store the larger offer sets out of line).
-- Offer sets already stored keep their object form, which the repricer still reads.
ALTER TABLE offers ALTER COLUMN snapshot TYPE text USING snapshot::text;
ALTER TABLE prices ALTER COLUMN decision TYPE json USING decision::json;
