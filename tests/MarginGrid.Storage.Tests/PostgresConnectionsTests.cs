using Npgsql;
using Xunit;

namespace MarginGrid.Storage.Tests;

public sealed class PostgresConnectionsTests
{
    [Fact]
    public void A_silent_connection_string_gets_the_silo_defaults_and_keeps_everything_else()
    {
        var tuned = new NpgsqlConnectionStringBuilder(
            PostgresConnections.ForSilo("Host=db.internal;Port=6432;Username=grid;Password=s3cret;Maximum Pool Size=40"));

        Assert.True(tuned.NoResetOnClose);
        Assert.Equal(PostgresConnections.MaxAutoPrepare, tuned.MaxAutoPrepare);
        Assert.Equal(2, tuned.AutoPrepareMinUsages);
        Assert.Equal(("db.internal", 6432, "grid", "s3cret", 40), (tuned.Host, tuned.Port, tuned.Username, tuned.Password, tuned.MaxPoolSize));
    }

    [Theory]
    [InlineData("Host=h;No Reset On Close=false;Max Auto Prepare=0;Auto Prepare Min Usages=5")]
    [InlineData("Host=h;NoResetOnClose=false;MaxAutoPrepare=0;AutoPrepareMinUsages=5")]
    [InlineData("host=h;no reset on close=False;MAX AUTO PREPARE=0;auto prepare min usages=5")]
    public void What_the_operator_sets_wins_in_any_spelling(string connectionString)
    {
        var tuned = new NpgsqlConnectionStringBuilder(PostgresConnections.ForSilo(connectionString));

        Assert.False(tuned.NoResetOnClose);
        Assert.Equal(0, tuned.MaxAutoPrepare);
        Assert.Equal(5, tuned.AutoPrepareMinUsages);
    }

    [Fact]
    public void A_malformed_connection_string_is_an_error()
    {
        Assert.ThrowsAny<ArgumentException>(() => PostgresConnections.ForSilo("Host=h;Nonsense Keyword=1"));
        Assert.ThrowsAny<ArgumentException>(() => PostgresConnections.ForSilo(" "));
    }
}
