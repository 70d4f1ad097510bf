-- One listing import per (account, marketplace): where it stands, so an interrupted import continues
-- from the page after the last one written. status: running -> done | failed; a failed or
-- interrupted import keeps its position and resumes from it; a done one starts over.
-- source 'search': the position is next_page_token (searchListingsItems). source 'report': report_id
-- (GET_MERCHANT_LISTINGS_ALL_DATA, requested once per import) and the rows written so far
-- (imported + skipped).
CREATE TABLE listing_imports (
    account_id      text NOT NULL,
    marketplace_id  text NOT NULL,
    run_id          uuid NOT NULL,
    status          text NOT NULL,
    source          text NOT NULL DEFAULT 'search',
    report_id       text,
    next_page_token text,
    pages           integer NOT NULL DEFAULT 0,
    imported        integer NOT NULL DEFAULT 0,
    skipped         integer NOT NULL DEFAULT 0,
    total           integer,
    last_error      text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    PRIMARY KEY (account_id, marketplace_id)
);
