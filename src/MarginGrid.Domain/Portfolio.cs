namespace MarginGrid.Domain;

/// <summary>A perpetual position: signed size (long &gt; 0) and average entry price.</summary>
public readonly record struct Position(decimal Size, decimal Entry);

/// <summary>
/// The holdings of one account: collateral balances and positions. Mutations are the model's rules
/// (fills, deposits, withdrawals, closes, sales); evaluation lives in <see cref="MarginCalculator"/>.
/// The cumulative counters (<see cref="RealizedPnl"/>, <see cref="CollateralSoldValue"/>,
/// <see cref="NetUsdTransfers"/>) are what the conservation check adds up.
/// </summary>
public sealed class Portfolio
{
    private readonly SymbolMap<decimal> _balances = new();
    private readonly SymbolMap<Position> _positions = new();

    public IReadOnlyDictionary<string, decimal> Balances => _balances;

    public IReadOnlyDictionary<string, Position> Positions => _positions;

    /// <summary>Sum of every PnL realized into USD (fills and liquidation closes).</summary>
    public decimal RealizedPnl { get; private set; }

    /// <summary>Sum of <c>P × quantity</c> of collateral sold in liquidations.</summary>
    public decimal CollateralSoldValue { get; private set; }

    /// <summary>USD deposited minus USD withdrawn.</summary>
    public decimal NetUsdTransfers { get; private set; }

    public decimal Usd => Balance(Assets.Usd);

    public bool HasPositions => _positions.Count > 0;

    public decimal Balance(string asset) => _balances.TryGetValue(asset, out var q) ? q : 0m;

    public Position? PositionIn(string market) => _positions.TryGetValue(market, out var p) ? p : null;

    /// <summary>Restores holdings as given (seeding, or loading persisted state); zero entries are dropped.</summary>
    public static Portfolio Restore(
        IEnumerable<KeyValuePair<string, decimal>> balances,
        IEnumerable<KeyValuePair<string, Position>> positions,
        decimal realizedPnl = 0m,
        decimal collateralSoldValue = 0m,
        decimal netUsdTransfers = 0m)
    {
        var p = new Portfolio
        {
            RealizedPnl = realizedPnl,
            CollateralSoldValue = collateralSoldValue,
            NetUsdTransfers = netUsdTransfers,
        };
        foreach (var (asset, q) in balances)
        {
            p.SetBalance(asset, q);
        }

        foreach (var (market, pos) in positions)
        {
            p.SetPosition(market, pos);
        }

        return p;
    }

    public Portfolio Clone() =>
        Restore(_balances, _positions, RealizedPnl, CollateralSoldValue, NetUsdTransfers);

    /// <summary>
    /// Applies a fill of signed quantity <paramref name="quantity"/> at <paramref name="price"/>:
    /// same direction averages the entry; the opposite direction realizes PnL on the closed part
    /// and opens any remainder at the fill price. Returns the realized PnL.
    /// </summary>
    public decimal ApplyFill(string market, decimal quantity, decimal price)
    {
        if (quantity == 0m)
        {
            throw new ArgumentOutOfRangeException(nameof(quantity), "a fill needs a non-zero quantity");
        }

        if (price <= 0m)
        {
            throw new ArgumentOutOfRangeException(nameof(price), "a fill needs a positive price");
        }

        var current = PositionIn(market);
        if (current is not { } pos)
        {
            SetPosition(market, new Position(quantity, price));
            return 0m;
        }

        if (Math.Sign(quantity) == Math.Sign(pos.Size))
        {
            var size = pos.Size + quantity;
            var entry = ((pos.Size * pos.Entry) + (quantity * price)) / size;
            SetPosition(market, new Position(size, entry));
            return 0m;
        }

        var closed = Math.Min(Math.Abs(quantity), Math.Abs(pos.Size));
        var realized = closed * Math.Sign(pos.Size) * (price - pos.Entry);
        Realize(realized);
        var remaining = pos.Size + quantity;
        if (remaining == 0m)
        {
            SetPosition(market, default);
        }
        else if (Math.Sign(remaining) == Math.Sign(pos.Size))
        {
            SetPosition(market, pos with { Size = remaining });
        }
        else
        {
            SetPosition(market, new Position(remaining, price));
        }

        return realized;
    }

