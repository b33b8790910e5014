namespace MLNetExt;

/// <summary>One client's contribution to a round: its model delta (local − global) and how many samples produced it.</summary>
/// <param name="ClientId">Who sent it (used in rejection reasons and logs).</param>
/// <param name="Delta">Flat parameter delta, same order and length as the global vector.</param>
/// <param name="SampleCount">Training samples behind the update (FedAvg weights by it, capped by <see cref="AggregationOptions.SampleWeightCapMultiple"/>).</param>
public sealed record ClientUpdate(string ClientId, float[] Delta, long SampleCount);

/// <summary>How the server combines the accepted updates of a round.</summary>
public enum AggregationRule
{
    /// <summary>FedAvg: sample-weighted mean of the deltas (equals averaging the weights when the server LR is 1).</summary>
    FedAvg,
    /// <summary>FAL's form: plain mean of the deltas (no sample weighting), scaled by the server learning rate.</summary>
    MeanOfDeltas,
    /// <summary>Coordinate-wise median (robust to a minority of arbitrary updates).</summary>
    CoordinateMedian,
    /// <summary>Coordinate-wise trimmed mean: drop the <see cref="AggregationOptions.TrimFraction"/> largest and smallest values per coordinate.</summary>
    TrimmedMean,
    /// <summary>Krum / Multi-Krum: keep the update(s) closest to their n − f − 2 nearest neighbours.</summary>
    Krum,
}

/// <summary>
/// Server-side aggregation settings. The defaults defend against a poisoning minority: an update pointing away from the
/// coordinate-wise median of the round's other updates is left out (<see cref="MinimumCosineToMedian"/>), an update counts with at most
/// the median norm of the round's updates (<see cref="NormBoundMultiple"/>) and a FedAvg weight of at most the median
/// sample count (<see cref="SampleWeightCapMultiple"/>); non-finite and wrong-length updates are always refused.
/// <see cref="Undefended"/> turns the three defences off (plain FedAvg on whatever the clients claim).
/// </summary>
public sealed record AggregationOptions
{
    /// <summary>Plain aggregation without the poisoning bounds (the client's sample count and update norm are trusted).</summary>
    public static AggregationOptions Undefended => new()
    {
        NormBoundMultiple = double.PositiveInfinity, SampleWeightCapMultiple = double.PositiveInfinity, MinimumCosineToMedian = double.NegativeInfinity,
    };

    /// <summary>The rule (default FedAvg).</summary>
    public AggregationRule Rule { get; init; } = AggregationRule.FedAvg;
    /// <summary>η_global: global ← global + η·aggregate (1 = plain FedAvg).</summary>
    public float ServerLearningRate { get; init; } = 1f;
    /// <summary>Trimmed mean: fraction β dropped at each end per coordinate (Flower's default 0.2).</summary>
    public double TrimFraction { get; init; } = 0.2;
    /// <summary>Krum: number of Byzantine clients f tolerated (needs n &gt; 2f + 2).</summary>
    public int ByzantineClients { get; init; } = 1;
    /// <summary>Multi-Krum: how many lowest-score updates are averaged (1 = Krum).</summary>
    public int KrumSelected { get; init; } = 1;
    /// <summary>Updates whose L2 norm exceeds this are rejected (∞ = no absolute bound; the adaptive <see cref="NormBoundMultiple"/> still applies).</summary>
    public double MaxUpdateNorm { get; init; } = double.PositiveInfinity;
    /// <summary>
    /// Adaptive norm bound k: before combining, every accepted update whose L2 norm exceeds k × the median L2 norm of the
    /// round's accepted updates is scaled down to that norm (direction kept). One client then moves the global by at most its
    /// weight share × k × the median norm, whatever it sends. Default 1; ∞ turns the bound off.
    /// </summary>
    public double NormBoundMultiple { get; init; } = 1;
    /// <summary>
    /// FedAvg weight cap c: a client's weight is min(its sample count, c × the median sample count of the round's accepted
    /// updates), so a client claiming a huge count weighs no more than c typical clients. Default 1; ∞ trusts the counts.
    /// </summary>
    public double SampleWeightCapMultiple { get; init; } = 1;
    /// <summary>
    /// Direction check: with at least 3 accepted updates, an update whose cosine similarity with the coordinate-wise median
    /// of the round's other updates (of all three with exactly 3) is at most this value is left out of the aggregate
    /// (reported as rejected). A sign-flipped or
    /// otherwise reversed update has a negative cosine; honest updates of a round share a direction. Default 0 (leave out
    /// updates at a right angle or worse); −∞ turns the check off.
    /// </summary>
    public double MinimumCosineToMedian { get; init; }
    /// <summary>Fewest accepted updates needed to change the global model; fewer → the round keeps the old model.</summary>
    public int MinimumUpdates { get; init; } = 1;
}

