using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>How the feature vector is laid out.</summary>
public enum TerminatorInputKind
{
    /// <summary>A C×H×W image (row-major, channels first); the global operator is a product over the spatial axes (H = W).</summary>
    Image,
    /// <summary>
    /// A pixel sequence of length L (C channels × L, e.g. 784 for a 28×28 image read row by row); the global operator is
    /// a full-length causal long convolution with a per-sample kernel. Our design: the authors released 2-D code only.
    /// </summary>
    Sequence,
}

/// <summary>
/// The Terminator network: a stack of <see cref="HyperZzwBlock"/>s at full resolution (no pooling, no additive residuals),
/// global average pooling and a linear head. Input [N, C·P] features; output [N, classes] logits.
/// </summary>
public sealed class TerminatorNetwork : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<HyperZzwBlock> blocks = new();
    private readonly Linear head;
    private readonly Tensor? permutation;
    private readonly SpatialShape _shape;
    private readonly int _inputChannels, _patch, _stemChannels;

    internal TerminatorNetwork(TerminatorArchitecture a) : base("TerminatorNetwork")
    {
        Architecture = a;
        _patch = a.Options.PatchSize;
        _shape = new SpatialShape(a.Dims.Select(d => d / _patch).ToArray());
        _inputChannels = a.InputChannels;
        var random = new Random(a.InitSeed);
        // A patch folds p² pixels (images) or p consecutive steps (sequences) into channels.
        _stemChannels = a.InputChannels * (int)Math.Pow(_patch, a.Dims.Length);
        int channels = _stemChannels;
        var outputs = new List<int>();
        for (int i = 0; i < a.Options.BlockChannels.Length; i++)
        {
            // Blocks from the third on also take the output of the block two before (channel-tiled concatenation).
            int earlier = i >= 2 ? outputs[i - 2] : 0;
            var block = new HyperZzwBlock(channels, a.Options.BlockChannels[i], earlier, _shape, a.Options, random);
            blocks.Add(block);
            outputs.Add(block.OutChannels);
            channels = block.OutChannels;
        }
        head = nn.Linear(channels, a.ClassCount);
        if (a.Permutation is { } p) permutation = tensor(p.Select(v => (long)v).ToArray());
        RegisterComponents();
    }

    internal TerminatorArchitecture Architecture { get; }

    /// <summary>Number of slow-fast blocks.</summary>
    public int BlockCount => blocks.Count;

    /// <inheritdoc/>
    public override Tensor forward(Tensor features)
    {
        long n = features.shape[0];
        Tensor x;
        if (Architecture.Options.Input == TerminatorInputKind.Image)
            x = _patch == 1
                ? features.view(n, _inputChannels, _shape.Points)
                : features.view(SpaceToDepthView(n)).permute(SpaceToDepthOrder).reshape(n, _stemChannels, _shape.Points);
        else
        {
            // Sequences: permute first (the permuted task scrambles single pixels), then fold p consecutive steps into channels.
            x = features.view(n, _inputChannels, _shape.Points * _patch);
            if (permutation is not null) x = x.index_select(2, permutation);
            if (_patch > 1) x = x.view(n, _inputChannels, _shape.Points, _patch).permute(SequenceFoldOrder).reshape(n, _stemChannels, _shape.Points);
        }
        var outputs = new List<Tensor>();
        for (int i = 0; i < blocks.Count; i++)
        {
            x = blocks[i].call(x, i >= 2 ? outputs[i - 2] : null);
            outputs.Add(x);
        }
        return head.call(x.mean(new long[] { 2 }));
    }

    // Space-to-depth: [N, C, H/p, p, W/p, p] → [N, C, p, p, H/p, W/p], so channel c·p² + dy·p + dx holds pixel (p·y + dy, p·x + dx).
    private static readonly long[] SpaceToDepthOrder = { 0, 1, 3, 5, 2, 4 };

    // Sequence fold: [N, C, L/p, p] → [N, C, p, L/p], so channel c·p + j holds step p·t + j.
    private static readonly long[] SequenceFoldOrder = { 0, 1, 3, 2 };

    private long[] SpaceToDepthView(long n) => new[] { n, _inputChannels, _shape.Dims[0], _patch, _shape.Dims[1], _patch };

    /// <summary>
    /// The slow networks' local feedback loss: Σ over block pairs j &lt; i of mean over positions of
    /// (Σ_c K_g^(j) − Σ_c K_g^(i))², pulling the blocks' global hyper-kernels toward a shared spatial pattern.
    /// </summary>
    public Tensor FeedbackLoss()
    {
        var sums = blocks.Select(b => b.GlobalKernelChannelSum()).ToList();
        Tensor loss = zeros(1, device: sums[0].device);
        for (int i = 1; i < sums.Count; i++)
            for (int j = 0; j < i; j++)
                loss = loss + (sums[j] - sums[i]).pow(2).mean();
        return loss.squeeze();
    }

    /// <summary>Global hyper-kernel of block <paramref name="block"/>, [1, C, P].</summary>
    public Tensor GlobalKernel(int block) => blocks[block].GlobalKernel();

    /// <summary>Adds the network (inference mode) to an ONNX graph; returns the [N, classes] logits.</summary>
    public string ToOnnx(OnnxGraphBuilder g, string features)
    {
        string x;
        if (Architecture.Options.Input == TerminatorInputKind.Image)
            x = _patch == 1
                ? g.Reshape(features, 0, _inputChannels, _shape.Points)
                : g.Reshape(g.Transpose(g.Reshape(features, SpaceToDepthView(0)), SpaceToDepthOrder), 0, _stemChannels, _shape.Points);
        else
        {
            x = g.Reshape(features, 0, _inputChannels, _shape.Points * _patch);
            if (permutation is not null) x = g.Gather(x, g.AddInitializer(g.Unique("permutation"), Architecture.Permutation!.Select(v => (long)v).ToArray(), Architecture.Permutation!.Length), 2);
            if (_patch > 1) x = g.Reshape(g.Transpose(g.Reshape(x, 0, _inputChannels, _shape.Points, _patch), SequenceFoldOrder), 0, _stemChannels, _shape.Points);
        }
        var outputs = new List<string>();
        for (int i = 0; i < blocks.Count; i++)
        {
            x = blocks[i].ToOnnx(g, x, i >= 2 ? outputs[i - 2] : null, $"block{i}");
            outputs.Add(x);
        }
        return g.Linear(g.ReduceMean(x, new long[] { 2 }, keepDims: false), head, "head");
    }
}

