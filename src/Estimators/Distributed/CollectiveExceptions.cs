namespace MLNetExt;

/// <summary>A collective operation failed on this rank (a peer left, arguments did not match, or the transport failed).</summary>
public class CollectiveException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CollectiveException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A collective did not complete within the backend's timeout, typically because a peer rank died or stalled.</summary>
public sealed class CollectiveTimeoutException : CollectiveException
{
    /// <summary>Creates the exception.</summary>
    public CollectiveTimeoutException(string message) : base(message) { }
}
