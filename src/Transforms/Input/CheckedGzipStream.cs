using System.IO.Compression;

namespace MLNetExt;

/// <summary>
/// Decompresses a gzip file and, at its end, checks the output against the trailer (CRC-32 and length modulo 2³²,
/// RFC 1952). <see cref="GZipStream"/> alone accepts a stream cut at a flush point without its trailer and returns the
/// data so far as if it were the whole file; this stream refuses it. Damaged data is reported with the file name through
/// <c>error</c> instead of a bare <see cref="InvalidDataException"/>. Only single-member gzip files (what gzip writes)
/// are accepted.
/// </summary>
internal sealed class CheckedGzipStream : Stream
{
    private readonly Stream _inflate;
    private readonly Func<string, Exception> _error;
    private readonly uint _expectedCrc, _expectedLength;
    private uint _crc = 0xFFFFFFFF;
    private long _length;
    private bool _checked;

    /// <summary>Opens <paramref name="file"/> (positioned at 0) for checked decompression; <paramref name="error"/> makes the reader's exception for a message (it names the file).</summary>
    public CheckedGzipStream(FileStream file, Func<string, Exception> error)
    {
        _error = error;
        if (file.Length < 18) throw error($"the gzip file is truncated ({file.Length} bytes; a gzip file has at least 18)");
        Span<byte> head = stackalloc byte[3];
        file.ReadExactly(head);
        if (head[0] != 0x1F || head[1] != 0x8B) throw error($"not a gzip file (it does not start with 1F 8B)");
        if (head[2] != 8) throw error($"unsupported gzip compression method {head[2]} (only deflate, 8, exists)");
        Span<byte> trailer = stackalloc byte[8];
        file.Seek(-8, SeekOrigin.End);
        file.ReadExactly(trailer);
        file.Seek(0, SeekOrigin.Begin);
        _expectedCrc = BitConverter.ToUInt32(trailer[..4]);
        _expectedLength = BitConverter.ToUInt32(trailer[4..]);
        _inflate = new GZipStream(file, CompressionMode.Decompress);
    }

    /// <summary>The uncompressed length the trailer announces (exact for files under 4 GiB).</summary>
    public uint DeclaredLength => _expectedLength;

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        int n;
        try { n = _inflate.Read(buffer); }
        catch (InvalidDataException e) { throw _error($"the gzip data is damaged ({e.Message})"); }
        if (n == 0)
        {
            if (buffer.Length > 0 && !_checked) Check();
            return 0;
        }
        _crc = Crc32.Update(_crc, buffer[..n]);
        _length += n;
        return n;
    }

    private void Check()
    {
        _checked = true;
        uint crc = ~_crc, length = unchecked((uint)_length);
        if (crc != _expectedCrc || length != _expectedLength)
            throw _error($"the gzip stream is truncated or damaged: {_length:N0} bytes decompressed with CRC-32 {crc:X8}, " +
                $"but the trailer announces {_expectedLength:N0} bytes (mod 2^32) with CRC-32 {_expectedCrc:X8}");
    }

    /// <inheritdoc/>
    public override bool CanRead => true;
    /// <inheritdoc/>
    public override bool CanSeek => false;
    /// <inheritdoc/>
    public override bool CanWrite => false;
    /// <inheritdoc/>
    public override long Length => throw new NotSupportedException();
    /// <inheritdoc/>
    public override long Position { get => _length; set => throw new NotSupportedException(); }
    /// <inheritdoc/>
    public override void Flush() { }
    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();
    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _inflate.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>Opens <paramref name="path"/>: through a <see cref="CheckedGzipStream"/> when it starts with the gzip magic, else as it is.</summary>
    public static Stream OpenMaybeGzip(string path, Func<string, Exception> error)
    {
        var file = File.OpenRead(path);
        try
        {
            Span<byte> magic = stackalloc byte[2];
            int read = file.Read(magic);
            file.Position = 0;
            bool gzip = read == 2 && magic[0] == 0x1F && magic[1] == 0x8B;
            if (!gzip && path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
                throw error($"the name ends in .gz but the file is not gzip data (it does not start with 1F 8B)");
            return gzip ? new CheckedGzipStream(file, error) : file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}

/// <summary>CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) as gzip uses it.</summary>
internal static class Crc32
{
    private static readonly uint[] Table = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    /// <summary>Continues a CRC register (start with 0xFFFFFFFF, finish with ~) over <paramref name="data"/>.</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }
}
