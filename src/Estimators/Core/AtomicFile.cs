namespace MLNetExt;

/// <summary>Writes files so that a crash mid-write leaves the previous version intact (checkpoints).</summary>
public static class AtomicFile
{
    /// <summary>
    /// Creates the folder if needed, lets <paramref name="write"/> fill <c>path.tmp</c>, then renames it over
    /// <paramref name="path"/>.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temporary = path + ".tmp";
        using (var stream = File.Create(temporary))
            write(stream);
        File.Move(temporary, path, overwrite: true);
    }
}
