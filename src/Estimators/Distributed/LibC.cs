using System.Runtime.InteropServices;

namespace MLNetExt;

/// <summary>Entry points of the Linux C library, bound at run time (for what .NET does not expose).</summary>
internal static class LibC
{
    /// <summary>The address of libc's export <paramref name="name"/>, or zero when not on Linux or not found.</summary>
    public static nint Export(string name) =>
        OperatingSystem.IsLinux() && NativeLibrary.TryLoad("libc.so.6", out var libc) && NativeLibrary.TryGetExport(libc, name, out var export)
            ? export
            : 0;
}
