using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt.Transforms.PragWorld;

namespace MLNetExt.PragWorld;

/// <summary>Options of <see cref="PragWorldCatalog.Evaluate(ITransformer, IDataView, PragWorldEvaluationOptions?)"/>.</summary>
public sealed class PragWorldEvaluationOptions
{
    /// <summary>
    /// The model output column holding the yes/no decision. null = the first of "PredictedLabel" (Boolean),
    /// "Probability" (Single) and "Score" (Single) — the ML.NET binary-classifier conventions.
    /// </summary>
    public string? PredictionColumnName { get; init; }

    /// <summary>A Single prediction means "yes" when above this; null = 0.5 for "Probability", 0 otherwise (a logit score).</summary>
    public float? Threshold { get; init; }
}

/// <summary>One scored benchmark row.</summary>
/// <param name="QuestionId">Shared by an original question and its altered variants.</param>
/// <param name="QuestionType">Question type name.</param>
/// <param name="Alteration">"Original" or the alteration name.</param>
/// <param name="Effect">None, Flip or Invariant.</param>
/// <param name="Label">Gold answer.</param>
/// <param name="Predicted">The model's yes/no answer.</param>
public sealed record ScoredQuestion(string QuestionId, string QuestionType, string Alteration, string Effect, bool Label, bool Predicted)
{
    /// <summary>True when the prediction equals the gold answer.</summary>
    public bool Correct => Label == Predicted;
}

/// <summary>Metrics of one alteration, paired with the originals of the same questions.</summary>
/// <param name="Alteration">Alteration name.</param>
/// <param name="Count">Altered rows.</param>
/// <param name="FlipCount">Rows whose gold answer the alteration flipped.</param>
/// <param name="Accuracy">Accuracy on the altered rows.</param>
/// <param name="OriginalAccuracy">Accuracy on the original rows of the same questions.</param>
/// <param name="Consistency">Share of altered rows whose prediction stayed the same (Invariant) or changed (Flip) with respect to the original's prediction.</param>
public sealed record AlterationMetrics(string Alteration, int Count, int FlipCount, double Accuracy, double OriginalAccuracy, double Consistency)
{
    /// <summary>Accuracy lost under the alteration: <see cref="OriginalAccuracy"/> − <see cref="Accuracy"/>.</summary>
    public double Drop => OriginalAccuracy - Accuracy;
}

/// <summary>Metrics of one question type.</summary>
/// <param name="QuestionType">Question type name.</param>
/// <param name="OriginalCount">Original rows.</param>
/// <param name="AlteredCount">Altered rows.</param>
/// <param name="OriginalAccuracy">Accuracy on original rows (NaN when none).</param>
/// <param name="AlteredAccuracy">Accuracy on altered rows (NaN when none).</param>
public sealed record QuestionTypeMetrics(string QuestionType, int OriginalCount, int AlteredCount, double OriginalAccuracy, double AlteredAccuracy)
{
    /// <summary><see cref="OriginalAccuracy"/> − <see cref="AlteredAccuracy"/>.</summary>
    public double Drop => OriginalAccuracy - AlteredAccuracy;
}

/// <summary>PragWorld metrics of a model on a benchmark (original and altered rows). Accuracies are fractions in [0, 1].</summary>
public sealed class PragWorldMetrics
{
    /// <summary>The scored rows the metrics were computed from (NotApplicable rows excluded).</summary>
    public required IReadOnlyList<ScoredQuestion> Rows { get; init; }

    /// <summary>Accuracy over all rows.</summary>
    public required double Accuracy { get; init; }

    /// <summary>Accuracy on rows whose gold answer is yes.</summary>
    public required double YesAccuracy { get; init; }

    /// <summary>Accuracy on rows whose gold answer is no.</summary>
    public required double NoAccuracy { get; init; }

    /// <summary>Accuracy on original rows.</summary>
    public required double OriginalAccuracy { get; init; }

    /// <summary>Accuracy on altered rows.</summary>
    public required double AlteredAccuracy { get; init; }

    /// <summary>Accuracy on altered rows whose gold answer flipped.</summary>
    public required double FlipAccuracy { get; init; }

    /// <summary>Accuracy on altered rows whose gold answer did not change.</summary>
    public required double InvariantAccuracy { get; init; }

    /// <summary>Share of questions whose original and every altered variant are all answered correctly (paper's robust accuracy).</summary>
    public required double RobustAccuracy { get; init; }