/// <summary>An update the server refused, and why.</summary>
public sealed record UpdateRejection(string ClientId, string Reason);

/// <summary>The outcome of one aggregation.</summary>
/// <param name="Global">The new global parameters.</param>
/// <param name="Accepted">Client ids whose updates were used.</param>
/// <param name="Rejected">Refused updates with reasons.</param>
public sealed record AggregationResult(float[] Global, IReadOnlyList<string> Accepted, IReadOnlyList<UpdateRejection> Rejected)
{
    /// <summary>False when fewer than <see cref="AggregationOptions.MinimumUpdates"/> updates were accepted and the global model was kept.</summary>
    public bool Applied { get; init; } = true;
    /// <summary>Accepted clients whose update was scaled down to the adaptive norm bound.</summary>
    public IReadOnlyList<string> Clipped { get; init; } = Array.Empty<string>();
}

/// <summary>Validates client updates and combines them into the next global model; shared by the simulation and the gRPC server.</summary>
public static class FederatedAggregator
{
    /// <summary>Why <paramref name="update"/> must be refused, or null when it is acceptable.</summary>
    public static string? Validate(ClientUpdate update, int parameterCount, AggregationOptions options)
    {
        if (update.Delta is null) return "the update has no parameters";
        if (update.Delta.Length != parameterCount)
            return $"the update has {update.Delta.Length} parameters but the model has {parameterCount}";
        if (update.SampleCount <= 0) return $"the sample count is {update.SampleCount} (must be > 0)";
        for (int i = 0; i < update.Delta.Length; i++)
            if (!float.IsFinite(update.Delta[i])) return $"parameter {i} is {update.Delta[i]} (not finite)";
        double norm = Norm(update.Delta);
        if (norm > options.MaxUpdateNorm) return $"the update norm {norm:G4} exceeds the bound {options.MaxUpdateNorm:G4}";
        return null;
    }

    /// <summary>Validates every update, aggregates the accepted ones by <see cref="AggregationOptions.Rule"/> and applies the server step.</summary>
    public static AggregationResult Aggregate(float[] global, IReadOnlyList<ClientUpdate> updates, AggregationOptions options)
    {
        ArgumentNullException.ThrowIfNull(global);
        ArgumentNullException.ThrowIfNull(options);
        var accepted = new List<ClientUpdate>();
        var rejected = new List<UpdateRejection>();
        foreach (var u in updates)
        {
            var reason = Validate(u, global.Length, options);
            if (reason is null) accepted.Add(u);
            else rejected.Add(new UpdateRejection(u.ClientId, reason));
        }
        accepted = LeaveOutReversed(accepted, options, rejected);
        var next = (float[])global.Clone();
        var ids = accepted.Select(u => u.ClientId).ToList();
        if (accepted.Count < Math.Max(1, options.MinimumUpdates))
            return new AggregationResult(next, ids, rejected) { Applied = false };
        var (bounded, clipped) = Bound(accepted, options);
        var combined = Combine(bounded, global.Length, options);
        for (int i = 0; i < next.Length; i++) next[i] += options.ServerLearningRate * combined[i];
        return new AggregationResult(next, ids, rejected) { Clipped = clipped };
    }

