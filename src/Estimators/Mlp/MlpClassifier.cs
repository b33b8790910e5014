using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using MLNetExt;

[assembly: LoadableClass(typeof(MlpMulticlassTransformer), null, typeof(SignatureLoadModel), "MLNetExt MLP classifier", MlpMulticlassTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(MlpRegressionTransformer), null, typeof(SignatureLoadModel), "MLNetExt MLP regressor", MlpRegressionTransformer.LoaderSignature)]

namespace MLNetExt;

/// <summary>Shape of a multi-layer perceptron: hidden widths, ReLU between layers, dropout while training.</summary>
public interface IMlpShape
{
    /// <summary>Widths of the hidden layers.</summary>
    int[] HiddenSizes { get; }
    /// <summary>Dropout probability after each hidden layer while training.</summary>
    double Dropout { get; }
}

/// <summary>Options of <see cref="MlpMulticlassTrainer"/>.</summary>
public sealed class MlpClassifierOptions : TorchClassifierOptions, IMlpShape
{
    /// <summary>The library defaults (one hidden layer of 128, 10 epochs, AdamW 1e-3): <c>new MlpClassifierOptions()</c>.</summary>
    public static MlpClassifierOptions Recommended => new();

    /// <summary>
    /// Two hidden layers of 256 and 128 with dropout 0.1, 5 epochs of batch 128, AdamW 2e-3 with half an epoch of warm-up
    /// then cosine decay: the setting of the MLP guide's Fashion-MNIST example (the 784-256-128-10 network of the
    /// scoring benchmark).
    /// </summary>
    public static MlpClassifierOptions Wide => new()
    {
        HiddenSizes = new[] { 256, 128 }, Dropout = 0.1, Epochs = 5, BatchSize = 128, LearningRate = 2e-3,
        Schedule = LearningRateScheduleKind.WarmupCosine, WarmupEpochs = 0.5,
    };

    /// <inheritdoc/>
    public int[] HiddenSizes { get; set; } = { 128 };
    /// <inheritdoc/>
    public double Dropout { get; set; }
}

/// <summary>Options of <see cref="MlpRegressionTrainer"/>.</summary>
public sealed class MlpRegressorOptions : TorchTrainerOptions, IMlpShape
{
    /// <summary>The library defaults (one hidden layer of 64, 10 epochs, AdamW 1e-3): <c>new MlpRegressorOptions()</c>.</summary>
    public static MlpRegressorOptions Recommended => new();

    /// <inheritdoc/>
    public int[] HiddenSizes { get; set; } = { 64 };
    /// <inheritdoc/>
    public double Dropout { get; set; }
}

/// <summary>A multi-layer perceptron: Linear → ReLU (→ Dropout) … → Linear.</summary>
public sealed class MlpModule : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Linear> _layers = new();
    private readonly double _dropout;

    /// <summary>Creates the network <paramref name="inputSize"/> → hidden… → <paramref name="outputSize"/>.</summary>
    public MlpModule(int inputSize, IReadOnlyList<int> hiddenSizes, int outputSize, double dropout) : base("Mlp")
    {
        int previous = inputSize;
        foreach (var h in hiddenSizes.Append(outputSize))
        {
            if (h < 1) throw new ArgumentOutOfRangeException(nameof(hiddenSizes), h, "Layer widths must be at least 1.");
            _layers.Add(nn.Linear(previous, h));
            previous = h;
        }
        _dropout = dropout;
        RegisterComponents();
    }

    /// <summary>The linear layers, input to output.</summary>
    public IReadOnlyList<Linear> Layers => _layers.ToList();

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        for (int i = 0; i < _layers.Count; i++)
        {
            x = _layers[i].call(x);
            if (i < _layers.Count - 1)
            {
                x = nn.functional.relu(x);
                if (_dropout > 0) x = nn.functional.dropout(x, _dropout, training);
            }
        }
        return x;
    }

    /// <summary>Adds the network to an ONNX graph and returns its output value.</summary>
    public string ToOnnx(OnnxGraphBuilder graph, string x)
    {
        for (int i = 0; i < _layers.Count; i++)
        {
            x = graph.Linear(x, _layers[i], $"mlp.{i}");
            if (i < _layers.Count - 1) x = graph.Relu(x);
        }
        return x;
    }

    internal static void Write(BinaryWriter w, int inputSize, IReadOnlyList<int> hidden, int outputSize, double dropout)
    {
        w.Write(inputSize);
        w.Write(hidden.Count);
        foreach (var h in hidden) w.Write(h);
        w.Write(outputSize);
        w.Write(dropout);
    }

    internal static MlpModule Read(BinaryReader r)
    {
        int input = r.ReadInt32();
        var hidden = Enumerable.Range(0, r.ReadInt32()).Select(_ => r.ReadInt32()).ToArray();
        return new MlpModule(input, hidden, r.ReadInt32(), r.ReadDouble());
    }

    internal void Write(BinaryWriter w) => Write(w, (int)_layers[0].in_features, _layers.Take(_layers.Count - 1).Select(l => (int)l.out_features).ToList(),
        (int)_layers[^1].out_features, _dropout);
}

