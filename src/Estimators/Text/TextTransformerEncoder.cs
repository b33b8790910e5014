using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>Size of a <see cref="TextTransformerEncoder"/>.</summary>
public interface ITextEncoderShape
{
    /// <summary>Tokens per input (longer texts are cut, shorter ones padded); position 0 is [CLS].</summary>
    int MaxLength { get; }
    /// <summary>Largest vocabulary learned from the training texts.</summary>
    int VocabularySize { get; }
    /// <summary>Number of encoder layers.</summary>
    int Layers { get; }
    /// <summary>Width of token representations.</summary>
    int ModelDimension { get; }
    /// <summary>Attention heads per layer (must divide <see cref="ModelDimension"/>).</summary>
    int Heads { get; }
    /// <summary>Hidden width of each layer's feed-forward block.</summary>
    int FeedForwardDimension { get; }
    /// <summary>Dropout while training.</summary>
    double Dropout { get; }
}

/// <summary>
/// One pre-norm Transformer encoder layer: x + g·SelfAttention(LN(x)), then + g·FFN(LN(·)) with GELU, where g is the
/// layer's gate (1 unless gate training is switched on). The FFN ("MLP") output can be zeroed and captured, which is
/// what layer ablation and MLP-output regularisation need.
/// </summary>
public sealed class TransformerEncoderLayer : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly LayerNorm norm1, norm2;
    private readonly Linear qkv, output, ff1, ff2;
    private readonly Parameter gate;
    private readonly int _heads;
    private readonly double _dropout;

    /// <summary>When true the FFN output is replaced by zeros (MLP zero-out ablation).</summary>
    internal bool ZeroMlp { get; set; }
    /// <summary>When true, <see cref="LastMlpOutput"/> keeps the FFN output ([N, L, d]) of the last forward pass.</summary>
    internal bool CaptureMlp { get; set; }
    /// <summary>FFN output of the last forward pass, when captured.</summary>
    internal Tensor? LastMlpOutput { get; private set; }
    /// <summary>The scalar gate on the layer's residual contributions (frozen at 1 unless made trainable).</summary>
    public Parameter Gate => gate;

    /// <summary>Creates a layer of width <paramref name="dim"/>.</summary>
    public TransformerEncoderLayer(int dim, int heads, int feedForward, double dropout) : base("EncoderLayer")
    {
        if (dim % heads != 0) throw new ArgumentException($"ModelDimension {dim} is not divisible by Heads {heads}.");
        norm1 = nn.LayerNorm(dim);
        norm2 = nn.LayerNorm(dim);
        qkv = nn.Linear(dim, 3 * dim);
        output = nn.Linear(dim, dim);
        ff1 = nn.Linear(dim, feedForward);
        ff2 = nn.Linear(feedForward, dim);
        gate = new Parameter(torch.ones(1), requires_grad: false);
        _heads = heads;
        _dropout = dropout;
        RegisterComponents();
    }

    /// <summary>Applies the layer; <paramref name="attentionBias"/> is [N, 1, 1, L] (0 for tokens, −1e9 for padding).</summary>
    public override Tensor forward(Tensor x, Tensor attentionBias)
    {
        long n = x.shape[0], l = x.shape[1], d = x.shape[2], dh = d / _heads;
        var parts = qkv.call(norm1.call(x)).reshape(n, l, 3, _heads, dh).permute(2, 0, 3, 1, 4);   // 3, N, H, L, dh
        var scores = parts[0].matmul(parts[1].transpose(-2, -1)) / Math.Sqrt(dh) + attentionBias;
        var attended = nn.functional.softmax(scores, -1).matmul(parts[2]).transpose(1, 2).reshape(n, l, d);
        x = x + gate * nn.functional.dropout(output.call(attended), _dropout, training);
        var ff = ff2.call(nn.functional.gelu(ff1.call(norm2.call(x))));
        if (ZeroMlp) ff = torch.zeros_like(ff);
        LastMlpOutput = CaptureMlp ? ff : null;
        return x + gate * nn.functional.dropout(ff, _dropout, training);
    }

    internal string ToOnnx(OnnxGraphBuilder g, string x, string bias, int dim, string prefix)
    {
        long dh = dim / _heads;
        var normed = LayerNormOnnx(g, x, norm1, dim, prefix + ".norm1");
        var parts = g.Transpose(g.Reshape(g.LinearNd(normed, qkv, prefix + ".qkv"), 0, 0, 3, _heads, dh), 2, 0, 3, 1, 4);
        string Part(int i) => g.Squeeze(g.Slice(parts, new long[] { i }, new long[] { i + 1 }, new long[] { 0 }), 0);
        var scores = g.Add(g.Div(g.MatMul(Part(0), g.Transpose(Part(1), 0, 1, 3, 2)), g.Scalar((float)Math.Sqrt(dh))), bias);
        var attended = g.Reshape(g.Transpose(g.MatMul(g.Softmax(scores, -1), Part(2)), 0, 2, 1, 3), 0, 0, dim);
        var gateValue = g.Constant(prefix + ".gate", gate);
        x = g.Add(x, g.Mul(g.LinearNd(attended, output, prefix + ".out"), gateValue));
        if (ZeroMlp) return x;
        var ff = g.LinearNd(g.Gelu(g.LinearNd(LayerNormOnnx(g, x, norm2, dim, prefix + ".norm2"), ff1, prefix + ".ff1")), ff2, prefix + ".ff2");
        return g.Add(x, g.Mul(ff, gateValue));
    }

    internal static string LayerNormOnnx(OnnxGraphBuilder g, string x, LayerNorm norm, int dim, string prefix)
        => g.LayerNorm(x, norm.weight!.ToFloatArray(), norm.bias!.ToFloatArray(), dim, (float)norm.eps, prefix);
}

