using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using MarginGrid.Domain;
using MarginGrid.Grains;

namespace MarginGrid.Host.Scenarios;

/// <summary>
/// Reads a scenario file. Numbers may be JSON numbers or strings and are read exactly as decimals (never through
/// double). Anything that cannot be read as written throws <see cref="ScenarioException"/> naming the field.
/// </summary>
public static class ScenarioReader
{
    public static Scenario Read(string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false });
        }
        catch (JsonException e)
        {
            throw new ScenarioException("$", $"not valid JSON: {e.Message}");
        }

        using (document)
        {
            return Read(document.RootElement);
        }
    }

    private static Scenario Read(JsonElement root)
    {
        Expect(root, JsonValueKind.Object, "$");
        var markets = Array(root, "markets").Select((m, i) => ReadMarket(m, $"markets[{i}]")).ToImmutableArray();
        var collateral = OptionalArray(root, "collateral").Select((c, i) => ReadCollateral(c, $"collateral[{i}]")).ToImmutableArray();
        var risk = root.TryGetProperty("risk", out var r) && r.ValueKind != JsonValueKind.Null
            ? new RiskRatios(
                OptionalDecimal(r, "marginCallRatio", "risk.marginCallRatio") ?? RiskParameters.Default.MarginCallRatio,
                OptionalDecimal(r, "liquidationTargetRatio", "risk.liquidationTargetRatio") ?? RiskParameters.Default.LiquidationTargetRatio)
            {
                BankruptcyResolution = r.TryGetProperty("bankruptcyResolution", out var br) && br.ValueKind != JsonValueKind.Null
                    ? String(r, "bankruptcyResolution", "risk.bankruptcyResolution")
                    : null,
            }
            : new RiskRatios(RiskParameters.Default.MarginCallRatio, RiskParameters.Default.LiquidationTargetRatio);
        var config = new RiskConfigSnapshot(0, markets, collateral, risk);
        RiskConfiguration domain;
        try
        {
            domain = config.ToDomain();
        }
        catch (ConfigurationException e)
        {
            throw new ScenarioException(e.Field, e.Reason);
        }

        var fund = OptionalDecimal(root, "insuranceFund", "insuranceFund") ?? 0m;
        if (fund < 0m)
        {
            throw new ScenarioException("insuranceFund", $"must not be negative, got {fund}");
        }

        var startTime = OptionalDecimal(root, "startTime", "startTime") ?? 0m;
        CheckInstant(startTime, "startTime");
        var accounts = ReadAccounts(root, domain);
        var prices = ReadInitialPrices(root, domain);
        var now = startTime;
        var steps = ImmutableArray.CreateBuilder<ScenarioStep>();
        var index = 0;
        foreach (var s in OptionalArray(root, "steps"))
        {
            var step = ReadStep(s, $"steps[{index}]", domain, now);
            if (step is PriceStep { Time: { } time })
            {
                now = time;
            }

            steps.Add(step);
            index++;
        }

        return new Scenario(config, fund, accounts, prices, steps.ToImmutable()) { StartTime = startTime };
    }

    private static MarketConfig ReadMarket(JsonElement m, string path)
    {
        Expect(m, JsonValueKind.Object, path);
        var brackets = Array(m, "brackets", path)
            .Select((b, k) => new BracketConfig(
                Decimal(b, "floor", $"{path}.brackets[{k}].floor"),
                Decimal(b, "mmr", $"{path}.brackets[{k}].mmr"),
                Decimal(b, "imr", $"{path}.brackets[{k}].imr")))
            .ToImmutableArray();
        return new MarketConfig(
            String(m, "symbol", $"{path}.symbol"),
            Decimal(m, "lotSize", $"{path}.lotSize"),
            Decimal(m, "liquidationPenalty", $"{path}.liquidationPenalty"),
            brackets)
        {
            Oracle = OptionalObject(m, "oracle", $"{path}.oracle") is { } o
                ? new OracleConfig(
                    OptionalDecimal(o, "maxAge", $"{path}.oracle.maxAge"),
                    OptionalDecimal(o, "maxDeviation", $"{path}.oracle.maxDeviation"),
                    OptionalDecimal(o, "minSources", $"{path}.oracle.minSources"),
                    OptionalDecimal(o, "maxMove", $"{path}.oracle.maxMove"))
                : null,
            Volatility = OptionalObject(m, "volatility", $"{path}.volatility") is { } v
                ? new VolatilityConfig(
                    Decimal(v, "window", $"{path}.volatility.window"),
                    Decimal(v, "reference", $"{path}.volatility.reference"),
                    Decimal(v, "maxMultiplier", $"{path}.volatility.maxMultiplier"))
                : null,
            LiquidationCap = OptionalDecimal(m, "liquidationCap", $"{path}.liquidationCap"),
            Impact = OptionalDecimal(m, "impact", $"{path}.impact"),
            MaxImpact = OptionalDecimal(m, "maxImpact", $"{path}.maxImpact"),
        };
    }

    private static JsonElement? OptionalObject(JsonElement parent, string name, string path) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? Expect(value, JsonValueKind.Object, path)
            : null;

    private static void CheckInstant(decimal seconds, string path)
    {
        try
        {
            _ = MarginGrid.Domain.Model.ModelEngine.Instant(seconds);
        }
        catch (ArgumentOutOfRangeException)
        {
            throw new ScenarioException(path, $"{seconds} seconds is outside the calendar");
        }
    }

    private static CollateralConfig ReadCollateral(JsonElement c, string path)
    {
        Expect(c, JsonValueKind.Object, path);
        return new CollateralConfig(
            String(c, "asset", $"{path}.asset"),
            Decimal(c, "weight", $"{path}.weight"),
            c.TryGetProperty("priceMarket", out var pm) && pm.ValueKind != JsonValueKind.Null ? String(c, "priceMarket", $"{path}.priceMarket") : null,
            OptionalDecimal(c, "liquidationDiscount", $"{path}.liquidationDiscount") ?? 0m)
        {
            Auction = OptionalObject(c, "auction", $"{path}.auction") is { } a
                ? new AuctionConfig(
                    Decimal(a, "buf", $"{path}.auction.buf"),
                    Decimal(a, "step", $"{path}.auction.step"),
                    Decimal(a, "cut", $"{path}.auction.cut"),
                    Decimal(a, "tail", $"{path}.auction.tail"),
                    Decimal(a, "cusp", $"{path}.auction.cusp"))
                : null,
        };
    }

    private static ImmutableArray<ScenarioAccount> ReadAccounts(JsonElement root, RiskConfiguration config)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var accounts = ImmutableArray.CreateBuilder<ScenarioAccount>();
        var i = 0;
        foreach (var a in OptionalArray(root, "accounts"))
        {
            var path = $"accounts[{i++}]";
            Expect(a, JsonValueKind.Object, path);
            var id = String(a, "id", $"{path}.id");
            if (!ids.Add(id))
            {
                throw new ScenarioException($"{path}.id", $"duplicate account id '{id}'");
            }

            var balances = ImmutableDictionary.CreateBuilder<string, decimal>(StringComparer.Ordinal);
            if (a.TryGetProperty("collateral", out var col) && col.ValueKind != JsonValueKind.Null)
            {
                Expect(col, JsonValueKind.Object, $"{path}.collateral");
                foreach (var entry in col.EnumerateObject())
                {
                    var at = $"{path}.collateral.{entry.Name}";
                    var q = ParseDecimal(entry.Value, at);
                    if (AccountRules.CheckOpeningBalance(entry.Name, q, config) is { } problem)
                    {
                        throw new ScenarioException(at, problem);
                    }

                    balances[entry.Name] = q;
                }
            }

            var positions = ImmutableArray.CreateBuilder<PositionSnapshot>();
            var markets = new HashSet<string>(StringComparer.Ordinal);
            var k = 0;
            foreach (var p in OptionalArray(a, "positions"))
            {
                var at = $"{path}.positions[{k++}]";
                Expect(p, JsonValueKind.Object, at);
                var market = String(p, "market", $"{at}.market");
                var size = Decimal(p, "size", $"{at}.size");
                var entry = Decimal(p, "entryPrice", $"{at}.entryPrice");
                if (AccountRules.CheckOpeningPosition(market, entry, config) is { } problem)
                {
                    throw new ScenarioException($"{at}.{problem.Field}", problem.Reason);
                }

                if (!markets.Add(market))
                {
                    throw new ScenarioException($"{at}.market", $"a second position in '{market}'");
                }

                if (size != 0m)
                {
                    positions.Add(new PositionSnapshot(market, size, entry));
                }
            }

            accounts.Add(new ScenarioAccount(id, new AccountSeed(balances.ToImmutable(), positions.ToImmutable())));
        }

        return accounts.ToImmutable();
    }

    private static ImmutableArray<KeyValuePair<string, decimal>> ReadInitialPrices(JsonElement root, RiskConfiguration config)
    {
        if (!root.TryGetProperty("initialPrices", out var ip) || ip.ValueKind == JsonValueKind.Null)
        {
            ip = default;
        }

        var prices = new Dictionary<string, decimal>(StringComparer.Ordinal);
        if (ip.ValueKind != JsonValueKind.Undefined)
        {
            Expect(ip, JsonValueKind.Object, "initialPrices");
            foreach (var entry in ip.EnumerateObject())
            {
                var at = $"initialPrices.{entry.Name}";
                var price = ParseDecimal(entry.Value, at);
                if (!config.TryGetMarket(entry.Name, out _))
                {
                    throw new ScenarioException(at, $"unknown market '{entry.Name}'");
                }

                if (price <= 0m)
                {
                    throw new ScenarioException(at, $"must be positive, got {price}");
                }

                prices[entry.Name] = price;
            }
        }

        foreach (var market in config.Markets)
        {
            if (!prices.ContainsKey(market.Symbol))
            {
                throw new ScenarioException($"initialPrices.{market.Symbol}", "missing initial price");
            }
        }

        // Apply in configuration order so that replays are deterministic whatever the file's key order.
        return [.. config.Markets.Select(m => KeyValuePair.Create(m.Symbol, prices[m.Symbol]))];
    }

    private static ScenarioStep ReadStep(JsonElement s, string path, RiskConfiguration config, decimal now)
    {
        Expect(s, JsonValueKind.Object, path);
        if (s.TryGetProperty("fill", out var fill))
        {
            var at = $"{path}.fill";
            Expect(fill, JsonValueKind.Object, at);
            return new FillStep(
                String(fill, "account", $"{at}.account"),
                String(fill, "market", $"{at}.market"),
                Decimal(fill, "size", $"{at}.size"),
                Decimal(fill, "price", $"{at}.price"));
        }

        if (s.TryGetProperty("deposit", out var deposit))
        {
            var (account, asset, quantity) = ReadTransfer(deposit, $"{path}.deposit");
            return new DepositStep(account, asset, quantity);
        }

        if (s.TryGetProperty("withdraw", out var withdraw))
        {
            var (account, asset, quantity) = ReadTransfer(withdraw, $"{path}.withdraw");
            return new WithdrawStep(account, asset, quantity);
        }

        if (s.TryGetProperty("bid", out var bid))
        {
            var at = $"{path}.bid";
            Expect(bid, JsonValueKind.Object, at);
            return new BidStep(
                String(bid, "account", $"{at}.account"),
                String(bid, "target", $"{at}.target"),
                String(bid, "asset", $"{at}.asset"),
                Decimal(bid, "quantity", $"{at}.quantity"),
                Decimal(bid, "maxPrice", $"{at}.maxPrice"));
        }

        if (s.TryGetProperty("market", out _))
        {
            var market = String(s, "market", $"{path}.market");
            if (!config.TryGetMarket(market, out _))
            {
                throw new ScenarioException($"{path}.market", $"unknown market '{market}'");
            }

            var price = Decimal(s, "price", $"{path}.price");
            if (price <= 0m)
            {
                throw new ScenarioException($"{path}.price", $"must be positive, got {price}");
            }

            decimal? time = null;
            if (s.TryGetProperty("time", out _))
            {
                var t = Decimal(s, "time", $"{path}.time");
                if (t < now)
                {
                    throw new ScenarioException($"{path}.time", $"{t} is earlier than now ({now})");
                }

                CheckInstant(t, $"{path}.time");
                time = t;
            }

            var source = s.TryGetProperty("source", out _) ? String(s, "source", $"{path}.source") : "default";
            return new PriceStep(market, price) { Time = time, Source = source };
        }

        throw new ScenarioException(path, "a step is one of {market, price}, {fill}, {deposit}, {withdraw} or {bid}");
    }

    private static (string Account, string Asset, decimal Quantity) ReadTransfer(JsonElement transfer, string at)
    {
        Expect(transfer, JsonValueKind.Object, at);
        return (String(transfer, "account", $"{at}.account"), String(transfer, "asset", $"{at}.asset"), Decimal(transfer, "quantity", $"{at}.quantity"));
    }

    private static IEnumerable<JsonElement> Array(JsonElement parent, string name, string? parentPath = null)
    {
        var path = parentPath is null ? name : $"{parentPath}.{name}";
        if (!parent.TryGetProperty(name, out var value))
        {
            throw new ScenarioException(path, "missing");
        }

        Expect(value, JsonValueKind.Array, path);
        return value.EnumerateArray();
    }

    private static IEnumerable<JsonElement> OptionalArray(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? Expect(value, JsonValueKind.Array, name).EnumerateArray()
            : [];

    private static string String(JsonElement parent, string name, string path)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.String)
        {
            throw new ScenarioException(path, "a string is required");
        }

        var s = value.GetString()!;
        return string.IsNullOrWhiteSpace(s) ? throw new ScenarioException(path, "must not be empty") : s;
    }

    private static decimal Decimal(JsonElement parent, string name, string path) =>
        parent.TryGetProperty(name, out var value)
            ? ParseDecimal(value, path)
            : throw new ScenarioException(path, "missing");

    private static decimal? OptionalDecimal(JsonElement parent, string name, string path) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? ParseDecimal(value, path) : null;

    /// <summary>A decimal from a JSON number or string, exactly as written; NaN, infinities and garbage are errors.</summary>
    public static decimal ParseDecimal(JsonElement value, string path)
    {
        var text = value.ValueKind switch
        {
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.String => value.GetString()!.Trim(),
            _ => throw new ScenarioException(path, $"a number is required, got {value.ValueKind}"),
        };
        return decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
            ? d
            : throw new ScenarioException(path, $"'{text}' is not a decimal number");
    }

    private static JsonElement Expect(JsonElement value, JsonValueKind kind, string path) =>
        value.ValueKind == kind ? value : throw new ScenarioException(path, $"expected {kind.ToString().ToLowerInvariant()}, got {value.ValueKind.ToString().ToLowerInvariant()}");
}