/// <summary>Trains an MLP classifier with the shared TorchSharp core — the reference for how a method plugs in.</summary>
public sealed class MlpMulticlassTrainer : TorchMulticlassTrainer<MlpClassifierOptions, MlpMulticlassTransformer>
{
    internal MlpMulticlassTrainer(IHostEnvironment env, MlpClassifierOptions options) : base(env, "MlpClassifier", options) { }

    /// <inheritdoc/>
    protected override nn.Module<Tensor, Tensor> CreateModule(TorchTrainingSetup setup)
        => new MlpModule(setup.FeatureSize, Options.HiddenSizes, setup.ClassCount, Options.Dropout);

    /// <inheritdoc/>
    protected override MlpMulticlassTransformer CreateTransformer(nn.Module<Tensor, Tensor> module, TorchTrainingSetup setup)
        => new(Environment, Options.FeatureColumnName, setup.FeatureSize, (MlpModule)module, setup.ClassCount, setup.ClassNames);
}

/// <summary>Scores with a trained MLP classifier.</summary>
public sealed class MlpMulticlassTransformer : TorchMulticlassTransformer
{
    internal const string LoaderSignature = "MLNXMlpClassifier";
    private const string Method = "MlpClassifier";

    internal MlpMulticlassTransformer(IHostEnvironment env, string featureColumnName, int featureSize, MlpModule module, int classCount, IReadOnlyList<string>? classNames)
        : base(env, Method, featureColumnName, featureSize, module, classCount, classNames) => Network = module;

    /// <summary>The trained network.</summary>
    public MlpModule Network { get; }

    private static VersionInfo GetVersion() => MakeVersionInfo("MLNXMLPC", LoaderSignature, typeof(MlpMulticlassTransformer));
    /// <inheritdoc/>
    private protected override VersionInfo GetVersionInfo() => GetVersion();
    /// <inheritdoc/>
    protected override void WriteModelConfiguration(BinaryWriter writer) => Network.Write(writer);
    /// <inheritdoc/>
    protected override string BuildOnnxLogits(OnnxGraphBuilder graph, string features) => Network.ToOnnx(graph, features);

    // Called by ML.NET's model loader (registered with [LoadableClass] above).
    private static MlpMulticlassTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        var stored = LoadPayload(ctx, GetVersion(), Method);
        using var r = stored.OpenConfig();
        var common = ReadCommonConfiguration(stored, r);
        var (classes, names) = ReadClasses(r);
        var module = MlpModule.Read(r);
        stored.LoadWeights(module);
        return WithCommon(new MlpMulticlassTransformer(env, common.FeatureColumnName, common.FeatureSize, module, classes, names), common);
    }
}

/// <summary>Trains an MLP regressor with the shared TorchSharp core.</summary>
public sealed class MlpRegressionTrainer : TorchRegressionTrainer<MlpRegressorOptions, MlpRegressionTransformer>
{
    internal MlpRegressionTrainer(IHostEnvironment env, MlpRegressorOptions options) : base(env, "MlpRegressor", options) { }

    /// <inheritdoc/>
    protected override nn.Module<Tensor, Tensor> CreateModule(TorchTrainingSetup setup) => new MlpModule(setup.FeatureSize, Options.HiddenSizes, 1, Options.Dropout);

    /// <inheritdoc/>
    protected override MlpRegressionTransformer CreateTransformer(nn.Module<Tensor, Tensor> module, TorchTrainingSetup setup)
        => new(Environment, Options.FeatureColumnName, setup.FeatureSize, (MlpModule)module);
}

/// <summary>Scores with a trained MLP regressor.</summary>
public sealed class MlpRegressionTransformer : TorchRegressionTransformer
{
    internal const string LoaderSignature = "MLNXMlpRegressor";
    private const string Method = "MlpRegressor";

    internal MlpRegressionTransformer(IHostEnvironment env, string featureColumnName, int featureSize, MlpModule module)
        : base(env, Method, featureColumnName, featureSize, module) => Network = module;

    /// <summary>The trained network.</summary>
    public MlpModule Network { get; }

    private static VersionInfo GetVersion() => MakeVersionInfo("MLNXMLPR", LoaderSignature, typeof(MlpRegressionTransformer));
    /// <inheritdoc/>
    private protected override VersionInfo GetVersionInfo() => GetVersion();
    /// <inheritdoc/>
    protected override void WriteConfiguration(BinaryWriter writer) => Network.Write(writer);
    /// <inheritdoc/>
    protected override string BuildOnnxPrediction(OnnxGraphBuilder graph, string features) => Network.ToOnnx(graph, features);

    private static MlpRegressionTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        var stored = LoadPayload(ctx, GetVersion(), Method);
        using var r = stored.OpenConfig();
        var common = ReadCommonConfiguration(stored, r);
        var module = MlpModule.Read(r);
        stored.LoadWeights(module);
        return WithCommon(new MlpRegressionTransformer(env, common.FeatureColumnName, common.FeatureSize, module), common);
    }
}
