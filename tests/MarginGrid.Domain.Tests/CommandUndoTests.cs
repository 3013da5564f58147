namespace MarginGrid.Domain.Tests;

/// <summary>
/// A command step drops the records past retention before it records its own; what undoes it when its write or its
/// liquidation decision fails is the step's own memento (<see cref="CommandStep.Undo"/>, taken after that pruning),
/// which the account grain restores (a memento taken before the step holds a record count the pruning made larger than
/// the log: restoring it threw half-way, leaving the new record behind).
/// </summary>
public sealed class CommandUndoTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Retention = TimeSpan.FromDays(7);

    private static RiskConfiguration Config { get; } = RiskConfiguration.Create(
        [new MarketSpec("ETH-PERP", 0.001m, 0.01m, [new(0m, 0.05m, 0.1m)])],
        [new CollateralSpec(Assets.Usd, 1m, null, 0m)]);

    private static MarkBook Marks => new([new("ETH-PERP", 100m)]);

    private static CommandStep Deposit(Account account, string id, DateTimeOffset at) =>
        account.Execute(new AccountCommand.Deposit(id, Assets.Usd, 1m), Marks, Config, at, Retention);

    [Fact]
    public void A_step_that_pruned_expired_records_is_undone_by_its_own_memento()
    {
        var account = new Account("acct");
        account.Open(Portfolio.Restore([new(Assets.Usd, 100m)], [], netUsdTransfers: 100m), Config);
        Deposit(account, "old-1", Start);
        Deposit(account, "old-2", Start.AddMinutes(1));
        Deposit(account, "recent", Start.AddDays(6));
        var version = account.Version;

        // Eight days on: the step drops the two records past retention, then records its own.
        var step = Deposit(account, "new", Start.AddDays(8));
        Assert.True(step.Record.Accepted);
        Assert.Equal(["recent", "new"], account.Commands.Records.Select(r => r.CommandId));

        account.Restore(step.Undo);
        Assert.Equal(["recent"], account.Commands.Records.Select(r => r.CommandId));
        Assert.Null(account.Commands.Find("new"));
        Assert.Equal(version, account.Version);
        Assert.Equal(103m, account.Holdings.Balance(Assets.Usd));
    }
}
