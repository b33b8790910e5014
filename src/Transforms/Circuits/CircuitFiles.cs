using System.IO.Compression;
using System.Text;

namespace MLNetExt.Transforms.Circuits;

/// <summary>Opens circuit files as text: plain, gzip (.gz), and a single-file tar inside gzip (how some flows ship <c>6_final.v.gz</c>).</summary>
public static class CircuitFiles
{
    /// <summary>A reader over the text of <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">When the file does not exist.</exception>
    /// <exception cref="InvalidDataException">When a tar member is truncated.</exception>
    public static TextReader OpenText(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Circuit file not found: {path}", path);
        Stream stream = File.OpenRead(path);
        if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) stream = new GZipStream(stream, CompressionMode.Decompress);
        var buffered = new BufferedStream(stream, 1 << 16);
        var header = new byte[512];
        int read = ReadFully(buffered, header);
        if (read == 512 && Encoding.ASCII.GetString(header, 257, 5) == "ustar")
        {
            // A tar archive: the first member's size is an octal number at offset 124 (12 bytes); its data follows the header.
            var sizeText = Encoding.ASCII.GetString(header, 124, 12).Trim('\0', ' ');
            long size = Convert.ToInt64(sizeText, 8);
            return new StreamReader(new LimitedStream(buffered, size, path), Encoding.UTF8);
        }
        return new StreamReader(new PrefixedStream(header, read, buffered), Encoding.UTF8);
    }

    private static int ReadFully(Stream s, byte[] buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = s.Read(buffer, total, buffer.Length - total);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private sealed class PrefixedStream(byte[] prefix, int prefixLength, Stream rest) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position < prefixLength)
            {
                int n = Math.Min(count, prefixLength - _position);
                Array.Copy(prefix, _position, buffer, offset, n);
                _position += n;
                return n;
            }
            return rest.Read(buffer, offset, count);
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) rest.Dispose(); base.Dispose(disposing); }
    }

    private sealed class LimitedStream(Stream inner, long size, string path) : Stream
    {
        private readonly long _length = size;
        private long _remaining = size;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => _length;
        public override long Position { get => _length - _remaining; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_remaining <= 0) return 0;
            int n = inner.Read(buffer, offset, (int)Math.Min(count, _remaining));
            if (n == 0) throw new InvalidDataException($"{path}: the archived file is truncated ({_remaining} bytes missing).");
            _remaining -= n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
    }
}
