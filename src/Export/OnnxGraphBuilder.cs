using Google.Protobuf;
using Onnx;

namespace MLNetExt;

/// <summary>
/// A small builder for ONNX graphs (default opset 20, IR version 10) over the ONNX protobuf classes.
/// Values are referred to by name; every node helper returns the name of its (first) output.
/// </summary>
/// <example>
/// <code>
/// var g = new OnnxGraphBuilder("mlp");
/// var x = g.AddInput("Features", OnnxElementType.Float, OnnxGraphBuilder.Batch, 4);
/// var h = g.Relu(g.Linear(x, w1, b1, outFeatures: 8, inFeatures: 4));
/// g.AddOutput(g.Linear(h, w2, b2, 3, 8, outputName: "Score"), OnnxElementType.Float, OnnxGraphBuilder.Batch, 3);
/// g.Save("mlp.onnx");
/// </code>
/// </example>
public sealed partial class OnnxGraphBuilder
{
    /// <summary>Symbolic dimension used for a dynamic batch size.</summary>
    public const long Batch = -1;

    private readonly ModelProto _model;
    private readonly GraphProto _graph;
    private readonly HashSet<string> _names;
    private readonly OnnxGraphBuilder? _parent;
    private int _counter;

    /// <summary>Creates an empty graph.</summary>
    /// <param name="graphName">Name stored in the graph.</param>
    /// <param name="opset">ai.onnx opset version (ONNX Runtime 1.31 accepts 7–26).</param>
    /// <param name="irVersion">ONNX IR version.</param>
    public OnnxGraphBuilder(string graphName, int opset = 20, long irVersion = 10)
    {
        Opset = opset;
        _names = new HashSet<string>(StringComparer.Ordinal);
        _graph = new GraphProto { Name = graphName };
        _model = new ModelProto
        {
            IrVersion = irVersion,
            ProducerName = "MLNetExt",
            ProducerVersion = typeof(OnnxGraphBuilder).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = _graph,
        };
        _model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
    }

    // A subgraph (Loop/If body): shares the parent's name set, because ONNX forbids a body value from shadowing an
    // outer-scope name, and may read any outer value by name.
    private OnnxGraphBuilder(OnnxGraphBuilder parent, string graphName)
    {
        _parent = parent;
        Opset = parent.Opset;
        _names = parent._names;
        _model = parent._model;
        _graph = new GraphProto { Name = graphName };
    }

    /// <summary>The ai.onnx opset the graph targets.</summary>
    public int Opset { get; }

    /// <summary>A body graph for Loop/If nodes; pass <see cref="GraphProto"/> as the node's <c>body</c> attribute.</summary>
    public OnnxGraphBuilder Subgraph(string graphName) => new(this, graphName);

    /// <summary>This builder's graph (for a subgraph: the body to attach to a Loop/If node).</summary>
    public GraphProto GraphProto => _graph;

    /// <summary>Returns a value name with the given prefix that the graph does not use yet.</summary>
    public string Unique(string prefix)
    {
        if (_parent is not null) return _parent.Unique(prefix);
        string name;
        do { name = $"{prefix}_{_counter++}"; } while (_names.Contains(name));
        return name;
    }

    private string Claim(string name)
    {
        if (!_names.Add(name)) throw new ArgumentException($"ONNX value name '{name}' is already used in this graph.", nameof(name));
        return name;
    }

