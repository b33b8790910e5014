using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>How an output column's values are typed in ML.NET.</summary>
public enum ScoreColumnKind
{
    /// <summary>Single.</summary>
    Float,
    /// <summary>Known-size vector of Single.</summary>
    FloatVector,
    /// <summary>Key&lt;UInt32&gt; whose 0-based class index the model produces (ML.NET keys are 1-based).</summary>
    Key,
    /// <summary>Boolean (value &gt; 0.5).</summary>
    Boolean,
}

/// <summary>How a TorchSharp transformer scores a row whose features hold NaN or ±Infinity.</summary>
public enum NonFiniteFeatureHandling
{
    /// <summary>
    /// ML.NET's convention for missing values: every score of the row is NaN, a key <c>PredictedLabel</c> is missing
    /// (key value 0) and a Boolean one is false; the other rows of the batch are scored as usual.
    /// </summary>
    MissingPrediction,
    /// <summary>Scoring throws an <see cref="InvalidDataException"/> naming the feature column, the row and the value's index.</summary>
    Throw,
}

/// <summary>An output column of a TorchSharp transformer.</summary>
/// <param name="Name">Column name (ML.NET conventions: Score, PredictedLabel, Probability).</param>
/// <param name="Kind">ML.NET type.</param>
/// <param name="Size">Vector size (<see cref="ScoreColumnKind.FloatVector"/>) or key cardinality (<see cref="ScoreColumnKind.Key"/>); 1 otherwise.</param>
/// <param name="Names">Slot names (vectors) or key value names (keys), if known.</param>
public sealed record ScoreColumn(string Name, ScoreColumnKind Kind, int Size, IReadOnlyList<string>? Names = null)
{
    /// <summary>Floats per row the model produces for this column: the vector size, else 1 (a key is a 0-based class index).</summary>
    public int Width => Kind == ScoreColumnKind.FloatVector ? Size : 1;

    internal DataViewType Type => Kind switch
    {
        ScoreColumnKind.Float => NumberDataViewType.Single,
        ScoreColumnKind.FloatVector => new VectorDataViewType(NumberDataViewType.Single, Size),
        ScoreColumnKind.Key => new KeyDataViewType(typeof(uint), (ulong)Size),
        _ => BooleanDataViewType.Instance,
    };

    internal DataViewSchema.Annotations Annotations
    {
        get
        {
            var builder = new DataViewSchema.Annotations.Builder();
            if (Names is { Count: > 0 } names && (Kind == ScoreColumnKind.FloatVector || Kind == ScoreColumnKind.Key))
            {
                var values = new VBuffer<ReadOnlyMemory<char>>(names.Count, names.Select(n => n.AsMemory()).ToArray());
                var kind = Kind == ScoreColumnKind.Key ? AnnotationUtils.Kinds.KeyValues : AnnotationUtils.Kinds.SlotNames;
                builder.Add(kind, new VectorDataViewType(TextDataViewType.Instance, names.Count), (ref VBuffer<ReadOnlyMemory<char>> v) => values.CopyTo(ref v));
            }
            return builder.ToAnnotations();
        }
    }
}

/// <summary>Writes the model inputs of the row a cursor stands on (FeatureSize floats) into <paramref name="destination"/>.</summary>
public delegate void RowFeatureFiller(Span<float> destination);

/// <summary>How a transformer turns input columns into the fixed-width float rows its module reads.</summary>
public interface IModelInput
{
    /// <summary>Input columns read, the first one being the transformer's <see cref="TorchModelTransformer.FeatureColumnName"/>.</summary>
    IReadOnlyList<string> ColumnNames { get; }
    /// <summary>Floats per row given to the module.</summary>
    int Width { get; }
    /// <summary>Throws an <see cref="ArgumentException"/> naming the column when the schema lacks what the model reads.</summary>
    void CheckSchema(DataViewSchema schema);
    /// <summary>Reads the inputs of <paramref name="row"/>'s current position.</summary>
    RowFeatureFiller CreateFiller(DataViewRow row);
}

/// <summary>The default input: one Vector&lt;Single, Width&gt; column passed through as it is.</summary>
/// <param name="Column">The feature column.</param>
/// <param name="Width">Its vector size.</param>
public sealed record FloatVectorInput(string Column, int Width) : IModelInput
{
    /// <inheritdoc/>
    public IReadOnlyList<string> ColumnNames => new[] { Column };

