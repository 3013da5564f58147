using Npgsql;

namespace MarginGrid.Storage.Tests;

/// <summary>xunit class fixture: one fresh database for the test class, initialized by <see cref="DatabaseInitializer"/>.</summary>
public sealed class InitializedDatabaseFixture : IAsyncLifetime
{
    private TestDatabase? _database;

    public TestDatabase Database => _database ?? throw new InvalidOperationException("fixture not initialized");

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _database = await TestPostgres.CreateDatabaseAsync();
        await DatabaseInitializer.InitializeAsync(_database.ConnectionString);
        DataSource = _database.CreateDataSource();
    }

    public async Task DisposeAsync()
    {
        if (DataSource is not null)
        {
            await DataSource.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }
}
