using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetExt.Core;
using MLNetExt.Export;
using MLNetExt.Text;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(TextTransformerBinaryTransformer), null, typeof(SignatureLoadModel), "MLNetExt text transformer (binary)", TextTransformerBinaryTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(TextTransformerMulticlassTransformer), null, typeof(SignatureLoadModel), "MLNetExt text transformer (multiclass)", TextTransformerMulticlassTransformer.LoaderSignature)]

namespace MLNetExt.Text;

/// <summary>Options of the text Transformer classifiers. <see cref="TorchTrainerOptions.FeatureColumnName"/> names the text column (default "Text").</summary>
public sealed class TextClassifierOptions : TorchClassifierOptions, ITextEncoderShape
{
    /// <summary>Creates options with the text column "Text".</summary>
    public TextClassifierOptions() => FeatureColumnName = "Text";
    /// <inheritdoc/>
    public int MaxLength { get; set; } = 128;
    /// <inheritdoc/>
    public int VocabularySize { get; set; } = 8000;
    /// <inheritdoc/>
    public int Layers { get; set; } = 4;
    /// <inheritdoc/>
    public int ModelDimension { get; set; } = 64;
    /// <inheritdoc/>
    public int Heads { get; set; } = 4;
    /// <inheritdoc/>
    public int FeedForwardDimension { get; set; } = 128;
    /// <inheritdoc/>
    public double Dropout { get; set; } = 0.1;

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (MaxLength < 2) throw new ArgumentOutOfRangeException(nameof(MaxLength), MaxLength, "MaxLength must be at least 2 ([CLS] and one token).");
        if (Layers < 1) throw new ArgumentOutOfRangeException(nameof(Layers), Layers, "Layers must be at least 1.");
        if (Heads < 1 || ModelDimension % Heads != 0) throw new ArgumentOutOfRangeException(nameof(Heads), Heads, $"Heads must divide ModelDimension ({ModelDimension}).");
    }
}

/// <summary>Reads a text column into token ids with a <see cref="WordTokenizer"/> — shared by the text trainers and transformers.</summary>
internal static class TextInput
{
    public static void RequireText(DataViewSchema schema, string column)
    {
        var col = DataViewReader.RequireColumn(schema, column, "Text");
        if (col.Type is not TextDataViewType)
            throw new ArgumentException($"Text column '{column}' must be of type String (text), but it is {DataViewReader.Describe(col.Type)}.");
    }

    public static List<string> ReadTexts(IDataView data, string column)
    {
        RequireText(data.Schema, column);
        return data.GetColumn<ReadOnlyMemory<char>>(column).Select(m => m.ToString()).ToList();
    }

    public static FeatureMatrix Encode(IReadOnlyList<string> texts, WordTokenizer tokenizer, int maxLength)
    {
        if (texts.Count == 0) throw new InvalidDataException("The training data has no rows.");
        var values = new float[(long)texts.Count * maxLength];
        for (int i = 0; i < texts.Count; i++) tokenizer.Encode(texts[i], values.AsSpan(i * maxLength, maxLength));
        return new FeatureMatrix(values, texts.Count, maxLength);
    }

    public static RowFeatureFiller Filler(DataViewRow row, string column, WordTokenizer tokenizer)
    {
        var getter = row.GetGetter<ReadOnlyMemory<char>>(row.Schema[column]);
        ReadOnlyMemory<char> text = default;
        return destination =>
        {
            getter(ref text);
            tokenizer.Encode(text.ToString(), destination);
        };
    }

    public static void CheckShape(SchemaShape.Column column)
    {
        if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType is not TextDataViewType)
            throw new ArgumentException($"Text column '{column.Name}' must be a scalar String column.");
    }
}

/// <summary>Trains a Transformer encoder on a text column for a Boolean label.</summary>
public sealed class TextTransformerBinaryTrainer : TorchBinaryTrainer<TextClassifierOptions, TextTransformerBinaryTransformer>
{
    private WordTokenizer? _tokenizer;

    internal TextTransformerBinaryTrainer(IHostEnvironment env, TextClassifierOptions options) : base(env, "TextTransformerBinary", options) { }

    /// <inheritdoc/>
    protected override FeatureMatrix ReadFeatures(IDataView data)
    {
        var texts = TextInput.ReadTexts(data, Options.FeatureColumnName);
        _tokenizer = WordTokenizer.Train(texts, Options.VocabularySize);
        return TextInput.Encode(texts, _tokenizer, Options.MaxLength);
    }

    /// <inheritdoc/>
    protected override void CheckFeatureColumn(SchemaShape.Column feature) => TextInput.CheckShape(feature);
    /// <inheritdoc/>
    protected override nn.Module<Tensor, Tensor> CreateModule(int featureSize) => new TextTransformerEncoder(_tokenizer!.VocabularySize, Options, 1);
    /// <inheritdoc/>
    protected override TextTransformerBinaryTransformer CreateTransformer(nn.Module<Tensor, Tensor> module, int featureSize)
        => new(Environment, Options.FeatureColumnName, (TextTransformerEncoder)module, _tokenizer!);
}

/// <summary>Trains a Transformer encoder on a text column for a key-typed label.</summary>
public sealed class TextTransformerMulticlassTrainer : TorchMulticlassTrainer<TextClassifierOptions, TextTransformerMulticlassTransformer>
{
    private WordTokenizer? _tokenizer;

    internal TextTransformerMulticlassTrainer(IHostEnvironment env, TextClassifierOptions options) : base(env, "TextTransformerMulticlass", options) { }

    /// <inheritdoc/>
    protected override FeatureMatrix ReadFeatures(IDataView data)
    {
        var texts = TextInput.ReadTexts(data, Options.FeatureColumnName);
        _tokenizer = WordTokenizer.Train(texts, Options.VocabularySize);
        return TextInput.Encode(texts, _tokenizer, Options.MaxLength);
    }

