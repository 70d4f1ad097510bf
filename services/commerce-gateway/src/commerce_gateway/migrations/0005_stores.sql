-- Per Commerce installation, the last StoreStructureObserved ('structure') and CurrencyRatesObserved ('rates'):
-- a digest of what it said, so an unchanged read emits nothing, and the event itself for GET /store.
CREATE TABLE IF NOT EXISTS store_observations (
    commerce    text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('structure', 'rates')),
    hash        text NOT NULL,
    event       jsonb NOT NULL,
    observed_at timestamptz NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    checked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (commerce, kind)
);