    /// <inheritdoc/>
    public void CheckSchema(DataViewSchema schema) => DataViewReader.RequireFloatVector(schema, Column, Width);

    /// <inheritdoc/>
    public RowFeatureFiller CreateFiller(DataViewRow row)
    {
        var getter = row.GetGetter<VBuffer<float>>(row.Schema[Column]);
        VBuffer<float> buffer = default;
        return destination =>
        {
            getter(ref buffer);
            buffer.CopyTo(destination);
        };
    }
}

/// <summary>
/// Base of every transformer that scores with a trained TorchSharp module. It reads one known-size float vector
/// column, scores in batches, appends ML.NET-convention output columns, works with <c>CreatePredictionEngine</c> and the
/// ML.NET evaluators, saves its weights inside the ML.NET model zip, and exports to ONNX.
/// A method derives (usually through <see cref="TorchMulticlassTransformer"/> or <see cref="TorchRegressionTransformer"/>)
/// and supplies its scoring, its configuration bytes and its ONNX graph.
/// </summary>
public abstract class TorchModelTransformer : ITransformer, IDisposable
{
    private bool _disposed;

    /// <summary>Creates the transformer around a trained <paramref name="module"/> reading a float vector column.</summary>
    protected TorchModelTransformer(IHostEnvironment env, string methodName, string featureColumnName, int featureSize, nn.Module module)
        : this(env, methodName, new FloatVectorInput(featureColumnName, featureSize), module) { }

    /// <summary>Creates the transformer around a trained <paramref name="module"/> reading its rows through <paramref name="input"/>.</summary>
    protected TorchModelTransformer(IHostEnvironment env, string methodName, IModelInput input, nn.Module module)
    {
        HostEnvironment = env;
        Host = env.Register(methodName);
        MethodName = methodName;
        Input = input;
        FeatureColumnName = input.ColumnNames[0];
        FeatureSize = input.Width;
        Module = module;
        // Scoring follows the context the model is created or loaded in (GpuDeviceId, FallbackToCpu), like training.
        Device = TorchDevices.Resolve(TorchDeviceKind.Auto, env);
        Module.to(Device);
        Module.eval();
    }

    /// <summary>ML.NET host for logging.</summary>
    protected IHost Host { get; }
    /// <summary>The environment the transformer was created in (for models derived from this one).</summary>
    private protected IHostEnvironment HostEnvironment { get; }
    /// <summary>Method name stored with the model (e.g. "Terminator").</summary>
    public string MethodName { get; }
    /// <summary>How rows are read (a float vector column by default).</summary>
    public IModelInput Input { get; }
    /// <summary>Name of the (first) input column.</summary>
    public string FeatureColumnName { get; }
    /// <summary>Size of the input feature vector.</summary>
    public int FeatureSize { get; }
    /// <summary>The trained TorchSharp module (eval mode).</summary>
    public nn.Module Module { get; }
    /// <summary>Device the module scores on.</summary>
    public Device Device { get; }
    /// <summary>
    /// What training produced besides the weights (loss history, seed, class names); null for a model loaded from a file.
    /// </summary>
    public TrainingReport? Training { get; internal set; }
    /// <summary>Rows per forward pass in <see cref="Transform"/>.</summary>
    public int ScoringBatchSize { get; set; } = 256;

    /// <summary>
    /// What scoring does with a row whose features hold NaN or ±Infinity (saved with the model). The default,
    /// <see cref="NonFiniteFeatureHandling.MissingPrediction"/>, follows ML.NET: NaN scores and a missing (0) key
    /// <c>PredictedLabel</c>, never a class chosen from NaN. A row whose scores come out NaN for another reason also
    /// gets a missing key label. The ONNX exports do the same (see docs/onnx.md); with
    /// <see cref="NonFiniteFeatureHandling.Throw"/> they still return the missing prediction, since ONNX cannot throw.
    /// </summary>
    public NonFiniteFeatureHandling NonFiniteFeatures { get; set; } = NonFiniteFeatureHandling.MissingPrediction;

    /// <summary>
    /// TorchSharp intra-op threads for a batch <see cref="Transform"/> (default: the core count). Set on the scoring
    /// thread only for the duration of each forward pass; training threads keep their own setting.
    /// The intra-op threads wait for one another at every operation, so one core taken by another process or by the
    /// app's own work stalls the whole forward pass: where scoring shares its cores with other busy work (on 2 shared
    /// cores, 2 threads scored a batch up to 10–30× slower than 1), set this to 1 or to the cores left free.
    /// </summary>
    public int BatchScoringThreads { get; set; } = DefaultBatchScoringThreads;

