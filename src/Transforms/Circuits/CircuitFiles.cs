using System.Text;

namespace MLNetExt;

/// <summary>Opens circuit files as text: plain, gzip (.gz), and a single-file tar inside gzip (how some flows ship <c>6_final.v.gz</c>).</summary>
public static class CircuitFiles
{
    /// <summary>A reader over the text of <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">When the file does not exist.</exception>
    /// <exception cref="CircuitFormatException">
    /// When the gzip data is damaged or truncated (its CRC-32 and length trailer is checked at the end of the text), or a
    /// tar header is malformed or its member truncated; the message names the file.
    /// </exception>
    public static TextReader OpenText(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Circuit file not found: {path}", path);
        string name = Path.GetFileName(path);
        CircuitFormatException Error(string message) => new(name, 0, 0, message);
        Stream stream = CheckedGzipStream.OpenMaybeGzip(path, Error);
        try
        {
            var buffered = new BufferedStream(stream, 1 << 16);
            var header = new byte[512];
            int read = ReadFully(buffered, header);
            if (read == 512 && Encoding.ASCII.GetString(header, 257, 5) == "ustar")
            {
                long size = TarMemberSize(header, Error);
                if (stream is FileStream plain && size > plain.Length - 512)
                    throw Error($"the tar header announces a {size:N0}-byte member but the file holds {plain.Length - 512:N0} bytes after the header");
                return new StreamReader(new LimitedStream(buffered, size, name), Encoding.UTF8);
            }
            return new StreamReader(new PrefixedStream(header, read, buffered), Encoding.UTF8);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    // The first member's size: an octal number at offset 124 (12 bytes, NUL- or space-terminated), after checking the
    // header checksum (offset 148: the byte sum of the header with the checksum field read as spaces).
    private static long TarMemberSize(byte[] header, Func<string, CircuitFormatException> error)
    {
        long Octal(int offset, int length, string field)
        {
            long value = 0;
            int digits = 0;
            int i = offset;
            while (i < offset + length && header[i] == ' ') i++;
            for (; i < offset + length && header[i] is >= (byte)'0' and <= (byte)'7'; i++, digits++)
            {
                if (value > (long.MaxValue >> 3)) throw error($"tar header: the {field} overflows");
                value = value * 8 + (header[i] - '0');
            }
            for (; i < offset + length; i++)
                if (header[i] is not (0 or (byte)' '))
                    throw error($"tar header: the {field} field '{Encoding.ASCII.GetString(header, offset, length).TrimEnd('\0')}' is not an octal number");
            if (digits == 0) throw error($"tar header: the {field} field is empty");
            return value;
        }
        long stored = Octal(148, 8, "checksum");
        long sum = 0;
        for (int i = 0; i < 512; i++) sum += i is >= 148 and < 156 ? ' ' : header[i];
        if (stored != sum) throw error($"tar header: checksum {stored} does not match the header's byte sum {sum} (damaged archive)");
        if (header[156] is not (0 or (byte)'0'))
            throw error($"tar header: the first member is not a regular file (type '{(char)header[156]}')");
        return Octal(124, 12, "size");
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
            if (n == 0) throw new CircuitFormatException(path, 0, 0, $"the archived file is truncated ({_remaining:N0} of {_length:N0} bytes missing)");
            _remaining -= n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
    }
}
