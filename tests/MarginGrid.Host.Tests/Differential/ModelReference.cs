using System.Globalization;
using System.Text;
using System.Text.Json;
using MarginGrid.Host.Scenarios;

namespace MarginGrid.Host.Tests.Differential;

/// <summary>
/// A model oracle: a scenario in, the model's result JSON (MARGIN-MODEL.md, "Scenario files") out. The differential
/// test compares the grains with whichever oracle it is given, so the domain's ModelEngine can replace
/// <see cref="ModelReference"/> here later by an adapter of this shape.
/// </summary>
public delegate string ModelOracle(Scenario scenario);

/// <summary>
/// v1 of MARGIN-MODEL.md written out plainly, one step after another, as a test oracle. It shares no code with the
/// domain or the grains: its inputs are the scenario's wire records, its arithmetic is the text of the model — the
/// tiered requirement as <c>N × rate_k − cum_k</c>, the least closing quantity by a linear scan over lots (not a
/// bisection), the margin-call flag as the model states it (armed, disarmed by a call, re-armed by Healthy).
/// </summary>
public static class ModelReference
{
    public static ModelOracle Oracle { get; } = Run;

    public static string Run(Scenario scenario) => new Engine(scenario).Run();

    private const string Usd = "USD";

    private sealed class Account(string id)
    {
        public string Id { get; } = id;

        public SortedDictionary<string, decimal> Balances { get; } = new(StringComparer.Ordinal);

        public SortedDictionary<string, (decimal Size, decimal Entry)> Positions { get; } = new(StringComparer.Ordinal);

        public bool Armed { get; set; } = true;

        public decimal Usd
        {
            get => Balances.GetValueOrDefault(ModelReference.Usd);
            set => Balances[ModelReference.Usd] = value;
        }
    }

    private enum Status
    {
        Healthy,
        MarginCall,
        Liquidatable,
        Bankrupt,
    }

    private sealed class Engine
    {
        private readonly Scenario _s;
        private readonly Dictionary<string, MarketConfig> _markets = new(StringComparer.Ordinal);
        private readonly Dictionary<string, CollateralConfig> _assets = new(StringComparer.Ordinal);
        private readonly Dictionary<string, decimal> _marks = new(StringComparer.Ordinal);
        private readonly SortedDictionary<string, Account> _accounts = new(StringComparer.Ordinal);
        private readonly List<Dictionary<string, object?>> _events = [];
        private readonly decimal _c;
        private readonly decimal _gamma;
        private decimal _fund;
        private decimal _socialized;

        public Engine(Scenario s)
        {
            _s = s;
            foreach (var m in s.Config.Markets)
            {
                _markets[m.Symbol] = m;
            }

            foreach (var a in s.Config.Collateral)
            {
                _assets[a.Asset] = a;
            }

            _c = s.Config.Risk.MarginCallRatio;
            _gamma = s.Config.Risk.LiquidationTargetRatio;
            _fund = s.InsuranceFund;
            foreach (var a in s.Accounts)
            {
                var account = new Account(a.Id);
                foreach (var (asset, q) in a.Seed.Collateral)
                {
                    account.Balances[asset] = q;
                }

                foreach (var p in a.Seed.Positions.Where(p => p.Size != 0m))
                {
                    account.Positions[p.Market] = (p.Size, p.EntryPrice);
                }

                _accounts[a.Id] = account;
            }
        }

        public string Run()
        {
            foreach (var (market, price) in _s.InitialPrices)
            {
                _marks[market] = price;
            }

            Step(_s.Accounts.Select(a => _accounts[a.Id]));
            foreach (var step in _s.Steps)
            {
                switch (step)
                {
                    case PriceStep p:
                        _marks[p.Market] = p.Price;
                        Step(_accounts.Values.Where(a => Holds(a, p.Market)).ToList());
                        break;
                    case FillStep f:
                        Fill(f);
                        break;
                    case DepositStep d:
                        Deposit(d);
                        break;
                    case WithdrawStep w:
                        Withdraw(w);
                        break;
                    default:
                        throw new InvalidOperationException($"unknown step {step}");
                }
            }

            return Write();
        }

        // ---- commands ---------------------------------------------------------------------------------------------

