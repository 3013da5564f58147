-- MarginGrid schema, migration 002: the Orleans clustering query CleanupDefunctSiloEntriesKey.
--
-- Orleans 10.4.2's ADO.NET clustering provider looks this query up (it removes the membership rows of silos
-- that are no longer active and have not been alive since @IAmAliveTime, see ClusterMembershipOptions
-- DefunctSiloCleanupPeriod / DefunctSiloExpiration), but the vendored clustering script of tag v10.2.2
-- (deploy/sql/orleans/PostgreSQL-Clustering.sql) predates it: dotnet/orleans#9125 added it on main. The
-- query text below is upstream's. The vendored scripts stay unchanged.
--
-- Applied by MarginGrid.Storage.DatabaseInitializer after the Orleans scripts (it needs their OrleansQuery
-- table) and recorded in margingrid_schema_version; also applied by deploy/compose/initdb. Idempotent on its
-- own: a database that already has the query (from a newer Orleans script, or from the former
-- `db init` patch) keeps its text.

INSERT INTO OrleansQuery(QueryKey, QueryText)
VALUES
(
    'CleanupDefunctSiloEntriesKey','
    DELETE FROM OrleansMembershipTable
    WHERE DeploymentId = @DeploymentId
        AND @DeploymentId IS NOT NULL
        AND IAmAliveTime < @IAmAliveTime
        AND Status != 3;
')
ON CONFLICT (QueryKey) DO NOTHING;
