using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt;

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

    /// <summary>How a row is classed as original or perturbed; <see cref="PragWorldPerturbedFlag.Alteration"/> by default.</summary>
    public PragWorldPerturbedFlag PerturbedFlag { get; init; }

    /// <summary>
    /// Score "cannot answer" as a third class: the gold answer "cannot answer" is right only for a "cannot answer"
    /// reply. Default false, the authors' scoring: a "cannot answer" gold answer counts as "no".
    /// </summary>
    public bool CannotAnswerAsClass { get; init; }
}

/// <summary>How the evaluator decides which rows are originals.</summary>
public enum PragWorldPerturbedFlag
{
    /// <summary>
    /// A row is original when its Alteration is "Original" (for the authors' files: "Perturbation?" trimmed is
    /// FALSE); robust accuracy groups rows by QuestionId.
    /// </summary>
    Alteration,

    /// <summary>
    /// The authors' metric script as released: a row is perturbed when its "Perturbation?" cell
    /// (<see cref="PragWorldQuestionRow.SourcePerturbationCell"/>), lower-cased but not trimmed, equals "true" — so
    /// "TRUE " reads as original — and robust accuracy's cases run, in row order, from each original row to the next.
    /// Rows without the cell fall back to <see cref="Alteration"/>.
    /// </summary>
    AuthorsLiteral,
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
    /// <summary>The gold answer as scored (a third class only when "cannot answer" is scored as a class).</summary>
    public PragWorldAnswer Gold { get; init; } = Label ? PragWorldAnswer.Yes : PragWorldAnswer.No;

    /// <summary>The model's answer; <see cref="PragWorldAnswer.Invalid"/> for a reply that is neither yes nor no.</summary>
    public PragWorldAnswer Response { get; init; } = Predicted ? PragWorldAnswer.Yes : PragWorldAnswer.No;

    /// <summary>Whether the row counts as perturbed (original/perturbed accuracy); by default, not an original.</summary>
    public bool Perturbed { get; init; } = Alteration != PragWorldQuestionRow.OriginalAlteration;

    /// <summary>The robust-accuracy case the row belongs to; by default its question id.</summary>
    public string CaseId { get; init; } = QuestionId;

    /// <summary>True when the answer equals the gold answer (an invalid reply is never correct).</summary>
    public bool Correct => Response == Gold && Response != PragWorldAnswer.Invalid;
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

    /// <summary>Accuracy on rows whose gold answer is no (with the authors' scoring, "cannot answer" rows included).</summary>
    public required double NoAccuracy { get; init; }

    /// <summary>Accuracy on rows whose gold answer is "cannot answer" when scored as a class; NaN when there are none.</summary>
    public double CannotAnswerAccuracy { get; init; } = double.NaN;

    /// <summary>Number of robust-accuracy cases (groups of an original and its altered rows).</summary>
    public int CaseCount { get; init; }

    /// <summary>Accuracy on original (unperturbed) rows.</summary>
    public required double OriginalAccuracy { get; init; }

    /// <summary>Accuracy on altered (perturbed) rows.</summary>
    public required double AlteredAccuracy { get; init; }

    /// <summary>Accuracy on rows whose effect is Flip (the gold answer flipped).</summary>
    public required double FlipAccuracy { get; init; }

    /// <summary>Accuracy on rows whose effect is Invariant (the gold answer did not change).</summary>
    public required double InvariantAccuracy { get; init; }

    /// <summary>Share of cases (an original and its altered variants) answered correctly in every row (paper's robust accuracy).</summary>
    public required double RobustAccuracy { get; init; }

    /// <summary>Consistency over all altered rows (see <see cref="AlterationMetrics.Consistency"/>).</summary>
    public required double Consistency { get; init; }

    /// <summary>Per alteration, in <see cref="AlterationKind"/> order.</summary>
    public required IReadOnlyList<AlterationMetrics> PerAlteration { get; init; }

    /// <summary>Per question type, in <see cref="QuestionType"/> order.</summary>
    public required IReadOnlyList<QuestionTypeMetrics> PerQuestionType { get; init; }