/// <summary>Everything needed to rebuild a <see cref="TerminatorNetwork"/> (saved with the model).</summary>
internal sealed record TerminatorArchitecture(TerminatorOptions Options, int InputChannels, int[] Dims, int ClassCount, int[]? Permutation, int InitSeed)
{
    public static TerminatorArchitecture From(TerminatorOptions o, int featureSize, int classCount, int seed)
    {
        int[] dims;
        int channels = o.InputChannels;
        if (featureSize % channels != 0)
            throw new ArgumentException($"The feature column has {featureSize} values, which is not a multiple of InputChannels = {channels}.");
        int points = featureSize / channels;
        if (o.Input == TerminatorInputKind.Image)
        {
            int side = (int)Math.Round(Math.Sqrt(points));
            if (o.ImageHeight > 0 && o.ImageWidth > 0)
            {
                if (o.ImageHeight * o.ImageWidth != points)
                    throw new ArgumentException($"The feature column has {featureSize} values but InputChannels × ImageHeight × ImageWidth = {channels}×{o.ImageHeight}×{o.ImageWidth} = {channels * o.ImageHeight * o.ImageWidth}.");
                if (o.ImageHeight != o.ImageWidth)
                    throw new ArgumentException($"Terminator's 2-D global operator needs square images; got {o.ImageHeight}×{o.ImageWidth}. Resize the images (e.g. mlContext.Transforms.ResizeImages) or use Input = Sequence.");
                dims = new[] { o.ImageHeight, o.ImageWidth };
            }
            else if (side * side == points) dims = new[] { side, side };
            else throw new ArgumentException($"The feature column has {points} values per channel, which is not a square image; set ImageHeight and ImageWidth, or use Input = Sequence.");
            if (dims.Any(d => d % o.PatchSize != 0))
                throw new ArgumentException($"PatchSize = {o.PatchSize} must divide the image size {dims[0]}×{dims[1]}; pick a divisor or resize the images.");
        }
        else
        {
            if (points % o.PatchSize != 0)
                throw new ArgumentException($"PatchSize = {o.PatchSize} must divide the sequence length {points}; pick a divisor.");
            dims = new[] { points };
        }
        int[]? permutation = null;
        if (o.Input == TerminatorInputKind.Sequence && o.PermuteSequence)
        {
            var random = new Random(o.PermutationSeed);
            permutation = Enumerable.Range(0, points).OrderBy(_ => random.Next()).ToArray();
        }
        return new TerminatorArchitecture(o, channels, dims, classCount, permutation, seed);
    }