    /// <summary>Consistency over all altered rows (see <see cref="AlterationMetrics.Consistency"/>).</summary>
    public required double Consistency { get; init; }

    /// <summary>Per alteration, in <see cref="AlterationKind"/> order.</summary>
    public required IReadOnlyList<AlterationMetrics> PerAlteration { get; init; }

    /// <summary>Per question type, in <see cref="QuestionType"/> order.</summary>
    public required IReadOnlyList<QuestionTypeMetrics> PerQuestionType { get; init; }

    /// <summary>Computes the metrics from scored rows.</summary>
    /// <exception cref="ArgumentException">No original rows, or an original question id appears twice.</exception>
    public static PragWorldMetrics Compute(IEnumerable<ScoredQuestion> scored)
    {
        var rows = scored.Where(r => r.Effect != AlterationEffects.NotApplicable).ToList();
        var originals = rows.Where(r => r.Alteration == PragWorldQuestionRow.OriginalAlteration).ToList();
        if (originals.Count == 0) throw new ArgumentException("PragWorld evaluation needs original (unaltered) rows; the data has none.", nameof(scored));
        var originalById = new Dictionary<string, ScoredQuestion>();
        foreach (var o in originals)
        {
            if (!originalById.TryAdd(o.QuestionId, o))
                throw new ArgumentException($"Original question id '{o.QuestionId}' appears more than once.", nameof(scored));
        }
        var altered = rows.Where(r => r.Alteration != PragWorldQuestionRow.OriginalAlteration).ToList();
        // Altered rows whose original is present, with it: consistency and paired drop need both.
        var paired = altered.Where(a => originalById.ContainsKey(a.QuestionId)).Select(a => (Altered: a, Original: originalById[a.QuestionId])).ToList();

        static double AccuracyOf(IEnumerable<ScoredQuestion> subset)
        {
            var list = subset as IReadOnlyCollection<ScoredQuestion> ?? subset.ToList();
            return list.Count == 0 ? double.NaN : list.Count(r => r.Correct) / (double)list.Count;
        }
        static double ConsistencyOf(IReadOnlyCollection<(ScoredQuestion Altered, ScoredQuestion Original)> pairs) =>
            pairs.Count == 0 ? double.NaN
                : pairs.Count(p => (p.Altered.Effect == AlterationEffects.Flip) == (p.Altered.Predicted != p.Original.Predicted)) / (double)pairs.Count;

        var alterationOrder = Enum.GetNames<AlterationKind>().ToList();
        var perAlteration = paired.GroupBy(p => p.Altered.Alteration)
            .OrderBy(g => alterationOrder.IndexOf(g.Key) is var i && i < 0 ? int.MaxValue : i).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                var pairs = g.ToList();
                return new AlterationMetrics(g.Key, pairs.Count, pairs.Count(p => p.Altered.Effect == AlterationEffects.Flip),
                    AccuracyOf(pairs.Select(p => p.Altered)), AccuracyOf(pairs.Select(p => p.Original)), ConsistencyOf(pairs));
            }).ToList();

        var typeOrder = Enum.GetNames<QuestionType>().ToList();
        var perType = rows.GroupBy(r => r.QuestionType)
            .OrderBy(g => typeOrder.IndexOf(g.Key) is var i && i < 0 ? int.MaxValue : i).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                var o = g.Where(r => r.Alteration == PragWorldQuestionRow.OriginalAlteration).ToList();
                var a = g.Where(r => r.Alteration != PragWorldQuestionRow.OriginalAlteration).ToList();
                return new QuestionTypeMetrics(g.Key, o.Count, a.Count, AccuracyOf(o), AccuracyOf(a));
            }).ToList();

        var robust = originals.Count(o => o.Correct && altered.Where(a => a.QuestionId == o.QuestionId).All(a => a.Correct)) / (double)originals.Count;

        return new PragWorldMetrics
        {
            Rows = rows,
            Accuracy = AccuracyOf(rows),
            YesAccuracy = AccuracyOf(rows.Where(r => r.Label)),
            NoAccuracy = AccuracyOf(rows.Where(r => !r.Label)),
            OriginalAccuracy = AccuracyOf(originals),
            AlteredAccuracy = AccuracyOf(altered),
            FlipAccuracy = AccuracyOf(altered.Where(r => r.Effect == AlterationEffects.Flip)),
            InvariantAccuracy = AccuracyOf(altered.Where(r => r.Effect == AlterationEffects.Invariant)),
            RobustAccuracy = robust,
            Consistency = ConsistencyOf(paired),
            PerAlteration = perAlteration,
            PerQuestionType = perType,
        };
    }
}