    /// <summary>
    /// Applies the poisoning bounds to validated updates: caps each sample count at
    /// <see cref="AggregationOptions.SampleWeightCapMultiple"/> × their median and scales each delta whose norm exceeds
    /// <see cref="AggregationOptions.NormBoundMultiple"/> × their median norm down to it. Returns the bounded updates (same order)
    /// and the ids of the clipped ones.
    /// </summary>
    public static (IReadOnlyList<ClientUpdate> Updates, IReadOnlyList<string> Clipped) Bound(IReadOnlyList<ClientUpdate> updates, AggregationOptions options)
    {
        ArgumentNullException.ThrowIfNull(updates);
        ArgumentNullException.ThrowIfNull(options);
        if (options.NormBoundMultiple <= 0 || double.IsNaN(options.NormBoundMultiple))
            throw new ArgumentOutOfRangeException(nameof(options), options.NormBoundMultiple, "NormBoundMultiple must be > 0 (∞ turns the bound off).");
        if (options.SampleWeightCapMultiple <= 0 || double.IsNaN(options.SampleWeightCapMultiple))
            throw new ArgumentOutOfRangeException(nameof(options), options.SampleWeightCapMultiple, "SampleWeightCapMultiple must be > 0 (∞ turns the cap off).");
        if (updates.Count == 0) return (updates, Array.Empty<string>());
        double sampleCap = double.IsPositiveInfinity(options.SampleWeightCapMultiple)
            ? double.PositiveInfinity
            : Math.Max(1, options.SampleWeightCapMultiple * Median(updates.Select(u => (double)u.SampleCount)));
        var norms = updates.Select(u => Norm(u.Delta)).ToArray();
        double normCap = double.IsPositiveInfinity(options.NormBoundMultiple) ? double.PositiveInfinity : options.NormBoundMultiple * Median(norms);
        var result = new List<ClientUpdate>(updates.Count);
        var clipped = new List<string>();
        for (int c = 0; c < updates.Count; c++)
        {
            var u = updates[c];
            long samples = u.SampleCount > sampleCap ? (long)Math.Floor(sampleCap) : u.SampleCount;
            var delta = u.Delta;
            if (norms[c] > normCap)
            {
                double scale = normCap / norms[c];
                delta = new float[u.Delta.Length];
                for (int i = 0; i < delta.Length; i++) delta[i] = (float)(u.Delta[i] * scale);
                clipped.Add(u.ClientId);
            }
            result.Add(ReferenceEquals(delta, u.Delta) && samples == u.SampleCount ? u : u with { Delta = delta, SampleCount = samples });
        }
        return (result, clipped);
    }

    /// <summary>
    /// The updates whose cosine similarity with the coordinate-wise median of the <em>other</em> updates exceeds
    /// <see cref="AggregationOptions.MinimumCosineToMedian"/>; the others are added to <paramref name="rejected"/> with the
    /// cosine. Leaving the update itself out of its reference matters: with few clients an update is the median of many
    /// coordinates and would otherwise agree with itself. With exactly 3 updates the reference is the median of all three
    /// (the median of two others would be their mean, which one attacker can drag).
    /// </summary>
    private static List<ClientUpdate> LeaveOutReversed(List<ClientUpdate> updates, AggregationOptions options, List<UpdateRejection> rejected)
    {
        int n = updates.Count;
        if (n < 3 || double.IsNegativeInfinity(options.MinimumCosineToMedian)) return updates;
        int length = updates[0].Delta.Length;
        var dot = new double[n];
        var referenceNorm = new double[n];
        var order = new int[n];
        var values = new float[n];
        int rest = n - 1;
        for (int i = 0; i < length; i++)
        {
            for (int c = 0; c < n; c++) { order[c] = c; values[c] = updates[c].Delta[i]; }
            Array.Sort(values, order); // values sorted, order[k] = the client at rank k
            for (int rank = 0; rank < n; rank++)
            {
                // Median of the values without the one at `rank`: index k of the remaining array is k (k < rank) or k + 1.
                float At(int k) => values[k < rank ? k : k + 1];
                double median = n == 3 ? values[1] // the median of two others is their mean, which one attacker can drag: use all three
                    : rest % 2 == 1 ? At(rest / 2) : 0.5 * ((double)At(rest / 2 - 1) + At(rest / 2));
                int c = order[rank];
                dot[c] += updates[c].Delta[i] * median;
                referenceNorm[c] += median * median;
            }
        }
        var kept = new List<ClientUpdate>(n);
        for (int c = 0; c < n; c++)
        {
            double norm = Norm(updates[c].Delta), reference = Math.Sqrt(referenceNorm[c]);
            double cosine = norm > 0 && reference > 0 ? dot[c] / (norm * reference) : 0;
            if (cosine > options.MinimumCosineToMedian) kept.Add(updates[c]);
            else rejected.Add(new UpdateRejection(updates[c].ClientId,
                $"its direction disagrees with the median of the round's other updates (cosine {cosine:F3} ≤ MinimumCosineToMedian {options.MinimumCosineToMedian:G3})"));
        }
        return kept;
    }

