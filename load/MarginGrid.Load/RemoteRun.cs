using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HdrHistogram;
using MarginGrid.Domain;
using MarginGrid.Simulation;
using MarginGrid.Client;
using Spectre.Console;

namespace MarginGrid.Load;

/// <summary>
/// A load run against a running cluster (<c>--target</c>), through its HTTP API (<c>http://…</c>) or through the native
/// client at its gateways (<c>orleans://host:port,…</c>, <see cref="MarginGridClient"/>): the same flow either way
/// (<see cref="IRemoteGrid"/> is the transport). It configures the markets (and seeds the insurance fund if it is
/// new), opens the simulated accounts through the targets in turn, publishes the scenario's prices — timestamped from
/// now on — and measures each update's latency from its scheduled time to the answer, which carries the step's
/// events. At the end it reads every account and the fund back and checks conservation. There is no baseline: other
/// clients may be changing the cluster too.
/// </summary>
public static class RemoteRun
{
    private const decimal InitialFund = 1_000_000m;

    public static async Task<LoadReport> RunAsync(LoadOptions options, IAnsiConsole console, CancellationToken cancellationToken)
    {
        await using var grid = await ConnectAsync(options, cancellationToken);
        return await RunAsync(options, grid, console, cancellationToken);
    }

    /// <summary>The transport <paramref name="options"/> asks for: the native client for an orleans:// target, HTTP otherwise.</summary>
    internal static async Task<IRemoteGrid> ConnectAsync(LoadOptions options, CancellationToken cancellationToken) =>
        options.Orleans is { } orleans
            ? new ClientRemoteGrid(await MarginGridClient.ConnectAsync(orleans, cancellationToken))
            : new HttpRemoteGrid(options.Targets, options.Keys);

    internal static async Task<LoadReport> RunAsync(LoadOptions options, IRemoteGrid api, IAnsiConsole console, CancellationToken cancellationToken)
    {
        var (config, startPrices, ids, seeds, plan) = LoadSetup.Build(options, options.RunId);

        var fundStart = await api.ConfigureAsync(config, InitialFund, cancellationToken);
        var latencies = new LatencyRecorder(options.EffectiveWarmup);
        var series = new List<SeriesPoint>(plan.Length);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var steps = new HashSet<string>(StringComparer.Ordinal);
        long evaluated = 0;
        TimeSpan gridTime = default;

        await LoadRun.Progress(console, options.Plain, async progress =>
        {
            // Markets are priced before accounts open in them: the API refuses an account that depends on an unpriced market.
            var origin = DateTimeOffset.UtcNow - TimeSpan.FromSeconds(1);
            DateTimeOffset Stamp(DateTimeOffset planned) => origin + (planned - TickPlan.Epoch);
            await api.PublishAsync(0, [.. startPrices.Select(p => new RemotePrice(p.Key, "feed-a", p.Value, Stamp(TickPlan.Epoch - TimeSpan.FromMilliseconds(1))))], cancellationToken);

            var opening = progress("open accounts", ids.Length);
            await Parallel.ForEachAsync(Enumerable.Range(0, ids.Length), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (i, ct) =>
            {
                await api.OpenAsync(i, ids[i], seeds[i], ct);
                opening(1);
            });

            if (options.Quiet > TimeSpan.Zero)
            {
                // A quiet market, not a synchronisation: the crash comes after this long with nothing sent. Its
                // prices are stamped from now on, later than the opening prices.
                var quiet = progress($"quiet market, {options.Quiet.TotalSeconds:0} s", 1);
                await Task.Delay(options.Quiet, cancellationToken);
                quiet(1);
                origin = DateTimeOffset.UtcNow - TimeSpan.FromSeconds(1);
            }

            var ticking = progress($"{TickPlan.Name(options.Scenario)}: {plan.Length:N0} updates", plan.Length);
            var gate = new Lock();
            var clock = Stopwatch.StartNew();
            async Task PublishAsync(PlannedTick tick)
            {
                var step = await api.PublishAsync(tick.Index, [new RemotePrice(tick.Market, tick.Source, tick.Price, Stamp(tick.Timestamp))], cancellationToken);
                lock (gate)
                {
                    var latency = clock.Elapsed - tick.At;
                    latencies.Record(
                        tick.At,
                        latency,
                        step.EventTypes.Contains("margin_call"),
                        step.EventTypes.Any(t => t is "liquidation" or "collateral_liquidation" or "bankruptcy"));

                    if (steps.Add(step.Step))
                    {
                        evaluated += step.Evaluated; // conflated updates share their step: count it once
                        foreach (var type in step.EventTypes)
                        {
                            counts[type] = counts.GetValueOrDefault(type) + 1;
                        }
                    }

                    series.Add(new SeriesPoint(clock.Elapsed.TotalSeconds, latency.TotalMilliseconds, new long[Enum.GetValues<RiskStatus>().Length], 0m, 0m));
                    ticking(1);
                }
            }

            await LoadRun.FeedAsync(plan, options.Feed, clock, PublishAsync, cancellationToken);
            gridTime = clock.Elapsed;
        });

        var (views, fund) = await api.AuditAsync(ids, cancellationToken);
        var conservation = Conservation.Check(
            views.Select(v => new ConservationEntry(v.Usd, v.NetUsdTransfers, v.RealizedPnl, v.CollateralSoldValue)),
            fundStart.InsuranceFund,
            fund.InsuranceFund,
            fund.SocializedLoss - fundStart.SocializedLoss);
        return latencies.Into(new LoadReport
        {
            Scenario = TickPlan.Name(options.Scenario),
            FanOut = "cluster",
            Target = api.Target,
            Accounts = options.Accounts,
            Markets = options.Markets,
            Seed = options.Seed,
            RequestedRate = options.Rate,
            Updates = plan.Length,
            GridSeconds = gridTime.TotalSeconds,
            UpdatesPerSecond = plan.Length / gridTime.TotalSeconds,
            AccountTicksDecided = (long)options.Accounts * plan.Length,
            HolderTicksDecided = evaluated,
            AccountEvaluations = evaluated,
            EvaluationsPerSecond = evaluated / gridTime.TotalSeconds,
            CoveragePerSecond = (double)options.Accounts * plan.Length / gridTime.TotalSeconds,
            MarginCalls = counts.GetValueOrDefault("margin_call"),
            Liquidations = counts.GetValueOrDefault("liquidation"),
            CollateralSales = counts.GetValueOrDefault("collateral_liquidation"),
            Bankruptcies = counts.GetValueOrDefault("bankruptcy"),
            InsuranceFundStart = fundStart.InsuranceFund,
            InsuranceFund = fund.InsuranceFund,
            BadDebt = fund.SocializedLoss - fundStart.SocializedLoss,
            ConservationHolds = conservation.Holds,
            ConservationDifference = conservation.Difference,
            GridEvents = counts.Values.Sum(),
            Series = series,
        });
    }
}

