namespace MLNetExt;

// Helpers for the operators our models use. Weight layouts follow PyTorch/TorchSharp
// (Linear weight [out, in], Conv weight [out, in/groups, k...]) so exporters copy tensors as they are.
public sealed partial class OnnxGraphBuilder
{
    /// <summary>y = x·Wᵀ + b for x of shape [N, in] (Gemm with transB). <paramref name="bias"/> may be null.</summary>
    public string Linear(string x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int outFeatures, int inFeatures, string? prefix = null, string? outputName = null)
    {
        prefix ??= Unique("linear");
        var w = AddInitializer(prefix + ".weight", weight, outFeatures, inFeatures);
        var inputs = new List<string> { x, w };
        if (!bias.IsEmpty) inputs.Add(AddInitializer(prefix + ".bias", bias, outFeatures));
        return Node("Gemm", inputs, new Dictionary<string, object> { ["transB"] = 1L }, outputName);
    }

    /// <summary>y = x·Wᵀ + b for x of any rank ≥ 2 (MatMul on the last axis), e.g. [N, T, in].</summary>
    public string LinearNd(string x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int outFeatures, int inFeatures, string? prefix = null)
    {
        prefix ??= Unique("linear");
        var wt = new float[weight.Length];
        for (int o = 0; o < outFeatures; o++)
            for (int i = 0; i < inFeatures; i++) wt[i * outFeatures + o] = weight[o * inFeatures + i];
        var y = MatMul(x, AddInitializer(prefix + ".weightT", wt, inFeatures, outFeatures));
        return bias.IsEmpty ? y : Add(y, AddInitializer(prefix + ".bias", bias, outFeatures));
    }

    /// <summary>N-d convolution (cross-correlation, as in TorchSharp). <paramref name="weight"/> may be a value name for runtime kernels via <see cref="ConvWith"/>.</summary>
    public string Conv(string x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, long[] weightShape,
        long[]? strides = null, long[]? pads = null, long[]? dilations = null, long group = 1, string? prefix = null)
    {
        prefix ??= Unique("conv");
        var w = AddInitializer(prefix + ".weight", weight, weightShape);
        var b = bias.IsEmpty ? null : AddInitializer(prefix + ".bias", bias, weightShape[0]);
        return ConvWith(x, w, b, weightShape.Length - 2, strides, pads, dilations, group);
    }

    /// <summary>Convolution whose weight (and optional bias) are graph values, e.g. input-dependent kernels.</summary>
    public string ConvWith(string x, string weight, string? bias, int spatialRank, long[]? strides = null, long[]? pads = null, long[]? dilations = null, long group = 1)
    {
        var attrs = new Dictionary<string, object>
        {
            ["strides"] = strides ?? Enumerable.Repeat(1L, spatialRank).ToArray(),
            ["pads"] = pads ?? new long[2 * spatialRank],
            ["dilations"] = dilations ?? Enumerable.Repeat(1L, spatialRank).ToArray(),
            ["group"] = group,
        };
        var inputs = bias is null ? new[] { x, weight } : new[] { x, weight, bias };
        return Node("Conv", inputs, attrs);
    }