    /// <summary>Declares a graph input. Use <see cref="Batch"/> (or any negative value) for a dynamic dimension.</summary>
    public string AddInput(string name, OnnxElementType type, params long[] shape)
    {
        _graph.Input.Add(ValueInfo(Claim(name), type, shape));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> as a graph output, renaming it through an Identity node when needed.</summary>
    public string AddOutput(string value, OnnxElementType type, params long[] shape) => AddOutput(value, value, type, shape);

    /// <summary>Declares a graph output called <paramref name="outputName"/> holding <paramref name="value"/>.</summary>
    public string AddOutput(string value, string outputName, OnnxElementType type, params long[] shape)
    {
        if (value != outputName) value = Node("Identity", new[] { value }, outputName: outputName);
        _graph.Output.Add(ValueInfo(value, type, shape));
        return value;
    }

    /// <summary>
    /// Declares a graph input whose dimensions are numbers or symbolic names (<c>"nodes"</c>): inputs sharing a name must
    /// agree in size, so unrelated dynamic sizes (pins vs edges) need different names.
    /// </summary>
    public string AddInputDims(string name, OnnxElementType type, params object[] dims)
    {
        _graph.Input.Add(ValueInfoDims(Claim(name), type, dims));
        return name;
    }

    /// <summary>Declares an output with numeric or symbolic dimensions (see <see cref="AddInputDims"/>).</summary>
    public string AddOutputDims(string value, string outputName, OnnxElementType type, params object[] dims)
    {
        if (value != outputName) value = Node("Identity", new[] { value }, outputName: outputName);
        _graph.Output.Add(ValueInfoDims(value, type, dims));
        return value;
    }

    private static ValueInfoProto ValueInfoDims(string name, OnnxElementType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }

    /// <summary>Declares a graph input whose shape is left unspecified (Loop body inputs).</summary>
    public string AddInputAnyShape(string name, OnnxElementType type)
    {
        _graph.Input.Add(new ValueInfoProto { Name = Claim(name), Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type } } });
        return name;
    }

    /// <summary>Declares a graph output whose shape is left unspecified (Loop body outputs).</summary>
    public string AddOutputAnyShape(string value, OnnxElementType type)
    {
        _graph.Output.Add(new ValueInfoProto { Name = value, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type } } });
        return value;
    }

    private static ValueInfoProto ValueInfo(string name, OnnxElementType type, long[] shape)
    {
        var tensorShape = new TensorShapeProto();
        for (int i = 0; i < shape.Length; i++)
            tensorShape.Dim.Add(shape[i] < 0
                ? new TensorShapeProto.Types.Dimension { DimParam = i == 0 ? "N" : $"d{i}" }
                : new TensorShapeProto.Types.Dimension { DimValue = shape[i] });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = tensorShape } },
        };
    }

    /// <summary>Adds a float initializer (a constant weight) and returns its name.</summary>
    public string AddInitializer(string name, ReadOnlySpan<float> values, params long[] dims) => AddInitializer(name, values, OnnxElementType.Float, dims);

    /// <summary>Adds an int64 initializer (shapes, axes, indices) and returns its name.</summary>
    public string AddInitializer(string name, ReadOnlySpan<long> values, params long[] dims) => AddInitializer(name, values, OnnxElementType.Int64, dims);

    private string AddInitializer<T>(string name, ReadOnlySpan<T> values, OnnxElementType type, long[] dims) where T : unmanaged
    {
        CheckCount(name, values.Length, dims);
        var t = new TensorProto { Name = Claim(name), DataType = (int)type };
        t.Dims.AddRange(dims);
        // raw_data is little-endian, as is every platform .NET runs ONNX Runtime on.
        t.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Adds a 1-D int64 constant with a generated name (for shapes and axes).</summary>
    public string Int64s(params long[] values) => AddInitializer(Unique("const_i64"), values, values.Length);

    /// <summary>Adds a scalar float constant with a generated name.</summary>
    public string Scalar(float value) => AddInitializer(Unique("const_f"), new[] { value });

    private static void CheckCount(string name, int count, long[] dims)
    {
        long expected = 1;
        foreach (var d in dims) expected *= d;
        if (expected != count)
            throw new ArgumentException($"Initializer '{name}': {count} values do not fill shape [{string.Join(", ", dims)}] ({expected} values).");
    }

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    /// <param name="opType">ONNX operator, e.g. "Gemm".</param>
    /// <param name="inputs">Input value names ("" for an omitted optional input).</param>
    /// <param name="attributes">Attributes: long, float, string, long[], float[] or <see cref="TensorProto"/> values.</param>
    /// <param name="outputName">Output name; generated when null.</param>
    public string Node(string opType, IReadOnlyList<string> inputs, IReadOnlyDictionary<string, object>? attributes = null, string? outputName = null)
        => NodeMulti(opType, inputs, 1, attributes, outputName is null ? null : new[] { outputName })[0];

    /// <summary>Adds a node with several outputs and returns their names.</summary>
    public string[] NodeMulti(string opType, IReadOnlyList<string> inputs, int outputCount,
        IReadOnlyDictionary<string, object>? attributes = null, IReadOnlyList<string>? outputNames = null)
    {
        if (MinimumOpsets.TryGetValue(opType, out int minimum)) RequireOpset(minimum, opType);
        var node = new NodeProto { OpType = opType, Name = $"{opType}_{_graph.Node.Count}" };
        node.Input.AddRange(inputs);
        var outputs = new string[outputCount];
        for (int i = 0; i < outputCount; i++)
            outputs[i] = Claim(outputNames is null ? Unique(opType.ToLowerInvariant()) : outputNames[i]);
        node.Output.AddRange(outputs);
        if (attributes != null)
            foreach (var (key, value) in attributes) node.Attribute.Add(Attribute(key, value));
        _graph.Node.Add(node);
        return outputs;
    }

    // Operators the builder emits that do not exist in older opsets (the builder composes the others from older ones).
    private static readonly Dictionary<string, int> MinimumOpsets = new(StringComparer.Ordinal)
    {
        ["DFT"] = 17, ["LayerNormalization"] = 17, ["Gelu"] = 20, ["GroupNormalization"] = 18,
    };

    /// <summary>Throws an <see cref="OnnxOpsetException"/> when the graph's opset is below <paramref name="minimum"/>.</summary>
    /// <param name="minimum">The lowest ai.onnx opset that has <paramref name="what"/>.</param>
    /// <param name="what">The operator or feature, for the message.</param>
    public void RequireOpset(int minimum, string what)
    {
        if (Opset < minimum) throw new OnnxOpsetException(what, minimum, Opset);
    }

    private static AttributeProto Attribute(string name, object value)
    {
        var a = new AttributeProto { Name = name };
        switch (value)
        {
            case int i: a.Type = AttributeProto.Types.AttributeType.Int; a.I = i; break;
            case long l: a.Type = AttributeProto.Types.AttributeType.Int; a.I = l; break;
            case float f: a.Type = AttributeProto.Types.AttributeType.Float; a.F = f; break;
            case double d: a.Type = AttributeProto.Types.AttributeType.Float; a.F = (float)d; break;
            case string s: a.Type = AttributeProto.Types.AttributeType.String; a.S = ByteString.CopyFromUtf8(s); break;
            case long[] ls: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(ls); break;
            case int[] ints: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(ints.Select(x => (long)x)); break;
            case float[] fs: a.Type = AttributeProto.Types.AttributeType.Floats; a.Floats.AddRange(fs); break;
            case TensorProto t: a.Type = AttributeProto.Types.AttributeType.Tensor; a.T = t; break;
            case GraphProto g: a.Type = AttributeProto.Types.AttributeType.Graph; a.G = g; break;
            default: throw new ArgumentException($"Unsupported ONNX attribute type {value.GetType().Name} for '{name}'.");
        }
        return a;
    }

    /// <summary>Adds a metadata key/value to the model (readable with ONNX Runtime's ModelMetadata).</summary>
    public void AddMetadata(string key, string value) => _model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });

    /// <summary>Serialises the model to bytes.</summary>
    public byte[] ToBytes() => _model.ToByteArray();

    /// <summary>Writes the model to <paramref name="path"/>, creating the folder when needed.</summary>
    public void Save(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        File.WriteAllBytes(path, ToBytes());
    }
}

