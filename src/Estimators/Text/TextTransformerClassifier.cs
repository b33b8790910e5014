using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using MLNetExt;

[assembly: LoadableClass(typeof(TextTransformerBinaryTransformer), null, typeof(SignatureLoadModel), "MLNetExt text transformer (binary)", TextTransformerBinaryTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(TextTransformerMulticlassTransformer), null, typeof(SignatureLoadModel), "MLNetExt text transformer (multiclass)", TextTransformerMulticlassTransformer.LoaderSignature)]

namespace MLNetExt;

/// <summary>Options of the text Transformer classifiers. <see cref="TorchTrainerOptions.FeatureColumnName"/> names the text column (default "Text").</summary>
public sealed class TextClassifierOptions : TorchClassifierOptions, ITextEncoderShape
{
    /// <summary>Creates options with the text column "Text".</summary>
    public TextClassifierOptions() => FeatureColumnName = "Text";

    /// <summary>The library defaults (4 layers of width 64, 4 heads, 128 tokens, 8,000 words): <c>new TextClassifierOptions()</c>.</summary>
    public static TextClassifierOptions Recommended => new();
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
    /// <summary>Optional second text column (e.g. a question after its context), joined to the first with a [SEP] token.</summary>
    public string? SecondTextColumnName { get; set; }
    /// <summary>Model to start from (fine-tuning): its vocabulary, shape and weights are reused; the shape options are ignored.</summary>
    public TextTransformerEncoder? InitialEncoder { get; set; }
    /// <summary>Vocabulary of <see cref="InitialEncoder"/> (required with it).</summary>
    public WordTokenizer? InitialTokenizer { get; set; }
    /// <summary>Layer regularisation applied during training (e.g. to suppress harmful layers), or null.</summary>
    public LayerRegularization? LayerRegularization { get; set; }

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (MaxLength < 2) throw new ArgumentOutOfRangeException(nameof(MaxLength), MaxLength, "MaxLength must be at least 2 ([CLS] and one token).");
        if (Layers < 1) throw new ArgumentOutOfRangeException(nameof(Layers), Layers, "Layers must be at least 1.");
        if (Heads < 1 || ModelDimension % Heads != 0) throw new ArgumentOutOfRangeException(nameof(Heads), Heads, $"Heads must divide ModelDimension ({ModelDimension}).");
        if ((InitialEncoder is null) != (InitialTokenizer is null)) throw new ArgumentException("InitialEncoder and InitialTokenizer go together: set both to fine-tune.");
        LayerRegularization?.Validate(InitialEncoder?.LayerCount ?? Layers);
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

    /// <summary>The texts the model reads (the second column joined after [SEP]), streamed from one cursor.</summary>
    public static IEnumerable<string> StreamTexts(IDataView data, string column, string? second)
    {
        RequireText(data.Schema, column);
        if (second is not null) RequireText(data.Schema, second);
        var columns = second is null ? new[] { data.Schema[column] } : new[] { data.Schema[column], data.Schema[second] };
        using var cursor = data.GetRowCursor(columns);
        var text = ReadText(cursor, column, second);
        while (cursor.MoveNext()) yield return text();
    }

    /// <summary>Reads the current row's model text from <paramref name="row"/>.</summary>
    public static Func<string> ReadText(DataViewRow row, string column, string? second)
    {
        var getter = row.GetGetter<ReadOnlyMemory<char>>(row.Schema[column]);
        var secondGetter = second is null ? null : row.GetGetter<ReadOnlyMemory<char>>(row.Schema[second]);
        ReadOnlyMemory<char> text = default, text2 = default;
        return () =>
        {
            getter(ref text);
            if (secondGetter is null) return text.ToString();
            secondGetter(ref text2);
            return Join(text.ToString(), text2.ToString());
        };
    }

    public static string Join(string first, string second) => first + " [SEP] " + second;

