using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>Spatial layout of the fast network's activations: [N, C, P] with P = product of <see cref="Dims"/> (28×28, or 784 for sequences).</summary>
internal sealed record SpatialShape(int[] Dims)
{
    public int Rank => Dims.Length;
    public int Points => Dims.Aggregate(1, (a, b) => a * b);
    public long[] View(long n, long c) => new[] { n, c }.Concat(Dims.Select(d => (long)d)).ToArray();
}

/// <summary>A 1×1 convolution on [N, C, P] activations (a matrix product over channels).</summary>
internal sealed class Pointwise : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight, bias;

    public Pointwise(int inChannels, int outChannels) : base("Pointwise")
    {
        weight = new Parameter(empty(outChannels, inChannels));
        nn.init.kaiming_uniform_(weight, a: Math.Sqrt(5));
        bias = new Parameter(zeros(outChannels, 1));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => weight.matmul(x) + bias;

    public string ToOnnx(OnnxGraphBuilder g, string x, string prefix)
        => g.Add(g.MatMul(g.Constant(prefix + ".weight", weight), x), g.Constant(prefix + ".bias", bias));
}

/// <summary>Standardisation without affine parameters: per-sample (instance) and running batch statistics.</summary>
internal static class Standardization
{
    public const double Epsilon = 1e-5;

    /// <summary>Per-sample, per-channel statistics over the spatial axis (batch-independent).</summary>
    public static Tensor Instance(Tensor x)
    {
        var (variance, mean) = var_mean(x, 2, unbiased: false, keepdim: true);
        return (x - mean) / (variance + Epsilon).sqrt();
    }

    public static string InstanceOnnx(OnnxGraphBuilder g, string x) => g.Standardize(x, new long[] { 2 }, (float)Epsilon);

    /// <summary>Batch statistics in training, running statistics at inference (so a row's score never depends on its batch-mates).</summary>
    public static BatchNorm1d Batch(int channels) => nn.BatchNorm1d(channels, Epsilon, affine: false, track_running_stats: true);

    public static string BatchOnnx(OnnxGraphBuilder g, string x, BatchNorm1d norm)
    {
        var mean = norm.running_mean!.ToFloatArray();
        var variance = norm.running_var!.ToFloatArray();
        var scale = variance.Select(v => (float)(1 / Math.Sqrt(v + Epsilon))).ToArray();
        var shift = mean.Select((m, i) => -m * scale[i]).ToArray();
        return g.Add(g.Mul(x, g.AddInitializer(g.Unique("bs_scale"), scale, scale.Length, 1)), g.AddInitializer(g.Unique("bs_shift"), shift, shift.Length, 1));
    }
}

/// <summary>
/// Recursive gated unit: K = W_k x, V = W_v x, Q = GELU(IN(K ⊙ W_q V)) + P, Y = W_y Q (all 1×1, P a learned spatial map).
/// </summary>
internal sealed class RecursiveGatedUnit : nn.Module<Tensor, Tensor>
{
    private readonly Pointwise key, value, query, mix;
    private readonly Parameter positional;

    public RecursiveGatedUnit(int channels, int points) : base("RecursiveGatedUnit")
    {
        key = new Pointwise(channels, channels);
        value = new Pointwise(channels, channels);
        query = new Pointwise(channels, channels);
        mix = new Pointwise(channels, channels);
        positional = new Parameter(zeros(1, 1, points));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var k = key.call(x);
        var q = nn.functional.gelu(Standardization.Instance(k * query.call(value.call(x)))) + positional;
        return mix.call(q);
    }

    public string ToOnnx(OnnxGraphBuilder g, string x, string prefix)
    {
        var k = key.ToOnnx(g, x, prefix + ".key");
        var v = value.ToOnnx(g, x, prefix + ".value");
        var q = g.Add(g.Gelu(Standardization.InstanceOnnx(g, g.Mul(k, query.ToOnnx(g, v, prefix + ".query")))), g.Constant(prefix + ".positional", positional));
        return mix.ToOnnx(g, q, prefix + ".mix");
    }
}

