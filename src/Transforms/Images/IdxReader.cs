using System.Buffers.Binary;
using System.IO.Compression;

namespace MLNetExt.Transforms.Images;

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

    /// <summary>Reads an images file. <paramref name="maxCount"/> limits how many images are read.</summary>
    public static IdxImages ReadImages(string path, int? maxCount = null)
    {
        using var stream = Open(path);
        int magic = ReadInt32(stream, path, "magic number");
        if (magic != ImagesMagic)
            throw new InvalidDataException($"'{path}' is not an IDX images file: magic number 0x{magic:X8}, expected 0x{ImagesMagic:X8}" +
                (magic == LabelsMagic ? " (this is a labels file)." : "."));
        int count = ReadInt32(stream, path, "image count"), rows = ReadInt32(stream, path, "row count"), cols = ReadInt32(stream, path, "column count");
        if (count < 0 || rows <= 0 || cols <= 0 || (long)rows * cols > 1 << 24)
            throw new InvalidDataException($"'{path}' has an implausible IDX header: {count} images of {rows}×{cols}.");
        int n = Math.Min(count, maxCount ?? count);
        var pixels = new byte[(long)n * rows * cols];
        ReadExactly(stream, pixels, path, $"{n} images of {rows}×{cols} pixels");
        return new IdxImages(pixels, n, rows, cols);
    }

    /// <summary>Reads a labels file. <paramref name="maxCount"/> limits how many labels are read.</summary>
    public static byte[] ReadLabels(string path, int? maxCount = null)
    {
        using var stream = Open(path);
        int magic = ReadInt32(stream, path, "magic number");
        if (magic != LabelsMagic)
            throw new InvalidDataException($"'{path}' is not an IDX labels file: magic number 0x{magic:X8}, expected 0x{LabelsMagic:X8}" +
                (magic == ImagesMagic ? " (this is an images file)." : "."));
        int count = ReadInt32(stream, path, "label count");
        if (count < 0) throw new InvalidDataException($"'{path}' has a negative label count ({count}).");
        var labels = new byte[Math.Min(count, maxCount ?? count)];
        ReadExactly(stream, labels, path, $"{labels.Length} labels");
        return labels;
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

    private static Stream Open(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"IDX file '{path}' does not exist." +
                (path.Contains("fashion-mnist") ? " On Debian/Ubuntu install it with: sudo apt-get install dataset-fashion-mnist (or run scripts/setup.sh)." : ""), path);
        var file = new BufferedStream(File.OpenRead(path), 1 << 16);
        Span<byte> head = stackalloc byte[2];
        int read = file.Read(head);
        file.Position = 0;
        return read == 2 && head[0] == 0x1F && head[1] == 0x8B ? new BufferedStream(new GZipStream(file, CompressionMode.Decompress), 1 << 16) : file;
    }

    private static int ReadInt32(Stream s, string path, string what)
    {
        Span<byte> b = stackalloc byte[4];
        try { s.ReadExactly(b); }
        catch (EndOfStreamException) { throw new InvalidDataException($"'{path}' ends inside the IDX header ({what})."); }
        catch (InvalidDataException e) { throw new InvalidDataException($"'{path}' is not valid gzip data: {e.Message}", e); }
        return BinaryPrimitives.ReadInt32BigEndian(b);
    }

    private static void ReadExactly(Stream s, byte[] buffer, string path, string what)
    {
        try { s.ReadExactly(buffer); }
        catch (EndOfStreamException) { throw new InvalidDataException($"'{path}' is truncated: the header announces {what} but the file ends early."); }
        catch (InvalidDataException e) { throw new InvalidDataException($"'{path}' is damaged (gzip): {e.Message}", e); }
    }
}
