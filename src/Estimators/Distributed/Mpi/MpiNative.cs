using System.Runtime.InteropServices;

namespace MLNetExt;

/// <summary>
/// The MPICH entry points the MPI transport uses, bound at run time from the first MPI library that loads.
/// </summary>
/// <remarks>
/// <para>Handles and constants are MPICH-ABI values (integer handles), copied from Debian 12's
/// <c>/usr/include/x86_64-linux-gnu/mpich/mpi.h</c> (MPICH 4.0.2) and checked at run time by the probe in the spec.
/// Open MPI uses pointer handles and a different ABI: it is not supported by this layer.</para>
/// <para>Why function pointers instead of <c>[DllImport]</c> + <c>NativeLibrary.SetDllImportResolver</c>:
/// only one resolver may be registered per assembly, and this assembly is shared with other components that may
/// need their own; binding the exports explicitly gives the same fallback list and environment override without
/// claiming that process-wide hook.</para>
/// </remarks>
internal static unsafe class MpiNative
{
    /// <summary>Environment variable naming the MPI shared library to load instead of the default candidates.</summary>
    public const string LibraryEnvironmentVariable = "MLNETEXT_MPI_LIBRARY";

    // Debian ships libmpich.so.12 (no libmpi.so.12); upstream MPICH and Intel MPI use libmpi.so.12;
    // the unversioned names exist only with the -dev packages.
    private static readonly string[] LibraryCandidates = ["libmpich.so.12", "libmpi.so.12", "libmpich.so", "libmpi.so"];

    public const int Success = 0;
    public const int CommWorld = 0x44000000;
    public const int Float = 0x4c00040a;
    public const int OpSum = 0x58000003;
    public const int ThreadSerialized = 2;
    public const int ThreadMultiple = 3;
    public const int ErrorsReturn = 0x54000001;
    public const int MaxErrorString = 512;
    public const int CommNull = 0x04000000;
    public const int CommTypeShared = 1;
    public const int InfoNull = 0x1c000000;
    public const int ModeNoCheck = 1024;
    public static readonly void* InPlace = (void*)-1;
    public static readonly void* StatusIgnore = (void*)1; // MPICH ABI: MPI_STATUS_IGNORE

    private static readonly Lazy<Exports> Bound = new(Bind);

    /// <summary>The bound entry points; throws <see cref="DllNotFoundException"/> with the names tried when none loads.</summary>
    public static Exports Api => Bound.Value;

    /// <summary>The loaded entry points and the library they came from.</summary>
    public sealed class Exports
    {
        public required string LibraryName { get; init; }
        public required delegate* unmanaged<int*, int> Initialized { get; init; }
        public required delegate* unmanaged<int*, byte***, int, int*, int> InitThread { get; init; }
        public required delegate* unmanaged<int*, int> Finalized { get; init; }
        public required delegate* unmanaged<int> Finalize { get; init; }
        public required delegate* unmanaged<int, int, int> Abort { get; init; }
        public required delegate* unmanaged<int, int*, int> CommRank { get; init; }
        public required delegate* unmanaged<int, int*, int> CommSize { get; init; }
        public required delegate* unmanaged<int, int, int> CommSetErrhandler { get; init; }
        public required delegate* unmanaged<void*, void*, int, int, int, int, int> Allreduce { get; init; }
        public required delegate* unmanaged<void*, void*, int, int, int, int, int> ReduceScatterBlock { get; init; }
        public required delegate* unmanaged<void*, int, int, void*, int, int, int, int> Allgather { get; init; }
        public required delegate* unmanaged<void*, int, int, int, int, int> Bcast { get; init; }
        public required delegate* unmanaged<int, int> Barrier { get; init; }
        public required delegate* unmanaged<int, int*, int> Ibarrier { get; init; }
        public required delegate* unmanaged<void*, void*, int, int, int, int, int*, int> Iallreduce { get; init; }
        public required delegate* unmanaged<void*, void*, int, int, int, int, int*, int> IreduceScatterBlock { get; init; }
        public required delegate* unmanaged<void*, int, int, void*, int, int, int, int*, int> Iallgather { get; init; }
        public required delegate* unmanaged<void*, int, int, int, int, int*, int> Ibcast { get; init; }
        public required delegate* unmanaged<int*, int*, void*, int> Test { get; init; }
        public required delegate* unmanaged<int, byte*, int*, int> ErrorString { get; init; }
        public required delegate* unmanaged<int, int, int, int, int*, int> CommSplitType { get; init; }
        public required delegate* unmanaged<int*, int> CommFree { get; init; }
        public required delegate* unmanaged<long, int, int, int, void*, int*, int> WinAllocateShared { get; init; }
        public required delegate* unmanaged<int, int, long*, int*, void*, int> WinSharedQuery { get; init; }
        public required delegate* unmanaged<int, int, int> WinLockAll { get; init; }
        public required delegate* unmanaged<int, int> WinUnlockAll { get; init; }
        public required delegate* unmanaged<int, int> WinSync { get; init; }
        public required delegate* unmanaged<int*, int> WinFree { get; init; }
    }