    public static void CheckShape(SchemaShape.Column column)
    {
        if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType is not TextDataViewType)
            throw new ArgumentException($"Text column '{column.Name}' must be a scalar String column.");
    }

    /// <summary>
    /// The training input: the vocabulary learned in one streaming pass over the texts (or the fine-tuned model's), then
    /// each row encoded as it is read.
    /// </summary>
    public static TextTokenInput TrainingInput(IDataView data, TextClassifierOptions o)
    {
        var tokenizer = o.InitialTokenizer ?? WordTokenizer.Train(StreamTexts(data, o.FeatureColumnName, o.SecondTextColumnName), o.VocabularySize);
        return new TextTokenInput(o.FeatureColumnName, o.SecondTextColumnName, tokenizer, o.InitialEncoder?.Shape.MaxLength ?? o.MaxLength);
    }

    /// <summary>A new encoder, or a copy of <see cref="TextClassifierOptions.InitialEncoder"/> to fine-tune.</summary>
    public static TextTransformerEncoder CreateEncoder(TextClassifierOptions o, TorchTrainingSetup setup, int outputs)
    {
        TextTransformerEncoder encoder;
        if (o.InitialEncoder is null) encoder = new TextTransformerEncoder(((TextTokenInput)setup.Input).Tokenizer.VocabularySize, o, outputs);
        else
        {
            encoder = new TextTransformerEncoder(o.InitialEncoder.Vocabulary, o.InitialEncoder.Shape, outputs);
            encoder.load_state_dict(o.InitialEncoder.state_dict());
        }
        o.LayerRegularization?.Prepare(encoder);
        return encoder;
    }

    /// <summary>Task loss plus the layer regulariser (training only).</summary>
    public static Tensor AddRegularization(Tensor loss, nn.Module<Tensor, Tensor> module, TextClassifierOptions o, bool training)
        => training && o.LayerRegularization is { } reg ? loss + reg.Penalty((TextTransformerEncoder)module) : loss;

    /// <summary>The model's input for a trained <paramref name="encoder"/>.</summary>
    public static TextModelInput ModelInput(TorchTrainingSetup setup, nn.Module<Tensor, Tensor> encoder)
    {
        var text = (TextTokenInput)setup.Input;
        return new TextModelInput(text.Column, text.SecondColumn, text.Tokenizer, (TextTransformerEncoder)encoder);
    }
}

/// <summary>A text column (or two joined with [SEP]) encoded into <c>Width</c> token ids by a vocabulary.</summary>
public class TextTokenInput : IModelInput
{
    /// <summary>Creates the input description.</summary>
    public TextTokenInput(string column, string? secondColumn, WordTokenizer tokenizer, int maxLength)
    {
        Column = column;
        SecondColumn = secondColumn;
        Tokenizer = tokenizer;
        Width = maxLength;
    }

    /// <summary>The text column.</summary>
    public string Column { get; }
    /// <summary>The second text column joined after [SEP], if any.</summary>
    public string? SecondColumn { get; }
    /// <summary>The vocabulary learned in training.</summary>
    public WordTokenizer Tokenizer { get; }
    /// <inheritdoc/>
    public int Width { get; }

    /// <inheritdoc/>
    public IReadOnlyList<string> ColumnNames => SecondColumn is null ? new[] { Column } : new[] { Column, SecondColumn };

    /// <inheritdoc/>
    public void CheckSchema(DataViewSchema schema)
    {
        foreach (var c in ColumnNames) TextInput.RequireText(schema, c);
    }

    /// <inheritdoc/>
    public RowFeatureFiller CreateFiller(DataViewRow row)
    {
        var text = TextInput.ReadText(row, Column, SecondColumn);
        return destination => Tokenizer.Encode(text(), destination);
    }

    /// <summary>The text the model reads for one example given its column values (e.g. for the tokenizer in an app).</summary>
    public string TextOf(Func<string, string> columnValue)
        => SecondColumn is null ? columnValue(Column) : TextInput.Join(columnValue(Column), columnValue(SecondColumn));
}

/// <summary>
/// The input of the text models: one text column (or two joined with [SEP]) encoded into <see cref="TextTokenInput.Width"/> token ids
/// by the vocabulary learned in training, and the encoder reading them; also what the model stores to be rebuilt on load.
/// </summary>
public sealed class TextModelInput : TextTokenInput
{
    /// <summary>Creates the input description.</summary>
    public TextModelInput(string column, string? secondColumn, WordTokenizer tokenizer, TextTransformerEncoder encoder)
        : base(column, secondColumn, tokenizer, encoder.Shape.MaxLength) => Encoder = encoder;

    /// <summary>The encoder reading the ids.</summary>
    public TextTransformerEncoder Encoder { get; }

