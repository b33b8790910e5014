using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace MLNetExt;

/// <summary>
/// The checkpoints of one multi-worker run in a directory: one state file per rank and step
/// (<c>co2-step{S}-rank{r}-of{N}.ckpt</c>) plus, per rank, a small manifest (<c>co2-rank{r}-of{N}.json</c>) naming the last
/// step that every rank has written completely, with the file's length and SHA-256.
/// </summary>
/// <remarks>
/// <para>Why a commit protocol: ranks write at the same step but not at the same instant, so a crash while they write
/// must not leave a mixture of steps that cannot be resumed. <see cref="Save"/> writes this rank's file (atomically),
/// waits until every rank has done so, only then moves its manifest to the new step, waits again, and only then deletes
/// its older files. Whatever the crash point, the newest step named by any manifest has a complete file on every rank
/// (or the previous one is still complete everywhere), and <see cref="TryResume"/> agrees on that step collectively.</para>
/// <para>Each rank reads and writes only its own files, so the directory may be shared by all ranks (one file system)
/// or be a local directory of the same path on every node.</para>
/// </remarks>
public sealed class DistributedCheckpointStore
{
    private const string Prefix = "co2";
    private readonly ICollectiveBackend _backend;

    /// <summary>Checkpoints of rank <c>backend.Rank</c> of <c>backend.Size</c> in <paramref name="directory"/>.</summary>
    public DistributedCheckpointStore(string directory, ICollectiveBackend backend)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(backend);
        Directory = Path.GetFullPath(directory);
        _backend = backend;
    }

    /// <summary>The checkpoint directory (full path).</summary>
    public string Directory { get; }

    /// <summary>This rank's manifest: the last step committed by every rank.</summary>
    public string ManifestPath => ManifestFor(_backend.Rank, _backend.Size);

    /// <summary>This rank's state file at <paramref name="step"/>.</summary>
    public string StateFileFor(long step) =>
        Path.Combine(Directory, string.Create(CultureInfo.InvariantCulture, $"{Prefix}-step{step:D10}-rank{_backend.Rank}-of{_backend.Size}.ckpt"));

    /// <summary>
    /// Writes this rank's state at the coordinator's current step and commits the step once every rank has written
    /// (collective: call it at the same step on every rank). Older state files of this rank are deleted afterwards.
    /// </summary>
    public void Save(DistributedCoordinator coordinator)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        var step = coordinator.StepsCompleted;
        var path = StateFileFor(step);
        AtomicFile.Write(path, coordinator.SaveCheckpoint);
        _backend.Barrier(); // every rank's file of this step is complete
        var manifest = new CheckpointManifest(step, _backend.Rank, _backend.Size, Path.GetFileName(path), new FileInfo(path).Length,
            Sha256Of(path), DateTime.UtcNow);
        AtomicFile.Write(ManifestPath, stream => JsonSerializer.Serialize(stream, manifest, ManifestJson.Default.CheckpointManifest));
        _backend.Barrier(); // every manifest names this step: older files are no longer needed by anyone
        foreach (var old in OwnStateFiles().Where(f => f.Step < step))
            File.Delete(old.Path);
        // Half-written files of a run that died mid-write (AtomicFile renames them when complete): never read, now removed.
        foreach (var partial in System.IO.Directory.EnumerateFiles(Directory, $"{Prefix}-step*{OwnSuffix}.tmp"))
            File.Delete(partial);
    }

    private string OwnSuffix => string.Create(CultureInfo.InvariantCulture, $"-rank{_backend.Rank}-of{_backend.Size}.ckpt");

    /// <summary>
    /// Resumes from the newest committed step (collective). Returns null when no rank has a checkpoint, so training starts
    /// afresh.
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// When the directory holds checkpoints of another number of ranks, this rank's file of the agreed step is missing,
    /// or its length or SHA-256 differs from the manifest; the message names the file.
    /// </exception>
    /// <remarks>Such an error concerns this rank only: the backend is marked failed (<see cref="ICollectiveBackend.Fail"/>), so
    /// disposing it ends the job at once rather than leaving the peers in a collective until their timeout.</remarks>
    public DistributedCoordinator? TryResume(IInnerLearner learner, DistributedTrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(learner);
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            return Resume(learner, options);
        }
        catch (InvalidDataException e)
        {
            _backend.Fail(e.Message);
            throw;
        }
    }

    private DistributedCoordinator? Resume(IInnerLearner learner, DistributedTrainingOptions options)
    {
        var manifest = ReadManifest();
        if (manifest is null)
            RequireNoCheckpointOfAnotherSize();
        var step = NewestStepOverRanks(manifest?.Step ?? -1);
        if (step < 0)
            return null;
        var path = StateFileFor(step);
        if (!File.Exists(path))
            throw new InvalidDataException(
                $"Rank {_backend.Rank}: the ranks' manifests commit step {step}, but this rank's checkpoint file {path} is missing. " +
                "Restore it, or delete the directory's co2-* files to start afresh.");
        if (manifest is not null && manifest.Step == step) // else this rank crashed between commit and manifest: no hash yet
            Verify(manifest, path);
        using var stream = File.OpenRead(path);
        return DistributedCoordinator.Resume(_backend, learner, options, stream);
    }

    private CheckpointManifest? ReadManifest()
    {
        if (!File.Exists(ManifestPath))
            return null;
        CheckpointManifest? manifest;
        try
        {
            using var stream = File.OpenRead(ManifestPath);
            manifest = JsonSerializer.Deserialize(stream, ManifestJson.Default.CheckpointManifest);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Rank {_backend.Rank}: the checkpoint manifest {ManifestPath} is not valid JSON ({e.Message}).", e);
        }
        if (manifest is null || manifest.Rank != _backend.Rank || manifest.Ranks != _backend.Size || manifest.Step < 0)
            throw new InvalidDataException($"Rank {_backend.Rank}: the checkpoint manifest {ManifestPath} does not describe rank {_backend.Rank} of {_backend.Size}.");
        return manifest;
    }

    private void RequireNoCheckpointOfAnotherSize()
    {
        if (!System.IO.Directory.Exists(Directory))
            return;
        var sizes = System.IO.Directory.EnumerateFiles(Directory, $"{Prefix}-rank*-of*.json")
            .Select(f => ParseManifestName(Path.GetFileName(f))).Where(s => s is not null && s != _backend.Size).Distinct().ToList();
        if (sizes.Count > 0)
            throw new InvalidDataException(
                $"{Directory} holds checkpoints of a run with {string.Join(" / ", sizes)} ranks, and this run has {_backend.Size}: " +
                $"resume with the same number of ranks (mpiexec -n {sizes[0]} or Workers = {sizes[0]}), or use another CheckpointDirectory.");
    }

    // The newest step named by any rank's manifest: a manifest names a step only after every rank's file of it was written.
    private long NewestStepOverRanks(long ownStep)
    {
        // Two exact float halves (20 bits each) carry a step count up to 2^40 through the float collectives.
        using var shard = _backend.Allocate(2);
        using var all = _backend.Allocate(2 * _backend.Size);
        var encoded = ownStep + 1;
        shard.Span[0] = encoded >> 20;
        shard.Span[1] = encoded & 0xFFFFF;
        _backend.AllGather(shard, all);
        long newest = 0;
        for (var r = 0; r < _backend.Size; r++)
            newest = Math.Max(newest, ((long)all.Span[2 * r] << 20) + (long)all.Span[2 * r + 1]);
        return newest - 1;
    }

    private void Verify(CheckpointManifest manifest, string path)
    {
        var length = new FileInfo(path).Length;
        if (length != manifest.Bytes || !string.Equals(Sha256Of(path), manifest.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException(
                $"Rank {_backend.Rank}: the checkpoint file {path} ({length} bytes) does not match its manifest {ManifestPath} " +
                $"({manifest.Bytes} bytes, SHA-256 {manifest.Sha256}): it was changed or damaged after it was written.");
    }

    private IEnumerable<(long Step, string Path)> OwnStateFiles()
    {
        var suffix = OwnSuffix;
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, $"{Prefix}-step*{suffix}"))
        {
            var name = Path.GetFileName(file);
            var digits = name[$"{Prefix}-step".Length..^suffix.Length];
            if (long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var step))
                yield return (step, file);
        }
    }

    private string ManifestFor(int rank, int size) =>
        Path.Combine(Directory, string.Create(CultureInfo.InvariantCulture, $"{Prefix}-rank{rank}-of{size}.json"));

    private static int? ParseManifestName(string name)
    {
        var of = name.LastIndexOf("-of", StringComparison.Ordinal);
        return of > 0 && int.TryParse(name.AsSpan(of + 3, name.Length - of - 3 - ".json".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var size)
            ? size : null;
    }

    private static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }
}

/// <summary>What one rank's manifest records about the last step committed by every rank.</summary>
/// <param name="Step">Inner steps completed at the checkpoint.</param>
/// <param name="Rank">The rank that wrote it.</param>
/// <param name="Ranks">Number of ranks of the run.</param>
/// <param name="File">The rank's state file of that step (in the same directory).</param>
/// <param name="Bytes">Its length.</param>
/// <param name="Sha256">Its SHA-256, hexadecimal.</param>
/// <param name="WrittenUtc">When the manifest was written.</param>
public sealed record CheckpointManifest(long Step, int Rank, int Ranks, string File, long Bytes, string Sha256, DateTime WrittenUtc);

[System.Text.Json.Serialization.JsonSerializable(typeof(CheckpointManifest))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true)]
internal sealed partial class ManifestJson : System.Text.Json.Serialization.JsonSerializerContext
{
}