/// <summary>The cluster's HTTP API as the load generator uses it (exact decimals as strings, API keys by role).</summary>
internal sealed class HttpRemoteGrid : IRemoteGrid
{
    private readonly HttpClient[] _admin;
    private readonly HttpClient[] _feed;
    private readonly HttpClient[] _trader;
    private readonly HttpClient[] _reader;

    public HttpRemoteGrid(IReadOnlyList<Uri> targets, LoadKeys keys)
    {
        Target = string.Join(",", targets);
        HttpClient[] Clients(string? key) => [.. targets.Select(t =>
        {
            var client = new HttpClient { BaseAddress = t, Timeout = TimeSpan.FromSeconds(60) };
            if (key is not null)
            {
                client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            }

            return client;
        })];
        _admin = Clients(keys.Admin);
        _feed = Clients(keys.Feed);
        _trader = Clients(keys.Trader);
        _reader = Clients(keys.Reader);
    }

    public string Target { get; }

    /// <summary>Sets the markets; seeds the fund when the cluster's is new. Returns the fund before the run.</summary>
    public async Task<RemoteFund> ConfigureAsync(RiskConfigSnapshot config, decimal initialFund, CancellationToken ct)
    {
        var body = new JsonObject
        {
            ["markets"] = new JsonArray([.. config.Markets.Select(m => (JsonNode)new JsonObject
            {
                ["symbol"] = m.Symbol,
                ["lotSize"] = Text(m.LotSize),
                ["liquidationPenalty"] = Text(m.LiquidationPenalty),
                ["brackets"] = new JsonArray([.. m.Brackets.Select(b => (JsonNode)new JsonObject
                {
                    ["floor"] = Text(b.Floor),
                    ["mmr"] = Text(b.Mmr),
                    ["imr"] = Text(b.Imr),
                })]),
            })]),
            ["collateral"] = new JsonArray([.. config.Collateral.Select(c => (JsonNode)new JsonObject
            {
                ["asset"] = c.Asset,
                ["weight"] = Text(c.Weight),
                ["priceMarket"] = c.PriceMarket,
                ["liquidationDiscount"] = Text(c.LiquidationDiscount),
            })]),
            ["risk"] = new JsonObject
            {
                ["marginCallRatio"] = Text(config.Risk.MarginCallRatio),
                ["liquidationTargetRatio"] = Text(config.Risk.LiquidationTargetRatio),
            },
        };
        var fund = await FundAsync(ct);
        if (fund is { InsuranceFund: 0m, SocializedLoss: 0m })
        {
            body["insuranceFund"] = Text(initialFund);
        }

        await SendAsync(_admin[0], "v1/config", body, ct);
        return await FundAsync(ct);
    }

