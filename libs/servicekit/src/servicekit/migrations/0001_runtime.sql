-- The runtime's tables, created in each service's own schema.
CREATE TABLE IF NOT EXISTS _inbox (
    event_id    uuid PRIMARY KEY,
    topic       text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS _inbox_received_at ON _inbox (received_at);

CREATE TABLE IF NOT EXISTS _outbox (
    id             bigserial PRIMARY KEY,
    topic          text NOT NULL,
    key            text NOT NULL,
    event_id       uuid NOT NULL,
    event_type     text NOT NULL,
    correlation_id uuid NOT NULL,
    payload        bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