    /// <inheritdoc/>
    protected override void CheckFeatureColumn(SchemaShape.Column feature) => TextInput.CheckShape(feature);
    /// <inheritdoc/>
    protected override nn.Module<Tensor, Tensor> CreateModule(int featureSize) => new TextTransformerEncoder(_tokenizer!.VocabularySize, Options, ClassCount);
    /// <inheritdoc/>
    protected override TextTransformerMulticlassTransformer CreateTransformer(nn.Module<Tensor, Tensor> module, int featureSize)
        => new(Environment, Options.FeatureColumnName, (TextTransformerEncoder)module, _tokenizer!, ClassCount, ClassNames);
}

/// <summary>
/// Scores a text column with a trained Transformer encoder (binary). ONNX input: token ids as floats [N, MaxLength]
/// (encode with <see cref="Tokenizer"/>).
/// </summary>
public sealed class TextTransformerBinaryTransformer : TorchBinaryTransformer
{
    internal const string LoaderSignature = "MLNXTextTfmBinary";
    private const string Method = "TextTransformerBinary";

    internal TextTransformerBinaryTransformer(IHostEnvironment env, string textColumn, TextTransformerEncoder encoder, WordTokenizer tokenizer)
        : base(env, Method, textColumn, encoder.Shape.MaxLength, encoder)
    {
        Encoder = encoder;
        Tokenizer = tokenizer;
    }

    /// <summary>The trained encoder (set <see cref="TextTransformerEncoder.SkippedLayers"/> for layer analysis).</summary>
    public TextTransformerEncoder Encoder { get; }
    /// <summary>The vocabulary learned in training.</summary>
    public WordTokenizer Tokenizer { get; }

    /// <inheritdoc/>
    protected override void CheckInputSchema(DataViewSchema inputSchema) => TextInput.RequireText(inputSchema, FeatureColumnName);
    /// <inheritdoc/>
    protected internal override RowFeatureFiller CreateFeatureFiller(DataViewRow row) => TextInput.Filler(row, FeatureColumnName, Tokenizer);
    private static VersionInfo GetVersion() => MakeVersionInfo("MLNXTXTB", LoaderSignature, typeof(TextTransformerBinaryTransformer));
    /// <inheritdoc/>
    protected override VersionInfo GetVersionInfo() => GetVersion();
    /// <inheritdoc/>
    protected override string BuildOnnxLogit(OnnxGraphBuilder graph, string features) => Encoder.ToOnnx(graph, features);

    /// <inheritdoc/>
    protected override void WriteConfiguration(BinaryWriter writer)
    {
        Tokenizer.Write(writer);
        Encoder.Write(writer);
    }

    private static TextTransformerBinaryTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        var stored = LoadPayload(ctx, GetVersion(), Method);
        using var r = stored.OpenConfig();
        var common = ReadCommonConfiguration(r);
        var tokenizer = WordTokenizer.Read(r);
        var encoder = TextTransformerEncoder.Read(r);
        stored.LoadWeights(encoder);
        return new TextTransformerBinaryTransformer(env, common.FeatureColumnName, encoder, tokenizer) { ScoringBatchSize = common.ScoringBatchSize };
    }
}

/// <summary>Scores a text column with a trained Transformer encoder (multiclass).</summary>
public sealed class TextTransformerMulticlassTransformer : TorchMulticlassTransformer
{
    internal const string LoaderSignature = "MLNXTextTfmMulti";
    private const string Method = "TextTransformerMulticlass";

    internal TextTransformerMulticlassTransformer(IHostEnvironment env, string textColumn, TextTransformerEncoder encoder, WordTokenizer tokenizer, int classCount, IReadOnlyList<string>? classNames)
        : base(env, Method, textColumn, encoder.Shape.MaxLength, encoder, classCount, classNames)
    {
        Encoder = encoder;
        Tokenizer = tokenizer;
    }

    /// <summary>The trained encoder.</summary>
    public TextTransformerEncoder Encoder { get; }
    /// <summary>The vocabulary learned in training.</summary>
    public WordTokenizer Tokenizer { get; }

    /// <inheritdoc/>
    protected override void CheckInputSchema(DataViewSchema inputSchema) => TextInput.RequireText(inputSchema, FeatureColumnName);
    /// <inheritdoc/>
    protected internal override RowFeatureFiller CreateFeatureFiller(DataViewRow row) => TextInput.Filler(row, FeatureColumnName, Tokenizer);
    private static VersionInfo GetVersion() => MakeVersionInfo("MLNXTXTM", LoaderSignature, typeof(TextTransformerMulticlassTransformer));
    /// <inheritdoc/>
    protected override VersionInfo GetVersionInfo() => GetVersion();
    /// <inheritdoc/>
    protected override string BuildOnnxLogits(OnnxGraphBuilder graph, string features) => Encoder.ToOnnx(graph, features);

    /// <inheritdoc/>
    protected override void WriteModelConfiguration(BinaryWriter writer)
    {
        Tokenizer.Write(writer);
        Encoder.Write(writer);
    }

    private static TextTransformerMulticlassTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        var stored = LoadPayload(ctx, GetVersion(), Method);
        using var r = stored.OpenConfig();
        var common = ReadCommonConfiguration(r);
        var (classes, names) = ReadClasses(r);
        var tokenizer = WordTokenizer.Read(r);
        var encoder = TextTransformerEncoder.Read(r);
        stored.LoadWeights(encoder);
        return new TextTransformerMulticlassTransformer(env, common.FeatureColumnName, encoder, tokenizer, classes, names) { ScoringBatchSize = common.ScoringBatchSize };
    }
}
