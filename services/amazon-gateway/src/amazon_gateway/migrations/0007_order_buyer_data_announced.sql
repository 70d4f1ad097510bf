-- Per order, whether its events have carried the buyer's e-mail and the whole shipping address: only the
-- fact, never the data. Amazon shows no address while an order is Pending, so the status change that first
-- shows buyer data not yet announced carries it. Orders recorded before these columns count as announcing
-- nothing: for an account with the PII role their next status change carries the buyer data once more.
ALTER TABLE order_states
    ADD COLUMN IF NOT EXISTS buyer_email_announced boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS address_announced boolean NOT NULL DEFAULT false;
