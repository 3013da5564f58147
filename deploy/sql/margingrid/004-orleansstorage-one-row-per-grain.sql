-- MarginGrid schema, migration 004: one row per grain in OrleansStorage.
--
-- Orleans' PostgreSQL persistence script (deploy/sql/orleans/PostgreSQL-Persistence.sql, vendored unchanged) creates
-- a grain's row with INSERT ... WHERE NOT EXISTS and indexes OrleansStorage only by (grainidhash, graintypehash),
-- not uniquely. Two activations of one grain (a membership change, a silo declared dead while it still runs) that
-- write its first state at the same time both see no row under READ COMMITTED and both insert: the grain then has
-- two rows. Orleans' provider reads a grain's state expecting one row, so from then on every activation of the grain
-- fails to read it (an account that cannot be used until the rows are resolved by hand), and one of the two
-- acknowledged first states is lost whichever row is kept. A risk engine's new
-- account is exactly such a grain.
--
-- This migration
--   * refuses, naming the count, a database that already holds a grain with more than one row: which row is right
--     cannot be decided here (docs/operations.md, "Duplicate grain rows", says how to resolve it by hand);
--   * adds the unique index ux_orleansstorage_grain over the whole grain key (NULLS NOT DISTINCT: a grain without a
--     key extension has NULL there; PostgreSQL 15 or later);
--   * drops Orleans' index ix_orleansstorage (grainidhash, graintypehash): the unique index begins with the same two
--     columns and serves every lookup it served, so keeping both would maintain two indexes on every insert;
--   * replaces writetostorage (same signature, same answer: the new version, or the one given when nothing was
--     written) with upstream's logic written against that key: an update fenced by the version read, or a creation
--     with ON CONFLICT DO NOTHING — the creation that commits second inserts nothing and its version stays NULL, which
--     both Orleans' provider and MarginGrid's batched writer already refuse as a version conflict
--     (InconsistentStateException): the activation deactivates and the next call reads the one row that exists.
--     Upstream's WHERE NOT EXISTS guard is gone with the race it could not close; its NULL guards on every parameter
--     are equality with NULL (never true) spelled out, and its key-extension test is IS NOT DISTINCT FROM.
--
-- The migration locks OrleansStorage (reads and writes) for as long as the index build takes (seconds for millions of
-- rows): run `margingrid db init` before the silos start. Idempotent: `CREATE ... IF NOT EXISTS`, `CREATE OR REPLACE`.

-- No creation may slip in between the check for duplicates and the index's build (silos still running), and the
-- lock is taken once, at the strength the index drop needs (no upgrade mid-way, which could deadlock with a waiting
-- writer).
LOCK TABLE OrleansStorage IN ACCESS EXCLUSIVE MODE;

DO $migration$
DECLARE
    duplicated bigint;
BEGIN
    IF current_setting('server_version_num')::integer < 150000 THEN
        RAISE EXCEPTION 'MarginGrid needs PostgreSQL 15 or later (this server is %): migration 004 creates a unique index NULLS NOT DISTINCT',
            current_setting('server_version');
    END IF;

    SELECT count(*) INTO duplicated
    FROM (
        SELECT 1
        FROM OrleansStorage
        GROUP BY serviceid, graintypehash, graintypestring, grainidhash, grainidn0, grainidn1, grainidextensionstring
        HAVING count(*) > 1
    ) AS duplicates;

    IF duplicated > 0 THEN
        RAISE EXCEPTION 'OrleansStorage holds % grain(s) with more than one row (concurrent first writes): migration 004 cannot add its unique index',
            duplicated
            USING HINT = 'List them with the query in docs/operations.md ("Duplicate grain rows"), keep the row each grain should have, delete the others, and run `margingrid db init` again.';
    END IF;
END
$migration$;

CREATE UNIQUE INDEX IF NOT EXISTS ux_orleansstorage_grain
    ON OrleansStorage (grainidhash, graintypehash, grainidn0, grainidn1, serviceid, graintypestring, grainidextensionstring)
    NULLS NOT DISTINCT;

DROP INDEX IF EXISTS ix_orleansstorage;

CREATE OR REPLACE FUNCTION writetostorage(
    _grainidhash integer,
    _grainidn0 bigint,
    _grainidn1 bigint,
    _graintypehash integer,
    _graintypestring character varying,
    _grainidextensionstring character varying,
    _serviceid character varying,
    _grainstateversion integer,
    _payloadbinary bytea)
    RETURNS TABLE(newgrainstateversion integer)
    LANGUAGE 'plpgsql'
AS $function$
DECLARE
    written integer;
BEGIN
    IF _grainstateversion IS NOT NULL THEN
        -- The state was read at _grainstateversion: written only if it is still that version.
        UPDATE OrleansStorage
        SET payloadbinary = _payloadbinary, modifiedon = (now() at time zone 'utc'), version = version + 1
        WHERE grainidhash = _grainidhash AND graintypehash = _graintypehash
            AND grainidn0 = _grainidn0 AND grainidn1 = _grainidn1
            AND serviceid = _serviceid AND graintypestring = _graintypestring
            AND grainidextensionstring IS NOT DISTINCT FROM _grainidextensionstring
            AND version = _grainstateversion;
    ELSE
        -- Never written: created at version 1, unless another creation of the grain holds its key.
        INSERT INTO OrleansStorage
            (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, grainidextensionstring, serviceid,
             payloadbinary, modifiedon, version)
        VALUES
            (_grainidhash, _grainidn0, _grainidn1, _graintypehash, _graintypestring, _grainidextensionstring, _serviceid,
             _payloadbinary, (now() at time zone 'utc'), 1)
        ON CONFLICT DO NOTHING;
    END IF;

    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN QUERY SELECT CASE WHEN written > 0 THEN coalesce(_grainstateversion + 1, 1) ELSE _grainstateversion END;
END
$function$;