    /// <summary>Computes the metrics from scored rows (NotApplicable and Unknown-effect rows are left out).</summary>
    /// <exception cref="ArgumentException">No original rows, or an original question id appears twice.</exception>
    public static PragWorldMetrics Compute(IEnumerable<ScoredQuestion> scored)
    {
        var rows = scored.Where(r => r.Effect is not (AlterationEffects.NotApplicable or AlterationEffects.Unknown)).ToList();
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
                : pairs.Count(p => (p.Altered.Effect == AlterationEffects.Flip) == (p.Altered.Response != p.Original.Response)) / (double)pairs.Count;

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

        var cases = rows.GroupBy(r => r.CaseId).ToList();
        var robust = cases.Count(c => c.All(r => r.Correct)) / (double)cases.Count;
        var unperturbed = rows.Where(r => !r.Perturbed).ToList();
        var perturbed = rows.Where(r => r.Perturbed).ToList();

        return new PragWorldMetrics
        {
            Rows = rows,
            Accuracy = AccuracyOf(rows),
            YesAccuracy = AccuracyOf(rows.Where(r => r.Gold == PragWorldAnswer.Yes)),
            NoAccuracy = AccuracyOf(rows.Where(r => r.Gold == PragWorldAnswer.No)),
            CannotAnswerAccuracy = AccuracyOf(rows.Where(r => r.Gold == PragWorldAnswer.CannotAnswer)),
            OriginalAccuracy = AccuracyOf(unperturbed),
            AlteredAccuracy = AccuracyOf(perturbed),
            FlipAccuracy = AccuracyOf(rows.Where(r => r.Effect == AlterationEffects.Flip)),
            InvariantAccuracy = AccuracyOf(rows.Where(r => r.Effect == AlterationEffects.Invariant)),
            RobustAccuracy = robust,
            CaseCount = cases.Count,
            Consistency = ConsistencyOf(paired),
            PerAlteration = perAlteration,
            PerQuestionType = perType,
        };
    }
}

/// <summary>
/// PragWorld, reached with <c>mlContext.PragWorld()</c>: loading the benchmark files, the alterations that build it,
/// evaluation of any ML.NET model that answers yes/no, and layer analysis of the text Transformer. Data views it
/// creates belong to the context it was reached from.
/// </summary>
public sealed class PragWorldCatalog
{
    private static readonly string[] PredictionConventions = ["PredictedLabel", "Probability", "Score"];
    private readonly MLContext _context;

    internal PragWorldCatalog(MLContext context)
    {
        _context = context;
        Alterations = new PragWorldTransformsCatalog(context);
    }

    /// <summary>The seven alterations as ML.NET estimators (<c>Alterations.Negation()</c>, …) and <see cref="PragWorldTransformsCatalog.BuildBenchmark"/>.</summary>
    public PragWorldTransformsCatalog Alterations { get; }

    /// <summary>Loads a PragWorld JSONL file as an IDataView of <see cref="PragWorldQuestionRow"/> (one row per question).</summary>
    /// <exception cref="PragWorldFormatException">The file is malformed (file, line and JSON path named).</exception>
    public IDataView LoadJsonl(string path)
        => _context.Data.LoadFromEnumerable(PragWorldJsonl.Load(path).SelectMany(c => c.ToQuestionRows()).ToList()); // validate the whole file now

    /// <summary>
    /// Loads a PragWorld authors' CSV file (manual or synthetic layout) as an IDataView of
    /// <see cref="PragWorldQuestionRow"/> (one row per CSV record, in file order), repairing the known quirks;
    /// see <see cref="PragWorldCsv"/>.
    /// </summary>
    /// <exception cref="PragWorldCsvFormatException">The file is malformed (file, line and column named).</exception>
    public IDataView LoadCsv(string path, PragWorldCsvOptions? options = null) => LoadCsv(path, options, out _);

    /// <summary>As <see cref="LoadCsv(string, PragWorldCsvOptions?)"/>, also returning what was read and repaired.</summary>
    /// <exception cref="PragWorldCsvFormatException">The file is malformed (file, line and column named).</exception>
    public IDataView LoadCsv(string path, PragWorldCsvOptions? options, out PragWorldCsvReport report)
    {
        var data = PragWorldCsv.Load(path, options);
        report = data.Report;
        return _context.Data.LoadFromEnumerable(data.Rows);
    }