/// <summary>
/// Local HyperZ·Z·W branch: a context-dependent depthwise kernel from a MAGNet_L slow network whose context is the
/// (batch-averaged) pooled source activations, applied to the target activations, then 1×1 mix → batch standardisation → GELU.
/// The context's running average is kept and used at inference, so the exported kernel is a constant and scores are
/// batch-independent (the released code uses the current batch's mean also at inference).
/// </summary>
internal sealed class LocalHyperZzwBranch : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly KernelSource kernel;
    private readonly Pointwise contextIn, contextOut, mix;
    private readonly BatchNorm1d norm;
    private readonly Parameter bias;
    private readonly Tensor runningContext;
    private readonly SpatialShape _shape;
    private readonly int _size, _channels;
    private readonly bool _hyper;

    public LocalHyperZzwBranch(int channels, int size, SpatialShape shape, TerminatorOptions o, Random random) : base("LocalHyperZzwBranch")
    {
        _shape = shape;
        _size = size;
        _channels = channels;
        _hyper = o.HyperKernels;
        var grid = Enumerable.Repeat(size, shape.Rank).ToArray();
        int points = grid.Aggregate(1, (a, b) => a * b);
        kernel = o.HyperKernels
            ? new MagNet(grid, o.LocalHidden, o.SlowLayers, channels, o.Omega0, o.GammaAlpha, o.GammaBeta, conditioned: true, random)
            : new PlainKernel(points, channels);
        contextIn = new Pointwise(channels, o.LocalHidden);
        contextOut = new Pointwise(o.LocalHidden, o.LocalHidden);
        mix = new Pointwise(channels, channels);
        norm = Standardization.Batch(channels);
        bias = new Parameter(zeros(1));
        runningContext = zeros(o.LocalHidden, points);
        RegisterComponents();
    }

    /// <summary>The depthwise kernel [C, 1, k(, k)] for <paramref name="source"/> (training) or from the running context (inference).</summary>
    public Tensor Kernel(Tensor? source)
    {
        Tensor? context = null;
        if (_hyper)
        {
            if (training && source is not null)
            {
                var pooled = _shape.Rank == 2
                    ? nn.functional.adaptive_avg_pool2d(source.view(_shape.View(source.shape[0], _channels)), new long[] { _size, _size }).flatten(2)
                    : nn.functional.adaptive_avg_pool1d(source, _size);
                var batchContext = nn.functional.gelu(contextOut.call(contextIn.call(pooled).mean(new long[] { 0 }, keepdim: true))).squeeze(0);
                using (no_grad()) runningContext.mul_(0.9).add_(batchContext.detach(), alpha: 0.1);
                context = batchContext;
            }
            else context = runningContext;
            context = context.t();
        }
        var k = kernel.Generate(context).t();                              // [C, points]
        return k.reshape(new long[] { _channels, 1 }.Concat(Enumerable.Repeat((long)_size, _shape.Rank)).ToArray());
    }

    public override Tensor forward(Tensor source, Tensor target)
    {
        var convolved = Depthwise(target.view(_shape.View(target.shape[0], _channels)), Kernel(source), _size / 2);
        return nn.functional.gelu(norm.call(mix.call(convolved.flatten(2)))) + bias;
    }

    /// <summary>
    /// Depthwise convolution with "same" padding. libtorch 2.10's CPU backward returns wrong input gradients for
    /// single-channel convolutions, 1-D and 2-D — non-finite in up to 45 of 200 calls, wrong but finite in others — which
    /// corrupted (and often skipped) the first block's training steps on grayscale inputs; depthwise with two or more
    /// groups is correct, so a single channel is convolved as two groups with a zero partner.
    /// </summary>
    internal static Tensor Depthwise(Tensor x, Tensor kernel, int padding)
    {
        long channels = x.shape[1];
        if (channels == 1) return Depthwise(cat(new[] { x, zeros_like(x) }, 1), cat(new[] { kernel, zeros_like(kernel) }, 0), padding).narrow(1, 0, 1);
        return x.dim() == 4
            ? nn.functional.conv2d(x, kernel, padding: new long[] { padding, padding }, groups: channels)
            : nn.functional.conv1d(x, kernel, padding: padding, groups: channels);
    }

    public string ToOnnx(OnnxGraphBuilder g, string target, string prefix)
    {
        Tensor k;
        using (no_grad()) k = Kernel(null);
        var spatial = g.Reshape(target, new long[] { 0, _channels }.Concat(_shape.Dims.Select(d => (long)d)).ToArray());
        var pads = Enumerable.Repeat((long)(_size / 2), 2 * _shape.Rank).ToArray();
        var convolved = g.ConvWith(spatial, g.Constant(prefix + ".kernel", k), null, _shape.Rank, pads: pads, group: _channels);
        var flat = g.Reshape(convolved, 0, _channels, _shape.Points);
        var y = g.Gelu(Standardization.BatchOnnx(g, mix.ToOnnx(g, flat, prefix + ".mix"), norm));
        return g.Add(y, g.Constant(prefix + ".bias", bias));
    }
}

