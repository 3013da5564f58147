using MarginGrid.Storage;
using Prometheus;

namespace MarginGrid.Host.Silo.Audit;

/// <summary>
/// Drains <see cref="AuditTrail"/> into PostgreSQL with <see cref="AuditLog.AppendManyAsync"/>, one batch per INSERT.
/// A batch that fails for a transient reason (PostgreSQL away, a timeout) is retried, with a growing pause, until it
/// is written or the silo stops. A batch that PostgreSQL refuses for what it holds (<see cref="AuditLog.IsPermanent"/>:
/// a NUL character, a violated check) is written record by record instead, and each record it still refuses is
/// moved to <c>margingrid_audit_quarantine</c> and counted in <c>margingrid_audit_quarantined_total</c>: one bad record
/// never blocks the rest. On shutdown it writes what is queued, for at most <see cref="DrainTimeout"/>.
/// </summary>
public sealed class AuditWriter(
    AuditTrail trail, AuditLog log, AuditSettings settings, TimeProvider time, ILogger<AuditWriter> logger, IServiceProvider? services = null)
    : BackgroundService
{
    private IGrainFactory? _grains;

    /// <summary>The current batch was not stored completely (given up while stopping): its accounts are not told.</summary>
    private bool _gaveUp;

    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    private static readonly Counter Written = Prometheus.Metrics.CreateCounter(
        "margingrid_audit_written_total", "Audit records appended to PostgreSQL.");

    private static readonly Counter Failures = Prometheus.Metrics.CreateCounter(
        "margingrid_audit_write_failures_total", "Failed attempts to append a batch of audit records.");

    private static readonly Counter Quarantined = Prometheus.Metrics.CreateCounter(
        "margingrid_audit_quarantined_total", "Audit records PostgreSQL refused, kept in margingrid_audit_quarantine instead.");

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
            logger.LogError("The audit trail was not drained within {Timeout}: {Count} queued records are lost", DrainTimeout, trail.BacklogCount);
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

            _gaveUp = false;
            await WriteAsync(batch, stoppingToken);
            trail.Written(batch.Count);
            if (!_gaveUp)
            {
                Confirm(batch);
            }

            batch.Clear();
        }
    }

    /// <summary>
    /// Tells each audit outbox what of it is stored (or quarantined), by the record's key: an account its commands and
    /// events (<c>account/…</c>: <see cref="MarginGrid.Grains.IAccountAuditGrain"/>), a market its prices and market events
    /// (<c>*market/SYMBOL/…</c>: <see cref="MarginGrid.Grains.IMarketAuditGrain"/>), the insurance fund the liquidation
    /// batches of price steps (<c>*fund/…</c>: <see cref="MarginGrid.Grains.IFundAuditGrain"/>), the configuration its
    /// changes (<c>*config/…</c>: <see cref="MarginGrid.Grains.IRiskConfigAuditGrain"/>). One-way and best effort: an outbox not
    /// told offers the record again, and PostgreSQL keeps one row per key.
    /// </summary>
    private void Confirm(List<AuditRecord> batch)
    {
        if (services is null)
        {
            return; // no grid to tell (a writer on its own, in tests)
        }

        foreach (var owner in batch.Where(r => r.CommandId is not null).GroupBy(r => Owner(r), StringComparer.Ordinal))
        {
            if (owner.Key.Length == 0)
            {
                continue;
            }

            try
            {
                _grains ??= services.GetRequiredService<IGrainFactory>();
                var keys = owner.Select(r => r.CommandId!).ToList();
                var told = owner.Key[0] switch
                {
                    'm' => _grains.GetGrain<MarginGrid.Grains.IMarketAuditGrain>(owner.Key[2..]).AuditedAsync([.. keys]),
                    'c' => _grains.GetGrain<MarginGrid.Grains.IRiskConfigAuditGrain>(0).AuditedAsync([.. keys]),
                    'f' => _grains.GetGrain<MarginGrid.Grains.IFundAuditGrain>(0).AuditedAsync([.. keys]),
                    _ => _grains.GetGrain<MarginGrid.Grains.IAccountAuditGrain>(owner.Key[2..])
                        .AuditedAsync([.. keys.Select(k => k[(owner.Key.Length - 1)..])]),
                };
                _ = told.ContinueWith(
                    t => logger.LogDebug(t.Exception, "Could not confirm the audit of {Owner}", owner.Key),
                    CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogDebug(e, "Could not confirm the audit of {Owner}", owner.Key); // offered again later
            }
        }
    }

    /// <summary>
    /// Whose outbox holds a keyed record: <c>m:SYMBOL</c>, <c>f:</c>, <c>c:</c> or <c>a:ACCOUNT</c> (an account's command
    /// <c>account/commandId</c> or event <c>account/#n</c>, filed under <c>*</c> for its liquidation batches); empty for none.
    /// </summary>
    private static string Owner(AuditRecord record)
    {
        var key = record.CommandId!;
        if (MarginGrid.Grains.GridAuditKeys.MarketOf(key) is { } market)
        {
            return $"m:{market}";
        }

        if (key.StartsWith(MarginGrid.Grains.GridAuditKeys.ConfigPrefix, StringComparison.Ordinal))
        {
            return "c:";
        }

        if (MarginGrid.Grains.GridAuditKeys.IsFundKey(key))
        {
            return "f:";
        }

        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return record.Kind is AuditKind.Command or AuditKind.Event && slash > 0 && key[0] != '*' ? $"a:{key[..slash]}" : string.Empty;
    }

    private async Task WriteAsync(List<AuditRecord> batch, CancellationToken stoppingToken)
    {
        var permanent = await RetryAsync(
            async () =>
            {
                await log.AppendManyAsync(batch, CancellationToken.None);
                Written.Inc(batch.Count);
            },
            batch.Count, stoppingToken);
        if (permanent is null)
        {
            return;
        }

        // Refused for what it holds: find the records PostgreSQL refuses, one at a time; keep them aside, write the rest.
        logger.LogWarning(permanent, "PostgreSQL refused a batch of {Count} audit records: writing them one by one", batch.Count);
        foreach (var record in batch)
        {
            var refused = await RetryAsync(async () => { await log.AppendAsync(record, CancellationToken.None); Written.Inc(); }, 1, stoppingToken);
            if (refused is null)
            {
                continue;
            }

            var failure = await RetryAsync(
                () => log.QuarantineAsync(record, $"{refused.GetType().Name}: {refused.Message}", CancellationToken.None), 1, stoppingToken);
            if (failure is null)
            {
                Quarantined.Inc();
                logger.LogError(
                    "Audit record {Kind}/{Type} of account {Account} was refused by PostgreSQL ({Error}): kept in margingrid_audit_quarantine",
                    record.Kind, record.Type, record.AccountId, refused.Message);
            }
            else
            {
                _gaveUp = true;
                logger.LogCritical(failure, "Audit record {Kind}/{Type} could neither be written nor quarantined: {Payload}", record.Kind, record.Type, record.PayloadJson);
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="write"/> until it succeeds (null) or fails permanently (that exception); transient failures
    /// are retried with a growing pause, and given up after three attempts once the silo is stopping.
    /// </summary>
    private async Task<Exception?> RetryAsync(Func<Task> write, int count, CancellationToken stoppingToken)
    {
        var pause = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await write();
                if (attempt > 1)
                {
                    logger.LogInformation("Audit trail writes again after {Attempts} attempts", attempt);
                }

                return null;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Failures.Inc();
                if (AuditLog.IsPermanent(e))
                {
                    return e;
                }

                if (stoppingToken.IsCancellationRequested && attempt >= 3)
                {
                    _gaveUp = true;
                    logger.LogError(e, "Stopping: {Count} audit records could not be written here; their accounts offer them again", count);
                    return null;
                }

                logger.LogWarning(e, "Could not append {Count} audit records (attempt {Attempt}); retrying in {Pause}", count, attempt, pause);
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