    /// <summary>Accuracy change per (layer, alteration) when each layer's MLP output of <paramref name="model"/> is zeroed in turn.</summary>
    public IReadOnlyList<LayerEffect> MlpAblation(TextTransformerBinaryTransformer model, IDataView benchmark)
        => PragWorldLayerAnalysis.MlpAblation(_context, model, benchmark);

    /// <summary>
    /// Direct-effect activation patching: for each altered row and its original (same QuestionId), the residual stream
    /// entering layer ℓ of the original run is replaced, at tokens aligned by longest common subsequence, by the altered
    /// run's; the effect is the change of the probability of the altered row's gold answer.
    /// </summary>
    public IReadOnlyList<LayerEffect> Patching(TextTransformerBinaryTransformer model, IReadOnlyList<PragWorldQuestionRow> rows, int maxPairsPerAlteration = 200)
        => PragWorldLayerAnalysis.Patching(model, rows, maxPairsPerAlteration);

    /// <summary>Layers whose MLP ablation raises the mean accuracy over the alterations (harmful layers), most harmful first.</summary>
    public IReadOnlyList<int> HarmfulLayers(IReadOnlyList<LayerEffect> mlpAblation, double minGain = 0.005)
        => PragWorldLayerAnalysis.HarmfulLayers(mlpAblation, minGain);

    /// <summary>Scores <paramref name="data"/> (rows with the <see cref="PragWorldQuestionRow"/> columns) with <paramref name="model"/> and computes the metrics.</summary>
    public PragWorldMetrics Evaluate(ITransformer model, IDataView data, PragWorldEvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Evaluate(model.Transform(data), options);
    }

