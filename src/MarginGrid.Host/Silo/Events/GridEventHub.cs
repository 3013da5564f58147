using System.Collections.Concurrent;
using System.Threading.Channels;
using Orleans.Streams;
using Prometheus;

namespace MarginGrid.Host.Silo.Events;

/// <summary>
/// This silo's one subscription to the cluster's event stream (<see cref="GridStreams"/>), taken from the silo's own
/// client side once the silo has started, and fanned out to the HTTP clients of <c>/v1/events/stream</c>. Every silo
/// holds its own subscription, so a client of any node sees the events of every node. A slow client loses its oldest
/// undelivered events (counted in <c>margingrid_event_stream_dropped_total</c>), never the stream's delivery.
/// </summary>
public sealed class GridEventHub(IClusterClient client, ILogger<GridEventHub> logger) : IHostedService
{
    public const int ClientBuffer = 1024;

    private static readonly Counter Dropped = Prometheus.Metrics.CreateCounter(
        "margingrid_event_stream_dropped_total", "Events a slow server-sent-events client did not get (its buffer was full).");

    private static readonly Gauge Clients = Prometheus.Metrics.CreateGauge(
        "margingrid_event_stream_clients", "HTTP clients connected to /v1/events/stream on this silo.");

    private readonly ConcurrentDictionary<Guid, Channel<GridEvent>> _clients = new();
    private StreamSubscriptionHandle<GridEvent>? _subscription;

    /// <summary>Whether the subscription is in place (events published from now on reach the clients).</summary>
    public bool Subscribed => _subscription is not null;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var stream = client.GetStreamProvider(GridStreams.Provider)
            .GetStream<GridEvent>(StreamId.Create(GridStreams.Namespace, GridStreams.AllKey));
        _subscription = await stream.SubscribeAsync(OnNextAsync, OnErrorAsync);
        logger.LogInformation("Subscribed to the event stream {Provider}/{Namespace}/{Key}", GridStreams.Provider, GridStreams.Namespace, GridStreams.AllKey);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var (_, channel) in _clients)
        {
            channel.Writer.TryComplete();
        }

        if (_subscription is { } subscription)
        {
            _subscription = null;
            try
            {
                await subscription.UnsubscribeAsync().WaitAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Could not unsubscribe from the event stream");
            }
        }
    }

    /// <summary>A new client: its events from now on, until it is disposed.</summary>
    public Subscriber Subscribe()
    {
        var id = Guid.NewGuid();
        var channel = Channel.CreateBounded<GridEvent>(
            new BoundedChannelOptions(ClientBuffer) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            _ => Dropped.Inc());
        _clients[id] = channel;
        Clients.Inc();
        return new Subscriber(channel.Reader, () =>
        {
            if (_clients.TryRemove(id, out _))
            {
                Clients.Dec();
            }
        });
    }

    private Task OnNextAsync(GridEvent e, StreamSequenceToken? token)
    {
        foreach (var (_, channel) in _clients)
        {
            channel.Writer.TryWrite(e);
        }

        return Task.CompletedTask;
    }

    private Task OnErrorAsync(Exception e)
    {
        logger.LogWarning(e, "The event stream reported an error");
        return Task.CompletedTask;
    }

    public sealed class Subscriber(ChannelReader<GridEvent> reader, Action unsubscribe) : IDisposable
    {
        public ChannelReader<GridEvent> Events { get; } = reader;

        public void Dispose() => unsubscribe();
    }
}
