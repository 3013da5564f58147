using MarginGrid.Storage;
using Prometheus;

namespace MarginGrid.Host.Silo.Audit;

/// <summary>
/// Drains <see cref="AuditTrail"/> into PostgreSQL with <see cref="AuditLog.AppendManyAsync"/>, one batch per INSERT.
/// A failed batch is retried (with a growing pause) until it is written or the silo stops, so a database outage
/// delays the trail and fills the queue (then drops are counted) but loses nothing already taken from the queue.
/// On shutdown it writes what is queued, for at most <see cref="DrainTimeout"/>.
/// </summary>
public sealed class AuditWriter(AuditTrail trail, AuditLog log, AuditSettings settings, TimeProvider time, ILogger<AuditWriter> logger)
    : BackgroundService
{
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    private static readonly Counter Written = Prometheus.Metrics.CreateCounter(
        "margingrid_audit_written_total", "Audit records appended to PostgreSQL.");

    private static readonly Counter Failures = Prometheus.Metrics.CreateCounter(
        "margingrid_audit_write_failures_total", "Failed attempts to append a batch of audit records.");

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        trail.Complete();
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        drain.CancelAfter(DrainTimeout);
        try
        {
            await (ExecuteTask ?? Task.CompletedTask).WaitAsync(drain.Token);
        }
        catch (OperationCanceledException)
        {
            logger.LogError("The audit trail was not drained within {Timeout}: queued records are lost", DrainTimeout);
        }

        await base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<AuditRecord>(settings.BatchSize);
        // Reads until the trail is completed (StopAsync) and empty: stoppingToken only ends retries.
        while (await trail.Reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < settings.BatchSize && trail.Reader.TryRead(out var record))
            {
                batch.Add(record);
            }

            await WriteAsync(batch, stoppingToken);
            batch.Clear();
        }
    }

    private async Task WriteAsync(List<AuditRecord> batch, CancellationToken stoppingToken)
    {
        var pause = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await log.AppendManyAsync(batch, CancellationToken.None);
                Written.Inc(batch.Count);
                if (attempt > 1)
                {
                    logger.LogInformation("Audit trail writes again after {Attempts} attempts", attempt);
                }

                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Failures.Inc();
                if (stoppingToken.IsCancellationRequested && attempt >= 3)
                {
                    logger.LogError(e, "Stopping: {Count} audit records could not be written and are lost", batch.Count);
                    return;
                }

                logger.LogWarning(e, "Could not append {Count} audit records (attempt {Attempt}); retrying in {Pause}", batch.Count, attempt, pause);
                try
                {
                    await Task.Delay(pause, time, stoppingToken); // retry back-off, not synchronization
                }
                catch (OperationCanceledException)
                {
                    // stopping: one more attempt below
                }

                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }
}
