using System.Text.Json.Nodes;

namespace MarginGrid.Deploy.Tests;

/// <summary>deploy/compose, checked by docker-compose (Debian docker-compose 1.29: `config` validates without an engine).</summary>
public sealed class ComposeTests
{
    private const string ComposeFile = "deploy/compose/docker-compose.yml";

    private static JsonNode Config(params string[] extra)
    {
        var result = Tools.RunOk(Tools.DockerCompose, ["-f", ComposeFile, .. extra, "config"],
            environment: new Dictionary<string, string> { ["COMPOSE_PROJECT_NAME"] = "margingrid" });
        return Yaml.Parse(result.StdOut);
    }

    [Fact]
    public void Compose_file_is_valid_and_the_load_service_is_only_in_the_load_profile()
    {
        // docker-compose 1.x `config` validates against the compose schema and lists profiled services too.
        var services = Config("--profile", "load")["services"]!.AsObject();
        Assert.Equal(["grafana", "load", "migrate", "postgres", "prometheus", "silo1", "silo2", "silo3"],
            services.Select(s => s.Key).Order(StringComparer.Ordinal));
        var profiled = services.Where(s => s.Value!["profiles"] is not null).ToList();
        var load = Assert.Single(profiled);
        Assert.Equal("load", load.Key);
        Assert.Equal(["load"], load.Value!["profiles"]!.AsArray().Select(p => p!.GetValue<string>()));
        // The load generator that deploy/publish.sh puts in the image (its test checks /app/load/MarginGrid.Load.dll),
        // driving the three silos through their HTTP API.
        Assert.Equal(["dotnet", "/app/load/MarginGrid.Load.dll"], load.Value["entrypoint"]!.AsArray().Select(p => p!.GetValue<string>()));
        var command = load.Value["command"]!.AsArray().Select(p => p!.GetValue<string>()).ToList();
        Assert.Equal("--target", command[0]);
        Assert.Equal(["http://silo1:8080", "http://silo2:8080", "http://silo3:8080"], command[1].Split(','));
        Assert.Contains("--no-baseline", command);
        var environment = load.Value["environment"]!.AsObject().Select(e => e.Key).ToList();
        Assert.All(new[] { "Admin", "Feed", "Trader", "Reader" }, role => Assert.Contains($"MarginGrid__Load__{role}Key", environment));
    }

    [Fact]
    public void Compose_config_rejects_an_invalid_file()
    {
        // Guards the checks here: docker-compose must catch a misspelt key.
        var broken = Path.Combine(Path.GetTempPath(), $"margingrid-compose-broken-{Guid.NewGuid():N}.yml");
        File.WriteAllText(broken, Repo.ReadText("deploy", "compose", "docker-compose.yml")
            .Replace("    hostname: silo1", "    hostnme: silo1", StringComparison.Ordinal));
        try
        {
            var result = Tools.Run(Tools.DockerCompose, ["-f", broken, "config", "-q"]);
            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains("hostnme", result.StdErr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(broken);
        }
    }

    [Fact]
    public void Three_silos_share_one_cluster_and_postgres_and_wait_for_the_schema()
    {
        var services = Config()["services"]!;
        foreach (var silo in new[] { "silo1", "silo2", "silo3" })
        {
            var env = services[silo]!["environment"]!;
            Assert.Equal("8080", env["MarginGrid__Http__Port"]!.GetValue<string>());
            Assert.Equal("margingrid-compose", env["Orleans__ClusterId"]!.GetValue<string>());
            Assert.Equal("margingrid", env["Orleans__ServiceId"]!.GetValue<string>());
            Assert.Equal("11111", env["Orleans__SiloPort"]!.GetValue<string>());
            Assert.Equal("30000", env["Orleans__GatewayPort"]!.GetValue<string>());
            Assert.StartsWith("Host=postgres;", env["ConnectionStrings__MarginGrid"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Equal("silo", services[silo]!["command"]![0]!.GetValue<string>());
            Assert.Equal("service_completed_successfully", services[silo]!["depends_on"]!["migrate"]!["condition"]!.GetValue<string>());
        }

        Assert.Equal(["db", "init"], services["migrate"]!["command"]!.AsArray().Select(c => c!.GetValue<string>()));
        Assert.StartsWith("postgres:15", services["postgres"]!["image"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_bind_mount_source_exists_in_the_repository()
    {
        var services = Config("--profile", "load")["services"]!.AsObject();
        var binds = new List<string>();
        foreach (var (name, service) in services)
        {
            foreach (var volume in service!["volumes"]?.AsArray() ?? [])
            {
                // docker-compose 1.x prints "source:target:mode" with sources made absolute.
                var source = volume!.GetValue<string>().Split(':')[0];
                if (source.StartsWith('/'))
                {
                    binds.Add(source);
                    Assert.True(File.Exists(source) || Directory.Exists(source), $"{name}: bind source {source} does not exist");
                }
            }
        }

        Assert.Contains(Repo.PathOf("deploy", "sql"), binds);
        Assert.Contains(Repo.PathOf("deploy", "compose", "initdb"), binds);
        Assert.Contains(Repo.PathOf("deploy", "prometheus"), binds);
    }

    [Fact]
    public void Initdb_script_applies_the_orleans_and_margingrid_schema_to_an_empty_postgres_database()
    {
        var port = Environment.GetEnvironmentVariable("MARGINGRID_PG_PORT");
        Assert.False(string.IsNullOrEmpty(port),
            "MARGINGRID_PG_PORT is not set: run the tests through scripts/test.sh, which starts PostgreSQL (scripts/pg.sh start)");
        var psql = Tools.Psql;
        var database = $"deploy_initdb_{Guid.NewGuid():N}";
        var env = new Dictionary<string, string>
        {
            ["PGHOST"] = "127.0.0.1",
            ["PGPORT"] = port!,
            ["PGUSER"] = "postgres",
            ["PGDATABASE"] = "postgres",
        };
        Tools.RunOk(psql, ["-v", "ON_ERROR_STOP=1", "-c", $"CREATE DATABASE {database}"], environment: env);
        try
        {
            Tools.RunOk(Tools.Bash, ["deploy/compose/initdb/10-margingrid-schema.sh"], environment: new Dictionary<string, string>(env)
            {
                ["POSTGRES_DB"] = database,
                ["POSTGRES_USER"] = "postgres",
                ["MARGINGRID_SQL_DIR"] = Repo.PathOf("deploy", "sql"),
            }, timeout: TimeSpan.FromSeconds(120));
            var tables = Tools.RunOk(psql, ["-At", "-d", database, "-c",
                "SELECT lower(table_name) FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"], environment: env).StdOut
                .Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Superset(new HashSet<string>(["orleansquery", "orleansmembershiptable", "orleansmembershipversiontable",
                "orleansstorage", "orleansreminderstable", "margingrid_audit"]), tables.ToHashSet());
        }
        finally
        {
            Tools.Run(psql, ["-c", $"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], environment: env);
        }
    }
}
