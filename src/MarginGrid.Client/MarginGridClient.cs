using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Streams;

namespace MarginGrid.Client;

/// <summary>
/// A native client of a MarginGrid cluster, on <c>Microsoft.Orleans.Client</c>: what an exchange's price feed and
/// matching engine use instead of the HTTP API. It talks to the silos' gateways directly and calls the public grain
/// interfaces (<see cref="IMarketGrain"/>, <see cref="IAccountGrain"/>, <see cref="IInsuranceFundGrain"/>,
/// <see cref="IRiskConfigGrain"/>, <see cref="ILiquidationQueueGrain"/>), with the same checks the API makes where a
/// grain does not make them itself. Thread-safe; one per process is enough.
/// </summary>
/// <remarks>
/// The gateway port has no authentication: the API keys guard the HTTP API only, and a process that reaches a gateway
/// may call every grain. Keep gateways on the cluster's private network (as the Kubernetes manifests do: pod to pod,
/// no Service) and give this client only to trusted components. Unlike the HTTP API, the client writes no
/// <c>command</c> rows to the audit trail (the API does that itself); the grains' events (margin calls, liquidations,
/// bankruptcies, rejections) are audited by the silos either way.
/// </remarks>
public sealed class MarginGridClient : IAsyncDisposable
{
    /// <summary>The ADO.NET invariant of Npgsql, as the silos use it.</summary>
    public const string PostgresInvariant = "Npgsql";

    private readonly IHost _host;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<Guid, StreamSubscriptionHandle<GridEvent>> _subscriptions = new();
    private readonly ConcurrentDictionary<string, bool> _priced = new(StringComparer.Ordinal);
    private int _disposed;

    private MarginGridClient(IHost host, MarginGridClientOptions options, int connectAttempts)
    {
        _host = host;
        Options = options;
        ConnectAttempts = connectAttempts;
        Cluster = host.Services.GetRequiredService<IClusterClient>();
        _logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger<MarginGridClient>();
    }

    public MarginGridClientOptions Options { get; }

    /// <summary>The Orleans client underneath, for grain calls this class does not wrap.</summary>
    public IClusterClient Cluster { get; }

    /// <summary>How many attempts the connection took (1 when the cluster answered at once).</summary>
    public int ConnectAttempts { get; }

    /// <summary>Connects to <c>orleans://host:port[,host:port…][?cluster-id=…&amp;service-id=…]</c>.</summary>
    public static Task<MarginGridClient> ConnectAsync(string target, CancellationToken cancellationToken = default) =>
        ConnectAsync(MarginGridClientOptions.Parse(target), cancellationToken);

