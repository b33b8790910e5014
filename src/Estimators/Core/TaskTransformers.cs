using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>
/// A multiclass classifier transformer over a module that maps [N, FeatureSize] features to [N, classes] logits.
/// Outputs ML.NET's multiclass columns: <c>Score</c> (class probabilities, slot names = class names) and
/// <c>PredictedLabel</c> (key typed like the training label; 0, ML.NET's missing key, when the row's scores are NaN, for
/// example because its features are not finite). ONNX: <c>Score</c> [N, classes] and <c>PredictedLabel</c>
/// (int64, 0-based class index, −1 when missing) [N].
/// </summary>
public abstract class TorchMulticlassTransformer : TorchModelTransformer
{
    private readonly ScoreColumn[] _columns;

    /// <summary>Creates the transformer.</summary>
    protected TorchMulticlassTransformer(IHostEnvironment env, string methodName, string featureColumnName, int featureSize,
        nn.Module<Tensor, Tensor> module, int classCount, IReadOnlyList<string>? classNames)
        : this(env, methodName, new FloatVectorInput(featureColumnName, featureSize), module, classCount, classNames) { }

    /// <summary>Creates the transformer reading its rows through <paramref name="input"/>.</summary>
    protected TorchMulticlassTransformer(IHostEnvironment env, string methodName, IModelInput input,
        nn.Module<Tensor, Tensor> module, int classCount, IReadOnlyList<string>? classNames)
        : base(env, methodName, input, module)
    {
        if (classNames != null && classNames.Count != classCount)
            throw new ArgumentException($"{classNames.Count} class names were given for {classCount} classes.");
        ClassCount = classCount;
        ClassNames = classNames;
        Classifier = module;
        _columns = new[]
        {
            new ScoreColumn("Score", ScoreColumnKind.FloatVector, classCount, classNames),
            new ScoreColumn("PredictedLabel", ScoreColumnKind.Key, classCount, classNames),
        };
    }

    /// <summary>Number of classes.</summary>
    public int ClassCount { get; }
    /// <summary>Class names from the training label's key values, if it had text values.</summary>
    public IReadOnlyList<string>? ClassNames { get; }
    /// <summary>The module producing logits.</summary>
    public nn.Module<Tensor, Tensor> Classifier { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<ScoreColumn> ScoreColumns => _columns;

    /// <summary>Logits for a batch (eval mode, no_grad). Defaults to the module's forward.</summary>
    public virtual Tensor Logits(Tensor features) => Classifier.call(features);

    /// <inheritdoc/>
    protected override Tensor[] ScoreTensors(Tensor features)
    {
        var logits = Logits(features);
        return new[] { nn.functional.softmax(logits, 1), logits.argmax(1).to(ScalarType.Float32).unsqueeze(1) };
    }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, string>> OnnxMetadata()
    {
        // PredictedLabel is a 0-based index into this list (the training label's key order).
        if (ClassNames is { Count: > 0 } names)
            yield return new("mlnetext.class_names", System.Text.Json.JsonSerializer.Serialize(names));
    }

    /// <summary>Adds the logits graph and returns the name of the [N, classes] logits value.</summary>
    protected abstract string BuildOnnxLogits(OnnxGraphBuilder graph, string features);

    /// <inheritdoc/>
    protected sealed override void BuildOnnx(OnnxGraphBuilder graph, string features)
    {
        var logits = BuildOnnxLogits(graph, features);
        var score = OnnxNaNWhere(graph, OnnxNonFiniteRows(graph, features), graph.Softmax(logits, 1));
        graph.AddOutput(score, "Score", OnnxElementType.Float, OnnxGraphBuilder.Batch, ClassCount);
        // A row with a NaN score has no class: −1 here, which ML.NET's whole-pipeline export turns into key 0 (missing).
        var noClass = graph.Reshape(graph.Node("IsNaN", new[] { graph.ReduceSum(score, new long[] { 1 }) }), -1);
        graph.AddOutput(graph.Node("Where", new[] { noClass, graph.Int64s(-1), graph.ArgMax(logits, 1) }), "PredictedLabel", OnnxElementType.Int64, OnnxGraphBuilder.Batch);
    }

    /// <inheritdoc/>
    protected sealed override void WriteConfiguration(BinaryWriter writer)
    {
        writer.Write(ClassCount);
        writer.Write(ClassNames?.Count ?? -1);
        foreach (var name in ClassNames ?? Array.Empty<string>()) writer.Write(name);
        WriteModelConfiguration(writer);
    }

    /// <summary>Writes the method's own configuration (read back in the method's loader after <see cref="ReadClasses"/>).</summary>
    protected abstract void WriteModelConfiguration(BinaryWriter writer);

    /// <summary>Reads what <see cref="WriteConfiguration"/> wrote before the method's configuration.</summary>
    protected static (int ClassCount, string[]? ClassNames) ReadClasses(BinaryReader r)
    {
        int count = r.ReadInt32();
        int names = r.ReadInt32();
        var classNames = names < 0 ? null : Enumerable.Range(0, names).Select(_ => r.ReadString()).ToArray();
        return (count, classNames);
    }
}

/// <summary>
/// A regression transformer over a module that maps [N, FeatureSize] features to [N] or [N, 1] predictions.
/// Outputs ML.NET's regression column <c>Score</c> (Single; NaN for a row whose features are not finite). ONNX: <c>Score</c> [N, 1].
/// </summary>
public abstract class TorchRegressionTransformer : TorchModelTransformer
{
    private static readonly ScoreColumn[] Columns = { new("Score", ScoreColumnKind.Float, 1) };