        private void Fill(FillStep f)
        {
            if (!_accounts.TryGetValue(f.Account, out var a) || f.Size == 0m || f.Price <= 0m || !_markets.ContainsKey(f.Market))
            {
                Reject(f.Account);
                return;
            }

            if (a.Positions.TryGetValue(f.Market, out var pos) && Math.Sign(pos.Size) != Math.Sign(f.Size))
            {
                // Closing (part of) the position realizes PnL; a remainder of the fill opens at the fill price.
                var closed = Math.Min(Math.Abs(f.Size), Math.Abs(pos.Size));
                a.Usd += closed * Math.Sign(pos.Size) * (f.Price - pos.Entry);
                var left = pos.Size + f.Size;
                if (left == 0m)
                {
                    a.Positions.Remove(f.Market);
                }
                else if (Math.Sign(left) == Math.Sign(pos.Size))
                {
                    a.Positions[f.Market] = (left, pos.Entry);
                }
                else
                {
                    a.Positions[f.Market] = (left, f.Price);
                }
            }
            else
            {
                var s = a.Positions.TryGetValue(f.Market, out var p) ? p.Size : 0m;
                var e = s == 0m ? 0m : p.Entry;
                var size = s + f.Size;
                a.Positions[f.Market] = (size, ((s * e) + (f.Size * f.Price)) / size);
            }

            Step([a]);
        }

        private void Deposit(DepositStep d)
        {
            if (!_accounts.TryGetValue(d.Account, out var a) || d.Quantity <= 0m || !Priced(d.Asset))
            {
                Reject(d.Account);
                return;
            }

            a.Balances[d.Asset] = a.Balances.GetValueOrDefault(d.Asset) + d.Quantity;
            Step([a]);
        }

        private void Withdraw(WithdrawStep w)
        {
            if (!_accounts.TryGetValue(w.Account, out var a) || w.Quantity <= 0m || (w.Asset != Usd && !_assets.ContainsKey(w.Asset))
                || w.Quantity > a.Balances.GetValueOrDefault(w.Asset))
            {
                Reject(w.Account);
                return;
            }

            a.Balances[w.Asset] -= w.Quantity;
            if (Equity(a) < Requirement(a, initial: true))
            {
                a.Balances[w.Asset] += w.Quantity; // rejected: nothing changes
                Reject(w.Account);
                return;
            }

            Step([a]);
        }

        private void Reject(string account) =>
            _events.Add(new() { ["type"] = "rejected", ["account"] = account });

        private bool Priced(string asset) =>
            asset == Usd || (_assets.TryGetValue(asset, out var spec) && spec.PriceMarket is { } m && _markets.ContainsKey(m));

        // ---- one step: evaluate, margin calls by id, liquidations in health order ------------------------------

        private void Step(IEnumerable<Account> evaluated)
        {
            var calls = new List<(string Id, Status Status)>();
            var liquidate = new List<(Account Account, bool HasPositions, decimal E, decimal Mm)>();
            foreach (var a in evaluated)
            {
                var status = StatusOf(a);
                if (status == Status.Healthy)
                {
                    a.Armed = true;
                }
                else if (a.Armed)
                {
                    calls.Add((a.Id, status));
                    a.Armed = false;
                }

                if (status is Status.Liquidatable or Status.Bankrupt)
                {
                    liquidate.Add((a, a.Positions.Count > 0, Equity(a), Requirement(a, initial: false)));
                }
            }

            foreach (var (id, status) in calls.OrderBy(c => c.Id, StringComparer.Ordinal))
            {
                _events.Add(new() { ["type"] = "margin_call", ["account"] = id, ["status"] = status.ToString() });
            }

            liquidate.Sort((x, y) =>
            {
                if (x.HasPositions != y.HasPositions)
                {
                    return x.HasPositions ? 1 : -1; // no positions: lowest health
                }

                if (x.HasPositions)
                {
                    // E₁/MM₁ vs E₂/MM₂ with MM > 0: compare E₁·MM₂ with E₂·MM₁ (exact, no division).
                    var byHealth = (x.E * y.Mm).CompareTo(y.E * x.Mm);
                    if (byHealth != 0)
                    {
                        return byHealth;
                    }
                }

                return string.CompareOrdinal(x.Account.Id, y.Account.Id);
            });

            foreach (var (a, _, _, _) in liquidate)
            {
                Liquidate(a);
            }
        }

