namespace MarginGrid.Client.Tests;

public sealed class TargetTests
{
    [Fact]
    public void A_target_names_gateways_and_optionally_the_cluster_and_service_ids()
    {
        var options = MarginGridClientOptions.Parse("orleans://10.0.0.1:30000, silo-b:30001,[::1]:30002?cluster-id=prod&service-id=mg");
        Assert.Equal(
            [new GatewayAddress("10.0.0.1", 30000), new GatewayAddress("silo-b", 30001), new GatewayAddress("::1", 30002)],
            options.Gateways);
        Assert.Equal(("prod", "mg"), (options.ClusterId, options.ServiceId));
        Assert.Null(options.Validate());
        Assert.Equal("orleans://10.0.0.1:30000,silo-b:30001,[::1]:30002?cluster-id=prod&service-id=mg", options.Describe());

        var plain = MarginGridClientOptions.Parse("ORLEANS://127.0.0.1:30000/");
        Assert.Equal((MarginGridClientOptions.DefaultId, MarginGridClientOptions.DefaultId), (plain.ClusterId, plain.ServiceId));
        Assert.Equal("orleans://127.0.0.1:30000", plain.Describe());
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080")]
    [InlineData("orleans://")]
    [InlineData("orleans://host")]
    [InlineData("orleans://host:0")]
    [InlineData("orleans://host:70000")]
    [InlineData("orleans://host:30000?cluster=x")]
    [InlineData("orleans://host:30000?cluster-id=")]
    public void A_malformed_target_is_refused(string target) =>
        Assert.Throws<FormatException>(() => MarginGridClientOptions.Parse(target));

    [Fact]
    public void Gateways_and_a_connection_string_exclude_each_other()
    {
        Assert.NotNull(new MarginGridClientOptions().Validate());
        Assert.NotNull((MarginGridClientOptions.Parse("orleans://h:1") with { PostgresConnectionString = "Host=x" }).Validate());
        Assert.Null(new MarginGridClientOptions { PostgresConnectionString = "Host=x" }.Validate());
    }
}
