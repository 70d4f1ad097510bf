-- The audit trail (servicekit/audit.py): every configuration change and operating action.
CREATE TABLE IF NOT EXISTS _audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    actor_kind text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    before     jsonb,
    after      jsonb
);
CREATE INDEX IF NOT EXISTS _audit_target ON _audit (target, id);