        private void Liquidate(Account a)
        {
            // 1. Positions by MMᵢ descending (ties: symbol), each closed by the least number of lots that restores
            //    E ≥ γ·MM, or entirely; stop as soon as the condition holds.
            var order = a.Positions
                .Select(p => (Market: p.Key, Mm: PositionRequirement(p.Key, p.Value.Size, initial: false)))
                .OrderByDescending(p => p.Mm)
                .ThenBy(p => p.Market, StringComparer.Ordinal)
                .Select(p => p.Market)
                .ToList();
            foreach (var market in order)
            {
                if (AtTarget(a))
                {
                    break;
                }

                var (size, _) = a.Positions[market];
                var spec = _markets[market];
                var mark = _marks[market];
                var abs = Math.Abs(size);
                var equity = Equity(a);
                var mmOthers = Requirement(a, initial: false) - PositionRequirement(market, size, initial: false);
                var q = abs;
                var lots = (long)decimal.Floor(abs / spec.LotSize);
                for (long k = 1; k <= lots; k++)
                {
                    var candidate = k * spec.LotSize;
                    var penalty = Math.Min(spec.LiquidationPenalty * candidate * mark, Math.Max(0m, equity));
                    var mmAfter = mmOthers + PositionRequirement(market, abs - candidate, initial: false);
                    if (equity - penalty >= _gamma * mmAfter)
                    {
                        q = candidate;
                        break;
                    }
                }

                Close(a, market, q);
                if (AtTarget(a))
                {
                    break;
                }
            }

            // 2. Flat with a USD debt: sell collateral, lowest weight first (ties: asset name).
            if (a.Positions.Count == 0 && a.Usd < 0m)
            {
                var assets = a.Balances
                    .Where(b => b.Key != Usd && b.Value > 0m)
                    .Select(b => _assets[b.Key])
                    .OrderBy(c => c.Weight)
                    .ThenBy(c => c.Asset, StringComparer.Ordinal)
                    .ToList();
                foreach (var asset in assets)
                {
                    if (a.Usd >= 0m)
                    {
                        break;
                    }

                    var price = _marks[asset.PriceMarket!];
                    var unit = price * (1m - asset.LiquidationDiscount);
                    var balance = a.Balances[asset.Asset];
                    var need = -a.Usd / unit;
                    decimal quantity;
                    if (need < balance)
                    {
                        quantity = need;
                        a.Usd = 0m; // what rounding the quantity leaves is not a debt
                    }
                    else
                    {
                        quantity = balance;
                        a.Usd += balance * unit;
                    }

                    a.Balances[asset.Asset] = balance - quantity;
                    var discount = asset.LiquidationDiscount * price * quantity;
                    _fund += discount;
                    _events.Add(new()
                    {
                        ["type"] = "collateral_liquidation",
                        ["account"] = a.Id,
                        ["asset"] = asset.Asset,
                        ["quantity"] = quantity,
                        ["price"] = price,
                        ["discount"] = discount,
                    });
                }
            }

            // 3. Still in debt: bankruptcy, covered by the fund up to its balance, the rest socialized.
            if (a.Positions.Count == 0 && a.Usd < 0m)
            {
                var deficit = -a.Usd;
                var covered = Math.Min(deficit, _fund);
                _fund -= covered;
                _socialized += deficit - covered;
                a.Usd = 0m;
                _events.Add(new()
                {
                    ["type"] = "bankruptcy",
                    ["account"] = a.Id,
                    ["deficit"] = deficit,
                    ["insuranceCovered"] = covered,
                    ["socialized"] = deficit - covered,
                });
            }

            if (StatusOf(a) == Status.Healthy)
            {
                a.Armed = true;
            }
        }

        private bool AtTarget(Account a) => Equity(a) >= _gamma * Requirement(a, initial: false);

        private void Close(Account a, string market, decimal q)
        {
            var (size, entry) = a.Positions[market];
            var mark = _marks[market];
            var penalty = Math.Min(_markets[market].LiquidationPenalty * q * mark, Math.Max(0m, Equity(a)));
            // Two movements, in the page's order: the realized PnL into USD, then the penalty out of it. (Netting them
            // first rounds differently: a penalty capped at E then left 2e-27 of equity where exact arithmetic leaves
            // none, and the account's next status was Liquidatable instead of Bankrupt — counterexample 04.)
            a.Usd += q * Math.Sign(size) * (mark - entry);
            a.Usd -= penalty;
            _fund += penalty;
            var left = size - (Math.Sign(size) * q);
            if (left == 0m)
            {
                a.Positions.Remove(market);
            }
            else
            {
                a.Positions[market] = (left, entry);
            }

            _events.Add(new()
            {
                ["type"] = "liquidation",
                ["account"] = a.Id,
                ["market"] = market,
                ["quantity"] = q,
                ["price"] = mark,
                ["penalty"] = penalty,
            });
        }

