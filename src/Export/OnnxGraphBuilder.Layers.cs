namespace MLNetExt.Export;

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
    /// <summary>Softmax over <paramref name="axis"/>.</summary>
    public string Softmax(string x, long axis = -1) => Node("Softmax", new[] { x }, new Dictionary<string, object> { ["axis"] = axis });
    /// <summary>Index of the maximum along <paramref name="axis"/> (int64).</summary>
    public string ArgMax(string x, long axis = -1, bool keepDims = false)
        => Node("ArgMax", new[] { x }, new Dictionary<string, object> { ["axis"] = axis, ["keepdims"] = keepDims ? 1L : 0L });
    /// <summary>Converts to another element type.</summary>
    public string Cast(string x, OnnxElementType to) => Node("Cast", new[] { x }, new Dictionary<string, object> { ["to"] = (long)to });
    /// <summary>Reshape to a constant shape (0 copies the input dimension, −1 infers it).</summary>
    public string Reshape(string x, params long[] shape) => Node("Reshape", new[] { x, Int64s(shape) });
    /// <summary>Permutes axes.</summary>
    public string Transpose(string x, params long[] perm) => Node("Transpose", new[] { x }, new Dictionary<string, object> { ["perm"] = perm });
    /// <summary>Concatenation along <paramref name="axis"/>.</summary>
    public string Concat(long axis, params string[] xs) => Node("Concat", xs, new Dictionary<string, object> { ["axis"] = axis });
    /// <summary>Inserts size-1 axes.</summary>
    public string Unsqueeze(string x, params long[] axes) => Node("Unsqueeze", new[] { x, Int64s(axes) });
    /// <summary>Removes size-1 axes.</summary>
    public string Squeeze(string x, params long[] axes) => Node("Squeeze", new[] { x, Int64s(axes) });
    /// <summary>Slice [starts, ends) along axes.</summary>
    public string Slice(string x, long[] starts, long[] ends, long[] axes) => Node("Slice", new[] { x, Int64s(starts), Int64s(ends), Int64s(axes) });
    /// <summary>Mean over axes (opset ≥ 18 form: axes as an input).</summary>
    public string ReduceMean(string x, long[] axes, bool keepDims = true)
        => Node("ReduceMean", new[] { x, Int64s(axes) }, new Dictionary<string, object> { ["keepdims"] = keepDims ? 1L : 0L });
    /// <summary>Sum over axes.</summary>
    public string ReduceSum(string x, long[] axes, bool keepDims = true)
        => Node("ReduceSum", new[] { x, Int64s(axes) }, new Dictionary<string, object> { ["keepdims"] = keepDims ? 1L : 0L });
    /// <summary>Max over axes (opset ≥ 18 form).</summary>
    public string ReduceMax(string x, long[] axes, bool keepDims = true)
        => Node("ReduceMax", new[] { x, Int64s(axes) }, new Dictionary<string, object> { ["keepdims"] = keepDims ? 1L : 0L });
    /// <summary>Gathers slices of <paramref name="data"/> by <paramref name="indices"/> along <paramref name="axis"/>.</summary>
    public string Gather(string data, string indices, long axis = 0) => Node("Gather", new[] { data, indices }, new Dictionary<string, object> { ["axis"] = axis });
    /// <summary>Scatter-reduce of <paramref name="updates"/> into a copy of <paramref name="data"/> ("none", "add", "max", "min", "mul").</summary>
    public string ScatterElements(string data, string indices, string updates, long axis = 0, string reduction = "none")
        => Node("ScatterElements", new[] { data, indices, updates }, new Dictionary<string, object> { ["axis"] = axis, ["reduction"] = reduction });

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