    /// <summary>
    /// Computes the metrics from already scored rows (the <see cref="PragWorldQuestionRow"/> columns plus a
    /// prediction column: Boolean, a Single score or probability, or a text reply read as the authors' script reads
    /// it — a reply that is neither yes nor no counts as wrong).
    /// </summary>
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
        if (prediction.Type != BooleanDataViewType.Instance && prediction.Type != NumberDataViewType.Single && prediction.Type != TextDataViewType.Instance)
            throw new ArgumentException($"Prediction column '{predictionName}' must be Boolean, Single or Text, not {prediction.Type}.", nameof(scored));
        float threshold = options.Threshold ?? (predictionName == "Probability" ? 0.5f : 0f);
        return Score(scored, options, prediction, cursor =>
        {
            if (prediction.Type == BooleanDataViewType.Instance)
            {
                var getter = cursor.GetGetter<bool>(prediction);
                return () => { bool v = false; getter(ref v); return v ? PragWorldAnswer.Yes : PragWorldAnswer.No; };
            }
            if (prediction.Type == NumberDataViewType.Single)
            {
                var getter = cursor.GetGetter<float>(prediction);
                return () => { float v = 0; getter(ref v); return v > threshold ? PragWorldAnswer.Yes : PragWorldAnswer.No; };
            }
            var text = cursor.GetGetter<ReadOnlyMemory<char>>(prediction);
            return () => { ReadOnlyMemory<char> v = default; text(ref v); return PragWorldAnswers.ParseReply(v.ToString(), options.CannotAnswerAsClass); };
        });
    }

    /// <summary>
    /// Computes the metrics of free-text replies given in row order (e.g. an LLM's answers file, one reply per
    /// benchmark row), read as the authors' metric script reads them: a reply that is neither yes nor no counts as wrong.
    /// </summary>
    /// <exception cref="ArgumentException">The number of replies differs from the number of rows, or a required column is missing.</exception>
    public PragWorldMetrics EvaluateReplies(IDataView data, IEnumerable<string> replies, PragWorldEvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(replies);
        options ??= new PragWorldEvaluationOptions();
        var list = replies.ToList();
        int next = 0;
        var metrics = Score(data, options, null, _ => () =>
        {
            if (next >= list.Count) throw new ArgumentException($"There are {list.Count} replies but more rows than that.", nameof(replies));
            return PragWorldAnswers.ParseReply(list[next++], options.CannotAnswerAsClass);
        });
        if (next != list.Count) throw new ArgumentException($"There are {list.Count} replies for {next} rows.", nameof(replies));
        return metrics;
    }

    private static PragWorldMetrics Score(IDataView data, PragWorldEvaluationOptions options, DataViewSchema.Column? prediction,
        Func<DataViewRowCursor, Func<PragWorldAnswer>> predictor)
    {
        var schema = data.Schema;
        string[] textColumns = ["QuestionId", "QuestionType", "Alteration", "AlterationEffect"];
        foreach (var name in textColumns)
        {
            if (schema.GetColumnOrNull(name) is not { } c || c.Type != TextDataViewType.Instance)
                throw new ArgumentException($"PragWorld evaluation needs a text column '{name}'.", nameof(data));
        }
        if (schema.GetColumnOrNull("Label") is not { } label || label.Type != BooleanDataViewType.Instance)
            throw new ArgumentException("PragWorld evaluation needs a Boolean column 'Label'.", nameof(data));
        // Optional: the gold answer text (third class "cannot answer") and the authors' raw "Perturbation?" cell.
        var optional = new[] { "Answer", "SourcePerturbationCell" }
            .Select(n => schema.GetColumnOrNull(n) is { } c && c.Type == TextDataViewType.Instance ? c : (DataViewSchema.Column?)null).ToArray();

        var rows = new List<ScoredQuestion>();
        var columns = textColumns.Select(n => schema[n]).Append(label).Concat(optional.Where(c => c is not null).Select(c => c!.Value)).ToList();
        if (prediction is { } p) columns.Add(p);
        int caseNumber = 0;
        using (var cursor = data.GetRowCursor(columns))
        {
            var text = textColumns.Select(n => cursor.GetGetter<ReadOnlyMemory<char>>(schema[n])).ToArray();
            var optionalText = optional.Select(c => c is { } col ? cursor.GetGetter<ReadOnlyMemory<char>>(col) : null).ToArray();
            var labelGetter = cursor.GetGetter<bool>(label);
            var predicted = predictor(cursor);
            var values = new ReadOnlyMemory<char>[text.Length];
            ReadOnlyMemory<char> extra = default;
            bool gold = false;
            while (cursor.MoveNext())
            {
                for (int i = 0; i < text.Length; i++) text[i](ref values[i]);
                labelGetter(ref gold);
                string Optional(int i) { if (optionalText[i] is null) return ""; optionalText[i]!(ref extra); return extra.ToString(); }
                var goldAnswer = Optional(0) is { Length: > 0 } answerText && PragWorldAnswers.ParseGold(answerText) is { } a ? a : gold ? PragWorldAnswer.Yes : PragWorldAnswer.No;
                if (goldAnswer == PragWorldAnswer.CannotAnswer && !options.CannotAnswerAsClass) goldAnswer = PragWorldAnswer.No; // the authors' mapping
                var response = predicted();
                var alteration = values[2].ToString();
                var cell = Optional(1);
                bool perturbed = options.PerturbedFlag == PragWorldPerturbedFlag.AuthorsLiteral && cell.Length > 0
                    ? cell.ToLowerInvariant() == "true"
                    : alteration != PragWorldQuestionRow.OriginalAlteration;
                if (!perturbed) caseNumber++;
                var questionId = values[0].ToString();
                rows.Add(new ScoredQuestion(questionId, values[1].ToString(), alteration, values[3].ToString(), gold, response == PragWorldAnswer.Yes)
                {
                    Gold = goldAnswer,
                    Response = response,
                    Perturbed = perturbed,
                    CaseId = options.PerturbedFlag == PragWorldPerturbedFlag.AuthorsLiteral ? caseNumber.ToString(System.Globalization.CultureInfo.InvariantCulture) : questionId,
                });
            }
        }
        return PragWorldMetrics.Compute(rows);
    }
}

/// <summary>Entry point on <see cref="MLContext"/>.</summary>
public static class PragWorldMLContextExtensions
{
    /// <summary>PragWorld loading, alterations, evaluation and layer analysis, using this context: <c>mlContext.PragWorld().Evaluate(model, data)</c>.</summary>
    public static PragWorldCatalog PragWorld(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new PragWorldCatalog(mlContext);
    }
}
