using Microsoft.ML;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>Effect of one layer on one alteration.</summary>
/// <param name="Layer">0-based encoder layer.</param>
/// <param name="Alteration">Alteration name ("Original" for unaltered rows).</param>
/// <param name="Delta">MLP ablation: accuracy with the layer's MLP zeroed minus the base accuracy (positive = the layer hurts).
/// Patching: mean change of p(altered gold) when the layer's input comes from the altered run (positive = the layer carries the alteration).</param>
/// <param name="Count">Rows (or original/altered pairs) behind the value.</param>
public sealed record LayerEffect(int Layer, string Alteration, double Delta, int Count);

/// <summary>
/// The dual-perspective layer analysis of PragWorld for our text Transformer: MLP zero-out ablation (a layer whose
/// ablation raises accuracy is harmful) and direct-effect activation patching from the altered into the original run at
/// token positions aligned by longest common subsequence.
/// </summary>
public static class PragWorldLayerAnalysis
{
    /// <summary>Accuracy change per (layer, alteration) when each layer's MLP output is zeroed in turn.</summary>
    internal static IReadOnlyList<LayerEffect> MlpAblation(MLContext ml, TextTransformerBinaryTransformer model, IDataView benchmark)
    {
        var catalog = ml.PragWorld();
        var baseline = catalog.Evaluate(model, benchmark);
        var effects = new List<LayerEffect>();
        var layers = model.Encoder.EncoderLayers;
        for (int l = 0; l < layers.Count; l++)
        {
            layers[l].ZeroMlp = true;
            try
            {
                var ablated = catalog.Evaluate(model, benchmark);
                effects.Add(new LayerEffect(l, PragWorldQuestionRow.OriginalAlteration, ablated.OriginalAccuracy - baseline.OriginalAccuracy,
                    baseline.Rows.Count(r => r.Alteration == PragWorldQuestionRow.OriginalAlteration)));
                foreach (var a in ablated.PerAlteration)
                {
                    var b = baseline.PerAlteration.Single(x => x.Alteration == a.Alteration);
                    effects.Add(new LayerEffect(l, a.Alteration, a.Accuracy - b.Accuracy, a.Count));
                }
            }
            finally { layers[l].ZeroMlp = false; }
        }
        return effects;
    }

    /// <summary>
    /// Direct-effect patching: for each altered row and its original (same QuestionId), runs the original text with the
    /// residual stream entering layer ℓ replaced, at aligned tokens, by the altered run's, and measures the change of the
    /// probability the model gives to the altered row's gold answer.
    /// </summary>
    internal static IReadOnlyList<LayerEffect> Patching(TextTransformerBinaryTransformer model, IReadOnlyList<PragWorldQuestionRow> rows, int maxPairsPerAlteration = 200)
    {
        var encoder = model.Encoder;
        int length = encoder.Shape.MaxLength;
        var originals = rows.Where(r => r.Alteration == PragWorldQuestionRow.OriginalAlteration).GroupBy(r => r.QuestionId).ToDictionary(g => g.Key, g => g.First());
        var pairs = rows.Where(r => r.Alteration != PragWorldQuestionRow.OriginalAlteration && r.AlterationEffect != AlterationEffects.NotApplicable && originals.ContainsKey(r.QuestionId))
            .GroupBy(r => r.Alteration).SelectMany(g => g.Take(maxPairsPerAlteration)).ToList();
        var effects = new List<LayerEffect>();
        if (pairs.Count == 0) return effects;

        float[] Encode(PragWorldQuestionRow r)
        {
            var ids = new float[length];
            model.Tokenizer.Encode(model.Text.TextOf(column => Field(r, column)), ids);
            return ids;
        }

        var original = pairs.Select(p => Encode(originals[p.QuestionId])).ToArray();
        var altered = pairs.Select(Encode).ToArray();
        var gold = pairs.Select(p => p.Label).ToArray();
        var delta = new double[encoder.LayerCount, pairs.Count];
        bool wasTraining = encoder.training;
        encoder.eval();
        try
        {
            // Chunks with their own dispose scope: a whole benchmark at once would keep every attention map alive.
            for (int start = 0; start < pairs.Count; start += PatchBatch)
            {
                int n = Math.Min(PatchBatch, pairs.Count - start);
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var device = model.Device;
                var origIds = torch.tensor(original.Skip(start).Take(n).SelectMany(x => x).ToArray(), new long[] { n, length }).to(device);
                var altIds = torch.tensor(altered.Skip(start).Take(n).SelectMany(x => x).ToArray(), new long[] { n, length }).to(device);
                var chunkGold = gold.AsSpan(start, n).ToArray();
                encoder.CaptureLayerInputs = true;
                var baseP = GoldProbability(encoder.call(origIds), chunkGold);
                encoder.call(altIds);
                var altInputs = encoder.LayerInputs.ToArray();
                encoder.CaptureLayerInputs = false;

                // Aligned positions: token i of the original takes token j of the altered run where an LCS matches them.
                var mask = new float[n * length];
                var source = new long[n * length];
                for (int p = 0; p < n; p++)
                    foreach (var (i, j) in Align(original[start + p], altered[start + p]))
                    {
                        mask[p * length + i] = 1;
                        source[p * length + i] = j;
                    }
                var maskT = torch.tensor(mask, new long[] { n, length }).to(device);
                var index = torch.tensor(source, new long[] { n, length, 1 }).to(device);
                for (int l = 0; l < encoder.LayerCount; l++)
                {
                    var replacement = altInputs[l].gather(1, index.expand(-1, -1, altInputs[l].shape[2]));
                    encoder.ResidualPatch = (l, replacement, maskT);
                    var change = (GoldProbability(encoder.call(origIds), chunkGold) - baseP).to(CPU).data<float>().ToArray();
                    encoder.ResidualPatch = null;
                    for (int p = 0; p < n; p++) delta[l, start + p] = change[p];
                }
            }
        }
        finally
        {
            encoder.CaptureLayerInputs = false;
            encoder.ResidualPatch = null;
            encoder.train(wasTraining);
        }
        for (int l = 0; l < encoder.LayerCount; l++)
            foreach (var g in pairs.Select((r, k) => (r.Alteration, k)).GroupBy(x => x.Alteration))
                effects.Add(new LayerEffect(l, g.Key, g.Average(x => delta[l, x.k]), g.Count()));
        return effects;
    }

