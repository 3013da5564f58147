using System.Net;
using System.Net.Sockets;

namespace MarginGrid.Testing;

public static class Ports
{
    /// <summary>A loopback port that is free right now (the OS picks it); a process started next can bind it.</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
