using System.Diagnostics;
using Xunit;

namespace MLNetExt.Tests.Docs;

/// <summary>
/// Code, docs, benchmark reports and file names speak of the product only: no numbered work periods, issue numbers or
/// names of outside tools. Runs scripts/check-product-words.sh (the same check CI runs) on the repository and fails
/// listing every hit as file:line.
/// </summary>
public sealed class ProductWordsTests
{
    [Fact]
    public void RepositoryHasNoProcessWords()
    {
        var root = RepositoryRoot(AppContext.BaseDirectory)
            ?? throw new InvalidOperationException("MLNetExt.sln not found above the test folder.");
        var script = Path.Combine(root, "scripts", "check-product-words.sh");
        Assert.True(File.Exists(script), $"{script} is missing.");

        var (code, output) = Run(script, root);
        Assert.True(code == 0, $"Process words found (write about the product only):{Environment.NewLine}{output}");
    }

    [Fact]
    public void CheckFlagsWorkPeriodsAndIssueNumbers_ButNotProductUsesOfSession()
    {
        var root = RepositoryRoot(AppContext.BaseDirectory)
            ?? throw new InvalidOperationException("MLNetExt.sln not found above the test folder.");
        var dir = Directory.CreateTempSubdirectory("mlnx-words").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "period.md"), "Figures\nas measured in session 16.\n");
            File.WriteAllText(Path.Combine(dir, "issue.md"), "Fixed for issue 28.\n");
            File.WriteAllText(Path.Combine(dir, "product.md"), "A federated training session; an ONNX Runtime InferenceSession.\n");
            File.WriteAllText(Path.Combine(dir, "report-s16-run.md"), "clean text\n");
            var (code, output) = Run(Path.Combine(root, "scripts", "check-product-words.sh"), dir);
            Assert.Equal(1, code);
            Assert.Contains("period.md:2:", output);
            Assert.Contains("issue.md:1:", output);
            Assert.Contains("report-s16-run.md", output);
            Assert.DoesNotContain("product.md", output);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private static (int ExitCode, string Output) Run(string script, string root)
    {
        var start = new ProcessStartInfo("bash") { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(root);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("bash could not be started.");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("check-product-words.sh did not finish within 2 minutes.");
        }
        process.WaitForExit();
        return (process.ExitCode, output.Result + errors.Result);
    }

    private static string? RepositoryRoot(string start)
    {
        var dir = new DirectoryInfo(start);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "MLNetExt.sln"))) dir = dir.Parent;
        return dir?.FullName;
    }
}
