using System.Globalization;
using System.Text;
using System.Text.Json;
using MarginGrid.Domain;

namespace MarginGrid.Cluster.Tests;

/// <summary>
/// What the accounts, their event histories and the insurance fund say after a run, checked against the commands the
/// workload recorded: acknowledged commands reflected, liquidations executed once, the fund's ledger, conservation.
/// Every check adds to <see cref="Violations"/>; the numbers go to the test output.
/// </summary>
public sealed class GridAudit
{
    private readonly List<string> _violations = [];

    public IReadOnlyList<string> Violations => _violations;

    public Dictionary<string, JsonElement> Views { get; } = new(StringComparer.Ordinal);

    public int LiquidationCloses { get; private set; }

    public int LiquidationIds { get; private set; }

    public int Bankruptcies { get; private set; }

    public ConservationReport? Conservation { get; private set; }

    public static async Task<Dictionary<string, JsonElement>> ReadViewsAsync(HttpClient reader, IReadOnlyList<string> accounts)
    {
        var views = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var account in accounts)
        {
            views[account] = await GridClient.EnsureOkAsync(await reader.GetAsync($"v1/accounts/{account}"));
        }

        return views;
    }

    /// <summary>
    /// Right after the fault, before anything is retried: every account's USD transfers include every acknowledged
    /// deposit and no more than every deposit sent (a failed one may or may not have been applied).
    /// </summary>
    public static IReadOnlyList<string> AcknowledgedDepositsReflected(
        IReadOnlyDictionary<string, JsonElement> views, IReadOnlyCollection<CommandRecord> commands, decimal openingUsd)
    {
        var violations = new List<string>();
        foreach (var (account, view) in views)
        {
            var deposits = commands.Where(c => c.Account == account && c.Kind == "deposit").ToList();
            var low = openingUsd + deposits.Where(c => c.First == Outcome.Acked).Sum(c => c.Amount);
            var high = openingUsd + deposits.Where(c => c.First != Outcome.Rejected).Sum(c => c.Amount);
            var actual = Decimals.Parse(view.GetProperty("netUsdTransfers"));
            if (actual < low || actual > high)
            {
                violations.Add($"{account}: netUsdTransfers {actual} outside [{low} acknowledged, {high} sent]");
            }
        }

        return violations;
    }

    /// <summary>The checks after every command has been resent to a definitive answer.</summary>
    public async Task CheckAsync(HttpClient reader, IReadOnlyList<string> accounts, IReadOnlyCollection<CommandRecord> commands, decimal openingUsd, ITestOutputHelper output)
    {
        foreach (var (account, view) in await ReadViewsAsync(reader, accounts))
        {
            Views[account] = view;
        }

        CheckCommands(commands, openingUsd, output);
        var fund = await GridClient.EnsureOkAsync(await reader.GetAsync("v1/insurance-fund"));
        var fundNow = Decimals.Parse(fund.GetProperty("insuranceFund"));
        var socialized = Decimals.Parse(fund.GetProperty("socializedLoss"));
        await CheckLiquidationsAsync(reader, accounts, fundNow, socialized);

        Conservation = MarginGrid.Domain.Conservation.Check(
            Views.Values.Select(v => new ConservationEntry(
                v.GetProperty("collateral").TryGetProperty("USD", out var usd) ? Decimals.Parse(usd) : 0m,
                Decimals.Parse(v.GetProperty("netUsdTransfers")),
                Decimals.Parse(v.GetProperty("realizedPnl")),
                Decimals.Parse(v.GetProperty("collateralSoldValue")))),
            GridCluster.InitialFund,
            fundNow,
            socialized);
        // Conservation.Holds: exact up to the rounding of decimal arithmetic in the last of its 28 digits (the sums
        // themselves round there); any real leak is many orders of magnitude larger.
        if (!Conservation.Holds)
        {
            _violations.Add($"conservation: Σ USD + fund − socialized = {Conservation.Actual}, expected {Conservation.Expected} (difference {Conservation.Difference})");
        }

        output.WriteLine(
            $"liquidations: {LiquidationCloses} position close-outs under {LiquidationIds} liquidation ids, {Bankruptcies} bankruptcies; "
            + $"fund {fundNow} (initial {GridCluster.InitialFund}), socialized {socialized}");
        output.WriteLine($"conservation: Σ USD + fund − socialized = {Conservation.Actual}; initial fund + Σ(net USD transfers + realized PnL + collateral sold) = {Conservation.Expected}; difference {Conservation.Difference}");
    }

    private void CheckCommands(IReadOnlyCollection<CommandRecord> commands, decimal openingUsd, ITestOutputHelper output)
    {
        foreach (var c in commands.Where(c => c.First == Outcome.Pending))
        {
            _violations.Add($"{c.Kind} {c.Id} has no answer: the workload was not stopped");
        }

        var acked = commands.Where(c => c.First == Outcome.Acked).ToList();
        var failed = commands.Where(c => c.First == Outcome.Failed).ToList();
        var rejected = commands.Where(c => c.First == Outcome.Rejected).ToList();
        foreach (var c in acked.Where(c => c.ResendStatus is not (>= 200 and < 300) || c.ResendDuplicate != true || c.ResendVersion != c.Version))
        {
            _violations.Add($"acknowledged {c.Kind} {c.Id} (version {c.Version}) not found afterwards: resend answered {c.ResendStatus}, duplicate {c.ResendDuplicate}, version {c.ResendVersion}");
        }

        foreach (var c in rejected.Where(c => c.Status != 422))
        {
            _violations.Add($"{c.Kind} {c.Id} got {c.Status} ({c.Failure}): only 422 (initial margin) is an expected refusal");
        }

        var failedApplied = failed.Count(c => c.ResendDuplicate == true && c.ResendStatus is >= 200 and < 300);
        var failedAppliedNow = failed.Count(c => c.ResendDuplicate == false && c.ResendStatus is >= 200 and < 300);
        var failedRefused = failed.Count(c => c.ResendStatus is >= 400);
        var found = acked.Count(c => c.ResendDuplicate == true && c.ResendVersion == c.Version);

        // Every deposit finally accepted is in the account's USD transfers, exactly, and nothing else is.
        foreach (var (account, view) in Views)
        {
            var expected = openingUsd + commands
                .Where(c => c.Account == account && c.Kind == "deposit" && c.ResendStatus is >= 200 and < 300)
                .Sum(c => c.Amount);
            var actual = Decimals.Parse(view.GetProperty("netUsdTransfers"));
            if (actual != expected)
            {
                _violations.Add($"{account}: netUsdTransfers {actual}, but the accepted deposits sum to {expected}");
            }
        }

        output.WriteLine(
            $"commands: {commands.Count} sent ({commands.Count(c => c.Kind == "deposit")} deposits, {commands.Count(c => c.Kind == "fill")} fills); "
            + $"{acked.Count} acknowledged (2xx), {rejected.Count} refused (422), {failed.Count} failed (5xx/timeout)");
        output.WriteLine(
            $"afterwards: {found} of {acked.Count} acknowledged found (resent: duplicate, same version); of the {failed.Count} failed, "
            + $"{failedApplied} had been applied (found as duplicates), {failedAppliedNow} were applied by the retry, {failedRefused} refused on retry");
        var failures = failed.GroupBy(c => $"{c.Status} {c.Failure}").OrderByDescending(g => g.Count()).Take(6);
        foreach (var g in failures)
        {
            output.WriteLine($"  failure {g.Key}: {g.Count()}");
        }
    }

    private async Task CheckLiquidationsAsync(HttpClient reader, IReadOnlyList<string> accounts, decimal fund, decimal socialized)
    {
        var income = 0m;
        var covered = 0m;
        var socializedEvents = 0m;
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var account in accounts)
        {
            var events = (await GridClient.EnsureOkAsync(await reader.GetAsync($"v1/accounts/{account}/events"))).EnumerateArray().ToList();
            string Key(JsonElement e, string field) => e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
            decimal Amount(JsonElement e, string field) => e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? Decimals.Parse(v) : 0m;
            foreach (var twice in events
                .Where(e => Key(e, "type") is "liquidation" or "collateral_liquidation" or "bankruptcy")
                .GroupBy(e => $"{Key(e, "type")} step {Key(e, "step")} {Key(e, "market")}{Key(e, "asset")}")
                .Where(g => g.Count() > 1))
            {
                _violations.Add($"{account}: {twice.Key} recorded {twice.Count()} times: a liquidation executed more than once");
            }

            foreach (var e in events)
            {
                switch (Key(e, "type"))
                {
                    case "liquidation":
                        LiquidationCloses++;
                        ids.Add($"{account} {Key(e, "step")}");
                        income += Amount(e, "penalty");
                        break;
                    case "collateral_liquidation":
                        ids.Add($"{account} {Key(e, "step")}");
                        income += Amount(e, "discount");
                        break;
                    case "bankruptcy":
                        Bankruptcies++;
                        covered += Amount(e, "insuranceCovered");
                        socializedEvents += Amount(e, "socialized");
                        break;
                }
            }
        }

        LiquidationIds = ids.Count;
        // The fund moves only by the liquidations the accounts recorded: each charge applied exactly once. Compared to
        // 1e-15: decimal keeps 28–29 significant digits, and bankruptcy cover shares with 25 decimals summed in another
        // order than the fund's own ledger round differently in the last digit (seen: a difference of 1e-27); a charge
        // applied twice or missed is many orders of magnitude larger.
        if (Math.Abs(GridCluster.InitialFund + income - covered - fund) > MoneyTolerance)
        {
            _violations.Add($"insurance fund {fund}, but initial {GridCluster.InitialFund} + penalties and discounts {income} − bankruptcy cover {covered} = {GridCluster.InitialFund + income - covered}");
        }

        if (Math.Abs(socializedEvents - socialized) > MoneyTolerance)
        {
            _violations.Add($"socialized loss {socialized}, but the accounts' bankruptcies socialized {socializedEvents}");
        }
    }

    private const decimal MoneyTolerance = 0.000000000000001m;

    public string Describe()
    {
        var text = new StringBuilder();
        foreach (var v in _violations.Take(40))
        {
            text.Append(CultureInfo.InvariantCulture, $"\n  {v}");
        }

        return text.ToString();
    }
}