    /// <summary>The same columns and vocabulary read by <paramref name="encoder"/>.</summary>
    internal TextModelInput WithEncoder(TextTransformerEncoder encoder) => new(Column, SecondColumn, Tokenizer, encoder);

    internal void Write(BinaryWriter w)
    {
        w.Write(Column);
        w.Write(SecondColumn ?? "");
        Tokenizer.Write(w);
        Encoder.Write(w);
    }

    internal static TextModelInput Read(BinaryReader r)
    {
        var column = r.ReadString();
        var second = r.ReadString();
        var tokenizer = WordTokenizer.Read(r);
        return new TextModelInput(column, second.Length == 0 ? null : second, tokenizer, TextTransformerEncoder.Read(r));
    }
}

/// <summary>Trains a Transformer encoder on a text column for a Boolean label.</summary>
public sealed class TextTransformerBinaryTrainer : TorchBinaryTrainer<TextClassifierOptions, TextTransformerBinaryTransformer>
{
    internal TextTransformerBinaryTrainer(IHostEnvironment env, TextClassifierOptions options) : base(env, "TextTransformerBinary", options) { }

    /// <inheritdoc/>
    protected override IModelInput CreateTrainingInput(IDataView data) => TextInput.TrainingInput(data, Options);

    /// <inheritdoc/>
    protected override void CheckFeatureColumn(SchemaShape.Column feature) => TextInput.CheckShape(feature);
    /// <inheritdoc/>
    protected override nn.Module<Tensor, Tensor> CreateModule(TorchTrainingSetup setup) => TextInput.CreateEncoder(Options, setup, 1);
    /// <inheritdoc/>
    protected override Tensor Loss(nn.Module<Tensor, Tensor> module, Tensor features, Tensor targets, bool training)
        => TextInput.AddRegularization(base.Loss(module, features, targets, training), module, Options, training);
    /// <inheritdoc/>
    protected override TextTransformerBinaryTransformer CreateTransformer(nn.Module<Tensor, Tensor> module, TorchTrainingSetup setup)
        => new(Environment, TextInput.ModelInput(setup, module));
}

/// <summary>Trains a Transformer encoder on a text column for a key-typed label.</summary>
public sealed class TextTransformerMulticlassTrainer : TorchMulticlassTrainer<TextClassifierOptions, TextTransformerMulticlassTransformer>
{
    internal TextTransformerMulticlassTrainer(IHostEnvironment env, TextClassifierOptions options) : base(env, "TextTransformerMulticlass", options) { }

    /// <inheritdoc/>
    protected override IModelInput CreateTrainingInput(IDataView data) => TextInput.TrainingInput(data, Options);

    /// <inheritdoc/>
    protected override void CheckFeatureColumn(SchemaShape.Column feature) => TextInput.CheckShape(feature);
    /// <inheritdoc/>
    protected override nn.Module<Tensor, Tensor> CreateModule(TorchTrainingSetup setup) => TextInput.CreateEncoder(Options, setup, setup.ClassCount);
    /// <inheritdoc/>
    protected override Tensor Loss(nn.Module<Tensor, Tensor> module, Tensor features, Tensor targets, bool training)
        => TextInput.AddRegularization(base.Loss(module, features, targets, training), module, Options, training);
    /// <inheritdoc/>
    protected override TextTransformerMulticlassTransformer CreateTransformer(nn.Module<Tensor, Tensor> module, TorchTrainingSetup setup)
        => new(Environment, TextInput.ModelInput(setup, module), setup.ClassCount, setup.ClassNames);
}

/// <summary>
/// Scores a text column with a trained Transformer encoder (binary). ONNX input: token ids as floats [N, MaxLength]
/// (encode with <see cref="Tokenizer"/>).
/// </summary>
public sealed class TextTransformerBinaryTransformer : TorchBinaryTransformer
{
    internal const string LoaderSignature = "MLNXTextTfmBinary";
    private const string Method = "TextTransformerBinary";

    internal TextTransformerBinaryTransformer(IHostEnvironment env, TextModelInput input) : base(env, Method, input, input.Encoder) => Text = input;