    /// <summary>
    /// Connects to the cluster, retrying for <see cref="MarginGridClientOptions.ConnectTimeout"/> while no gateway
    /// answers (silos still starting, a gateway restarting); throws <see cref="MarginGridConnectException"/> after that.
    /// </summary>
    public static async Task<MarginGridClient> ConnectAsync(MarginGridClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        var gateways = options.Gateways.Count > 0 ? await ResolveAsync(options.Gateways, cancellationToken) : [];
        var clock = Stopwatch.StartNew();
        var attempts = 1;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        options.Logging?.Invoke(builder.Logging);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = options.ClusterId;
                o.ServiceId = options.ServiceId;
            });
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = options.ResponseTimeout);
            if (gateways.Length > 0)
            {
                client.UseStaticClustering(gateways);
            }
            else
            {
                client.UseAdoNetClustering(o =>
                {
                    o.Invariant = PostgresInvariant;
                    o.ConnectionString = options.PostgresConnectionString;
                });
            }

            if (options.Events)
            {
                client.AddMemoryStreams(GridStreams.Provider);
            }

            client.UseConnectionRetryFilter(async (_, token) =>
            {
                if (clock.Elapsed + options.ConnectRetryDelay > options.ConnectTimeout)
                {
                    return false;
                }

                await Task.Delay(options.ConnectRetryDelay, options.Clock, token); // back-off between attempts, not synchronisation
                attempts++;
                return true;
            });
        });

        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            throw new MarginGridConnectException(
                $"could not connect to {options.Describe()} (cluster {options.ClusterId}, service {options.ServiceId}) "
                + $"in {attempts} attempt(s) over {clock.Elapsed.TotalSeconds:F1} s: {e.Message}", e);
        }
        catch
        {
            host.Dispose();
            throw;
        }

        return new MarginGridClient(host, options, attempts);
    }

    // ---- prices -------------------------------------------------------------------------------------------------

    /// <summary>
    /// Publishes one source's price of a market and returns the outcome of the step that included it (its margin calls,
    /// liquidations and bankruptcies). Prices that arrive while the market is settling a step are conflated into the
    /// next one. <paramref name="timestamp"/> defaults to now.
    /// </summary>
    public Task<StepOutcome> PublishPriceAsync(string market, decimal price, string source, DateTimeOffset? timestamp = null) =>
        PublishPriceAsync(market, new PriceUpdate(price, source, timestamp ?? Options.Clock.GetUtcNow()));

    public Task<StepOutcome> PublishPriceAsync(string market, PriceUpdate update)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(market);
        ArgumentNullException.ThrowIfNull(update);
        ArgumentException.ThrowIfNullOrWhiteSpace(update.Source, nameof(update));
        return Cluster.GetGrain<IMarketGrain>(market).PublishPriceAsync(update);
    }

    public Task<MarkPrice?> GetMarkAsync(string market) => Cluster.GetGrain<IMarketGrain>(market).GetMarkAsync();

    // ---- accounts -----------------------------------------------------------------------------------------------

    /// <summary>
    /// Opens an account with the given holdings. As the API does: every market its positions and its (non-zero)
    /// collateral depend on must have a price already, and the account must not be open yet
    /// (<see cref="InvalidOperationException"/> otherwise).
    /// </summary>
    public async Task OpenAccountAsync(string account, AccountSeed seed)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(account);
        ArgumentNullException.ThrowIfNull(seed);
        var config = await GetConfigAsync()
            ?? throw new InvalidOperationException("the cluster has no risk configuration yet: set one before opening accounts");
        var dependsOn = seed.Positions.Select(p => p.Market)
            .Concat(seed.Collateral.Where(c => c.Value > 0m)
                .Select(c => config.Collateral.FirstOrDefault(x => x.Asset == c.Key)?.PriceMarket)
                .OfType<string>())
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        var unpriced = new List<string>();
        foreach (var market in dependsOn.Where(m => !_priced.ContainsKey(m)))
        {
            if (await GetMarkAsync(market) is null)
            {
                unpriced.Add(market);
            }
            else
            {
                _priced[market] = true; // a market that has a mark keeps one
            }
        }

        if (unpriced.Count > 0)
        {
            throw new InvalidOperationException($"no price yet for {string.Join(", ", unpriced)}: publish one before opening accounts that depend on it");
        }

        var grain = Cluster.GetGrain<IAccountGrain>(account);
        if (await grain.ExistsAsync())
        {
            throw new InvalidOperationException($"account '{account}' is already open");
        }

        await grain.OpenAsync(seed);
    }

    public Task<bool> AccountExistsAsync(string account) => Cluster.GetGrain<IAccountGrain>(account).ExistsAsync();

    /// <summary>A fill from the matching engine; repeating its command id returns the first answer (<see cref="CommandResult.Duplicate"/>).</summary>
    public Task<CommandResult> FillAsync(string account, FillCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return SendAsync(account, command.CommandId, g => g.FillAsync(command));
    }

    public Task<CommandResult> FillAsync(string account, string commandId, string market, decimal size, decimal price) =>
        FillAsync(account, new FillCommand(commandId, market, size, price));

    public Task<CommandResult> DepositAsync(string account, TransferCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return SendAsync(account, command.CommandId, g => g.DepositAsync(command));
    }

    public Task<CommandResult> DepositAsync(string account, string commandId, string asset, decimal quantity) =>
        DepositAsync(account, new TransferCommand(commandId, asset, quantity));

    public Task<CommandResult> WithdrawAsync(string account, TransferCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return SendAsync(account, command.CommandId, g => g.WithdrawAsync(command));
    }

    public Task<CommandResult> WithdrawAsync(string account, string commandId, string asset, decimal quantity) =>
        WithdrawAsync(account, new TransferCommand(commandId, asset, quantity));

    public Task<PreTradeView> PreTradeAsync(string account, string market, decimal size, decimal price) =>
        Cluster.GetGrain<IAccountGrain>(account).PreTradeAsync(market, size, price);

    /// <summary>The account at current marks, or null when it is not open.</summary>
    public Task<AccountView?> GetAccountAsync(string account) => Cluster.GetGrain<IAccountGrain>(account).GetViewAsync();

    /// <summary>The account's recent events (its history, persisted with it).</summary>
    public Task<System.Collections.Immutable.ImmutableArray<GridEvent>> GetRecentEventsAsync(string account) =>
        Cluster.GetGrain<IAccountGrain>(account).GetRecentEventsAsync();

    // ---- fund, queue, configuration ------------------------------------------------------------------------------

    public Task<FundView> GetFundAsync() => Cluster.GetGrain<IInsuranceFundGrain>(0).GetAsync();

    /// <summary>Sets the opening balance of a fund that has seen no liquidation yet (<see cref="InvalidOperationException"/> otherwise).</summary>
    public Task SeedInsuranceFundAsync(decimal amount) => Cluster.GetGrain<IInsuranceFundGrain>(0).SeedAsync(amount);

    public Task<LiquidationQueueView> GetLiquidationQueueAsync() => Cluster.GetGrain<ILiquidationQueueGrain>(0).GetQueueAsync();

    public Task<RiskConfigSnapshot?> GetConfigAsync() => Cluster.GetGrain<IRiskConfigGrain>(0).GetAsync();

    /// <summary>Validates and stores a new risk configuration; returns it with its new version.</summary>
    public Task<RiskConfigSnapshot> SetConfigAsync(RiskConfigSnapshot config) => Cluster.GetGrain<IRiskConfigGrain>(0).SetAsync(config);

    // ---- events -------------------------------------------------------------------------------------------------

    /// <summary>
    /// Subscribes to the cluster's event stream (<see cref="GridStreams"/>: every margin call, liquidation, collateral
    /// sale, bankruptcy and rejection of every silo) from now on; dispose the result to unsubscribe. The stream is
    /// the silos' in-memory stream: best effort and not replayable (events published while this client is
    /// disconnected are not delivered later): the accounts' histories and the audit trail are the record.
    /// <paramref name="onEvent"/> runs one event at a time; an exception it throws is logged and the stream goes on.
    /// </summary>
    public async Task<IAsyncDisposable> SubscribeEventsAsync(Func<GridEvent, Task> onEvent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onEvent);
        if (!Options.Events)
        {
            throw new InvalidOperationException("this client was connected with Events = false");
        }

        var stream = Cluster.GetStreamProvider(GridStreams.Provider)
            .GetStream<GridEvent>(StreamId.Create(GridStreams.Namespace, GridStreams.AllKey));
        var handle = await stream.SubscribeAsync(async (e, _) =>
        {
            try
            {
                await onEvent(e);
            }
            catch (Exception error)
            {
                _logger.LogWarning(error, "The event handler failed on {Type} of {Account} at {Step}", e.TypeName, e.Account, e.Step);
            }
        }).WaitAsync(cancellationToken);
        var id = Guid.NewGuid();
        _subscriptions[id] = handle;
        return new Subscription(this, id);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var id in _subscriptions.Keys)
        {
            await UnsubscribeAsync(id);
        }

        try
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _host.StopAsync(stop.Token);
        }
        finally
        {
            _host.Dispose();
        }
    }

    private async Task<CommandResult> SendAsync(string account, string commandId, Func<IAccountGrain, Task<CommandResult>> send)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(account);
        ArgumentException.ThrowIfNullOrWhiteSpace(commandId);
        var grain = Cluster.GetGrain<IAccountGrain>(account);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await send(grain);
            }
            catch (Exception e) when (attempt < Options.CommandAttempts && IsTransient(e))
            {
                // The same command id again: applied once, answered again as a duplicate if the first attempt got through.
                _logger.LogWarning(e, "Command {CommandId} on {Account}: attempt {Attempt} failed, retrying", commandId, account, attempt);
            }
        }
    }

    /// <summary>No answer from the cluster (the command may or may not have been applied): safe to retry with the same id.</summary>
    private static bool IsTransient(Exception e) => e is TimeoutException or OrleansMessageRejectionException;

    private async Task UnsubscribeAsync(Guid id)
    {
        if (!_subscriptions.TryRemove(id, out var handle))
        {
            return;
        }

        try
        {
            await handle.UnsubscribeAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning(e, "Could not unsubscribe from the event stream");
        }
    }

    private static async Task<IPEndPoint[]> ResolveAsync(IReadOnlyList<GatewayAddress> gateways, CancellationToken cancellationToken)
    {
        var endpoints = new List<IPEndPoint>(gateways.Count);
        foreach (var gateway in gateways)
        {
            if (IPAddress.TryParse(gateway.Host, out var ip))
            {
                endpoints.Add(new IPEndPoint(ip, gateway.Port));
                continue;
            }

            var addresses = await Dns.GetHostAddressesAsync(gateway.Host, cancellationToken);
            var address = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
                ?? throw new MarginGridConnectException($"gateway host '{gateway.Host}' has no address", null);
            endpoints.Add(new IPEndPoint(address, gateway.Port));
        }

        return [.. endpoints];
    }

    private sealed class Subscription(MarginGridClient client, Guid id) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => new(client.UnsubscribeAsync(id));
    }
}

/// <summary>The cluster could not be reached within the connect timeout.</summary>
public sealed class MarginGridConnectException(string message, Exception? inner) : Exception(message, inner);