/// <summary>A graph needs an operator that the target ONNX opset does not have.</summary>
public sealed class OnnxOpsetException : NotSupportedException
{
    /// <summary>Creates the exception.</summary>
    public OnnxOpsetException(string what, int minimumOpset, int targetOpset)
        : base($"{what} needs ONNX opset {minimumOpset} or later; this graph targets opset {targetOpset}.")
    {
        What = what;
        MinimumOpset = minimumOpset;
        TargetOpset = targetOpset;
    }

    /// <summary>The operator or feature that is missing.</summary>
    public string What { get; }
    /// <summary>The lowest opset that has it.</summary>
    public int MinimumOpset { get; }
    /// <summary>The opset the graph was built for.</summary>
    public int TargetOpset { get; }
}

/// <summary>ONNX tensor element types used by the builder (values are ONNX's TensorProto.DataType codes).</summary>
public enum OnnxElementType
{
    /// <summary>32-bit float.</summary>
    Float = 1,
    /// <summary>Unsigned 8-bit integer.</summary>
    UInt8 = 2,
    /// <summary>32-bit signed integer.</summary>
    Int32 = 6,
    /// <summary>64-bit signed integer.</summary>
    Int64 = 7,
    /// <summary>Boolean.</summary>
    Bool = 9,
    /// <summary>Unsigned 32-bit integer.</summary>
    UInt32 = 12,
}
