using MLNetExt.Fuzz;
using MLNetExt.Tests.Circuits;

namespace MLNetExt.Tests.Fuzz;

/// <summary>
/// Every reader over 60 seeded mutations of a real input (5 of each mutation kind): each must be refused with the
/// format's own exception naming the file, or read with a result the oracle accepts. No crash, silent wrong result,
/// memory blow-up (256 MB) or hang (10 s). The larger run is bench/ReaderFuzzBench.
/// </summary>
public sealed class ReaderFuzzTests : IDisposable
{
    private const int CasesPerFormat = 60;
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnx-fuzz").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> FormatNames => new() { "Liberty", "Verilog", "DEF", "SPEF", "CircuitOps CSV", "PragWorld JSONL", "IDX" };

    private static FuzzFormat? Find(string name, out string? skipped)
    {
        var root = ReaderFuzzer.RepositoryRoot(AppContext.BaseDirectory) ?? throw new InvalidOperationException("MLNetExt.sln not found above the test folder");
        var formats = ReaderFuzzer.Formats(SharedData.Circuits, root, out var skips);
        skipped = skips.FirstOrDefault(s => s.Contains(name, StringComparison.Ordinal));
        return formats.FirstOrDefault(f => f.Name == name);
    }

    [Theory]
    [MemberData(nameof(FormatNames))]
    public void MutatedRealInputsGiveClearErrorsOrRightResults(string name)
    {
        var format = Find(name, out var skipped);
        if (format is null)
        {
            Assert.NotNull(skipped); // only the shared circuit formats may be missing, and then with the reason
            return;
        }
        var cases = new ReaderFuzzer(_dir).Run(format, CasesPerFormat, seed: 1000);
        var bad = cases.Where(c => c.Outcome is FuzzOutcome.Crash or FuzzOutcome.Silent or FuzzOutcome.Memory or FuzzOutcome.Hang).ToList();
        Assert.True(bad.Count == 0, string.Join("\n", bad.Select(c => $"#{c.Index} {c.Mutation}: {c.Outcome}: {c.Detail}")));
        var tally = ReaderFuzzer.Tally(cases);
        Assert.Equal(CasesPerFormat, tally.Values.Sum());
        Assert.True(tally[FuzzOutcome.Clear] >= CasesPerFormat / 4, $"only {tally[FuzzOutcome.Clear]} of {CasesPerFormat} mutations were refused");
        // Every empty file and every duplicated item is refused.
        Assert.All(cases.Where(c => c.Mutation is Mutation.Empty or Mutation.DuplicateItem), c => Assert.Equal(FuzzOutcome.Clear, c.Outcome));
    }

    [Fact]
    public void TheOracleFlagsASilentlyWrongReader()
    {
        // A reader that accepts anything and returns its length: truncations and empty files come out as silent wrong results.
        var lenient = new FuzzFormat
        {
            Name = "lenient", FileName = "x.txt", Original = "a b c\nd e f\n"u8.ToArray(), Read = p => File.ReadAllText(p).Length.ToString(),
            Family = typeof(MLNetExt.InputFormatException),
        };
        var cases = new ReaderFuzzer(_dir).Run(lenient, ReaderFuzzer.Mutations.Length, seed: 5);
        Assert.Equal(FuzzOutcome.Silent, cases.Single(c => c.Mutation == Mutation.Empty).Outcome);
        Assert.Equal(FuzzOutcome.Silent, cases.Single(c => c.Mutation == Mutation.Truncate).Outcome);
        // A reader that throws a bare exception is a crash, not a clear error.
        var crashing = new FuzzFormat
        {
            Name = "crashing", FileName = "y.txt", Original = "1 2 3\n"u8.ToArray(),
            Read = p => File.ReadAllText(p).Length == 6 ? "ok" : throw new IndexOutOfRangeException(),
            Family = typeof(MLNetExt.InputFormatException),
        };
        Assert.Equal(FuzzOutcome.Crash, new ReaderFuzzer(_dir).Run(crashing, 1, seed: 5).Single().Outcome);
    }
}