    /// <summary>Elementwise a + b (broadcasting).</summary>
    public string Add(string a, string b) => Node("Add", new[] { a, b });
    /// <summary>Elementwise a − b (broadcasting).</summary>
    public string Sub(string a, string b) => Node("Sub", new[] { a, b });
    /// <summary>Elementwise a · b (broadcasting).</summary>
    public string Mul(string a, string b) => Node("Mul", new[] { a, b });
    /// <summary>Elementwise a / b (broadcasting).</summary>
    public string Div(string a, string b) => Node("Div", new[] { a, b });
    /// <summary>Matrix product with NumPy broadcasting.</summary>
    public string MatMul(string a, string b) => Node("MatMul", new[] { a, b });
    /// <summary>max(x, 0).</summary>
    public string Relu(string x) => Node("Relu", new[] { x });
    /// <summary>Exact (erf) GELU; native from opset 20, composed from Erf below it.</summary>
    public string Gelu(string x)
    {
        if (Opset >= 20) return Node("Gelu", new[] { x });
        var erf = Node("Erf", new[] { Mul(x, Scalar((float)(1 / Math.Sqrt(2)))) });
        return Mul(Mul(x, Scalar(0.5f)), Add(erf, Scalar(1f)));
    }
    /// <summary>Logistic sigmoid.</summary>
    public string Sigmoid(string x) => Node("Sigmoid", new[] { x });
    /// <summary>Hyperbolic tangent.</summary>
    public string Tanh(string x) => Node("Tanh", new[] { x });
    /// <summary>Sine.</summary>
    public string Sin(string x) => Node("Sin", new[] { x });
    /// <summary>Square root.</summary>
    public string Sqrt(string x) => Node("Sqrt", new[] { x });
    /// <summary>Exponential.</summary>
    public string Exp(string x) => Node("Exp", new[] { x });
    /// <summary>
    /// Softmax over <paramref name="axis"/>. Below opset 13 ONNX's Softmax normalises over all axes from
    /// <paramref name="axis"/> on, which equals the per-axis softmax only for the last axis: pass the last axis (−1, or 1
    /// for [N, C]).
    /// </summary>
    public string Softmax(string x, long axis = -1) => Node("Softmax", new[] { x }, new Dictionary<string, object> { ["axis"] = axis });
    /// <summary>Index of the maximum along <paramref name="axis"/> (int64).</summary>
    public string ArgMax(string x, long axis = -1, bool keepDims = false)
        => Node("ArgMax", new[] { x }, new Dictionary<string, object> { ["axis"] = axis, ["keepdims"] = keepDims ? 1L : 0L });
    /// <summary>A copy of <paramref name="x"/> under a new name.</summary>
    public string Identity(string x) => Node("Identity", new[] { x });
    /// <summary>Converts to another element type.</summary>
    public string Cast(string x, OnnxElementType to) => Node("Cast", new[] { x }, new Dictionary<string, object> { ["to"] = (long)to });
    /// <summary>Reshape to a constant shape (0 copies the input dimension, −1 infers it).</summary>
    public string Reshape(string x, params long[] shape) => Node("Reshape", new[] { x, Int64s(shape) });
    /// <summary>Permutes axes.</summary>
    public string Transpose(string x, params long[] perm) => Node("Transpose", new[] { x }, new Dictionary<string, object> { ["perm"] = perm });
    /// <summary>Concatenation along <paramref name="axis"/>.</summary>
    public string Concat(long axis, params string[] xs) => Node("Concat", xs, new Dictionary<string, object> { ["axis"] = axis });
    /// <summary>Inserts size-1 axes (axes as an input from opset 13, as an attribute below).</summary>
    public string Unsqueeze(string x, params long[] axes) => WithAxes("Unsqueeze", x, axes, 13, null);
    /// <summary>Removes size-1 axes (axes as an input from opset 13, as an attribute below).</summary>
    public string Squeeze(string x, params long[] axes) => WithAxes("Squeeze", x, axes, 13, null);
    /// <summary>Slice [starts, ends) along axes.</summary>
    public string Slice(string x, long[] starts, long[] ends, long[] axes) => Node("Slice", new[] { x, Int64s(starts), Int64s(ends), Int64s(axes) });
    /// <summary>Mean over axes (axes as an input from opset 18, as an attribute below).</summary>
    public string ReduceMean(string x, long[] axes, bool keepDims = true) => WithAxes("ReduceMean", x, axes, 18, keepDims);
    /// <summary>Sum over axes (axes as an input from opset 13, as an attribute below).</summary>
    public string ReduceSum(string x, long[] axes, bool keepDims = true) => WithAxes("ReduceSum", x, axes, 13, keepDims);
    /// <summary>Max over axes (axes as an input from opset 18, as an attribute below).</summary>
    public string ReduceMax(string x, long[] axes, bool keepDims = true) => WithAxes("ReduceMax", x, axes, 18, keepDims);

