using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace MarginGrid.Cluster.Tests;

/// <summary>How a request ended: not yet, 2xx, 4xx (a definitive refusal), or 5xx / timeout / connection error (outcome unknown).</summary>
public enum Outcome
{
    Pending,
    Acked,
    Rejected,
    Failed,
}

/// <summary>One command with its client command id, and what became of it.</summary>
public sealed class CommandRecord
{
    public required string Id { get; init; }

    public required string Account { get; init; }

    /// <summary><c>deposit</c> or <c>fill</c>.</summary>
    public required string Kind { get; init; }

    public required string Body { get; init; }

    /// <summary>USD deposited, or the signed size filled.</summary>
    public required decimal Amount { get; init; }

    public string Path => $"v1/accounts/{Account}/{(Kind == "deposit" ? "deposits" : "fills")}";

    public string Node { get; set; } = "";

    public TimeSpan Sent { get; set; }

    public TimeSpan Completed { get; set; }

    public int Status { get; set; }

    public Outcome First { get; set; }

    /// <summary>The state version of the first 2xx answer.</summary>
    public long? Version { get; set; }

    /// <summary>Content type and title of a failure's answer, or the exception that replaced it.</summary>
    public string? Failure { get; set; }

    public int? ResendStatus { get; set; }

    public bool? ResendDuplicate { get; set; }

    public long? ResendVersion { get; set; }
}

/// <summary>
/// A steady stream of commands (USD deposits and BTC-USD fills, each with a fresh command id) from a few concurrent
/// clients to the nodes <see cref="Targets"/> names, and a price feed that walks BTC-USD down from 100 to
/// <see cref="Low"/> and back. Every command and its outcome is recorded.
/// </summary>
public sealed class Workload(GridCluster cluster, IReadOnlyList<string> accounts, int seed) : IDisposable
{
    private readonly ConcurrentDictionary<(string Node, string Role), HttpClient> _clients = new();
    private readonly ConcurrentQueue<CommandRecord> _commands = new();
    private readonly Lock _priceLock = new();
    private decimal _lastPrice = 100m;
    private long _next;
    private int _pricesAcked;
    private int _pricesFailed;
    private TimeSpan? _lowReached;

    /// <summary>The nodes commands and prices go to (the running ones by default).</summary>
    public Func<IReadOnlyList<SiloProcess>> Targets { get; set; } = () => cluster.Running;

    public decimal Low { get; init; } = 88m;

    /// <summary>The time base of <see cref="CommandRecord.Sent"/> and <see cref="CommandRecord.Completed"/>.</summary>
    public Stopwatch Clock { get; } = Stopwatch.StartNew();

    public IReadOnlyCollection<CommandRecord> Commands => _commands;

    public int PricesAcked => _pricesAcked;

    public int PricesFailed => _pricesFailed;

    /// <summary>
    /// When (on <see cref="Clock"/>) a price at <see cref="Low"/> was last acknowledged: the feed's walk has been through
    /// the whole range where the accounts become liquidatable. Null until it has.
    /// </summary>
    public TimeSpan? LowReached
    {
        get
        {
            lock (_priceLock)
            {
                return _lowReached;
            }
        }
    }

    public decimal LastPrice
    {
        get
        {
            lock (_priceLock)
            {
                return _lastPrice;
            }
        }
    }

    /// <summary>Runs <paramref name="workers"/> command clients and the feed until <paramref name="stop"/> is cancelled.</summary>
    public Task RunAsync(int workers, CancellationToken stop) =>
        Task.WhenAll([.. Enumerable.Range(0, workers).Select(w => Task.Run(() => CommandLoopAsync(seed * 100 + w, stop))), Task.Run(() => FeedAsync(stop))]);

    /// <summary>A USD deposit to <paramref name="account"/> with a new command id, sent and recorded like the others.</summary>
    public async Task<CommandRecord> DepositAsync(string account, decimal amount, SiloProcess node)
    {
        var record = Deposit(account, amount);
        await SendAsync(record, node);
        return record;
    }

    /// <summary>
    /// Sends every recorded command again, same id and body, to the running nodes until each gets a definitive answer
    /// (2xx or 4xx): an acknowledged one must come back as a duplicate of itself; one that failed comes back as a
    /// duplicate if it had been applied after all, or is applied now.
    /// </summary>
    /// <summary>
    /// The end of every fault test: one more deposit per account through <paramref name="node"/> (it settles any
    /// liquidation a failed node left half-done), every command resent with its id until it gets a definitive answer,
    /// then the whole audit; fails on any violation and returns the audit for further checks.
    /// </summary>
    public async Task<GridAudit> SettleAndAuditAsync(
        IReadOnlyList<string> all, SiloProcess node, HttpClient reader, decimal openingUsd, ITestOutputHelper output)
    {
        foreach (var account in all)
        {
            var probe = await DepositAsync(account, 1m, node);
            Assert.True(probe.First == Outcome.Acked, $"final deposit to {account}: {probe.Status} {probe.Failure}");
        }

        await ResendAllAsync(TimeSpan.FromSeconds(90));
        var audit = new GridAudit();
        await audit.CheckAsync(reader, all, Commands, openingUsd, output);
        Assert.True(audit.Violations.Count == 0, "violations:" + audit.Describe());
        return audit;
    }