    private const int PatchBatch = 64;

    // The model's input columns, read from a question row the way ML.NET would read them from the IDataView.
    private static string Field(PragWorldQuestionRow r, string column) => column switch
    {
        nameof(PragWorldQuestionRow.Conversation) => r.Conversation,
        nameof(PragWorldQuestionRow.Question) => r.Question,
        _ => throw new ArgumentException($"Patching reads the model's text columns from question rows; '{column}' is not Conversation or Question."),
    };

    private static Tensor GoldProbability(Tensor logits, bool[] gold)
    {
        var p = torch.sigmoid(logits.reshape(-1));
        var g = torch.tensor(gold.Select(x => x ? 1f : 0f).ToArray()).to(p.device);
        return g * p + (1 - g) * (1 - p);
    }

    /// <summary>Pairs (i, j) of equal non-padding tokens on a longest common subsequence of <paramref name="a"/> and <paramref name="b"/>.</summary>
    public static IReadOnlyList<(int I, int J)> Align(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = Used(a), m = Used(b);
        var lcs = new int[n + 1, m + 1];
        for (int i = n - 1; i >= 0; i--)
            for (int j = m - 1; j >= 0; j--)
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
        var pairs = new List<(int, int)>();
        for (int i = 0, j = 0; i < n && j < m;)
        {
            if (a[i] == b[j]) { pairs.Add((i, j)); i++; j++; }
            else if (lcs[i + 1, j] >= lcs[i, j + 1]) i++;
            else j++;
        }
        return pairs;
    }

    private static int Used(ReadOnlySpan<float> ids)
    {
        int n = ids.Length;
        while (n > 0 && ids[n - 1] == WordTokenizer.Pad) n--;
        return n;
    }

    /// <summary>Layers whose MLP ablation raises the mean accuracy over the alterations (harmful layers), most harmful first.</summary>
    internal static IReadOnlyList<int> HarmfulLayers(IReadOnlyList<LayerEffect> mlpAblation, double minGain = 0.005)
        => mlpAblation.Where(e => e.Alteration != PragWorldQuestionRow.OriginalAlteration).GroupBy(e => e.Layer)
            .Select(g => (Layer: g.Key, Gain: g.Average(e => e.Delta))).Where(x => x.Gain > minGain)
            .OrderByDescending(x => x.Gain).Select(x => x.Layer).ToList();

    /// <summary>
    /// The layer × alteration grid of <paramref name="effects"/> for a heat map: rows are layers, the last layer first,
    /// columns are alterations in order of first appearance, cells the effects' <see cref="LayerEffect.Delta"/>.
    /// </summary>
    public static (string[] RowLabels, string[] ColumnLabels, double[,] Values) HeatMapGrid(IReadOnlyList<LayerEffect> effects)
    {
        var alterations = effects.Select(e => e.Alteration).Distinct().ToList();
        int layers = effects.Max(e => e.Layer) + 1;
        var values = new double[layers, alterations.Count];
        foreach (var e in effects) values[layers - 1 - e.Layer, alterations.IndexOf(e.Alteration)] = e.Delta;
        return (Enumerable.Range(0, layers).Select(i => $"layer {layers - 1 - i}").ToArray(), alterations.ToArray(), values);
    }

    /// <summary>Writes a layer × alteration heat map (SVG) of <paramref name="effects"/>, the last layer at the top.</summary>
    public static void WriteHeatMap(IReadOnlyList<LayerEffect> effects, string path, string title)
    {
        var (rows, columns, values) = HeatMapGrid(effects);
        SvgChart.Heatmap(path, title, rows, columns, values);
    }
}
