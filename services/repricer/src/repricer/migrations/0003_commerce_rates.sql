-- Commerce's currency rates, the newest CurrencyRatesObserved per Commerce installation: loaded into memory with the
-- configuration (a configured CurrencyRate overrides Commerce's for its pair), kept across restarts.
CREATE TABLE IF NOT EXISTS commerce_rates (
    commerce      text PRIMARY KEY,
    base_currency text NOT NULL,
    rates         jsonb NOT NULL,
    observed_at   timestamptz NOT NULL,
    event_id      uuid NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
