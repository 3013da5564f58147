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
--   * replaces writetostorage with upstream's text plus ON CONFLICT DO NOTHING on the creation: the creation that
--     commits second inserts nothing and its version stays NULL, which both Orleans' provider and MarginGrid's batched
--     writer already refuse as a version conflict (InconsistentStateException): the activation deactivates and the
--     next call reads the one row that exists.
--
-- Building the index locks OrleansStorage against writes for as long as it takes (seconds for millions of rows):
-- run `margingrid db init` before the silos start. Idempotent: `CREATE ... IF NOT EXISTS`, `CREATE OR REPLACE`.

-- No creation may slip in between the check for duplicates and the index's build (silos still running).
LOCK TABLE OrleansStorage IN SHARE MODE;

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
     _newGrainStateVersion integer := _GrainStateVersion;
     RowCountVar integer := 0;

    BEGIN

    -- Grain state is not null, so the state must have been read from the storage before.
    -- Let's try to update it.
    --
    -- When Orleans is running in normal, non-split state, there will
    -- be only one grain with the given ID and type combination only. This
    -- grain saves states mostly serially if Orleans guarantees are upheld. Even
    -- if not, the updates should work correctly due to version number.
    --
    -- In split brain situations there can be a situation where there are two or more
    -- grains with the given ID and type combination. When they try to INSERT
    -- concurrently, the table needs to be locked pessimistically before one of
    -- the grains gets @GrainStateVersion = 1 in return and the other grains will fail
    -- to update storage. The following arrangement is made to reduce locking in normal operation.
    --
    -- If the version number explicitly returned is still the same, Orleans interprets it so the update did not succeed
    -- and throws an InconsistentStateException.
    --
    -- See further information at https://learn.microsoft.com/dotnet/orleans/grains/grain-persistence.
    IF _GrainStateVersion IS NOT NULL
    THEN
        UPDATE OrleansStorage
        SET
            PayloadBinary = _PayloadBinary,
            ModifiedOn = (now() at time zone 'utc'),
            Version = Version + 1

        WHERE
            GrainIdHash = _GrainIdHash AND _GrainIdHash IS NOT NULL
            AND GrainTypeHash = _GrainTypeHash AND _GrainTypeHash IS NOT NULL
            AND GrainIdN0 = _GrainIdN0 AND _GrainIdN0 IS NOT NULL
            AND GrainIdN1 = _GrainIdN1 AND _GrainIdN1 IS NOT NULL
            AND GrainTypeString = _GrainTypeString AND _GrainTypeString IS NOT NULL
            AND ((_GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString = _GrainIdExtensionString) OR _GrainIdExtensionString IS NULL AND GrainIdExtensionString IS NULL)
            AND ServiceId = _ServiceId AND _ServiceId IS NOT NULL
            AND Version IS NOT NULL AND Version = _GrainStateVersion AND _GrainStateVersion IS NOT NULL;

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;
        IF RowCountVar > 0
        THEN
            _newGrainStateVersion := _GrainStateVersion + 1;
        END IF;
    END IF;

    -- The grain state has not been read: create it. Only one creation of a grain can commit (the unique index of
    -- migration 004; upstream's comment promised a pessimistic lock that this function never took).
    IF _GrainStateVersion IS NULL
    THEN
        INSERT INTO OrleansStorage
        (
            GrainIdHash,
            GrainIdN0,
            GrainIdN1,
            GrainTypeHash,
            GrainTypeString,
            GrainIdExtensionString,
            ServiceId,
            PayloadBinary,
            ModifiedOn,
            Version
        )
        SELECT
            _GrainIdHash,
            _GrainIdN0,
            _GrainIdN1,
            _GrainTypeHash,
            _GrainTypeString,
            _GrainIdExtensionString,
            _ServiceId,
            _PayloadBinary,
           (now() at time zone 'utc'),
            1
        WHERE NOT EXISTS
         (
            -- There should not be any version of this grain state.
            SELECT 1
            FROM OrleansStorage
            WHERE
                GrainIdHash = _GrainIdHash AND _GrainIdHash IS NOT NULL
                AND GrainTypeHash = _GrainTypeHash AND _GrainTypeHash IS NOT NULL
                AND GrainIdN0 = _GrainIdN0 AND _GrainIdN0 IS NOT NULL
                AND GrainIdN1 = _GrainIdN1 AND _GrainIdN1 IS NOT NULL
                AND GrainTypeString = _GrainTypeString AND _GrainTypeString IS NOT NULL
                AND ((_GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString = _GrainIdExtensionString) OR _GrainIdExtensionString IS NULL AND GrainIdExtensionString IS NULL)
                AND ServiceId = _ServiceId AND _ServiceId IS NOT NULL
         )
        -- MarginGrid (migration 004): a concurrent creation that committed first holds the key in
        -- ux_orleansstorage_grain; this one inserts nothing, its version stays NULL and the caller's write is refused.
        ON CONFLICT DO NOTHING;

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;
        IF RowCountVar > 0
        THEN
            _newGrainStateVersion := 1;
        END IF;
    END IF;

    RETURN QUERY SELECT _newGrainStateVersion AS NewGrainStateVersion;
END

$function$;
