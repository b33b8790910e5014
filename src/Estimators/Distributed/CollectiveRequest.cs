using System.Runtime.ExceptionServices;

namespace MLNetExt;

/// <summary>A collective started by an <c>*Async</c> method of <see cref="ICollectiveBackend"/>.</summary>
public sealed class CollectiveRequest
{
    // Extra time granted beyond the backend timeout so that a transport which enforces the timeout itself
    // (and can name the missing ranks) reports first, rather than this more generic message.
    private static readonly TimeSpan TransportReportGrace = TimeSpan.FromSeconds(2);

    private readonly ManualResetEventSlim _done = new(false);
    private readonly TimeSpan _timeout;
    private readonly Action<string>? _onTimeout;
    private Exception? _error;

    internal CollectiveRequest(string description, TimeSpan timeout, Action<string>? onTimeout = null)
    {
        Description = description;
        _timeout = timeout;
        _onTimeout = onTimeout;
    }

    /// <summary>What this request does, e.g. "rank 1/2 (in-process): AllReduce(Average) of 1000 floats (#7)".</summary>
    public string Description { get; }

    /// <summary>True once the operation finished (successfully or not).</summary>
    public bool IsCompleted => _done.IsSet;

    /// <summary>Waits up to the backend's timeout.</summary>
    /// <exception cref="CollectiveTimeoutException">When the operation did not finish in time.</exception>
    /// <exception cref="CollectiveException">When the operation failed.</exception>
    public void Wait() => Wait(_timeout);

    /// <summary>Waits up to <paramref name="timeout"/>.</summary>
    /// <exception cref="CollectiveTimeoutException">When the operation did not finish in time.</exception>
    /// <exception cref="CollectiveException">When the operation failed.</exception>
    public void Wait(TimeSpan timeout)
    {
        if (!_done.Wait(timeout + TransportReportGrace))
        {
            var message = $"{Description} did not complete within {timeout.TotalSeconds:0.###} s: a peer rank probably died, " +
                "stalled, or issued a different sequence of collectives. Raise the timeout if the link is just slow.";
            _onTimeout?.Invoke(message);
            throw new CollectiveTimeoutException(message);
        }
        if (_error is not null)
            ExceptionDispatchInfo.Capture(_error).Throw();
    }

    internal void Complete(Exception? error)
    {
        _error = error;
        _done.Set();
    }
}
