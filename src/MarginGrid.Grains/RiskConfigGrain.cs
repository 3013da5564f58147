using System.Collections.Immutable;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MarginGrid.Grains;

[GenerateSerializer, Alias("mg.RiskConfigState")]
public sealed class RiskConfigState
{
    [Id(0)] public RiskConfigSnapshot? Current { get; set; }

    /// <summary>The audit outbox: configuration records (<c>*config/#version</c>) not yet confirmed stored.</summary>
    [Id(1)] public List<GridAuditEntry>? AuditPending { get; set; }
}

/// <summary>
/// The cluster's risk configuration. With <see cref="GridOptions.AuditOutbox"/>, each accepted change is an audit record
/// (<see cref="ConfigAudit"/>: the configuration and its version) written with the change itself and offered to the
/// trail until it confirms it (<see cref="GridAuditOutbox"/>), whoever set it — the HTTP API or the native client.
/// </summary>
public sealed class RiskConfigGrain(
    [PersistentState("riskconfig", GridProviders.Storage)] IPersistentState<RiskConfigState> state,
    IGridObserver observer,
    IOptions<GridOptions> options,
    ILogger<RiskConfigGrain> logger)
    : Grain, IRiskConfigGrain, IRiskConfigAuditGrain, IRemindable
{
    private GridAuditOutbox? _outbox;

    private GridAuditOutbox Outbox => _outbox ??= new(this, () => state.State.AuditPending ??= [], observer, options.Value, logger);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Outbox.OfferAll(); // the audit records a crash may have lost on their way to PostgreSQL
        return Task.CompletedTask;
    }

    public Task<RiskConfigSnapshot?> GetAsync() => Task.FromResult(state.State.Current);

    public async Task<RiskConfigSnapshot> SetAsync(RiskConfigSnapshot config)
    {
        // Validation is the domain's: an invalid configuration throws ConfigurationException naming the field.
        _ = config.ToDomain();
        var previous = state.State.Current;
        var next = config with { Version = (previous?.Version ?? 0) + 1 };
        var record = new GridAuditEntry(GridAuditKeys.Config(next.Version)) { Config = new ConfigAudit(next.Version, previous?.Version, next) };
        state.State.Current = next;
        try
        {
            await Outbox.WriteAsync([record], state.WriteStateAsync);
        }
        catch
        {
            state.State.Current = previous;
            throw;
        }

        Outbox.Offer([record]);
        return next;
    }

    public Task AuditedAsync(ImmutableArray<string> keys)
    {
        Outbox.Audited(keys);
        return Task.CompletedTask;
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => Outbox.TickAsync(reminderName, state.WriteStateAsync);
}