    /// <summary>
    /// Sets a variable in the native process environment (libc <c>setenv</c>), which native libraries read.
    /// <see cref="Environment.SetEnvironmentVariable(string, string)"/> only changes .NET's managed copy.
    /// </summary>
    public static void SetNativeEnvironmentVariable(string name, string value)
    {
        var setenv = (delegate* unmanaged<byte*, byte*, int, int>)LibC.Export("setenv");
        if (setenv == null)
            throw new DllNotFoundException("Could not bind setenv in the C library (libc.so.6) to set " + name + ".");
        var nameBytes = System.Text.Encoding.UTF8.GetBytes(name + "\0");
        var valueBytes = System.Text.Encoding.UTF8.GetBytes(value + "\0");
        fixed (byte* n = nameBytes)
        fixed (byte* v = valueBytes)
        {
            if (setenv(n, v, 1) != 0)
                throw new InvalidOperationException($"setenv({name}) failed.");
        }
    }

    /// <summary>MPI's text for an error code.</summary>
    public static string Describe(int errorCode)
    {
        var text = stackalloc byte[MaxErrorString];
        int length;
        return Api.ErrorString(errorCode, text, &length) == Success
            ? System.Text.Encoding.ASCII.GetString(text, length)
            : $"MPI error {errorCode}";
    }

    private static Exports Bind()
    {
        var overrideName = Environment.GetEnvironmentVariable(LibraryEnvironmentVariable);
        string[] candidates = string.IsNullOrWhiteSpace(overrideName) ? LibraryCandidates : [overrideName];
        foreach (var name in candidates)
        {
            if (!NativeLibrary.TryLoad(name, out var handle))
                continue;
            nint F(string export) => NativeLibrary.GetExport(handle, export);
            return new Exports
            {
                LibraryName = name,
                Initialized = (delegate* unmanaged<int*, int>)F("MPI_Initialized"),
                InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)F("MPI_Init_thread"),
                Finalized = (delegate* unmanaged<int*, int>)F("MPI_Finalized"),
                Finalize = (delegate* unmanaged<int>)F("MPI_Finalize"),
                Abort = (delegate* unmanaged<int, int, int>)F("MPI_Abort"),
                CommRank = (delegate* unmanaged<int, int*, int>)F("MPI_Comm_rank"),
                CommSize = (delegate* unmanaged<int, int*, int>)F("MPI_Comm_size"),
                CommSetErrhandler = (delegate* unmanaged<int, int, int>)F("MPI_Comm_set_errhandler"),
                Allreduce = (delegate* unmanaged<void*, void*, int, int, int, int, int>)F("MPI_Allreduce"),
                ReduceScatterBlock = (delegate* unmanaged<void*, void*, int, int, int, int, int>)F("MPI_Reduce_scatter_block"),
                Allgather = (delegate* unmanaged<void*, int, int, void*, int, int, int, int>)F("MPI_Allgather"),
                Bcast = (delegate* unmanaged<void*, int, int, int, int, int>)F("MPI_Bcast"),
                Barrier = (delegate* unmanaged<int, int>)F("MPI_Barrier"),
                Ibarrier = (delegate* unmanaged<int, int*, int>)F("MPI_Ibarrier"),
                Iallreduce = (delegate* unmanaged<void*, void*, int, int, int, int, int*, int>)F("MPI_Iallreduce"),
                IreduceScatterBlock = (delegate* unmanaged<void*, void*, int, int, int, int, int*, int>)F("MPI_Ireduce_scatter_block"),
                Iallgather = (delegate* unmanaged<void*, int, int, void*, int, int, int, int*, int>)F("MPI_Iallgather"),
                Ibcast = (delegate* unmanaged<void*, int, int, int, int, int*, int>)F("MPI_Ibcast"),
                Test = (delegate* unmanaged<int*, int*, void*, int>)F("MPI_Test"),
                ErrorString = (delegate* unmanaged<int, byte*, int*, int>)F("MPI_Error_string"),
                CommSplitType = (delegate* unmanaged<int, int, int, int, int*, int>)F("MPI_Comm_split_type"),
                CommFree = (delegate* unmanaged<int*, int>)F("MPI_Comm_free"),
                WinAllocateShared = (delegate* unmanaged<long, int, int, int, void*, int*, int>)F("MPI_Win_allocate_shared"),
                WinSharedQuery = (delegate* unmanaged<int, int, long*, int*, void*, int>)F("MPI_Win_shared_query"),
                WinLockAll = (delegate* unmanaged<int, int, int>)F("MPI_Win_lock_all"),
                WinUnlockAll = (delegate* unmanaged<int, int>)F("MPI_Win_unlock_all"),
                WinSync = (delegate* unmanaged<int, int>)F("MPI_Win_sync"),
                WinFree = (delegate* unmanaged<int*, int>)F("MPI_Win_free"),
            };
        }
        throw new DllNotFoundException(
            $"No MPI library could be loaded (tried {string.Join(", ", candidates)}). Install MPICH " +
            $"(Debian: apt-get install mpich libmpich-dev, or run scripts/setup.sh) or set {LibraryEnvironmentVariable} " +
            "to the path of an MPICH-ABI libmpi.");
    }
}
