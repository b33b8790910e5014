using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetExt;

/// <summary>Linear layers with LeakyReLU(0.2) between them (the reference's MLP).</summary>
public sealed class GraphMlp : Module<Tensor, Tensor>
{
    internal readonly ModuleList<Linear> _layers;

    /// <summary>Creates Linear(sizes[0]→sizes[1]) … with LeakyReLU after every layer but the last.</summary>
    public GraphMlp(params int[] sizes) : base(nameof(GraphMlp))
    {
        _layers = new ModuleList<Linear>(Enumerable.Range(0, sizes.Length - 1).Select(i => Linear(sizes[i], sizes[i + 1])).ToArray());
        RegisterComponents();
    }

    /// <summary>The linear layers in order (for ONNX export).</summary>
    public IReadOnlyList<Linear> Layers => _layers.ToList();

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        for (int i = 0; i < _layers.Count; i++)
        {
            x = _layers[i].call(x);
            if (i < _layers.Count - 1) x = Activations.LeakyRelu(x);
        }
        return x;
    }
}

/// <summary>
/// LeakyReLU (slope 0.2) with its slope held as a Scalar for the process lifetime: an implicitly converted Scalar can be
/// finalized while its native call still runs (TorchSharp 0.107), which crashed a benchmark inside leaky_relu
/// ("Scalar.h:140", seed 1 of a 3-seed run).
/// </summary>
internal static class Activations
{
    private static readonly Scalar Slope = 0.2.ToScalar();

    /// <summary>max(x, 0.2·x).</summary>
    internal static Tensor LeakyRelu(Tensor x) => x.leaky_relu(Slope);
}

/// <summary>Scatter helpers: sum, mean, max and min of edge messages into their target nodes.</summary>
public static class GraphScatter
{
    /// <summary>
    /// The alpha of every index_add, held for the process lifetime: an implicitly converted Scalar can be finalized while
    /// its native call still runs (TorchSharp 0.107), which crashed a benchmark inside index_add ("Scalar.h:279").
    /// </summary>
    internal static readonly Scalar One = 1.ToScalar();

    /// <summary>Σ of <paramref name="messages"/> [E, D] into [N, D] by <paramref name="target"/>.</summary>
    public static Tensor Sum(Tensor messages, Tensor target, long n) =>
        zeros(n, messages.shape[1], dtype: messages.dtype, device: messages.device).index_add(0, target, messages, One);

    /// <summary>Max (or min) of messages per target; nodes without edges get 0. Exact, with (sub)gradients to the extreme elements.</summary>
    /// <remarks>
    /// TorchSharp 0.107 has no scatter_reduce/index_reduce, so each column is sorted by (target, value) in float64 and the
    /// last element of every target's segment is gathered back from the messages.
    /// </remarks>
    public static Tensor Extreme(Tensor messages, Tensor target, long n, bool max)
    {
        using var scope = NewDisposeScope();
        long e = messages.shape[0], d = messages.shape[1];
        if (e == 0) return zeros(n, d, dtype: messages.dtype, device: messages.device).MoveToOuterDisposeScope();
        var x = max ? messages : -messages;
        Tensor order;
        using (no_grad())
        {
            var v = x.detach().to_type(ScalarType.Float64);
            var lo = v.min(); var span = v.max() - lo + 1;
            var key = target.to_type(ScalarType.Float64).unsqueeze(1) * span + (v - lo);
            order = key.argsort(0);
        }
        var sorted = x.gather(0, order);
        var count = zeros(n, dtype: ScalarType.Int64, device: messages.device).index_add(0, target, ones_like(target), One);
        var last = (count.cumsum(0) - 1).clamp_min(0);
        var picked = sorted.index_select(0, last) * (count > 0).unsqueeze(1).to_type(messages.dtype);
        return (max ? picked : -picked).MoveToOuterDisposeScope();
    }

    /// <summary>Mean of messages per target; nodes without edges get 0.</summary>
    public static Tensor Mean(Tensor messages, Tensor target, long n)
    {
        var count = zeros(n, 1, dtype: messages.dtype, device: messages.device).index_add(0, target, ones(messages.shape[0], 1, dtype: messages.dtype, device: messages.device), One);
        return Sum(messages, target, n) / count.clamp_min(1);
    }
}

/// <summary>
/// AllConv layer of the pre-training auto-encoder: per edge a gate and four messages, aggregated by mean, sum, min and max,
/// then a node MLP on [h, aggregates].
/// </summary>
public sealed class AllConv : Module<Tensor, Tensor, Tensor, Tensor, Tensor>
{
    private const int Message = 12;
    internal readonly GraphMlp _edge, _node;