    public async Task ResendAllAsync(TimeSpan deadline)
    {
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(_commands, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (record, _) =>
        {
            var random = new Random(record.Id.GetHashCode(StringComparison.Ordinal));
            while (true)
            {
                var targets = cluster.Running;
                var node = targets[random.Next(targets.Count)];
                var (status, json, failure) = await PostAsync(node, "venue", record.Path, record.Body);
                if (status is >= 200 and < 500)
                {
                    record.ResendStatus = status;
                    if (json is { } body && body.ValueKind == JsonValueKind.Object && body.TryGetProperty("duplicate", out var duplicate))
                    {
                        record.ResendDuplicate = duplicate.GetBoolean();
                    }

                    if (status < 300 && json is { } ok)
                    {
                        record.ResendVersion = ok.GetProperty("version").GetInt64();
                    }

                    return;
                }

                if (clock.Elapsed > deadline)
                {
                    Assert.Fail($"command {record.Id} still failed after {deadline} of retries: {status} {failure}");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200)); // back-off between retries of a failed request
            }
        });
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values)
        {
            client.Dispose();
        }
    }

    private CommandRecord Deposit(string account, decimal amount)
    {
        var id = $"c{Interlocked.Increment(ref _next)}-{account}";
        return new CommandRecord
        {
            Id = id,
            Account = account,
            Kind = "deposit",
            Amount = amount,
            Body = $$"""{ "commandId": "{{id}}", "asset": "USD", "quantity": "{{amount.ToString(CultureInfo.InvariantCulture)}}" }""",
        };
    }

    private async Task CommandLoopAsync(int workerSeed, CancellationToken stop)
    {
        var random = new Random(workerSeed);
        while (!stop.IsCancellationRequested)
        {
            var targets = Targets();
            var node = targets[random.Next(targets.Count)];
            var account = accounts[random.Next(accounts.Count)];
            CommandRecord record;
            if (random.NextDouble() < 0.7)
            {
                record = Deposit(account, 1m + (random.Next(1, 500) / 100m));
            }
            else
            {
                var id = $"c{Interlocked.Increment(ref _next)}-{account}";
                var size = random.Next(1, 11) / 10m * (random.Next(2) == 0 ? 1 : -1);
                var price = LastPrice;
                record = new CommandRecord
                {
                    Id = id,
                    Account = account,
                    Kind = "fill",
                    Amount = size,
                    Body = $$"""{ "commandId": "{{id}}", "market": "{{GridCluster.Market}}", "size": "{{size.ToString(CultureInfo.InvariantCulture)}}", "price": "{{price.ToString(CultureInfo.InvariantCulture)}}" }""",
                };
            }

            await SendAsync(record, node);
        }
    }

    private async Task SendAsync(CommandRecord record, SiloProcess node)
    {
        record.Node = node.Name;
        record.Sent = Clock.Elapsed;
        _commands.Enqueue(record);
        var (status, json, failure) = await PostAsync(node, "venue", record.Path, record.Body);
        record.Completed = Clock.Elapsed;
        record.Status = status;
        record.Failure = failure;
        var outcome = status switch
        {
            >= 200 and < 300 => Outcome.Acked,
            >= 400 and < 500 => Outcome.Rejected,
            _ => Outcome.Failed,
        };
        if (outcome == Outcome.Acked)
        {
            record.Version = json!.Value.GetProperty("version").GetInt64();
        }

        record.First = outcome; // last: a record is read concurrently, and counts once its outcome is set
    }

    private async Task FeedAsync(CancellationToken stop)
    {
        var price = 100m;
        var step = -0.5m;
        while (!stop.IsCancellationRequested)
        {
            var targets = Targets();
            var node = targets[Random.Shared.Next(targets.Count)];
            price += step;
            if (price <= Low || price >= 100m)
            {
                step = -step;
            }

            var (status, _, _) = await PostAsync(node, "feed", "v1/prices", cluster.Price(price));
            if (status is >= 200 and < 300)
            {
                Interlocked.Increment(ref _pricesAcked);
                lock (_priceLock)
                {
                    _lastPrice = price;
                    _lowReached = price <= Low ? Clock.Elapsed : _lowReached;
                }
            }
            else
            {
                Interlocked.Increment(ref _pricesFailed);
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), stop); // the feed's pace: about ten prices a second
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<(int Status, JsonElement? Json, string? Failure)> PostAsync(SiloProcess node, string role, string path, string body)
    {
        var client = _clients.GetOrAdd((node.Name, role), k => cluster.Client(node, k.Role, TimeSpan.FromSeconds(20)));
        try
        {
            using var response = await client.PostAsync(path, GridClient.Json(body));
            var text = await response.Content.ReadAsStringAsync();
            JsonElement? json = null;
            try
            {
                json = text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : null;
            }
            catch (JsonException)
            {
                // not JSON: reported as the failure below
            }

            var status = (int)response.StatusCode;
            var failure = status is >= 200 and < 300
                ? null
                : $"{response.Content.Headers.ContentType?.MediaType} {(json is { ValueKind: JsonValueKind.Object } p && p.TryGetProperty("title", out var t) ? t.GetString() : text)}";
            return (status, json, failure);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return (0, null, e.GetType().Name + ": " + e.Message);
        }
    }
}