/// <summary>
/// One slow-fast block (SFNE): the global HyperZ·Z·W operator (context-dependent weights Ŵ = Z ⊙ W_global, acting on
/// Z by a product over the spatial axes in 2-D or a full-length causal long convolution in 1-D), two recursive gated
/// units, the hyper-channel interaction, four local HyperZ·Z·W branches, the hyper-interaction (channel × spatial),
/// all concatenated (with an earlier block's output, channel-tiled — reuse without additive residuals) into a 1×1
/// bottleneck, then group-interleaved batch/instance standardisation (G-IBS, no affine) → GELU → dropout.
/// </summary>
internal sealed class HyperZzwBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly KernelSource globalKernel, channelKernel, interactChannelKernel, interactSpatialKernel;
    private readonly RecursiveGatedUnit gatedA, gatedB;
    private readonly Pointwise mixer, bottleneck;
    private readonly ModuleList<LocalHyperZzwBranch> locals = new();
    private readonly BatchNorm1d outputNorm;
    private readonly Tensor batchGroups;
    private readonly SpatialShape _shape;
    private readonly int _channels, _outChannels, _earlierChannels;
    private readonly double _dropout;

    public HyperZzwBlock(int channels, int outChannels, int earlierChannels, SpatialShape shape, TerminatorOptions o, Random random) : base("HyperZzwBlock")
    {
        _shape = shape;
        _channels = channels;
        _outChannels = outChannels;
        _earlierChannels = earlierChannels;
        _dropout = o.BlockDropout;
        KernelSource Slow(int[] grid, int hidden, int outputs) => o.HyperKernels
            ? new MagNet(grid, hidden, o.SlowLayers, outputs, o.Omega0, o.GammaAlpha, o.GammaBeta, conditioned: false, random)
            : new PlainKernel(grid.Aggregate(1, (a, b) => a * b), outputs);
        globalKernel = Slow(shape.Dims, o.GlobalHidden, channels);
        channelKernel = Slow(new[] { channels }, o.LocalHidden, 1);
        interactChannelKernel = Slow(new[] { channels }, o.LocalHidden, 1);
        interactSpatialKernel = Slow(shape.Dims, o.GlobalHidden, 1);
        gatedA = new RecursiveGatedUnit(channels, shape.Points);
        gatedB = new RecursiveGatedUnit(channels, shape.Points);
        mixer = new Pointwise(channels, channels);
        foreach (var k in o.LocalKernelSizes) locals.Add(new LocalHyperZzwBranch(channels, k, shape, o, random));
        bottleneck = new Pointwise(BranchCount * channels + (earlierChannels > 0 ? channels : 0), outChannels);
        outputNorm = Standardization.Batch(outChannels);
        // G-IBS: channel groups alternate between batch (even groups) and instance (odd groups) standardisation.
        int groups = Math.Min(o.NormalizationGroups, outChannels);
        batchGroups = tensor(Enumerable.Range(0, outChannels).Select(c => (c * groups / outChannels) % 2 == 0 ? 1f : 0f).ToArray()).reshape(outChannels, 1);
        RegisterComponents();
    }

    /// <summary>Number of concatenated branches (before earlier-block reuse).</summary>
    public const int BranchCount = 10;

    /// <summary>Output channels.</summary>
    public int OutChannels => _outChannels;

    /// <summary>The global hyper-kernel, [1, C, P]; it does not depend on the input.</summary>
    public Tensor GlobalKernel() => globalKernel.Generate(null).t().unsqueeze(0);

    private static Tensor ChannelKernel(KernelSource source) => source.Generate(null).reshape(1, -1, 1);

    public override Tensor forward(Tensor x, Tensor? earlier)
    {
        var context = x * GlobalKernel();                                                     // Ŵ = Z ⊙ W
        var fast = Standardization.Instance(gatedB.call(context) + gatedA.call(x));
        var mixed = Standardization.Instance(mixer.call(x));
        var gap = x.mean(new long[] { 2 }, keepdim: true);
        var hci = Standardization.Instance(x * (ChannelKernel(channelKernel) * gap * gap).sigmoid()); // HyperZZW_2E = W ⊙ Z ⊙ Z
        var outFast = GlobalOperator(context, fast);
        var outMixed = GlobalOperator(context, mixed);
        var outHci = GlobalOperator(context, hci);
        var outGlu = outFast.sigmoid() * outFast;
        var outGap = outFast.mean(new long[] { 2 }, keepdim: true);
        var outChannelMean = outFast.mean(new long[] { 1 }, keepdim: true);
        var interaction = (ChannelKernel(interactChannelKernel) * outGap * outGap) * (interactSpatialKernel.Generate(null).reshape(1, 1, -1) * outChannelMean * outChannelMean);
        var hyper = x * interaction.sigmoid();
        // Local branches: kernel from one stream, applied to another (pairing of the released code).
        var local1 = locals[0].call(x, hci);
        var local2 = locals[1].call(hci, x);
        var local3 = locals[2].call(mixed, x);
        var local4 = locals[3].call(x, mixed);
        var branches = new List<Tensor> { outFast, local2, fast, outMixed, local1, outGlu, local3, outHci, local4, hyper };
        if (earlier is not null) branches.Add(TileChannels(earlier, _channels));
        var y = bottleneck.call(cat(branches, 1));
        y = batchGroups * outputNorm.call(y) + (1 - batchGroups) * Standardization.Instance(y);
        y = nn.functional.gelu(y);
        return _dropout > 0 ? nn.functional.dropout1d(y, _dropout, training) : y;
    }

    /// <summary>Global HyperZ·Z·W: Ŵ acting on Z — product over the two spatial axes (2-D) or causal long convolution (1-D), normalised by the summed length.</summary>
    private Tensor GlobalOperator(Tensor weights, Tensor z)
    {
        long n = z.shape[0];
        if (_shape.Rank == 2)
        {
            int side = _shape.Dims[0];
            return weights.view(_shape.View(n, _channels)).matmul(z.view(_shape.View(n, _channels))).flatten(2) / side;
        }
        return LongConvolution.Causal(z, weights) / _shape.Points;
    }

    /// <summary>Repeats (and truncates) channels of an earlier block's output to <paramref name="channels"/>.</summary>
    internal static Tensor TileChannels(Tensor earlier, int channels)
    {
        long c = earlier.shape[1];
        var repeated = earlier.repeat(1, (channels + c - 1) / c, 1);
        return repeated.narrow(1, 0, channels);
    }

    /// <summary>Σ_c of the global hyper-kernel, [P] — what the local feedback loss compares between blocks.</summary>
    public Tensor GlobalKernelChannelSum() => GlobalKernel().sum(new long[] { 0, 1 });

    public string ToOnnx(OnnxGraphBuilder g, string x, string? earlier, string prefix)
    {
        Tensor globalK, channelK, interactC, interactS;
        using (no_grad())
        {
            // Input-independent hyper-kernels are evaluated once and baked in as constants.
            globalK = GlobalKernel();
            channelK = ChannelKernel(channelKernel);
            interactC = ChannelKernel(interactChannelKernel);
            interactS = interactSpatialKernel.Generate(null).reshape(1, 1, -1);
        }
        var context = g.Mul(x, g.Constant(prefix + ".global_kernel", globalK));
        var fast = Standardization.InstanceOnnx(g, g.Add(gatedB.ToOnnx(g, context, prefix + ".rgu_b"), gatedA.ToOnnx(g, x, prefix + ".rgu_a")));
        var mixed = Standardization.InstanceOnnx(g, mixer.ToOnnx(g, x, prefix + ".mixer"));
        var gap = g.ReduceMean(x, new long[] { 2 });
        var hci = Standardization.InstanceOnnx(g, g.Mul(x, g.Sigmoid(g.Mul(g.Mul(g.Constant(prefix + ".channel_kernel", channelK), gap), gap))));
        var outFast = GlobalOperatorOnnx(g, context, fast);
        var outMixed = GlobalOperatorOnnx(g, context, mixed);
        var outHci = GlobalOperatorOnnx(g, context, hci);
        var outGlu = g.Mul(g.Sigmoid(outFast), outFast);
        var outGap = g.ReduceMean(outFast, new long[] { 2 });
        var outChannelMean = g.ReduceMean(outFast, new long[] { 1 });
        var channelScore = g.Mul(g.Mul(g.Constant(prefix + ".interact_channel", interactC), outGap), outGap);
        var spatialScore = g.Mul(g.Mul(g.Constant(prefix + ".interact_spatial", interactS), outChannelMean), outChannelMean);
        var hyper = g.Mul(x, g.Sigmoid(g.Mul(channelScore, spatialScore)));
        var local1 = locals[0].ToOnnx(g, hci, prefix + ".local1");
        var local2 = locals[1].ToOnnx(g, x, prefix + ".local2");
        var local3 = locals[2].ToOnnx(g, x, prefix + ".local3");
        var local4 = locals[3].ToOnnx(g, mixed, prefix + ".local4");
        var branches = new List<string> { outFast, local2, fast, outMixed, local1, outGlu, local3, outHci, local4, hyper };
        if (earlier is not null) branches.Add(TileChannelsOnnx(g, earlier, _earlierChannels, _channels));
        var y = bottleneck.ToOnnx(g, g.Concat(1, branches.ToArray()), prefix + ".bottleneck");
        var mask = g.Constant(prefix + ".batch_groups", batchGroups);
        var instanceMask = g.Constant(prefix + ".instance_groups", 1 - batchGroups);
        y = g.Add(g.Mul(mask, Standardization.BatchOnnx(g, y, outputNorm)), g.Mul(instanceMask, Standardization.InstanceOnnx(g, y)));
        return g.Gelu(y);
    }

    private string GlobalOperatorOnnx(OnnxGraphBuilder g, string weights, string z)
    {
        if (_shape.Rank == 2)
        {
            var dims = new long[] { 0, _channels, _shape.Dims[0], _shape.Dims[1] };
            var product = g.MatMul(g.Reshape(weights, dims), g.Reshape(z, dims));
            return g.Mul(g.Reshape(product, 0, _channels, _shape.Points), g.Scalar(1f / _shape.Dims[0]));
        }
        return g.Mul(LongConvolution.CausalOnnx(g, z, weights, _shape.Points), g.Scalar(1f / _shape.Points));
    }

    private static string TileChannelsOnnx(OnnxGraphBuilder g, string earlier, int earlierChannels, int channels)
    {
        int copies = (channels + earlierChannels - 1) / earlierChannels;
        var repeated = copies == 1 ? earlier : g.Concat(1, Enumerable.Repeat(earlier, copies).ToArray());
        return g.Slice(repeated, new long[] { 0 }, new long[] { channels }, new long[] { 1 });
    }
}