        // ---- health --------------------------------------------------------------------------------------------

        private bool Holds(Account a, string market) =>
            a.Positions.ContainsKey(market)
            || a.Balances.Any(b => b.Key != Usd && b.Value > 0m && _assets.TryGetValue(b.Key, out var spec) && spec.PriceMarket == market);

        private decimal Equity(Account a)
        {
            var e = 0m;
            foreach (var (asset, q) in a.Balances)
            {
                if (asset == Usd)
                {
                    e += q;
                }
                else if (q > 0m)
                {
                    var spec = _assets[asset];
                    e += spec.Weight * q * _marks[spec.PriceMarket!];
                }
            }

            foreach (var (market, (size, entry)) in a.Positions)
            {
                e += size * (_marks[market] - entry);
            }

            return e;
        }

        private decimal Requirement(Account a, bool initial) =>
            a.Positions.Sum(p => PositionRequirement(p.Key, p.Value.Size, initial));

        private decimal PositionRequirement(string market, decimal size, bool initial) =>
            Tiered(_markets[market], Math.Abs(size) * _marks[market], initial);

        /// <summary>requirement(N) = N × rate_k − cum_k, k the bracket with floor_k ≤ N &lt; floor_{k+1}.</summary>
        private static decimal Tiered(MarketConfig market, decimal notional, bool initial)
        {
            decimal Rate(int i) => initial ? market.Brackets[i].Imr : market.Brackets[i].Mmr;
            var cum = 0m;
            var k = 0;
            while (k + 1 < market.Brackets.Length && market.Brackets[k + 1].Floor <= notional)
            {
                k++;
                cum += market.Brackets[k].Floor * (Rate(k) - Rate(k - 1));
            }

            return (notional * Rate(k)) - cum;
        }

        private Status StatusOf(Account a)
        {
            var e = Equity(a);
            var mm = Requirement(a, initial: false);
            return a.Positions.Count == 0 && a.Usd >= 0m ? Status.Healthy
                : e <= 0m ? Status.Bankrupt
                : a.Positions.Count == 0 ? Status.Healthy
                : e < mm ? Status.Liquidatable
                : e < _c * mm ? Status.MarginCall
                : Status.Healthy;
        }

        // ---- the result ----------------------------------------------------------------------------------------

        private string Write()
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteStartObject("accounts");
                foreach (var a in _accounts.Values)
                {
                    w.WriteStartObject(a.Id);
                    w.WriteStartObject("collateral");
                    foreach (var (asset, q) in a.Balances.Where(b => b.Value != 0m))
                    {
                        w.WriteString(asset, D(q));
                    }

                    w.WriteEndObject();
                    w.WriteStartObject("positions");
                    foreach (var (market, (size, entry)) in a.Positions)
                    {
                        w.WriteStartObject(market);
                        w.WriteString("size", D(size));
                        w.WriteString("entryPrice", D(entry));
                        w.WriteEndObject();
                    }

                    w.WriteEndObject();
                    var e = Equity(a);
                    var mm = Requirement(a, initial: false);
                    w.WriteString("equity", D(e));
                    w.WriteString("maintenanceMargin", D(mm));
                    w.WriteString("initialMargin", D(Requirement(a, initial: true)));
                    if (a.Positions.Count > 0)
                    {
                        w.WriteString("health", D(e / mm));
                    }
                    else
                    {
                        w.WriteNull("health");
                    }

                    w.WriteString("status", StatusOf(a).ToString());
                    w.WriteEndObject();
                }

                w.WriteEndObject();
                w.WriteString("insuranceFund", D(_fund));
                w.WriteString("socializedLoss", D(_socialized));
                w.WriteStartArray("events");
                foreach (var ev in _events)
                {
                    w.WriteStartObject();
                    foreach (var (name, value) in ev)
                    {
                        switch (value)
                        {
                            case decimal d:
                                w.WriteString(name, D(d));
                                break;
                            case string s:
                                w.WriteString(name, s);
                                break;
                            default:
                                w.WriteNull(name);
                                break;
                        }
                    }

                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
        }

        private static string D(decimal d) => d.ToString(CultureInfo.InvariantCulture);
    }
}
