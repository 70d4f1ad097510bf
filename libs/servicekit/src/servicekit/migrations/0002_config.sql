-- Configuration resources (servicekit/config.py), in each service's own schema.
CREATE TABLE IF NOT EXISTS _config (
    kind       text NOT NULL,
    name       text NOT NULL,
    spec       jsonb NOT NULL,
    revision   int NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, name)
);

-- Every applied change, oldest first; spec is null for a delete.
CREATE TABLE IF NOT EXISTS _config_history (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL,
    name       text NOT NULL,
    revision   int NOT NULL,
    action     text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    spec       jsonb,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS _config_history_resource ON _config_history (kind, name, id);