    /// <summary>
    /// Seeds an account as it is (a simulated book, like a migration): the admin key with <c>allowUnhealthy</c>, since
    /// traders move no money and the venue may not open an account that is not initial-margin healthy.
    /// </summary>
    public Task OpenAsync(int index, string id, AccountSeed seed, CancellationToken ct) =>
        SendAsync(_admin[index % _admin.Length], $"v1/accounts/{Uri.EscapeDataString(id)}", new JsonObject
        {
            ["allowUnhealthy"] = true,
            ["collateral"] = new JsonObject([.. seed.Collateral.Select(c => KeyValuePair.Create(c.Key, (JsonNode?)Text(c.Value)))]),
            ["positions"] = new JsonArray([.. seed.Positions.Select(p => (JsonNode)new JsonObject
            {
                ["market"] = p.Market,
                ["size"] = Text(p.Size),
                ["entryPrice"] = Text(p.EntryPrice),
            })]),
        }, ct);

    /// <summary>Publishes a batch of prices through one of the targets; returns the first price's step.</summary>
    public async Task<RemoteStep> PublishAsync(int index, IReadOnlyList<RemotePrice> prices, CancellationToken ct)
    {
        var body = new JsonArray([.. prices.Select(p => (JsonNode)new JsonObject
        {
            ["market"] = p.Market,
            ["source"] = p.Source,
            ["price"] = Text(p.Price),
            ["timestamp"] = p.Timestamp.ToString("O", CultureInfo.InvariantCulture),
        })]);
        var answer = await SendAsync(_feed[index % _feed.Length], "v1/prices", body, ct);
        var step = answer.GetProperty("steps")[0];
        return new RemoteStep(
            step.GetProperty("step").GetString()!,
            step.GetProperty("evaluated").GetInt32(),
            [.. step.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()!)]);
    }

    public async Task<(IReadOnlyList<RemoteView> Views, RemoteFund Fund)> AuditAsync(IReadOnlyList<string> ids, CancellationToken ct)
    {
        var views = new RemoteView[ids.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, ids.Count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (i, token) =>
        {
            var view = await GetAsync(_reader[i % _reader.Length], $"v1/accounts/{Uri.EscapeDataString(ids[i])}", token);
            views[i] = new RemoteView(
                view.GetProperty("collateral").TryGetProperty(Assets.Usd, out var usd) ? Number(usd) : 0m,
                Number(view.GetProperty("netUsdTransfers")),
                Number(view.GetProperty("realizedPnl")),
                Number(view.GetProperty("collateralSoldValue")));
        });
        return (views, await FundAsync(ct));
    }

    public ValueTask DisposeAsync()
    {
        foreach (var client in _admin.Concat(_feed).Concat(_trader).Concat(_reader))
        {
            client.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private async Task<RemoteFund> FundAsync(CancellationToken ct)
    {
        var fund = await GetAsync(_reader[0], "v1/insurance-fund", ct);
        return new RemoteFund(Number(fund.GetProperty("insuranceFund")), Number(fund.GetProperty("socializedLoss")));
    }

    private static string Text(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    private static decimal Number(JsonElement e) =>
        decimal.Parse(e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture);

    private static async Task<JsonElement> SendAsync(HttpClient client, string path, JsonNode body, CancellationToken ct)
    {
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(path, content, ct);
        return await ReadAsync(response, $"POST {client.BaseAddress}{path}", ct);
    }

    private static async Task<JsonElement> GetAsync(HttpClient client, string path, CancellationToken ct)
    {
        using var response = await client.GetAsync(path, ct);
        return await ReadAsync(response, $"GET {client.BaseAddress}{path}", ct);
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, string what, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{what}: {(int)response.StatusCode} {text}");
        }

        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }
}