    internal static int DefaultBatchScoringThreads => Math.Max(1, System.Environment.ProcessorCount);

    /// <summary>
    /// TorchSharp intra-op threads for single-row scoring (<c>CreatePredictionEngine</c>), default 1: splitting one
    /// row's small matrix products across threads costs more in synchronisation than it saves (20–40× slower here).
    /// </summary>
    public int SingleRowScoringThreads { get; set; } = 1;

    /// <summary>The output columns, in order.</summary>
    public abstract IReadOnlyList<ScoreColumn> ScoreColumns { get; }

    /// <summary>
    /// Scores <paramref name="features"/> (a [rows, FeatureSize] CPU tensor) and returns one [rows, Width] float CPU tensor per
    /// <see cref="ScoreColumns"/> entry. Called in eval mode under no_grad.
    /// </summary>
    protected abstract Tensor[] ScoreTensors(Tensor features);

    /// <summary>Writes everything needed to rebuild the module before its weights are loaded.</summary>
    protected abstract void WriteConfiguration(BinaryWriter writer);

    /// <summary>ML.NET version info of the concrete transformer (its loader signature).</summary>
    private protected abstract VersionInfo GetVersionInfo();

    /// <summary>Adds the graph from input value <paramref name="features"/> ([N, FeatureSize]) and declares the outputs.</summary>
    protected abstract void BuildOnnx(OnnxGraphBuilder graph, string features);

