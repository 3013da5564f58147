-- MarginGrid schema, migration 003: prices and configuration changes in the audit trail, and a quarantine for
-- records PostgreSQL refuses.
--
-- Idempotent, like 001: it can also be run by hand with psql.
--
-- * margingrid_audit.kind also takes 'price' (one row per published price, account_id '*', market the symbol) and
--   'config' (one row per accepted configuration, account_id '*').
-- * margingrid_audit_quarantine keeps, as plain text, every record whose insert PostgreSQL refused for what it holds
--   (e.g. a NUL character, which neither text nor jsonb can store): the writer moves it here, counts it in
--   margingrid_audit_quarantined_total and goes on with the rest. NUL characters are stored as the six characters
--   \u0000. Append-only too.

ALTER TABLE margingrid_audit DROP CONSTRAINT IF EXISTS margingrid_audit_kind_check;
ALTER TABLE margingrid_audit ADD CONSTRAINT margingrid_audit_kind_check
    CHECK (kind IN ('command', 'event', 'price', 'config'));

CREATE TABLE IF NOT EXISTS margingrid_audit_quarantine
(
    id            bigserial   NOT NULL PRIMARY KEY,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    kind          text        NULL,
    type          text        NULL,
    account_id    text        NULL,
    command_id    text        NULL,
    market        text        NULL,
    payload       text        NULL,
    grain_version bigint      NULL,
    silo          text        NULL,
    error         text        NOT NULL
);

CREATE OR REPLACE TRIGGER margingrid_audit_quarantine_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON margingrid_audit_quarantine
    FOR EACH STATEMENT
    EXECUTE FUNCTION margingrid_audit_append_only();
