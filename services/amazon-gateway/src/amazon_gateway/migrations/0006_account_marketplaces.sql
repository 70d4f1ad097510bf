-- Each account's marketplaces as the Sellers API last reported them.
CREATE TABLE IF NOT EXISTS account_marketplaces (
    account_id          text NOT NULL,
    marketplace_id      text NOT NULL,
    country_code        text,
    currency            text,
    language            text,
    name                text,
    participating       boolean NOT NULL,
    suspended_listings  boolean NOT NULL,
    served              boolean NOT NULL,
    refreshed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, marketplace_id)
);