    /// <summary>Closes <paramref name="quantity"/> (≤ |size|) of a position at <paramref name="mark"/>; returns the realized PnL.</summary>
    public decimal ClosePosition(string market, decimal quantity, decimal mark)
    {
        var pos = PositionIn(market) ?? throw new InvalidOperationException($"no position in {market}");
        if (quantity <= 0m || quantity > Math.Abs(pos.Size))
        {
            throw new ArgumentOutOfRangeException(nameof(quantity), $"cannot close {quantity} of {pos.Size}");
        }

        var realized = quantity * Math.Sign(pos.Size) * (mark - pos.Entry);
        Realize(realized);
        SetPosition(market, pos with { Size = pos.Size - (Math.Sign(pos.Size) * quantity) });
        return realized;
    }

    public void Deposit(string asset, decimal quantity)
    {
        if (quantity <= 0m)
        {
            throw new ArgumentOutOfRangeException(nameof(quantity), "a deposit needs a positive quantity");
        }

        SetBalance(asset, Balance(asset) + quantity);
        if (asset == Assets.Usd)
        {
            NetUsdTransfers += quantity;
        }
    }

    public void Withdraw(string asset, decimal quantity)
    {
        if (quantity <= 0m || quantity > Balance(asset))
        {
            throw new ArgumentOutOfRangeException(nameof(quantity), $"cannot withdraw {quantity} {asset}");
        }

        SetBalance(asset, Balance(asset) - quantity);
        if (asset == Assets.Usd)
        {
            NetUsdTransfers -= quantity;
        }
    }

    /// <summary>Moves USD out of the account to another party (penalty to the insurance fund).</summary>
    public void PayUsd(decimal amount) => SetBalance(Assets.Usd, Usd - amount);

    /// <summary>Sells collateral for <paramref name="proceeds"/> USD; <paramref name="value"/> = P × quantity.</summary>
    public void SellCollateral(string asset, decimal quantity, decimal proceeds, decimal value)
    {
        SetBalance(asset, Balance(asset) - quantity);
        SetBalance(Assets.Usd, Usd + proceeds);
        CollateralSoldValue += value;
    }

    /// <summary>
    /// v3 auto-deleveraging: counterparties paid <paramref name="amount"/> towards this account's written-off debt. Their
    /// payment is part of their realized PnL; here it is realized PnL too, and USD stays where the write-off left it.
    /// </summary>
    public void RecordRecovery(decimal amount) => RealizedPnl += amount;

    /// <summary>v3 auction purchase by this account: receives the asset, pays USD (may go negative).</summary>
    public void BuyAtAuction(string asset, decimal quantity, decimal payment)
    {
        SetBalance(asset, Balance(asset) + quantity);
        SetBalance(Assets.Usd, Usd - payment);
    }

    /// <summary>v3 auction sale from this account's lot: gives the asset, receives USD.</summary>
    public void SellAtAuction(string asset, decimal quantity, decimal payment)
    {
        if (quantity > Balance(asset))
        {
            throw new ArgumentOutOfRangeException(nameof(quantity), $"cannot sell {quantity} {asset} of {Balance(asset)}");
        }

        SetBalance(asset, Balance(asset) - quantity);
        SetBalance(Assets.Usd, Usd + payment);
    }

    /// <summary>Writes off a USD debt (bankruptcy): USD is set to 0.</summary>
    public void ForgiveUsdDebt() => SetBalance(Assets.Usd, 0m);

    private void Realize(decimal pnl)
    {
        SetBalance(Assets.Usd, Usd + pnl);
        RealizedPnl += pnl;
    }

    private void SetBalance(string asset, decimal quantity)
    {
        if (quantity == 0m)
        {
            _balances.Remove(asset);
        }
        else
        {
            _balances.Set(asset, quantity, Symbol); // the name is pooled (Symbol) only when the asset is added
        }
    }

    private void SetPosition(string market, Position position)
    {
        if (position.Size == 0m)
        {
            _positions.Remove(market);
        }
        else
        {
            _positions.Set(market, position, Symbol);
        }
    }

    /// <summary>
    /// One shared instance of an asset or market name (every deserialized message and stored state brings its own copy,
    /// and 100k portfolios would keep 100k copies of "BTC-PERP"). The names are the configuration's — unknown ones are
    /// rejected before they reach a portfolio — so the pool stays as small as the configuration. A pool of its own
    /// rather than <see cref="string.Intern"/>: the runtime's intern table takes a global lock on every lookup, and
    /// every portfolio built from a message (a liquidation order, the planner's copies) looks each of its names up.
    /// </summary>
    private static string Symbol(string name) => s_symbols.GetOrAdd(name, static n => n);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> s_symbols = new(StringComparer.Ordinal);
}
