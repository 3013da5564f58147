using MarginGrid.Domain;

namespace MarginGrid.Grains;

[GenerateSerializer, Alias("mg.RiskConfigState")]
public sealed class RiskConfigState
{
    [Id(0)] public RiskConfigSnapshot? Current { get; set; }
}

public sealed class RiskConfigGrain(
    [PersistentState("riskconfig", GridProviders.Storage)] IPersistentState<RiskConfigState> state)
    : Grain, IRiskConfigGrain
{
    public Task<RiskConfigSnapshot?> GetAsync() => Task.FromResult(state.State.Current);

    public async Task<RiskConfigSnapshot> SetAsync(RiskConfigSnapshot config)
    {
        // Validation is the domain's: an invalid configuration throws ConfigurationException naming the field.
        _ = config.ToDomain();
        var next = config with { Version = (state.State.Current?.Version ?? 0) + 1 };
        state.State.Current = next;
        await state.WriteStateAsync();
        return next;
    }
}
