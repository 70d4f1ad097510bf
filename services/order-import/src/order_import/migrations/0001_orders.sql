-- order-import: every Amazon order it has heard of, what it decided, and what Commerce and Amazon answered.
-- Buyer personal data is not here: it is sealed in order_buyers (0002).

CREATE TABLE IF NOT EXISTS orders (
    amazon_order_id   text PRIMARY KEY,
    account_id        text NOT NULL,
    marketplace_id    text NOT NULL,
    -- null until OrderPlaced is heard (a status change may arrive first): the order is then not shown
    fulfillment       text CHECK (fulfillment IN ('AFN', 'MFN')),
    purchase_date     timestamptz,
    amazon_status     text NOT NULL,           -- Amazon OrderStatus, never moved backwards (domain/lifecycle.py)
    status_at         timestamptz NOT NULL,    -- when Amazon last changed it (the newest applied)
    currency          text,
    order_total       numeric,                 -- as Amazon gave it (its scale kept)
    lines             jsonb NOT NULL DEFAULT '[]',  -- OrderLine objects as the contract encodes them
    -- the import: waiting (no order due yet), blocked (due, held by a blocker), requested (sent to
    -- commerce-gateway), created, failed (Commerce refused), skipped (never to be imported, with the reason)
    import_state      text NOT NULL DEFAULT 'waiting'
                      CHECK (import_state IN ('waiting', 'blocked', 'requested', 'created', 'failed', 'skipped')),
    note              text,                    -- the last note or error ("Order Notes")
    store_code        text,                    -- the Commerce store view it was (or will be) imported into
    request_event_id  uuid,                    -- the CommerceOrderRequested sent
    requests          integer NOT NULL DEFAULT 0,  -- CommerceOrderRequested sent (more than one only by a retry)
    commerce_order_id text,
    increment_id      text,
    attempts          integer NOT NULL DEFAULT 0,  -- decisions that found the order blocked
    next_attempt_at   timestamptz,             -- when the schedule decides a waiting or blocked order again
    watch             text[] NOT NULL DEFAULT '{}',  -- product:<store>|<sku> and listing:<amazon sku> it waits on
    reserved          jsonb NOT NULL DEFAULT '{}',   -- Commerce SKU -> quantity held back now
    reservation_version integer NOT NULL DEFAULT 0,  -- StockReservationChanged.version last emitted
    shipped_at        timestamptz,             -- every item confirmed shipped to Amazon
    cancelled_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS orders_store ON orders (account_id, marketplace_id, purchase_date DESC, amazon_order_id);
CREATE INDEX IF NOT EXISTS orders_listed ON orders (purchase_date DESC, amazon_order_id) WHERE purchase_date IS NOT NULL;
CREATE INDEX IF NOT EXISTS orders_due ON orders (next_attempt_at) WHERE import_state IN ('waiting', 'blocked');
CREATE INDEX IF NOT EXISTS orders_watch ON orders USING gin (watch) WHERE import_state IN ('waiting', 'blocked');
CREATE INDEX IF NOT EXISTS orders_errors ON orders (updated_at DESC) WHERE import_state IN ('blocked', 'failed');

-- Every note an order got, newest last: decisions, blockers, Commerce's answers, operators' actions.
CREATE TABLE IF NOT EXISTS order_notes (
    id               bigserial PRIMARY KEY,
    amazon_order_id  text NOT NULL,
    at               timestamptz NOT NULL DEFAULT now(),
    kind             text NOT NULL,            -- import, blocked, error, commerce, amazon, action
    note             text NOT NULL
);
CREATE INDEX IF NOT EXISTS order_notes_order ON order_notes (amazon_order_id, id);

-- Amazon SKU -> Commerce SKU per account and marketplace, from catalog-sync's ListingChanged (newest version).
CREATE TABLE IF NOT EXISTS listings (
    account_id       text NOT NULL,
    marketplace_id   text NOT NULL,
    sku              text NOT NULL,
    product_sku      text,
    version          integer NOT NULL,
    PRIMARY KEY (account_id, marketplace_id, sku)
);

-- Commerce products per store view, from ProductChanged (newest updated_at).
CREATE TABLE IF NOT EXISTS products (
    store_code       text NOT NULL,
    sku              text NOT NULL,
    status           text NOT NULL,
    quantity         integer NOT NULL,
    in_stock         boolean,
    manage_stock     boolean,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (store_code, sku)
);

CREATE INDEX IF NOT EXISTS orders_request ON orders (request_event_id) WHERE import_state = 'requested';
CREATE INDEX IF NOT EXISTS orders_lines ON orders USING gin (lines jsonb_path_ops)
    WHERE import_state IN ('waiting', 'blocked', 'requested', 'failed');