/// <summary>
/// A small Transformer encoder over token ids (as floats, [N, MaxLength], 0 = padding) that classifies from the [CLS]
/// position. A copy can skip layers (<see cref="WithSkippedLayers"/>) and outputs can be captured
/// (<see cref="CaptureHiddenStates"/>) for layer analysis and layer-regularised fine-tuning.
/// </summary>
public sealed class TextTransformerEncoder : nn.Module<Tensor, Tensor>
{
    private readonly Embedding tokens, positions;
    private readonly ModuleList<TransformerEncoderLayer> layers = new();
    private readonly LayerNorm finalNorm;
    private readonly Linear head;
    private readonly int _dim, _maxLength, _outputs;
    private readonly double _dropout;

    /// <summary>Creates the encoder for <paramref name="vocabulary"/> ids and <paramref name="outputs"/> logits.</summary>
    public TextTransformerEncoder(int vocabulary, ITextEncoderShape shape, int outputs) : base("TextTransformerEncoder")
    {
        _dim = shape.ModelDimension;
        _maxLength = shape.MaxLength;
        _outputs = outputs;
        _dropout = shape.Dropout;
        Shape = new TextEncoderShape(shape);
        Vocabulary = vocabulary;
        tokens = nn.Embedding(vocabulary, _dim);
        positions = nn.Embedding(_maxLength, _dim);
        for (int i = 0; i < shape.Layers; i++) layers.Add(new TransformerEncoderLayer(_dim, shape.Heads, shape.FeedForwardDimension, shape.Dropout));
        finalNorm = nn.LayerNorm(_dim);
        head = nn.Linear(_dim, outputs);
        RegisterComponents();
    }

    /// <summary>The configuration this encoder was built with.</summary>
    public TextEncoderShape Shape { get; }
    /// <summary>Number of token ids.</summary>
    public int Vocabulary { get; }
    /// <summary>Number of encoder layers.</summary>
    public int LayerCount => layers.Count;
    /// <summary>The encoder layers (for MLP ablation, MLP-output capture and gates).</summary>
    public IReadOnlyList<TransformerEncoderLayer> EncoderLayers => layers.ToList();
    /// <summary>
    /// Replaces the residual stream entering layer <c>Layer</c> by <c>Replacement</c> ([N, L, d]) where <c>Mask</c> ([N, L], 1/0) is 1
    /// (activation patching); null for a normal forward pass.
    /// </summary>
    internal (int Layer, Tensor Replacement, Tensor Mask)? ResidualPatch { get; set; }
    /// <summary>When true, <see cref="LayerInputs"/> receives the residual stream entering each layer on each forward pass.</summary>
    internal bool CaptureLayerInputs { get; set; }
    /// <summary>Residual stream entering each layer in the last forward pass, when captured.</summary>
    internal IReadOnlyList<Tensor> LayerInputs { get; private set; } = Array.Empty<Tensor>();
    /// <summary>Layers (0-based) bypassed in the forward pass and the ONNX export; fixed when the encoder is made.</summary>
    public IReadOnlySet<int> SkippedLayers { get; private set; } = new SortedSet<int>();

    /// <summary>
    /// A new encoder with this one's weights (copied) that bypasses <paramref name="layers"/> (0-based), e.g. to measure
    /// a layer's effect; this encoder is unchanged. An empty list gives a copy that runs every layer.
    /// </summary>
    public TextTransformerEncoder WithSkippedLayers(IEnumerable<int> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var skipped = new SortedSet<int>(layers);
        if (skipped.Any(i => i < 0 || i >= LayerCount))
            throw new ArgumentOutOfRangeException(nameof(layers), $"Layers to skip must be in 0..{LayerCount - 1}; got {string.Join(", ", skipped)}.");
        var copy = new TextTransformerEncoder(Vocabulary, Shape, _outputs) { SkippedLayers = skipped };
        using (torch.no_grad()) copy.load_state_dict(state_dict());
        copy.to(parameters().First().device);
        copy.train(training);
        return copy;
    }
    /// <summary>When true, <see cref="HiddenStates"/> receives every layer's output ([N, L, d]) on each forward pass.</summary>
    internal bool CaptureHiddenStates { get; set; }
    /// <summary>Outputs of the layers of the last forward pass (index = layer), when captured; null for skipped layers.</summary>
    internal IReadOnlyList<Tensor?> HiddenStates { get; private set; } = Array.Empty<Tensor?>();

