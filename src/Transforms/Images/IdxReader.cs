using System.Buffers.Binary;
using System.IO.Compression;

namespace MLNetExt;

/// <summary>
/// An IDX file is not what it claims: bad magic number, a header whose counts exceed the file's length or the limits, a
/// truncated or damaged (gzip) file. The message names the file and the byte offset where the problem is.
/// </summary>
public sealed class IdxFormatException(string file, long offset, string message)
    : InputFormatException(file, 0, 0, offset >= 0 ? $"at byte {offset:N0}: {message}" : message)
{
    /// <summary>Byte offset (in the uncompressed data) of the problem, or −1 when it concerns the whole file.</summary>
    public long Offset { get; } = offset;
}

/// <summary>An IDX image file's contents: <c>Count</c> images of <c>Rows × Columns</c> bytes.</summary>
/// <param name="Pixels">Row-major bytes, image after image.</param>
/// <param name="Count">Number of images.</param>
/// <param name="Rows">Image height.</param>
/// <param name="Columns">Image width.</param>
public sealed record IdxImages(byte[] Pixels, int Count, int Rows, int Columns);

/// <summary>
/// Reads IDX files (the MNIST / Fashion-MNIST format: big-endian int32 header, magic 0x00000803 for images and
/// 0x00000801 for labels), plain or gzip-compressed (detected from the first bytes, whatever the file name).
/// </summary>
public static class IdxReader
{
    private const int ImagesMagic = 0x00000803, LabelsMagic = 0x00000801;

    /// <summary>
    /// Reads an images file. <paramref name="maxCount"/> limits how many images are read. The header's counts are checked
    /// against the file's length before anything is allocated; a file read to its end must hold exactly what the header
    /// announces (and, when gzip, match its CRC-32 trailer).
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IdxFormatException">The file is not a valid IDX images file; the message names the file and offset.</exception>
    public static IdxImages ReadImages(string path, int? maxCount = null)
    {
        using var stream = Open(path, out long available);
        int magic = ReadInt32(stream, path, 0, "magic number");
        if (magic != ImagesMagic)
            throw new IdxFormatException(path, 0, $"not an IDX images file: magic number 0x{magic:X8}, expected 0x{ImagesMagic:X8}" +
                (magic == LabelsMagic ? " (this is a labels file)" : ""));
        int count = ReadInt32(stream, path, 4, "image count"), rows = ReadInt32(stream, path, 8, "row count"), cols = ReadInt32(stream, path, 12, "column count");
        if (count < 0 || rows <= 0 || cols <= 0 || (long)rows * cols > 1 << 24)
            throw new IdxFormatException(path, 4, $"implausible IDX header: {count} images of {rows}×{cols}");
        CheckDeclared(path, 16, (long)count * rows * cols, available, $"{count:N0} images of {rows}×{cols} pixels");
        int n = Math.Min(count, Math.Max(0, maxCount ?? count));
        var pixels = new byte[(long)n * rows * cols];
        ReadExactly(stream, pixels, path, 16, $"{n} images of {rows}×{cols} pixels");
        if (n == count) ExpectEnd(stream, path, 16 + pixels.LongLength);
        return new IdxImages(pixels, n, rows, cols);
    }

    /// <summary>Reads a labels file. <paramref name="maxCount"/> limits how many labels are read (checks as for <see cref="ReadImages"/>).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IdxFormatException">The file is not a valid IDX labels file; the message names the file and offset.</exception>
    public static byte[] ReadLabels(string path, int? maxCount = null)
    {
        using var stream = Open(path, out long available);
        int magic = ReadInt32(stream, path, 0, "magic number");
        if (magic != LabelsMagic)
            throw new IdxFormatException(path, 0, $"not an IDX labels file: magic number 0x{magic:X8}, expected 0x{LabelsMagic:X8}" +
                (magic == ImagesMagic ? " (this is an images file)" : ""));
        int count = ReadInt32(stream, path, 4, "label count");
        if (count < 0) throw new IdxFormatException(path, 4, $"negative label count ({count})");
        CheckDeclared(path, 8, count, available, $"{count:N0} labels");
        var labels = new byte[Math.Min(count, Math.Max(0, maxCount ?? count))];
        ReadExactly(stream, labels, path, 8, $"{labels.Length} labels");
        if (labels.Length == count) ExpectEnd(stream, path, 8 + labels.LongLength);
        return labels;
    }

