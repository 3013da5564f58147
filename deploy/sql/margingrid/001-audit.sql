-- MarginGrid schema, migration 001: the append-only audit trail.
--
-- Applied by MarginGrid.Storage.DatabaseInitializer (after the Orleans scripts), which
-- records it in margingrid_schema_version. The script is idempotent on its own, so it
-- can also be run by hand with psql.
--
-- Every margin call, liquidation step, collateral sale and bankruptcy, and every command
-- that moves money or risk, is one row here, with the prices and grain versions that
-- justified it. Rows are never changed or removed: UPDATE, DELETE and TRUNCATE raise an
-- error (trigger below). A command (kind, type, command_id) is stored at most once, so
-- writers insert with ON CONFLICT DO NOTHING and replays are no-ops.

CREATE TABLE IF NOT EXISTS margingrid_schema_version
(
    version    integer     NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS margingrid_audit
(
    id            bigserial   NOT NULL PRIMARY KEY,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    kind          text        NOT NULL CONSTRAINT margingrid_audit_kind_check CHECK (kind IN ('command', 'event')),
    type          text        NOT NULL CONSTRAINT margingrid_audit_type_check CHECK (type <> ''),
    account_id    text        NOT NULL CONSTRAINT margingrid_audit_account_check CHECK (account_id <> ''),
    command_id    text        NULL,
    market        text        NULL,
    payload       jsonb       NOT NULL,
    grain_version bigint      NULL,
    silo          text        NULL
);

-- An account's trail in order.
CREATE INDEX IF NOT EXISTS ix_margingrid_audit_account
    ON margingrid_audit (account_id, id);

-- Recording the same command twice is a no-op (INSERT ... ON CONFLICT DO NOTHING).
CREATE UNIQUE INDEX IF NOT EXISTS ux_margingrid_audit_command
    ON margingrid_audit (kind, type, command_id)
    WHERE command_id IS NOT NULL;

CREATE OR REPLACE FUNCTION margingrid_audit_append_only()
    RETURNS trigger
    LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'margingrid_audit is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit records are never changed or removed; append a correcting record instead.';
END
$function$;

-- Statement-level, so that even an UPDATE or DELETE matching no row is refused.
CREATE OR REPLACE TRIGGER margingrid_audit_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON margingrid_audit
    FOR EACH STATEMENT
    EXECUTE FUNCTION margingrid_audit_append_only();
