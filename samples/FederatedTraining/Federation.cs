using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.ML;
using MLNetExt;
using Spectre.Console;

namespace FederatedTraining;

/// <summary>
/// One federation on loopback: a <see cref="FederatedGrpcServer"/> over TLS and one <see cref="FederatedGrpcClient"/> per
/// site, each site training on its own rows in its own session of the same trainer. The server's test set measures the
/// global model each round.
/// </summary>
public sealed class Federation(MLContext ml, IDataView test, X509Certificate2 certificate)
{
    /// <summary>The server's TLS certificate (a development certificate for 127.0.0.1 and localhost here).</summary>
    public X509Certificate2 Certificate { get; } = certificate;

    /// <summary>What each client pins instead of trusting a certificate authority.</summary>
    public string Thumbprint { get; } = FederatedCertificates.Thumbprint(certificate);

    /// <summary>The server's per-round reports of the last run.</summary>
    public IReadOnlyList<FederatedRoundReport> Rounds { get; private set; } = Array.Empty<FederatedRoundReport>();

    /// <summary>
    /// Runs <paramref name="rounds"/> rounds of <paramref name="startSession"/>'s method: the sites train on
    /// <paramref name="siteData"/>; returns the final global model (built by the server's own session on
    /// <paramref name="serverData"/>, which only needs the schema) and the test accuracy after every round.
    /// </summary>
    public async Task<(MlpMulticlassTransformer Model, double[] Accuracy)> RunAsync(string title, Func<IDataView, FederatedSession<MlpMulticlassTransformer>> startSession,
        IDataView serverData, IReadOnlyList<IDataView> siteData, int rounds)
    {
        // One random key per site: the server knows them all, each site only its own.
        var keys = Enumerable.Range(0, siteData.Count).ToDictionary(i => $"site-{i}", _ => Convert.ToHexString(RandomNumberGenerator.GetBytes(32)));
        using var server = startSession(serverData);
        var accuracy = new double[rounds + 1];
        accuracy[0] = Accuracy(startSession, serverData, server.InitialGlobal());
        var sites = siteData.Select(startSession).ToList();
        MlpMulticlassTransformer model = null!;
        try
        {
            await AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .StartAsync(async ctx =>
                {
                    var bar = ctx.AddTask($"{title}: round 0/{rounds}, global accuracy {accuracy[0]:P1}", maxValue: rounds);
                    await using var host = await FederatedGrpcServer.StartAsync(server.InitialGlobal(), new FederatedServerOptions
                    {
                        Certificate = Certificate, Rounds = rounds, ClientKeys = keys, RoundDeadline = TimeSpan.FromSeconds(120),
                    });
                    var run = host.RunAsync();
                    var clients = sites.Select((site, i) => FederatedGrpcClient.RunAsync(new FederatedClientOptions
                    {
                        Server = host.Address, ClientId = $"site-{i}", Key = keys[$"site-{i}"], ServerCertificateThumbprint = Thumbprint,
                        Samples = site.ClientRows(0).Length,
                    }, (round, global, _) =>
                    {
                        // Every site receives the same global model at the start of a round: the first site reports how the
                        // previous round's aggregate scores on the server's test set, then all train locally.
                        if (i == 0 && round > 1)
                        {
                            accuracy[round - 1] = Accuracy(startSession, serverData, global);
                            bar.Value = round - 1;
                            bar.Description = $"{title}: round {round - 1}/{rounds}, global accuracy {accuracy[round - 1]:P1}";
                        }
                        var (delta, samples, _, _) = site.TrainClient(0, round, global);
                        return Task.FromResult<(float[], long)?>((delta, samples));
                    })).ToArray();
                    var final = await run;
                    await Task.WhenAll(clients);
                    Rounds = host.Rounds;
                    model = server.Complete(final, new TrainingHistory(Array.Empty<double>(), Array.Empty<double>(), rounds, false, 0, TimeSpan.Zero));
                    accuracy[rounds] = ml.MulticlassClassification.Evaluate(model.Transform(test)).MicroAccuracy;
                    bar.Value = rounds;
                    bar.Description = $"{title}: round {rounds}/{rounds}, global accuracy {accuracy[rounds]:P1}";
                });
        }
        finally
        {
            foreach (var site in sites) site.Dispose();
        }
        for (int r = 1; r <= rounds; r++)
        {
            var report = Rounds.FirstOrDefault(x => x.Round == r);
            AnsiConsole.MarkupLine($"  round {r}: global accuracy [bold]{accuracy[r]:P1}[/], accepted {string.Join(", ", report?.Accepted ?? Array.Empty<string>())}" +
                (report is { Rejected.Count: > 0 } ? $", refused {Markup.Escape(string.Join("; ", report.Rejected.Select(x => $"{x.ClientId}: {x.Reason}")))}" : ""));
        }
        return (model, accuracy);
    }

    // The test accuracy of a global parameter vector, through a fresh session of the same method (so the server's and
    // the sites' sessions are never touched while they train).
    private double Accuracy(Func<IDataView, FederatedSession<MlpMulticlassTransformer>> startSession, IDataView schemaData, float[] global)
    {
        using var session = startSession(schemaData);
        var model = session.Complete(global, new TrainingHistory(Array.Empty<double>(), Array.Empty<double>(), 0, false, 0, TimeSpan.Zero));
        return ml.MulticlassClassification.Evaluate(model.Transform(test)).MicroAccuracy;
    }
}