    // The header announces (in its count at byte 4) `bytes` of data after a `header`-byte header; refuse before allocating when the file cannot hold them.
    private static void CheckDeclared(string path, long header, long bytes, long available, string what)
    {
        if (bytes > Array.MaxLength)
            throw new IdxFormatException(path, 4, $"the header announces {what} ({bytes:N0} bytes), more than one array can hold");
        if (header + bytes > available)
            throw new IdxFormatException(path, 4, $"the header announces {what} ({header + bytes:N0} bytes with the header) but the file holds {available:N0} bytes: it is truncated or the count is wrong");
    }

    // After the announced data the file must end (which also makes a gzip stream check its trailer).
    private static void ExpectEnd(Stream s, string path, long offset)
    {
        Span<byte> one = stackalloc byte[1];
        int n;
        try { n = s.Read(one); }
        catch (IOException e) { throw new IdxFormatException(path, offset, $"cannot read the end of the file ({e.Message})"); }
        if (n != 0) throw new IdxFormatException(path, offset, "the file goes on after the data its header announces (wrong count, or two files joined)");
    }

    /// <summary>Writes images (and, with <paramref name="labels"/>, a labels file) in IDX format, gzip-compressed when the name ends in .gz.</summary>
    public static void Write(string imagesPath, IdxImages images, string? labelsPath = null, byte[]? labels = null)
    {
        using (var s = Create(imagesPath))
        {
            WriteInt32(s, ImagesMagic); WriteInt32(s, images.Count); WriteInt32(s, images.Rows); WriteInt32(s, images.Columns);
            s.Write(images.Pixels);
        }
        if (labelsPath is null || labels is null) return;
        using var l = Create(labelsPath);
        WriteInt32(l, LabelsMagic); WriteInt32(l, labels.Length);
        l.Write(labels);
    }

    private static Stream Create(string path)
    {
        Stream s = File.Create(path);
        return path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(s, CompressionLevel.Optimal) : s;
    }

    private static void WriteInt32(Stream s, int v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(b, v);
        s.Write(b);
    }

    // The (decompressed) data and how many bytes it holds: the file length, or for gzip the length its trailer announces
    // (exact below 4 GiB; the trailer is checked against the data when the file is read to its end).
    private static Stream Open(string path, out long available)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"IDX file '{path}' does not exist." +
                (path.Contains("fashion-mnist") ? " On Debian/Ubuntu install it with: sudo apt-get install dataset-fashion-mnist (or run scripts/setup.sh)." : ""), path);
        var stream = CheckedGzipStream.OpenMaybeGzip(path, message => new IdxFormatException(path, -1, message));
        available = stream is CheckedGzipStream gzip ? gzip.DeclaredLength : stream.Length;
        return new BufferedStream(stream, 1 << 16);
    }

    private static int ReadInt32(Stream s, string path, long offset, string what)
    {
        Span<byte> b = stackalloc byte[4];
        try { s.ReadExactly(b); }
        catch (EndOfStreamException) { throw new IdxFormatException(path, offset, $"the file ends inside the IDX header ({what})"); }
        return BinaryPrimitives.ReadInt32BigEndian(b);
    }

    private static void ReadExactly(Stream s, byte[] buffer, string path, long offset, string what)
    {
        try { s.ReadExactly(buffer); }
        catch (EndOfStreamException) { throw new IdxFormatException(path, offset, $"the file is truncated: the header announces {what} but the file ends early"); }
    }
}