    /// <summary>Columns, vocabulary and encoder.</summary>
    public TextModelInput Text { get; }
    /// <summary>The trained encoder.</summary>
    public TextTransformerEncoder Encoder => Text.Encoder;
    /// <summary>The vocabulary learned in training.</summary>
    public WordTokenizer Tokenizer => Text.Tokenizer;

    /// <summary>
    /// A new model with this one's weights that bypasses encoder <paramref name="layers"/> (0-based) in
    /// <c>Transform</c>, prediction engines, saving and ONNX export; this model is unchanged.
    /// </summary>
    public TextTransformerBinaryTransformer WithSkippedLayers(params int[] layers)
        => new(HostEnvironment, Text.WithEncoder(Encoder.WithSkippedLayers(layers))) { ScoringBatchSize = ScoringBatchSize, Training = Training };

    private static VersionInfo GetVersion() => MakeVersionInfo("MLNXTXTB", LoaderSignature, typeof(TextTransformerBinaryTransformer));
    /// <inheritdoc/>
    private protected override VersionInfo GetVersionInfo() => GetVersion();
    /// <inheritdoc/>
    protected override string BuildOnnxLogit(OnnxGraphBuilder graph, string features) => Encoder.ToOnnx(graph, features);
    /// <inheritdoc/>
    protected override void WriteConfiguration(BinaryWriter writer)
    {
        Text.Write(writer);
        Encoder.WriteSkippedLayers(writer);
    }

    private static TextTransformerBinaryTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        var stored = LoadPayload(ctx, GetVersion(), Method);
        using var r = stored.OpenConfig();
        var common = ReadCommonConfiguration(stored, r);
        var input = TextModelInput.Read(r);
        input.Encoder.ReadSkippedLayers(r);
        stored.LoadWeights(input.Encoder);
        return WithCommon(new TextTransformerBinaryTransformer(env, input), common);
    }
}

/// <summary>Scores a text column with a trained Transformer encoder (multiclass).</summary>
public sealed class TextTransformerMulticlassTransformer : TorchMulticlassTransformer
{
    internal const string LoaderSignature = "MLNXTextTfmMulti";
    private const string Method = "TextTransformerMulticlass";

    internal TextTransformerMulticlassTransformer(IHostEnvironment env, TextModelInput input, int classCount, IReadOnlyList<string>? classNames)
        : base(env, Method, input, input.Encoder, classCount, classNames) => Text = input;

    /// <summary>Columns, vocabulary and encoder.</summary>
    public TextModelInput Text { get; }
    /// <summary>The trained encoder.</summary>
    public TextTransformerEncoder Encoder => Text.Encoder;
    /// <summary>The vocabulary learned in training.</summary>
    public WordTokenizer Tokenizer => Text.Tokenizer;

    /// <summary>
    /// A new model with this one's weights that bypasses encoder <paramref name="layers"/> (0-based) in
    /// <c>Transform</c>, prediction engines, saving and ONNX export; this model is unchanged.
    /// </summary>
    public TextTransformerMulticlassTransformer WithSkippedLayers(params int[] layers)
        => new(HostEnvironment, Text.WithEncoder(Encoder.WithSkippedLayers(layers)), ClassCount, ClassNames) { ScoringBatchSize = ScoringBatchSize, Training = Training };

    private static VersionInfo GetVersion() => MakeVersionInfo("MLNXTXTM", LoaderSignature, typeof(TextTransformerMulticlassTransformer));
    /// <inheritdoc/>
    private protected override VersionInfo GetVersionInfo() => GetVersion();
    /// <inheritdoc/>
    protected override string BuildOnnxLogits(OnnxGraphBuilder graph, string features) => Encoder.ToOnnx(graph, features);
    /// <inheritdoc/>
    protected override void WriteModelConfiguration(BinaryWriter writer)
    {
        Text.Write(writer);
        Encoder.WriteSkippedLayers(writer);
    }

    private static TextTransformerMulticlassTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        var stored = LoadPayload(ctx, GetVersion(), Method);
        using var r = stored.OpenConfig();
        var common = ReadCommonConfiguration(stored, r);
        var (classes, names) = ReadClasses(r);
        var input = TextModelInput.Read(r);
        input.Encoder.ReadSkippedLayers(r);
        stored.LoadWeights(input.Encoder);
        return WithCommon(new TextTransformerMulticlassTransformer(env, input, classes, names), common);
    }
}