    /// <summary>Creates the transformer.</summary>
    protected TorchRegressionTransformer(IHostEnvironment env, string methodName, string featureColumnName, int featureSize, nn.Module<Tensor, Tensor> module)
        : base(env, methodName, featureColumnName, featureSize, module) => Regressor = module;

    /// <summary>The module producing predictions.</summary>
    protected nn.Module<Tensor, Tensor> Regressor { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<ScoreColumn> ScoreColumns => Columns;

    /// <inheritdoc/>
    protected override Tensor[] ScoreTensors(Tensor features) => new[] { Regressor.call(features).reshape(-1, 1) };

    /// <summary>Adds the graph and returns the name of the [N, 1] prediction value.</summary>
    protected abstract string BuildOnnxPrediction(OnnxGraphBuilder graph, string features);

    /// <inheritdoc/>
    protected sealed override void BuildOnnx(OnnxGraphBuilder graph, string features)
        => graph.AddOutput(OnnxNaNWhere(graph, OnnxNonFiniteRows(graph, features), graph.Reshape(BuildOnnxPrediction(graph, features), -1, 1)),
            "Score", OnnxElementType.Float, OnnxGraphBuilder.Batch, 1);
}

/// <summary>
/// A binary classifier transformer over a module that maps features to one logit per row ([N] or [N, 1]).
/// Outputs ML.NET's binary columns: <c>Score</c> (the logit), <c>Probability</c> (sigmoid of it) and
/// <c>PredictedLabel</c> (Boolean, probability &gt; 0.5). A row whose features are not finite gets NaN score and
/// probability and, as in ML.NET's binary scorers (a Boolean has no missing value), <c>PredictedLabel</c> false.
/// ONNX: the same three outputs, each [N, 1] (PredictedLabel bool).
/// </summary>
public abstract class TorchBinaryTransformer : TorchModelTransformer
{
    private static readonly ScoreColumn[] Columns =
    {
        new("Score", ScoreColumnKind.Float, 1), new("Probability", ScoreColumnKind.Float, 1), new("PredictedLabel", ScoreColumnKind.Boolean, 1),
    };

    /// <summary>Creates the transformer.</summary>
    protected TorchBinaryTransformer(IHostEnvironment env, string methodName, IModelInput input, nn.Module<Tensor, Tensor> module)
        : base(env, methodName, input, module) => Classifier = module;

    /// <summary>The module producing logits.</summary>
    public nn.Module<Tensor, Tensor> Classifier { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<ScoreColumn> ScoreColumns => Columns;

    /// <summary>Logits for a batch as [N, 1] (eval mode, no_grad). Defaults to the module's forward.</summary>
    public virtual Tensor Logits(Tensor features) => Classifier.call(features).reshape(-1, 1);

    /// <inheritdoc/>
    protected override Tensor[] ScoreTensors(Tensor features)
    {
        var logit = Logits(features);
        return new[] { logit, torch.sigmoid(logit), (logit > 0).to(ScalarType.Float32) };
    }

    /// <summary>Adds the graph and returns the name of the [N, 1] (or [N]) logit value.</summary>
    protected abstract string BuildOnnxLogit(OnnxGraphBuilder graph, string features);

    /// <inheritdoc/>
    protected sealed override void BuildOnnx(OnnxGraphBuilder graph, string features)
    {
        var logit = OnnxNaNWhere(graph, OnnxNonFiniteRows(graph, features), graph.Reshape(BuildOnnxLogit(graph, features), -1, 1));
        graph.AddOutput(logit, "Score", OnnxElementType.Float, OnnxGraphBuilder.Batch, 1);
        graph.AddOutput(graph.Sigmoid(logit), "Probability", OnnxElementType.Float, OnnxGraphBuilder.Batch, 1);
        graph.AddOutput(graph.Node("Greater", new[] { logit, graph.Scalar(0f) }), "PredictedLabel", OnnxElementType.Bool, OnnxGraphBuilder.Batch, 1);
    }
}