    /// <summary>Layer from <paramref name="input"/> to <paramref name="output"/> features with edge features of width <paramref name="edge"/>.</summary>
    public AllConv(int input, int output, int edge, int hidden = 64) : base(nameof(AllConv))
    {
        _edge = new GraphMlp(2 * input + edge, hidden, 1 + 4 * Message);
        _node = new GraphMlp(input + 4 * Message, hidden, output);
        RegisterComponents();
    }

    /// <summary>h [N, in], src/dst [E], edge features [E, e] → [N, out].</summary>
    public override Tensor forward(Tensor h, Tensor src, Tensor dst, Tensor edge)
    {
        using var scope = NewDisposeScope();
        long n = h.shape[0];
        var m = _edge.call(cat(new[] { h.index_select(0, src), h.index_select(0, dst), edge }, 1));
        var gate = sigmoid(m[.., ..1]);
        var f = m[.., 1..] * gate;
        var agg = cat(new[]
        {
            GraphScatter.Mean(f[.., ..Message], dst, n), GraphScatter.Sum(f[.., Message..(2 * Message)], dst, n),
            GraphScatter.Extreme(f[.., (2 * Message)..(3 * Message)], dst, n, max: false), GraphScatter.Extreme(f[.., (3 * Message)..], dst, n, max: true),
        }, 1);
        return _node.call(cat(new[] { h, agg }, 1)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// "DeepGCNII" of the global circuit pre-training: AllConv layers in → 32 → 32 → 32 → out; the middle layers see the
/// initial features again ([h, x0]) and add their input (GCNII-style initial residual and identity).
/// </summary>
public sealed class DeepGcnii : Module<Tensor, Tensor, Tensor, Tensor, Tensor>
{
    internal readonly AllConv _first, _last;
    internal readonly ModuleList<AllConv> _middle;

    /// <summary>Encoder/decoder with <paramref name="input"/> → <paramref name="output"/> features.</summary>
    public DeepGcnii(int input, int output, int edge, int width = 32, int middle = 2) : base(nameof(DeepGcnii))
    {
        _first = new AllConv(input, width, edge);
        _middle = new ModuleList<AllConv>(Enumerable.Range(0, middle).Select(_ => new AllConv(width + input, width, edge)).ToArray());
        _last = new AllConv(width, output, edge);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x0, Tensor src, Tensor dst, Tensor edge)
    {
        var h = Activations.LeakyRelu(_first.call(x0, src, dst, edge));
        foreach (var layer in _middle) h = Activations.LeakyRelu(layer.call(cat(new[] { h, x0 }, 1), src, dst, edge)) + h;
        return _last.call(h, src, dst, edge);
    }
}

/// <summary>
/// TimingGCN's NetConv: sinks receive MLP([driver, sink, dx, dy]) from their driver; drivers receive gated sum and max of
/// MLP([sink, driver, −dx, −dy]) from their sinks and reduce them with an MLP. Nodes on no net get zeros.
/// </summary>
public sealed class NetConv : Module<Tensor, TimingGraphTensors, Tensor>
{
    private const int Half = 32;
    internal readonly GraphMlp _toSink, _toDriver, _reduce;
    private readonly int _output;

    /// <summary>Layer <paramref name="input"/> → <paramref name="output"/> with MLP width <paramref name="hidden"/>.</summary>
    public NetConv(int input, int output, int hidden) : base(nameof(NetConv))
    {
        _output = output;
        _toSink = new GraphMlp(2 * input + 2, hidden, hidden, output);
        _toDriver = new GraphMlp(2 * input + 2, hidden, hidden, 1 + 2 * Half);
        _reduce = new GraphMlp(input + 2 * Half, hidden, hidden, output);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor h, TimingGraphTensors g)
    {
        using var scope = NewDisposeScope();
        long n = h.shape[0];
        var hs = h.index_select(0, g.NetSource); var ht = h.index_select(0, g.NetTarget);
        var sinks = GraphScatter.Sum(_toSink.call(cat(new[] { hs, ht, g.NetEdgeFeatures }, 1)), g.NetTarget, n);
        var back = _toDriver.call(cat(new[] { ht, hs, -g.NetEdgeFeatures }, 1));
        var k = sigmoid(back[.., ..1]);
        var sum = GraphScatter.Sum(k * back[.., 1..(1 + Half)], g.NetSource, n);
        var max = GraphScatter.Extreme(k * back[.., (1 + Half)..], g.NetSource, n, max: true);
        var isDriver = zeros(n, 1, device: h.device).index_fill(0, g.NetSource, 1);
        var drivers = _reduce.call(cat(new[] { h, sum, max }, 1)) * isDriver;
        return (sinks + drivers).MoveToOuterDisposeScope();
    }
}
