-- Full catalogue import: one row per store view, the page to read next and what was written so far.
CREATE TABLE IF NOT EXISTS catalog_imports (
    store_code  text PRIMARY KEY,
    run_id      uuid NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    page_size   integer NOT NULL,
    next_page   integer NOT NULL DEFAULT 1,
    pages       integer NOT NULL DEFAULT 0,
    imported    integer NOT NULL DEFAULT 0,
    skipped     integer NOT NULL DEFAULT 0,
    total       integer,
    last_error  text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

-- Incremental sync: per store view, the newest Commerce updated_at read so far.
CREATE TABLE IF NOT EXISTS catalog_cursors (
    store_code text PRIMARY KEY,
    updated_at timestamptz NOT NULL,
    synced_at  timestamptz NOT NULL DEFAULT now()
);

-- Per product, a digest of what its last ProductChanged said: an unchanged product emits nothing.
CREATE TABLE IF NOT EXISTS product_hashes (
    store_code text NOT NULL,
    sku        text NOT NULL,
    hash       text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_code, sku)
);
