-- Claims instead of long transactions, and JSON_LISTINGS_FEEDs that survive a restart.
--
-- A sender claims rows in one short transaction (status 'in_flight', its instance id in `claim`,
-- the time in `claimed_at`), calls Amazon outside any transaction and records the outcome in a
-- second one. While a listing has an in-flight row no other row of it is claimed, so an older value
-- never lands after a newer one. A sender renews its lease in `sender_leases` while it runs; rows
-- claimed under a lease that ran out (their sender died) go back to pending, and feeds under one are
-- adopted by a live sender.
CREATE TABLE sender_leases (
    claim      uuid PRIMARY KEY,
    renewed_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE pending_updates
    ADD COLUMN urgent boolean NOT NULL DEFAULT false,
    ADD COLUMN claim uuid,
    ADD COLUMN claimed_at timestamptz,
    ADD COLUMN feed_id bigint,
    ADD COLUMN message_id integer;

CREATE INDEX pending_updates_in_flight ON pending_updates (account_id, marketplace_id, sku)
    WHERE status = 'in_flight';
CREATE INDEX pending_updates_feed ON pending_updates (feed_id) WHERE feed_id IS NOT NULL;

-- One JSON_LISTINGS_FEED: the document exactly as sent, which request each message carries, and
-- how far it got. status: new (built, maybe partly submitted) -> submitted (Amazon gave a feedId)
-- -> done | failed | cancelled.
CREATE TABLE listing_feeds (
    id                 bigserial PRIMARY KEY,
    account_id         text NOT NULL,
    marketplace_id     text NOT NULL,
    status             text NOT NULL DEFAULT 'new',
    claim              uuid,
    claimed_at         timestamptz,
    document           bytea NOT NULL,
    messages           jsonb NOT NULL,
    amazon_feed_id     text,
    processing_status  text,
    result_document_id text,
    polls              integer NOT NULL DEFAULT 0,
    last_error         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    submitted_at       timestamptz,
    finished_at        timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX listing_feeds_open ON listing_feeds (claim) WHERE status IN ('new', 'submitted');