/// <summary>PragWorld evaluation of any ML.NET model that answers yes/no: <c>mlContext.PragWorld().Evaluate(model, data)</c>.</summary>
public sealed class PragWorldCatalog
{
    private static readonly string[] PredictionConventions = ["PredictedLabel", "Probability", "Score"];

    internal PragWorldCatalog() { }

    /// <summary>Scores <paramref name="data"/> (rows with the <see cref="PragWorldQuestionRow"/> columns) with <paramref name="model"/> and computes the metrics.</summary>
    public PragWorldMetrics Evaluate(ITransformer model, IDataView data, PragWorldEvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Evaluate(model.Transform(data), options);
    }

    /// <summary>Computes the metrics from already scored rows (the <see cref="PragWorldQuestionRow"/> columns plus a prediction column).</summary>
    /// <exception cref="ArgumentException">A required column is missing or has an unusable type (named in the message).</exception>
    public PragWorldMetrics Evaluate(IDataView scored, PragWorldEvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(scored);
        options ??= new PragWorldEvaluationOptions();
        var schema = scored.Schema;
        var predictionName = options.PredictionColumnName ?? PredictionConventions.FirstOrDefault(n => schema.GetColumnOrNull(n) is not null)
            ?? throw new ArgumentException(
                $"The scored data has no yes/no prediction column: looked for {string.Join(", ", PredictionConventions)}; columns are {string.Join(", ", schema.Select(c => c.Name))}. Set PredictionColumnName.",
                nameof(scored));
        var prediction = schema.GetColumnOrNull(predictionName)
            ?? throw new ArgumentException($"Prediction column '{predictionName}' is not in the scored data.", nameof(scored));
        if (prediction.Type != BooleanDataViewType.Instance && prediction.Type != NumberDataViewType.Single)
            throw new ArgumentException($"Prediction column '{predictionName}' must be Boolean or Single, not {prediction.Type}.", nameof(scored));
        float threshold = options.Threshold ?? (predictionName == "Probability" ? 0.5f : 0f);

        string[] textColumns = ["QuestionId", "QuestionType", "Alteration", "AlterationEffect"];
        foreach (var name in textColumns)
        {
            if (schema.GetColumnOrNull(name) is not { } c || c.Type != TextDataViewType.Instance)
                throw new ArgumentException($"PragWorld evaluation needs a text column '{name}'.", nameof(scored));
        }
        if (schema.GetColumnOrNull("Label") is not { } label || label.Type != BooleanDataViewType.Instance)
            throw new ArgumentException("PragWorld evaluation needs a Boolean column 'Label'.", nameof(scored));

        var rows = new List<ScoredQuestion>();
        var columns = textColumns.Select(n => schema[n]).Append(label).Append(prediction).ToList();
        using (var cursor = scored.GetRowCursor(columns))
        {
            var text = textColumns.Select(n => cursor.GetGetter<ReadOnlyMemory<char>>(schema[n])).ToArray();
            var labelGetter = cursor.GetGetter<bool>(label);
            Func<bool> predicted;
            if (prediction.Type == BooleanDataViewType.Instance)
            {
                var getter = cursor.GetGetter<bool>(prediction);
                predicted = () => { bool v = false; getter(ref v); return v; };
            }
            else
            {
                var getter = cursor.GetGetter<float>(prediction);
                predicted = () => { float v = 0; getter(ref v); return v > threshold; };
            }
            var values = new ReadOnlyMemory<char>[text.Length];
            bool gold = false;
            while (cursor.MoveNext())
            {
                for (int i = 0; i < text.Length; i++) text[i](ref values[i]);
                labelGetter(ref gold);
                rows.Add(new ScoredQuestion(values[0].ToString(), values[1].ToString(), values[2].ToString(), values[3].ToString(), gold, predicted()));
            }
        }
        return PragWorldMetrics.Compute(rows);
    }
}

/// <summary>Entry point on <see cref="MLContext"/>.</summary>
public static class PragWorldMLContextExtensions
{
    /// <summary>PragWorld evaluation: <c>mlContext.PragWorld().Evaluate(model, data)</c>.</summary>
    public static PragWorldCatalog PragWorld(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new PragWorldCatalog();
    }
}
