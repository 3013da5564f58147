using System.Collections.Immutable;
using MarginGrid.Client;
using MarginGrid.Domain;

namespace MarginGrid.Load;

/// <summary>One price of a batch a remote run publishes.</summary>
internal readonly record struct RemotePrice(string Market, string Source, decimal Price, DateTimeOffset Timestamp);

/// <summary>What the cluster answered for a published price: its step, how many holders evaluated it, its events' types.</summary>
internal readonly record struct RemoteStep(string Step, int Evaluated, ImmutableArray<string> EventTypes);

/// <summary>What the conservation check needs of one account.</summary>
internal readonly record struct RemoteView(decimal Usd, decimal NetUsdTransfers, decimal RealizedPnl, decimal CollateralSoldValue);

internal readonly record struct RemoteFund(decimal InsuranceFund, decimal SocializedLoss);

/// <summary>
/// How a remote run reaches a running cluster: its HTTP API (<see cref="HttpRemoteGrid"/>) or the native client at its
/// gateways (<see cref="ClientRemoteGrid"/>). <see cref="RemoteRun"/>'s flow and measurements are the same over both.
/// </summary>
internal interface IRemoteGrid : IAsyncDisposable
{
    /// <summary>The target as the report names it.</summary>
    string Target { get; }

    /// <summary>Sets the markets; seeds the fund when the cluster's is new. Returns the fund before the run.</summary>
    Task<RemoteFund> ConfigureAsync(RiskConfigSnapshot config, decimal initialFund, CancellationToken ct);

    /// <summary>Opens an account (its markets are priced already); <paramref name="index"/> spreads the calls over the targets.</summary>
    Task OpenAsync(int index, string id, AccountSeed seed, CancellationToken ct);

    /// <summary>Publishes a batch of prices, one after another; returns the first price's step.</summary>
    Task<RemoteStep> PublishAsync(int index, IReadOnlyList<RemotePrice> prices, CancellationToken ct);

    /// <summary>Reads every account back (each one acknowledged open must exist) and the fund.</summary>
    Task<(IReadOnlyList<RemoteView> Views, RemoteFund Fund)> AuditAsync(IReadOnlyList<string> ids, CancellationToken ct);
}

/// <summary>The cluster through <see cref="MarginGridClient"/>: grain calls at the silos' gateways, no HTTP.</summary>
internal sealed class ClientRemoteGrid(MarginGridClient client) : IRemoteGrid
{
    public string Target => client.Options.Describe();

    public async Task<RemoteFund> ConfigureAsync(RiskConfigSnapshot config, decimal initialFund, CancellationToken ct)
    {
        if (await FundAsync() is { InsuranceFund: 0m, SocializedLoss: 0m })
        {
            await client.SeedInsuranceFundAsync(initialFund).WaitAsync(ct);
        }

        await client.SetConfigAsync(config).WaitAsync(ct);
        return await FundAsync();
    }

    public Task OpenAsync(int index, string id, AccountSeed seed, CancellationToken ct) => client.OpenAccountAsync(id, seed).WaitAsync(ct);

    public async Task<RemoteStep> PublishAsync(int index, IReadOnlyList<RemotePrice> prices, CancellationToken ct)
    {
        RemoteStep? first = null;
        foreach (var p in prices)
        {
            var outcome = await client.PublishPriceAsync(p.Market, new PriceUpdate(p.Price, p.Source, p.Timestamp)).WaitAsync(ct);
            first ??= new RemoteStep(outcome.Step, outcome.Evaluated, [.. outcome.Events.Select(e => e.TypeName)]);
        }

        return first ?? throw new ArgumentException("the batch holds no prices", nameof(prices));
    }

    public async Task<(IReadOnlyList<RemoteView> Views, RemoteFund Fund)> AuditAsync(IReadOnlyList<string> ids, CancellationToken ct)
    {
        var views = new RemoteView[ids.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, ids.Count), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = ct }, async (i, token) =>
        {
            var view = await client.GetAccountAsync(ids[i]).WaitAsync(token)
                ?? throw new InvalidOperationException($"account '{ids[i]}' was acknowledged open but the cluster does not know it");
            views[i] = new RemoteView(
                view.Collateral.GetValueOrDefault(Assets.Usd),
                view.NetUsdTransfers,
                view.RealizedPnl,
                view.CollateralSoldValue);
        });
        return (views, await FundAsync());
    }

    public ValueTask DisposeAsync() => client.DisposeAsync();

    private async Task<RemoteFund> FundAsync()
    {
        var fund = await client.GetFundAsync();
        return new RemoteFund(fund.InsuranceFund, fund.SocializedLoss);
    }
}
