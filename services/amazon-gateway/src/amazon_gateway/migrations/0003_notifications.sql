-- Every notification turned into events, by Amazon's NotificationId: a redelivered copy (SQS is at
-- least once, and Amazon itself sometimes sends one twice) finds its row and emits nothing.
CREATE TABLE notifications_seen (
    notification_id   text PRIMARY KEY,
    notification_type text NOT NULL,
    account_id        text,
    received_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_seen_received ON notifications_seen (received_at);

-- Notifications that could not be turned into events, kept as received (nothing is lost); one row
-- per distinct body, so a redelivered copy is not reported twice.
CREATE TABLE notifications_rejected (
    id                bigserial PRIMARY KEY,
    body_sha256       bytea NOT NULL UNIQUE,
    body              bytea NOT NULL,
    source            text NOT NULL,
    notification_type text,
    notification_id   text,
    account_id        text,
    code              text NOT NULL,
    message           text NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now()
);
