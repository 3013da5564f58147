using System.Globalization;
using MarginGrid.Domain;

namespace MarginGrid.Load;

/// <summary>
/// The exhaustive baseline: one thread, the domain library alone, every account evaluated on every price update —
/// the per-core ceiling the grid is compared with, and the oracle of its zero-miss check. It runs the step semantics of
/// MARGIN-MODEL.md: marks from the median of fresh sources, margin calls by account id, liquidations in health order,
/// the insurance ledger applied in that order.
/// </summary>
public sealed class ReferenceEngine
{
    private readonly RiskConfiguration _config;
    private readonly string[] _ids;
    private readonly Portfolio[] _portfolios;
    private readonly AccountStatus[] _last;
    private readonly MarkBook _marks = new();
    private readonly Dictionary<string, PriceBoard> _boards = new(StringComparer.Ordinal);
    private readonly TimeSpan _freshness;

    public ReferenceEngine(RiskConfiguration config, IReadOnlyList<(string Id, Portfolio Portfolio)> accounts, decimal fund, TimeSpan freshness)
    {
        _config = config;
        _ids = [.. accounts.Select(a => a.Id)];
        _portfolios = [.. accounts.Select(a => a.Portfolio)];
        _last = new AccountStatus[_ids.Length];
        Ledger = new InsuranceLedger(fund);
        _freshness = freshness;
    }

    public InsuranceLedger Ledger { get; }

    public long Evaluations { get; private set; }

    /// <summary>Sets a mark without a step (the first half of the initial step).</summary>
    public void SetInitial(string market, string source, decimal price, DateTimeOffset timestamp)
    {
        Board(market).Update(source, price, timestamp);
        _marks.Set(market, Board(market).Mark()!.Value);
    }

    /// <summary>Evaluates every account once, as the initial step.</summary>
    public List<string> EvaluateAll() => Settle();

    /// <summary>One price update as one step; returns its events in order (empty if the mark did not move).</summary>
    public List<string> Step(string market, string source, decimal price, DateTimeOffset timestamp)
    {
        var board = Board(market);
        if (!board.Update(source, price, timestamp))
        {
            return [];
        }

        var mark = board.Mark()!.Value;
        if (_marks.TryGetMark(market, out var current) && current == mark)
        {
            return [];
        }

        _marks.Set(market, mark);
        return Settle();
    }

    private PriceBoard Board(string market)
    {
        if (!_boards.TryGetValue(market, out var board))
        {
            board = new PriceBoard(_freshness);
            _boards[market] = board;
        }

        return board;
    }

    private List<string> Settle()
    {
        var events = new List<string>();
        var liquidatable = new List<(int Index, AccountHealth Health)>();
        for (var i = 0; i < _portfolios.Length; i++)
        {
            var health = MarginCalculator.Evaluate(_portfolios[i], _marks, _config);
            Evaluations++;
            if (MarginCalls.Emits(_last[i], health.Status))
            {
                events.Add(EventKeys.MarginCall(_ids[i], health.Status.ToString()));
            }

            _last[i] = health.Status;
            if (health.NeedsLiquidation)
            {
                liquidatable.Add((i, health));
            }
        }

        // _ids are generated in ordinal order, so the margin calls above are already by account id.
        liquidatable.Sort((a, b) => MarginCalculator.CompareForLiquidation(_ids[a.Index], a.Health, _ids[b.Index], b.Health));
        foreach (var (i, _) in liquidatable)
        {
            var result = Liquidator.Liquidate(_portfolios[i], _marks, _config);
            foreach (var close in result.Closes)
            {
                events.Add(EventKeys.Liquidation(_ids[i], close.Market, close.Quantity, close.Price, close.Penalty));
            }

            foreach (var sale in result.Sales)
            {
                events.Add(EventKeys.CollateralSale(_ids[i], sale.Asset, sale.Quantity, sale.Price, sale.Discount));
            }

            if (Ledger.Apply(result) is { } cover)
            {
                events.Add(EventKeys.Bankruptcy(_ids[i], cover.Deficit, cover.InsuranceCovered, cover.Socialized));
            }

            _last[i] = MarginCalculator.Evaluate(_portfolios[i], _marks, _config).Status;
        }

        return events;
    }
}

/// <summary>One canonical text per event, so the grid's and the baseline's events compare exactly.</summary>
public static class EventKeys
{
    public static string MarginCall(string account, string status) => $"margin_call|{account}|{status}";

    public static string Liquidation(string account, string market, decimal q, decimal p, decimal penalty) =>
        $"liquidation|{account}|{market}|{D(q)}|{D(p)}|{D(penalty)}";

    public static string CollateralSale(string account, string asset, decimal q, decimal p, decimal discount) =>
        $"collateral_liquidation|{account}|{asset}|{D(q)}|{D(p)}|{D(discount)}";

    public static string Bankruptcy(string account, decimal deficit, decimal covered, decimal socialized) =>
        $"bankruptcy|{account}|{D(deficit)}|{D(covered)}|{D(socialized)}";

    public static string Of(GridEvent e) => e.Type switch
    {
        GridEventType.MarginCall => MarginCall(e.Account, e.Status!.Value.ToString()),
        GridEventType.Liquidation => Liquidation(e.Account, e.Market!, e.Quantity!.Value, e.Price!.Value, e.Penalty!.Value),
        GridEventType.CollateralLiquidation => CollateralSale(e.Account, e.Asset!, e.Quantity!.Value, e.Price!.Value, e.Discount!.Value),
        GridEventType.Bankruptcy => Bankruptcy(e.Account, e.Deficit!.Value, e.InsuranceCovered!.Value, e.Socialized!.Value),
        _ => $"{e.TypeName}|{e.Account}|{e.Reason}",
    };

    private static string D(decimal value) => DecimalMath.Normalize(value).ToString(CultureInfo.InvariantCulture);
}