    /// <inheritdoc/>
    public override Tensor forward(Tensor ids)
    {
        var tokenIds = ids.to(ScalarType.Int64);
        long l = tokenIds.shape[1];
        if (l != _maxLength) throw new ArgumentException($"Expected {_maxLength} token ids per row, got {l}.");
        // Rows are padded at the end only; when nothing needs the full width (patching, captures), drop the columns
        // that are padding in every row. Pad keys are masked out, so outputs are unchanged and batches run faster.
        if (ResidualPatch is null && !CaptureLayerInputs && !CaptureHiddenStates)
        {
            long used = (tokenIds != WordTokenizer.Pad).sum(1).max().item<long>();
            if (used > 0 && used < l) { tokenIds = tokenIds.narrow(1, 0, used); l = used; }
        }
        var bias = (tokenIds == WordTokenizer.Pad).to(ScalarType.Float32).mul(-1e9f).reshape(tokenIds.shape[0], 1, 1, l);
        var x = tokens.call(tokenIds) + positions.weight!.narrow(0, 0, l).unsqueeze(0);
        x = nn.functional.dropout(x, _dropout, training);
        var hidden = CaptureHiddenStates ? new Tensor?[layers.Count] : null;
        var inputs = CaptureLayerInputs ? new Tensor[layers.Count] : null;
        for (int i = 0; i < layers.Count; i++)
        {
            if (ResidualPatch is { } patch && patch.Layer == i)
            {
                var m = patch.Mask.to(x.dtype).unsqueeze(-1);
                x = x * (1 - m) + patch.Replacement * m;
            }
            if (inputs != null) inputs[i] = x;
            if (SkippedLayers.Contains(i)) continue;
            x = layers[i].call(x, bias);
            if (hidden != null) hidden[i] = x;
        }
        if (hidden != null) HiddenStates = hidden;
        if (inputs != null) LayerInputs = inputs;
        var cls = x.select(1, 0);
        return head.call(finalNorm.call(cls));
    }

    /// <summary>Adds the encoder (without its <see cref="SkippedLayers"/>) to an ONNX graph; returns the [N, outputs] logits.</summary>
    public string ToOnnx(OnnxGraphBuilder g, string ids)
    {
        var tokenIds = g.Cast(ids, OnnxElementType.Int64);
        var bias = g.Unsqueeze(g.Mul(g.Cast(g.Node("Equal", new[] { tokenIds, g.AddInitializer(g.Unique("pad"), new long[] { WordTokenizer.Pad }) }), OnnxElementType.Float), g.Scalar(-1e9f)), 1, 2);
        var x = g.Add(g.Gather(g.Constant("tokens", tokens.weight!), tokenIds), g.Constant("positions", positions.weight!));
        for (int i = 0; i < layers.Count; i++)
            if (!SkippedLayers.Contains(i)) x = layers[i].ToOnnx(g, x, bias, _dim, $"layer{i}");
        var cls = g.Squeeze(g.Slice(x, new long[] { 0 }, new long[] { 1 }, new long[] { 1 }), 1);
        return g.Linear(TransformerEncoderLayer.LayerNormOnnx(g, cls, finalNorm, _dim, "final_norm"), head, "head");
    }

    internal void Write(BinaryWriter w)
    {
        w.Write(Vocabulary);
        Shape.Write(w);
        w.Write(_outputs);
    }

    /// <summary>Written after the whole configuration, so models saved before skipped layers were stored still load.</summary>
    internal void WriteSkippedLayers(BinaryWriter w)
    {
        w.Write(SkippedLayers.Count);
        foreach (var i in SkippedLayers) w.Write(i);
    }

    internal void ReadSkippedLayers(BinaryReader r)
    {
        if (r.BaseStream.Position >= r.BaseStream.Length) return;
        SkippedLayers = new SortedSet<int>(Enumerable.Range(0, r.ReadInt32()).Select(_ => r.ReadInt32()));
    }

    internal static TextTransformerEncoder Read(BinaryReader r)
    {
        int vocabulary = r.ReadInt32();
        var shape = TextEncoderShape.Read(r);
        return new TextTransformerEncoder(vocabulary, shape, r.ReadInt32());
    }
}

/// <summary>An immutable copy of an <see cref="ITextEncoderShape"/>.</summary>
public sealed record TextEncoderShape(int MaxLength, int VocabularySize, int Layers, int ModelDimension, int Heads, int FeedForwardDimension, double Dropout) : ITextEncoderShape
{
    /// <summary>Copies <paramref name="s"/>.</summary>
    public TextEncoderShape(ITextEncoderShape s) : this(s.MaxLength, s.VocabularySize, s.Layers, s.ModelDimension, s.Heads, s.FeedForwardDimension, s.Dropout) { }

    internal void Write(BinaryWriter w)
    {
        w.Write(MaxLength); w.Write(VocabularySize); w.Write(Layers); w.Write(ModelDimension); w.Write(Heads); w.Write(FeedForwardDimension); w.Write(Dropout);
    }

    internal static TextEncoderShape Read(BinaryReader r)
        => new(r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadDouble());
}