    public void Write(BinaryWriter w)
    {
        w.Write((int)Options.Input);
        w.Write(InputChannels);
        w.Write(Dims.Length); foreach (var d in Dims) w.Write(d);
        w.Write(ClassCount);
        w.Write(Permutation?.Length ?? 0); foreach (var p in Permutation ?? Array.Empty<int>()) w.Write(p);
        w.Write(InitSeed);
        w.Write(Options.BlockChannels.Length); foreach (var c in Options.BlockChannels) w.Write(c);
        w.Write(Options.LocalKernelSizes.Length); foreach (var k in Options.LocalKernelSizes) w.Write(k);
        w.Write(Options.GlobalHidden); w.Write(Options.LocalHidden); w.Write(Options.SlowLayers);
        w.Write(Options.Omega0); w.Write(Options.GammaAlpha); w.Write(Options.GammaBeta);
        w.Write(Options.HyperKernels); w.Write(Options.BlockDropout); w.Write(Options.NormalizationGroups);
        w.Write(Options.PatchSize);
    }

    public static TerminatorArchitecture Read(BinaryReader r)
    {
        var input = (TerminatorInputKind)r.ReadInt32();
        int channels = r.ReadInt32();
        var dims = Enumerable.Range(0, r.ReadInt32()).Select(_ => r.ReadInt32()).ToArray();
        int classes = r.ReadInt32();
        int permutationLength = r.ReadInt32();
        var permutation = permutationLength == 0 ? null : Enumerable.Range(0, permutationLength).Select(_ => r.ReadInt32()).ToArray();
        int seed = r.ReadInt32();
        var o = new TerminatorOptions
        {
            Input = input, InputChannels = channels,
            BlockChannels = Enumerable.Range(0, r.ReadInt32()).Select(_ => r.ReadInt32()).ToArray(),
            LocalKernelSizes = Enumerable.Range(0, r.ReadInt32()).Select(_ => r.ReadInt32()).ToArray(),
            GlobalHidden = r.ReadInt32(), LocalHidden = r.ReadInt32(), SlowLayers = r.ReadInt32(),
            Omega0 = r.ReadDouble(), GammaAlpha = r.ReadDouble(), GammaBeta = r.ReadDouble(),
            HyperKernels = r.ReadBoolean(), BlockDropout = r.ReadDouble(), NormalizationGroups = r.ReadInt32(),
            PatchSize = r.ReadInt32(),
        };
        return new TerminatorArchitecture(o, channels, dims, classes, permutation, seed);
    }
}