    /// <summary>
    /// Scores a [rows × FeatureSize] row-major batch; returns one [rows × Width] array per score column (a key column
    /// holds the 0-based class index, NaN when the prediction is missing). Rows with NaN or ±Infinity features are
    /// handled as <see cref="NonFiniteFeatures"/> says.
    /// </summary>
    /// <exception cref="InvalidDataException">A feature is not finite and <see cref="NonFiniteFeatures"/> is <see cref="NonFiniteFeatureHandling.Throw"/>.</exception>
    public float[][] Score(float[] features, int rows)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (rows < 1 || features.Length != (long)rows * FeatureSize)
            throw new ArgumentException($"Score needs rows ≥ 1 and rows × {FeatureSize} features; {features.Length} were given for {rows} rows.", nameof(features));
        using var buffers = new ScoringBuffers(this, rows);
        features.AsSpan(0, rows * FeatureSize).CopyTo(buffers.Features);
        Score(buffers, rows, rows == 1 ? SingleRowScoringThreads : BatchScoringThreads, 0);
        return buffers.Scores;
    }

    /// <summary>
    /// Scores the first <paramref name="rows"/> rows of <paramref name="buffers"/>' features into its score arrays.
    /// The feature tensor is a view over the pooled array, so nothing per row or per batch is allocated on the
    /// managed heap; non-finite features are replaced in place by 0 (their rows marked missing).
    /// </summary>
    internal void Score(ScoringBuffers buffers, int rows, int threads, long firstRow)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var missing = NonFiniteRows(buffers, rows, firstRow);
        // libtorch's intra-op thread count is per calling thread (OpenMP), so this does not reach a training thread.
        int previous = torch.get_num_threads();
        threads = Math.Max(1, threads);
        if (threads != previous) torch.set_num_threads(threads);
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var outputs = ScoreTensors(buffers.Rows(rows).to(Device));
            for (int c = 0; c < outputs.Length; c++)
                outputs[c].to(CPU).contiguous().data<float>().CopyTo(buffers.Scores[c]);
        }
        finally
        {
            if (threads != previous) torch.set_num_threads(previous);
        }
        if (missing || HasNaNScore(buffers.Scores, rows)) MarkMissing(buffers.Scores, rows, missing ? buffers.Missing : null);
    }

    /// <summary>
    /// Marks in <see cref="ScoringBuffers.Missing"/> the rows whose features are not all finite and replaces those
    /// values by 0 so that no NaN flows through the network (or throws on the first one); false when every row is finite.
    /// </summary>
    private bool NonFiniteRows(ScoringBuffers buffers, int rows, long firstRow)
    {
        int width = FeatureSize;
        var features = buffers.Features;
        bool any = false;
        for (int row = 0; row < rows; row++)
        {
            var values = features.AsSpan(row * width, width);
            int first = FiniteValues.FirstNonFinite(values);
            buffers.Missing[row] = first >= 0;
            if (first < 0) continue;
            any = true;
            for (int i = first; i < width; i++)
            {
                if (float.IsFinite(values[i])) continue;
                if (NonFiniteFeatures == NonFiniteFeatureHandling.Throw)
                    throw new InvalidDataException($"Feature column '{FeatureColumnName}', row {firstRow + row}: value at index {i} is {(float.IsNaN(values[i]) ? "NaN" : values[i] > 0 ? "+Infinity" : "-Infinity")}. " +
                        "Replace or drop non-finite values before scoring, or set NonFiniteFeatures to MissingPrediction to get a missing prediction for such rows.");
                values[i] = 0;
            }
        }
        return any;
    }

    /// <summary>Whether a non-key score of the first <paramref name="rows"/> rows is NaN (vectorised: usually none is).</summary>
    private bool HasNaNScore(float[][] scores, int rows)
    {
        var columns = ScoreColumns;
        for (int c = 0; c < columns.Count; c++)
            if (columns[c].Kind != ScoreColumnKind.Key && !AllNotNaN(scores[c].AsSpan(0, rows * columns[c].Width))) return true;
        return false;
    }

    private static bool AllNotNaN(ReadOnlySpan<float> values)
    {
        var vectors = System.Runtime.InteropServices.MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(values);
        var nan = System.Numerics.Vector<int>.Zero;
        foreach (var v in vectors) nan |= ~System.Numerics.Vector.Equals(v, v);
        if (!System.Numerics.Vector.EqualsAll(nan, System.Numerics.Vector<int>.Zero)) return false;
        foreach (var v in values[(vectors.Length * System.Numerics.Vector<float>.Count)..])
            if (float.IsNaN(v)) return false;
        return true;
    }

    /// <summary>NaN for every output of the <paramref name="missing"/> rows, and NaN (missing) keys for rows with a NaN score.</summary>
    private void MarkMissing(float[][] scores, int rows, bool[]? missing)
    {
        var columns = ScoreColumns;
        for (int r = 0; r < rows; r++)
        {
            bool nonFinite = missing?[r] == true, nanScore = nonFinite;
            for (int c = 0; c < columns.Count && !nanScore; c++)
                nanScore = columns[c].Kind != ScoreColumnKind.Key && HasNaN(scores[c].AsSpan(r * columns[c].Width, columns[c].Width));
            if (!nanScore) continue;
            for (int c = 0; c < columns.Count; c++)
                if (nonFinite || columns[c].Kind == ScoreColumnKind.Key)
                    scores[c].AsSpan(r * columns[c].Width, columns[c].Width).Fill(float.NaN);
        }
    }

    private static bool HasNaN(ReadOnlySpan<float> values)
    {
        foreach (var v in values) if (float.IsNaN(v)) return true;
        return false;
    }

    /// <summary>
    /// Writes the model alone as ONNX (opset 20): input <see cref="FeatureColumnName"/> [N, FeatureSize], outputs as the
    /// method defines; metadata <c>mlnetext.method</c> and, for classifiers, <c>mlnetext.class_names</c>.
    /// To export a whole pipeline (this transformer with the ML.NET transforms around it) use ML.NET's
    /// <c>mlContext.Model.ConvertToOnnx</c>, which writes ML.NET's column conventions instead (see docs/onnx.md).
    /// </summary>
    public virtual void SaveAsOnnx(string path)
    {
        var graph = new OnnxGraphBuilder(MethodName);
        var input = graph.AddInput(FeatureColumnName, OnnxElementType.Float, OnnxGraphBuilder.Batch, FeatureSize);
        BuildOnnx(graph, input);
        graph.AddMetadata("mlnetext.method", MethodName);
        foreach (var (key, value) in OnnxMetadata()) graph.AddMetadata(key, value);
        graph.Save(path);
    }

    /// <summary>
    /// ONNX: a [N, 1] Boolean, true for the rows whose features hold NaN or ±Infinity. The task heads give those rows
    /// NaN scores and no class, as <see cref="NonFiniteFeatureHandling.MissingPrediction"/> does in TorchSharp.
    /// </summary>
    protected static string OnnxNonFiniteRows(OnnxGraphBuilder graph, string features)
    {
        var bad = graph.Node("Or", new[] { graph.Node("IsNaN", new[] { features }), graph.Node("IsInf", new[] { features }) });
        return graph.Cast(graph.ReduceMax(graph.Cast(bad, OnnxElementType.Float), new long[] { 1 }), OnnxElementType.Bool);
    }

    /// <summary>ONNX: <paramref name="value"/> with NaN in the rows that <paramref name="rows"/> ([N, 1] Boolean) marks.</summary>
    protected static string OnnxNaNWhere(OnnxGraphBuilder graph, string rows, string value)
        => graph.Node("Where", new[] { rows, graph.Scalar(float.NaN), value });

    /// <summary>Extra metadata written by <see cref="SaveAsOnnx(string)"/> (e.g. class names).</summary>
    protected virtual IEnumerable<KeyValuePair<string, string>> OnnxMetadata() => Array.Empty<KeyValuePair<string, string>>();

    /// <summary>
    /// The part of ML.NET's whole-pipeline ONNX export that is this transformer: the network, at ML.NET's opset, with
    /// outputs in ML.NET's conventions (scalars [N, 1]; a key as a 1-based UInt32, 0 meaning missing).
    /// Throws, naming the method, when the network cannot be written there: never a silent partial graph.
    /// </summary>
    internal void SaveAsOnnx(OnnxContext ctx)
    {
        if (Input is not FloatVectorInput)
            throw new NotSupportedException($"The '{MethodName}' transformer reads {string.Join(", ", Input.ColumnNames)} through {Input.GetType().Name}, " +
                "which ML.NET's ConvertToOnnx cannot express; export the model alone with SaveAsOnnx(path).");
        ctx.CheckOpSetVersion(MLNetOnnxContext.Opset, MethodName);
        var graph = new OnnxGraphBuilder(MethodName, MLNetOnnxContext.Opset);
        var input = graph.AddInput(FeatureColumnName, OnnxElementType.Float, OnnxGraphBuilder.Batch, FeatureSize);
        try
        {
            BuildOnnx(graph, input);
        }
        catch (OnnxOpsetException e)
        {
            throw new NotSupportedException($"The '{MethodName}' transformer cannot be part of ML.NET's ConvertToOnnx export, which writes " +
                $"ONNX opset {MLNetOnnxContext.Opset}: {e.Message} Export the model alone with SaveAsOnnx(path) (opset 20).", e);
        }
        var names = new Dictionary<string, string> { [input] = ctx.GetVariableName(FeatureColumnName) };
        foreach (var column in ScoreColumns)
        {
            // BuildOnnx declares one graph output per score column, named like the column.
            string value = column.Kind switch
            {
                ScoreColumnKind.Key => graph.Reshape(graph.Cast(graph.Add(column.Name, graph.Int64s(1)), OnnxElementType.UInt32), -1, 1),
                ScoreColumnKind.FloatVector => graph.Identity(column.Name),
                _ => graph.Reshape(column.Name, -1, 1),
            };
            names[value] = ctx.AddIntermediateVariable(column.Type, column.Name);
        }
        MLNetOnnxContext.Copy(ctx, graph.GraphProto, MethodName, names);
    }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        Input.CheckSchema(inputSchema);
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        foreach (var c in ScoreColumns) builder.AddColumn(c.Name, c.Type, c.Annotations);
        return builder.ToSchema();
    }

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new ScoringRowMapper(this, inputSchema, GetOutputSchema(inputSchema));

    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => new ScoredDataView(this, input, GetOutputSchema(input.Schema));

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        var payload = TorchModelPayload.Create(MethodName, w =>
        {
            w.Write(FeatureColumnName);
            w.Write(FeatureSize);
            w.Write(ScoringBatchSize);
            w.Write((int)NonFiniteFeatures);
            WriteConfiguration(w);
        }, Module);
        // The model stream records what the payload entry beside it must be, so an entry copied from another model is refused.
        ctx.Writer.Write(TorchModelPayload.FormatVersion);
        TorchModelPayload.Read(payload, MethodName).Identity.Write(ctx.Writer);
        TorchModelPayload.Save(ctx, payload);
    }

    /// <summary>The settings every transformer saves before its method's configuration.</summary>
    /// <param name="FeatureColumnName">Input column.</param>
    /// <param name="FeatureSize">Input width.</param>
    /// <param name="ScoringBatchSize">Rows per forward pass.</param>
    /// <param name="NonFiniteFeatures">Scoring of non-finite features (the default for format 1 models, which did not save it).</param>
    protected readonly record struct CommonConfiguration(string FeatureColumnName, int FeatureSize, int ScoringBatchSize, NonFiniteFeatureHandling NonFiniteFeatures);

    /// <summary>Reads the part <see cref="ICanSaveModel.Save"/> wrote before the method's configuration.</summary>
    protected static CommonConfiguration ReadCommonConfiguration(StoredTorchModel stored, BinaryReader r)
    {
        string column = r.ReadString();
        int size = r.ReadInt32(), batch = r.ReadInt32();
        var nonFinite = stored.Version >= 2 ? (NonFiniteFeatureHandling)r.ReadInt32() : NonFiniteFeatureHandling.MissingPrediction;
        if (!Enum.IsDefined(nonFinite))
            throw new ModelFormatException(TorchModelPayload.EntryName, $"is damaged: non-finite feature handling {(int)nonFinite} is not defined.");
        return new CommonConfiguration(column, size, batch, nonFinite);
    }

    /// <summary>Applies the saved scoring settings to a transformer being loaded.</summary>
    private protected static T WithCommon<T>(T transformer, CommonConfiguration common) where T : TorchModelTransformer
    {
        transformer.ScoringBatchSize = common.ScoringBatchSize;
        transformer.NonFiniteFeatures = common.NonFiniteFeatures;
        return transformer;
    }

    /// <summary>Opens the payload of a transformer being loaded by ML.NET: checks its version info and that the payload entry belongs to it.</summary>
    private protected static StoredTorchModel LoadPayload(ModelLoadContext ctx, VersionInfo versionInfo, string methodName)
    {
        ctx.CheckAtModel(versionInfo);
        return ReadStored(ctx.Reader, TorchModelPayload.LoadBytes(ctx, methodName), methodName, TorchModelPayload.EntryPath(ctx));
    }

    /// <summary>
    /// Reads the model stream written by <see cref="ICanSaveModel.Save"/> (positioned after ML.NET's header) and
    /// the payload entry beside it, and refuses a payload that is not the one the stream records. Shared by ML.NET's
    /// loader and <see cref="ModelLoading"/>'s check before it.
    /// </summary>
    internal static StoredTorchModel ReadStored(BinaryReader modelStream, byte[] payload, string? methodName, string source)
    {
        PayloadIdentity? expected;
        try
        {
            int format = modelStream.ReadInt32();
            if (format < 1 || format > TorchModelPayload.FormatVersion)
                throw new ModelFormatException(source, $"belongs to a model saved with format version {format}; this MLNetExt reads versions 1 to " +
                    $"{TorchModelPayload.FormatVersion}. Update the MLNetExt package to load it.");
            // Format 1 models recorded no identity: they load as before, with the payload's own checksum as the only check.
            expected = format >= 2 ? PayloadIdentity.Read(modelStream, source) : null;
        }
        catch (EndOfStreamException)
        {
            throw new ModelFormatException(source, "belongs to a model stream (Model.key) that is truncated: the model file is damaged.");
        }
        var stored = TorchModelPayload.Read(payload, methodName ?? expected?.Method, source);
        if (expected?.Difference(stored.Identity) is { } difference)
            throw new ModelFormatException(source, $"does not belong to this '{expected.Method}' transformer: {difference}. " +
                $"The entry was taken from another model; put back this model's own {TorchModelPayload.EntryName} or save the model again from its trained transformer.",
                expected: $"{expected.Method}, configuration SHA-256 {expected.ConfigHash}, {expected.Tensors?.Count ?? 0} tensors, payload SHA-256 {expected.Checksum}");
        return stored;
    }

    /// <summary>
    /// Builds ML.NET version info for a transformer: an 8-character model signature and a loader signature.
    /// 0x00010002 added the payload identity to the model stream; 0x00010001 models still load.
    /// </summary>
    private protected static VersionInfo MakeVersionInfo(string modelSignature, string loaderSignature, Type transformerType)
        => new(modelSignature, verWrittenCur: 0x00010002, verReadableCur: 0x00010002, verWeCanReadBack: 0x00010001,
            loaderAssemblyName: transformerType.Assembly.FullName, loaderSignature: loaderSignature);

    /// <summary>Releases the module's native tensors.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Module.Dispose();
        GC.SuppressFinalize(this);
    }
}