/// <summary>Full-length causal convolution with a per-sample kernel: FFT in TorchSharp, DFT in ONNX (n_fft = power of two ≥ 2L).</summary>
public static class LongConvolution
{
    /// <summary>FFT length used for a sequence of <paramref name="length"/>: the smallest power of two ≥ 2·length (no circular wrap-around).</summary>
    public static int FftLength(long length)
    {
        int n = 1;
        while (n < 2 * length) n <<= 1;
        return n;
    }

    /// <summary>y[t] = Σ_{s ≤ t} k[s] · z[t − s] along the last axis of [N, C, L].</summary>
    public static Tensor Causal(Tensor z, Tensor kernel)
    {
        long length = z.shape[^1];
        int n = FftLength(length);
        var product = fft.rfft(z, n) * fft.rfft(kernel, n);
        return fft.irfft(product, n).narrow(-1, 0, length);
    }

    /// <summary>The same convolution in an ONNX graph via DFT (opset ≥ 17) on [N, C, L] values.</summary>
    public static string CausalOnnx(OnnxGraphBuilder g, string z, string kernel, int length)
    {
        int n = FftLength(length);
        var size = g.AddInitializer(g.Unique("dft_length"), new long[] { n });
        var axis = g.AddInitializer(g.Unique("dft_axis"), new long[] { 2 });
        string Dft(string x, bool inverse) => g.Node("DFT", new[] { x, size, axis }, new Dictionary<string, object> { ["inverse"] = inverse ? 1L : 0L, ["onesided"] = 0L });
        var zs = Dft(g.Unsqueeze(z, 3), false);                   // [N, C, n, 2]
        var ks = Dft(g.Unsqueeze(kernel, 3), false);
        string Part(string x, long i) => g.Slice(x, new long[] { i }, new long[] { i + 1 }, new long[] { 3 });
        string zr = Part(zs, 0), zi = Part(zs, 1), kr = Part(ks, 0), ki = Part(ks, 1);
        var real = g.Sub(g.Mul(zr, kr), g.Mul(zi, ki));
        var imaginary = g.Add(g.Mul(zr, ki), g.Mul(zi, kr));
        var y = Dft(g.Concat(3, real, imaginary), true);
        return g.Squeeze(g.Slice(Part(y, 0), new long[] { 0 }, new long[] { length }, new long[] { 2 }), 3);
    }
}
