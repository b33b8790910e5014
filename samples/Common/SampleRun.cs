namespace MLNetExt.Samples;

/// <summary>
/// The command line and the checks of one sample run: <c>--smoke</c> selects tiny settings (seconds, for CI), the other
/// arguments are the sample's own. Every failed <see cref="Check"/> is printed and makes <see cref="ExitCode"/> 1.
/// </summary>
public sealed class SampleRun
{
    /// <summary>Exit code of a sample whose data is absent: not a failure, nothing was run.</summary>
    public const int SkippedExitCode = 3;

    private readonly List<string> _failures = new();

    private SampleRun(bool smoke, string[] arguments, string name)
    {
        Smoke = smoke;
        Arguments = arguments;
        OutputDirectory = Path.Combine(Path.GetTempPath(), name);
        Directory.CreateDirectory(OutputDirectory);
    }

    /// <summary>True with <c>--smoke</c>: tiny data and epochs, every step still runs.</summary>
    public bool Smoke { get; }

    /// <summary>The arguments other than <c>--smoke</c>.</summary>
    public string[] Arguments { get; }

    /// <summary>Where the sample writes its model files (a fixed folder in the temporary directory).</summary>
    public string OutputDirectory { get; }

    /// <summary>The failed checks so far.</summary>
    public IReadOnlyList<string> Failures => _failures;

    /// <summary>0 when every check passed, 1 otherwise.</summary>
    public int ExitCode => _failures.Count == 0 ? 0 : 1;

    /// <summary>Reads <paramref name="args"/>; files go to <c>&lt;temp&gt;/<paramref name="outputFolder"/></c>.</summary>
    public static SampleRun Parse(string[] args, string outputFolder) =>
        new(args.Contains("--smoke"), args.Where(a => a != "--smoke").ToArray(), outputFolder);

    /// <summary>Positional argument <paramref name="index"/> as an integer, or <paramref name="normal"/> / <paramref name="smoke"/>.</summary>
    public int Int(int index, int normal, int smoke) => Arguments.Length > index ? int.Parse(Arguments[index]) : Smoke ? smoke : normal;

    /// <summary>Positional argument <paramref name="index"/>, or <paramref name="fallback"/>.</summary>
    public string Text(int index, string fallback) => Arguments.Length > index ? Arguments[index] : fallback;

    /// <summary>Records <paramref name="what"/> as failed unless <paramref name="passed"/>; prints failures at once.</summary>
    public bool Check(bool passed, string what)
    {
        if (!passed)
        {
            _failures.Add(what);
            Console.Error.WriteLine($"CHECK FAILED: {what}");
        }
        return passed;
    }

    /// <summary>Checks that two score vectors agree within <paramref name="tolerance"/> and returns the largest difference.</summary>
    public double CheckClose(IReadOnlyList<float> expected, IReadOnlyList<float> actual, double tolerance, string what)
    {
        double max = expected.Count == actual.Count ? 0 : double.PositiveInfinity;
        for (int i = 0; i < Math.Min(expected.Count, actual.Count); i++)
        {
            double d = Math.Abs(expected[i] - actual[i]);
            if (double.IsNaN(d) && !(float.IsNaN(expected[i]) && float.IsNaN(actual[i]))) d = double.PositiveInfinity;
            if (d > max) max = d;
        }
        Check(max <= tolerance, $"{what}: max |difference| {max:E2} > {tolerance:E0} (lengths {expected.Count} and {actual.Count})");
        return max;
    }

    /// <summary>Prints the result line and returns <see cref="ExitCode"/>.</summary>
    public int Finish()
    {
        Console.WriteLine(_failures.Count == 0 ? "All steps passed." : $"{_failures.Count} check(s) failed: {string.Join("; ", _failures)}");
        return ExitCode;
    }

    /// <summary>Prints why the sample cannot run here and returns <see cref="SkippedExitCode"/>.</summary>
    public static int Skip(string reason)
    {
        Console.WriteLine($"SKIPPED: {reason}");
        return SkippedExitCode;
    }
}
