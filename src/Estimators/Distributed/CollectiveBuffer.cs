using System.Runtime.InteropServices;

namespace MLNetExt;

/// <summary>
/// A float32 buffer in unmanaged, 64-byte aligned host memory that collectives read and write.
/// </summary>
/// <remarks>
/// Why unmanaged: an asynchronous collective runs on another thread (and, with MPI, inside the native library)
/// while training continues, so its memory must never be moved by the garbage collector. A buffer either owns
/// its memory (from <see cref="Allocate"/>) or is a non-owning view of another buffer (from <see cref="Slice"/>).
/// </remarks>
public sealed unsafe class CollectiveBuffer : IDisposable
{
    private float* _pointer;
    private readonly bool _ownsMemory;

    private CollectiveBuffer(float* pointer, int length, bool ownsMemory)
    {
        _pointer = pointer;
        Length = length;
        _ownsMemory = ownsMemory;
    }

    /// <summary>Allocates a zero-filled buffer of <paramref name="length"/> floats.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="length"/> is negative.</exception>
    public static CollectiveBuffer Allocate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        // AlignedAlloc(0) may return null; always allocate at least one element so Pointer is valid.
        var bytes = (nuint)Math.Max(1, length) * sizeof(float);
        var pointer = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(pointer, bytes);
        return new CollectiveBuffer(pointer, length, ownsMemory: true);
    }

    /// <summary>A non-owning buffer over memory someone else frees (e.g. a shared-memory window of the transport).</summary>
    internal static CollectiveBuffer Over(float* pointer, int length) => new(pointer, length, ownsMemory: false);

    /// <summary>Number of floats in the buffer.</summary>
    public int Length { get; }

    /// <summary>The contents as a span (valid until the owning buffer is disposed).</summary>
    public Span<float> Span
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer == null, this);
            return new Span<float>(_pointer, Length);
        }
    }

    /// <summary>Raw address for native transports; valid until the owning buffer is disposed.</summary>
    internal float* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer == null, this);
            return _pointer;
        }
    }

    /// <summary>A non-owning view of <paramref name="length"/> floats starting at <paramref name="offset"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When the range is outside the buffer.</exception>
    public CollectiveBuffer Slice(int offset, int length)
    {
        if ((uint)offset > (uint)Length || (uint)length > (uint)(Length - offset))
            throw new ArgumentOutOfRangeException(nameof(length), $"Slice [{offset}, {offset + length}) is outside a buffer of {Length} floats.");
        return new CollectiveBuffer(Pointer + offset, length, ownsMemory: false);
    }

    /// <summary>Frees the memory if this buffer owns it.</summary>
    public void Dispose()
    {
        if (_ownsMemory && _pointer != null)
            NativeMemory.AlignedFree(_pointer);
        _pointer = null;
    }
}