    /// <summary>The L2 norm of <paramref name="values"/>, accumulated in double (finite for any finite floats).</summary>
    public static double Norm(float[] values)
    {
        double sum = 0;
        foreach (var v in values) sum += (double)v * v;
        return Math.Sqrt(sum);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    }

    /// <summary>The aggregate delta of already validated updates.</summary>
    public static float[] Combine(IReadOnlyList<ClientUpdate> updates, int length, AggregationOptions options)
    {
        if (updates.Count == 0) throw new ArgumentException("There are no updates to aggregate.", nameof(updates));
        var result = new float[length];
        switch (options.Rule)
        {
            case AggregationRule.FedAvg:
            {
                double total = updates.Sum(u => (double)u.SampleCount);
                var sum = new double[length];
                foreach (var u in updates)
                {
                    double w = u.SampleCount / total;
                    for (int i = 0; i < length; i++) sum[i] += w * u.Delta[i];
                }
                for (int i = 0; i < length; i++) result[i] = (float)sum[i];
                return result;
            }
            case AggregationRule.MeanOfDeltas:
                return Mean(updates, length);
            case AggregationRule.CoordinateMedian:
            case AggregationRule.TrimmedMean:
            {
                int n = updates.Count;
                int trim = options.Rule == AggregationRule.TrimmedMean ? (int)Math.Floor(options.TrimFraction * n) : 0;
                if (options.Rule == AggregationRule.TrimmedMean && 2 * trim >= n)
                    throw new ArgumentException($"Trimming {trim} of {n} updates at each end leaves none; lower TrimFraction.");
                var column = new float[n];
                for (int i = 0; i < length; i++)
                {
                    for (int c = 0; c < n; c++) column[c] = updates[c].Delta[i];
                    Array.Sort(column);
                    if (options.Rule == AggregationRule.CoordinateMedian)
                        result[i] = n % 2 == 1 ? column[n / 2] : 0.5f * (column[n / 2 - 1] + column[n / 2]);
                    else
                    {
                        double s = 0;
                        for (int c = trim; c < n - trim; c++) s += column[c];
                        result[i] = (float)(s / (n - 2 * trim));
                    }
                }
                return result;
            }
            case AggregationRule.Krum:
                return Mean(KrumSelect(updates, options.ByzantineClients, options.KrumSelected), length);
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Rule, "Unknown aggregation rule.");
        }
    }

    /// <summary>The <paramref name="selected"/> updates with the lowest Krum scores (sum of squared distances to the n − f − 2 nearest others).</summary>
    public static IReadOnlyList<ClientUpdate> KrumSelect(IReadOnlyList<ClientUpdate> updates, int byzantine, int selected = 1)
    {
        int n = updates.Count;
        if (n <= 2 * byzantine + 2)
            throw new ArgumentException($"Krum with f = {byzantine} needs more than {2 * byzantine + 2} updates; got {n}.");
        if (selected < 1 || selected > n) throw new ArgumentOutOfRangeException(nameof(selected), selected, $"Select between 1 and {n} updates.");
        var distance = new double[n, n];
        for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
        {
            double d = 0;
            var x = updates[a].Delta;
            var y = updates[b].Delta;
            for (int i = 0; i < x.Length; i++) { double diff = x[i] - y[i]; d += diff * diff; }
            distance[a, b] = distance[b, a] = d;
        }
        int neighbours = n - byzantine - 2;
        var scores = Enumerable.Range(0, n).Select(a =>
            Enumerable.Range(0, n).Where(b => b != a).Select(b => distance[a, b]).OrderBy(d => d).Take(neighbours).Sum()).ToArray();
        return Enumerable.Range(0, n).OrderBy(a => scores[a]).ThenBy(a => a).Take(selected).Select(a => updates[a]).ToList();
    }

    private static float[] Mean(IReadOnlyList<ClientUpdate> updates, int length)
    {
        var sum = new double[length];
        foreach (var u in updates)
            for (int i = 0; i < length; i++) sum[i] += u.Delta[i];
        return sum.Select(s => (float)(s / updates.Count)).ToArray();
    }
}