    // Operators whose axes moved from an attribute to an input at some opset.
    private string WithAxes(string opType, string x, long[] axes, int axesInputFrom, bool? keepDims)
    {
        var attributes = new Dictionary<string, object>();
        if (keepDims is bool keep) attributes["keepdims"] = keep ? 1L : 0L;
        if (Opset >= axesInputFrom) return Node(opType, new[] { x, Int64s(axes) }, attributes);
        attributes["axes"] = axes;
        return Node(opType, new[] { x }, attributes);
    }
    /// <summary>Gathers slices of <paramref name="data"/> by <paramref name="indices"/> along <paramref name="axis"/>.</summary>
    public string Gather(string data, string indices, long axis = 0) => Node("Gather", new[] { data, indices }, new Dictionary<string, object> { ["axis"] = axis });
    /// <summary>Scatter-reduce of <paramref name="updates"/> into a copy of <paramref name="data"/> ("none", "add", "max", "min", "mul").</summary>
    public string ScatterElements(string data, string indices, string updates, long axis = 0, string reduction = "none")
    {
        if (reduction != "none") RequireOpset(16, $"ScatterElements with reduction '{reduction}'");
        var attributes = new Dictionary<string, object> { ["axis"] = axis };
        if (reduction != "none") attributes["reduction"] = reduction;
        return Node("ScatterElements", new[] { data, indices, updates }, attributes);
    }

    /// <summary>Standardises over <paramref name="axes"/> without affine parameters: (x − mean) / sqrt(var + eps).</summary>
    public string Standardize(string x, long[] axes, float eps)
    {
        var centered = Sub(x, ReduceMean(x, axes));
        var variance = ReduceMean(Mul(centered, centered), axes);
        return Div(centered, Sqrt(Add(variance, Scalar(eps))));
    }

    /// <summary>Layer normalisation over the last axis with optional affine weight/bias (ONNX LayerNormalization, opset ≥ 17).</summary>
    public string LayerNorm(string x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int size, float eps, string? prefix = null)
    {
        prefix ??= Unique("layernorm");
        var w = AddInitializer(prefix + ".weight", weight.IsEmpty ? Enumerable.Repeat(1f, size).ToArray() : weight, size);
        var b = AddInitializer(prefix + ".bias", bias.IsEmpty ? new float[size] : bias, size);
        if (Opset < 17) return Add(Mul(Standardize(x, new[] { -1L }, eps), w), b);   // LayerNormalization is opset 17
        return Node("LayerNormalization", new[] { x, w, b }, new Dictionary<string, object> { ["axis"] = -1L, ["epsilon"] = eps });
    }

    /// <summary>Inference-time batch normalisation with running statistics (affine weight/bias may be empty = identity).</summary>
    public string BatchNorm(string x, ReadOnlySpan<float> runningMean, ReadOnlySpan<float> runningVar, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, string? prefix = null)
    {
        prefix ??= Unique("batchnorm");
        int c = runningMean.Length;
        var inputs = new[]
        {
            x,
            AddInitializer(prefix + ".weight", weight.IsEmpty ? Enumerable.Repeat(1f, c).ToArray() : weight, c),
            AddInitializer(prefix + ".bias", bias.IsEmpty ? new float[c] : bias, c),
            AddInitializer(prefix + ".running_mean", runningMean, c),
            AddInitializer(prefix + ".running_var", runningVar, c),
        };
        return Node("BatchNormalization", inputs, new Dictionary<string, object> { ["epsilon"] = eps });
    }

    /// <summary>Instance normalisation without affine parameters over the spatial axes of [N, C, ...].</summary>
    public string InstanceNorm(string x, int channels, float eps, string? prefix = null)
    {
        prefix ??= Unique("instancenorm");
        var scale = AddInitializer(prefix + ".scale", Enumerable.Repeat(1f, channels).ToArray(), channels);
        var bias = AddInitializer(prefix + ".bias", new float[channels], channels);
        return Node("InstanceNormalization", new[] { x, scale, bias }, new Dictionary<string, object> { ["epsilon"] = eps });
    }
}
