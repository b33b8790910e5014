using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>
/// The graph arrays an exported PreRoutGNN takes (ONNX input name → data and shape). The level schedule is padded to a
/// rectangle with dummy indices (node N, net edge E_net, cell arc E_cell, local position = width) that the model routes to
/// scratch rows, so one Loop iteration handles one level whatever its size.
/// </summary>
public sealed class PreRoutGnnOnnxInputs
{
    /// <summary>Float inputs by name.</summary>
    public Dictionary<string, (float[] Data, long[] Shape)> Floats { get; } = new();
    /// <summary>Int64 inputs by name.</summary>
    public Dictionary<string, (long[] Data, long[] Shape)> Longs { get; } = new();

    /// <summary>
    /// Inputs of <paramref name="graph"/> for a model of <paramref name="architecture"/>; primary inputs get their known
    /// arrival/slew from the graph's labels (or SDC).
    /// </summary>
    public static PreRoutGnnOnnxInputs From(TimingGraph graph, PreRoutGnnArchitecture architecture)
    {
        bool withHomogeneous = architecture.Pretraining;
        using var t = TimingGraphTensors.From(graph, designUnits: architecture.DesignUnits);
        var r = new PreRoutGnnOnnxInputs();
        r.Floats["time_scale"] = (new[] { t.TimeScale }, new long[] { 1 });
        void F(string name, Tensor x) => r.Floats[name] = (x.cpu().data<float>().ToArray(), x.shape);
        void L(string name, Tensor x) => r.Longs[name] = (x.cpu().data<long>().ToArray(), x.shape);
        F("node_features", t.NodeFeatures); F("is_net_sink", t.IsNetSink); F("pi_state", t.State * t.IsPrimaryInput);
        if (architecture.WireLoad) F("wire_capacitance", t.WireCapacitance);
        L("net_src", t.NetSource); L("net_dst", t.NetTarget); F("net_features", t.NetEdgeFeatures);
        L("cell_src", t.CellSource); L("cell_dst", t.CellTarget); F("lut_axes", t.LutAxes); F("lut_values", t.LutValues); F("lut_mask", t.LutMask);
        if (architecture.LutLookup) F("arc_exclusion", t.ArcExclusion);
        if (withHomogeneous) { L("homo_src", t.Homogeneous.Source); L("homo_dst", t.Homogeneous.Target); F("homo_features", t.Homogeneous.Features); }
        int levels = t.Schedule.Count;
        long n = graph.NodeCount, en = graph.NetSource.Length, ec = graph.CellSource.Length;
        long wn = Math.Max(1, t.Schedule.Select(s => s.Nodes.shape[0]).DefaultIfEmpty(0).Max());
        long wne = Math.Max(1, t.Schedule.Select(s => s.NetEdges.shape[0]).DefaultIfEmpty(0).Max());
        long wc = Math.Max(1, t.Schedule.Select(s => s.CellEdges.shape[0]).DefaultIfEmpty(0).Max());
        long[] Pad(Func<LevelStep, Tensor> pick, long width, long fill)
        {
            var a = new long[levels * width];
            Array.Fill(a, fill);
            for (int l = 0; l < levels; l++) { var v = pick(t.Schedule[l]).data<long>().ToArray(); Array.Copy(v, 0, a, l * width, v.Length); }
            return a;
        }
        r.Longs["level_nodes"] = (Pad(s => s.Nodes, wn, n), new long[] { levels, wn });
        r.Longs["level_net"] = (Pad(s => s.NetEdges, wne, en), new long[] { levels, wne });
        r.Longs["level_net_local"] = (Pad(s => s.NetLocalTarget, wne, wn), new long[] { levels, wne });
        r.Longs["level_cell"] = (Pad(s => s.CellEdges, wc, ec), new long[] { levels, wc });
        r.Longs["level_cell_local"] = (Pad(s => s.CellLocalTarget, wc, wn), new long[] { levels, wc });
        return r;
    }
}

/// <summary>
/// Writes a <see cref="PreRoutGnnNetwork"/> as ONNX (behind <see cref="PreRoutGnnTransformer.SaveAsOnnx(string)"/>): the embedding (pre-trained encoder, NetConv stack, net-delay head)
/// as plain operators and the level-order propagation as an ONNX <c>Loop</c> over the padded level schedule, so the file
/// predicts any design from its graph arrays (<see cref="PreRoutGnnOnnxInputs"/>). Outputs: <c>arrival</c> [N, 4] (ns),
/// <c>state</c> [N, 8] (arrival ×4, ln-slew ×4), <c>net_delay</c> [N, 4] (ln-net-delay; both in <see cref="TargetScales"/>), <c>cell_delay</c> [E_cell, 4], the
/// last three in model time units (ns × <c>time_scale</c>; time_scale is 1 unless the model uses design units).
/// </summary>
internal static class PreRoutGnnOnnx
{
    private const float Huge = 3.0e38f;

    /// <summary>The ONNX graph (opset 18: ScatterElements max/min).</summary>
    public static OnnxGraphBuilder Build(PreRoutGnnNetwork network)
    {
        var b = new OnnxGraphBuilder("PreRoutGnn", opset: 18);
        var a = network.Architecture;
        var nf = b.AddInputDims("node_features", OnnxElementType.Float, "pins", TimingGraphTensors.BaseFeatureCount);
        var isSink = b.AddInputDims("is_net_sink", OnnxElementType.Float, "pins", 1);
        var piState = b.AddInputDims("pi_state", OnnxElementType.Float, "pins", 8);
        var netSrc = b.AddInputDims("net_src", OnnxElementType.Int64, "net_edges");
        var netDst = b.AddInputDims("net_dst", OnnxElementType.Int64, "net_edges");
        var netEf = b.AddInputDims("net_features", OnnxElementType.Float, "net_edges", 2);
        var cellSrc = b.AddInputDims("cell_src", OnnxElementType.Int64, "cell_arcs");
        var cellDst = b.AddInputDims("cell_dst", OnnxElementType.Int64, "cell_arcs");
        var axes = b.AddInputDims("lut_axes", OnnxElementType.Float, "cell_arcs", 8, 15);
        var values = b.AddInputDims("lut_values", OnnxElementType.Float, "cell_arcs", 8, 49);
        var mask = b.AddInputDims("lut_mask", OnnxElementType.Float, "cell_arcs", 8, 49);
        // With the lookup: per arc and candidate, the offset that keeps transitions its unateness / clock edge forbids out
        // of the early min / late max (TimingGraphTensors.ArcExclusion).
        var exclusion = a.LutLookup ? b.AddInputDims("arc_exclusion", OnnxElementType.Float, "cell_arcs", 8) : null;
        var levelNodes = b.AddInputDims("level_nodes", OnnxElementType.Int64, "levels", "level_width");
        var levelNet = b.AddInputDims("level_net", OnnxElementType.Int64, "levels", "level_net_width");
        var levelNetLocal = b.AddInputDims("level_net_local", OnnxElementType.Int64, "levels", "level_net_width");
        var levelCell = b.AddInputDims("level_cell", OnnxElementType.Int64, "levels", "level_cell_width");
        var levelCellLocal = b.AddInputDims("level_cell_local", OnnxElementType.Int64, "levels", "level_cell_width");
        var timeScale = b.AddInputDims("time_scale", OnnxElementType.Float, 1);
        var n = Dim(b, nf, 0);

        var features = nf;
        if (network._encoder is not null)
        {
            var hs = b.AddInputDims("homo_src", OnnxElementType.Int64, "homo_edges");
            var hd = b.AddInputDims("homo_dst", OnnxElementType.Int64, "homo_edges");
            var he = b.AddInputDims("homo_features", OnnxElementType.Float, "homo_edges", 12);
            var z = DeepGcnii(b, network._encoder, nf, hs, hd, he, n);
            features = b.Concat(1, nf, z, b.Node("Expand", new[] { b.ReduceMean(z, new long[] { 0 }), b.Node("Shape", new[] { z }) }));
        }
        var x = b.Node("LeakyRelu", new[] { Linear(b, network._stem, features) }, Alpha);
        foreach (var layer in network._netConvs)
        {
            var y = NetConv(b, layer, x, netSrc, netDst, netEf, n);
            x = a.Residual ? b.Add(y, x) : y;
        }
        var netDelay = Mlp(b, network._netDelay, x);
        var h = b.Concat(1, features, x);
        if (a.LutLookup)
        {
            // Driven pin load per corner: the net's sink pin capacitances summed onto the driver, in the LUT load unit.
            var caps = b.Gather(b.Slice(nf, new long[] { 6 }, new long[] { 10 }, new long[] { 1 }), netDst);
            var load = ScatterSum(b, caps, netSrc, n, 4);
            if (network._wireLogScale is not null)
            {
                // WireLoad: + the graph's wire capacitance estimate per driver (an input, see TimingGraphTensors.WireCapacitance) × the learned factor.
                var wire = b.AddInputDims("wire_capacitance", OnnxElementType.Float, "pins", 1);
                load = b.Add(load, b.Mul(wire, b.Scalar(MathF.Exp(network._wireLogScale.detach().cpu().data<float>()[0]))));
            }
            h = b.Concat(1, h, b.Mul(load, b.Scalar(a.CapacitanceToLoadAxis)));
        }
        int hDim = a.PropagationFeatures;

        // Scratch rows: node N, net edge E_net and cell arc E_cell absorb the schedule's padding.
        var hPad = b.Concat(0, h, b.AddInitializer(b.Unique("zero_row"), new float[hDim], 1, hDim));
        var sinkPad = b.Concat(0, isSink, b.AddInitializer(b.Unique("zero1"), new float[1], 1, 1));
        var statePad = b.Concat(0, piState, b.AddInitializer(b.Unique("zero8"), new float[8], 1, 8));
        // TableArrival: the cell correction is masked to the ln-slews.
        var arrivalMask = a.CellArrivalFromTables ? b.AddInitializer(b.Unique("arrival_mask"), SignalPropagation.ArrivalMaskValues, 1, 8) : null;
        var netSrcPad = b.Concat(0, netSrc, n); var netDstPad = b.Concat(0, netDst, n);
        var cellSrcPad = b.Concat(0, cellSrc, n); var cellDstPad = b.Concat(0, cellDst, n);
        var axesPad = b.Concat(0, axes, b.AddInitializer(b.Unique("zero_axes"), new float[8 * 15], 1, 8, 15));
        var valuesPad = b.Concat(0, values, b.AddInitializer(b.Unique("zero_values"), new float[8 * 49], 1, 8, 49));
        var maskPad = b.Concat(0, mask, b.AddInitializer(b.Unique("zero_mask"), new float[8 * 49], 1, 8, 49));
        var exclusionPad = exclusion is null ? null : b.Concat(0, exclusion, b.AddInitializer(b.Unique("zero_exclusion"), new float[8], 1, 8));
        var ec = Dim(b, cellSrc, 0);
        var cellDelay0 = b.Node("ConstantOfShape", new[] { b.Concat(0, b.Node("Add", new[] { ec, b.Int64s(1) }), b.Int64s(4)) });
        var levels = Dim(b, levelNodes, 0);
        var width = Dim(b, levelNodes, 1);

        var body = b.Subgraph("level_step");
        var iter = body.AddInputDims(b.Unique("iter"), OnnxElementType.Int64);
        var condIn = body.AddInputDims(b.Unique("cond_in"), OnnxElementType.Bool);
        var state = body.AddInputAnyShape(b.Unique("state_in"), OnnxElementType.Float);
        var cellDelayIn = body.AddInputAnyShape(b.Unique("cell_delay_in"), OnnxElementType.Float);
        var nodes = body.Gather(levelNodes, iter);
        var hn = body.Gather(hPad, nodes);
        var widthPlus = body.Node("Add", new[] { width, body.Int64s(1) });
        // Net step.
        var ne = body.Gather(levelNet, iter); var nl = body.Gather(levelNetLocal, iter);
        var ns = body.Gather(netSrcPad, ne); var nd = body.Gather(netDstPad, ne);
        var srcState = body.Gather(state, ns);
        var netStep = Mlp(body, network._propagation._netStep, body.Concat(1, srcState, body.Gather(hPad, ns), body.Gather(hPad, nd)));
        if (network._propagation._residual) netStep = body.Add(srcState, netStep);
        var netOut = First(body, ScatterSum(body, netStep, nl, widthPlus, 8), width);
        // Cell step.
        var ce = body.Gather(levelCell, iter); var cl = body.Gather(levelCellLocal, iter);
        var cs = body.Gather(cellSrcPad, ce); var cd = body.Gather(cellDstPad, ce);
        var cellState = body.Gather(state, cs);
        var (sum, max, delay, lookup) = CellArcs(body, network._propagation, cellState, cellState, body.Gather(hPad, cs), body.Gather(hPad, cd),
            body.Gather(axesPad, ce), body.Gather(valuesPad, ce), body.Gather(maskPad, ce), exclusionPad is null ? null : body.Gather(exclusionPad, ce));
        var cellOut = Mlp(body, network._propagation._reduce, body.Concat(1, hn,
            First(body, ScatterSum(body, sum, cl, widthPlus, 32), width), First(body, ScatterExtreme(body, max, cl, widthPlus, 32, true), width)));
        if (a.CellArrivalFromTables) cellOut = body.Mul(cellOut, arrivalMask!);
        if (lookup is not null)
        {
            var least = First(body, ScatterExtreme(body, lookup, cl, widthPlus, 8, false), width);
            var most = First(body, ScatterExtreme(body, lookup, cl, widthPlus, 8, true), width);
            string Cols(string x, long from, long to) => body.Slice(x, new[] { from }, new[] { to }, new long[] { 1 });
            cellOut = body.Add(cellOut, body.Concat(1, Cols(least, 0, 2), Cols(most, 2, 4), Cols(least, 4, 6), Cols(most, 6, 8)));
        }
        else if (a.CellResidual) cellOut = body.Add(cellOut, First(body, ScatterExtreme(body, cellState, cl, widthPlus, 8, true), width));
        var sink = body.Gather(sinkPad, nodes);
        var one = body.Scalar(1f);
        var update = body.Add(body.Mul(sink, netOut), body.Mul(body.Sub(one, sink), cellOut));
        var stateOut = body.Node("ScatterND", new[] { state, body.Unsqueeze(nodes, -1), update });
        var cellDelayOut = body.Node("ScatterND", new[] { cellDelayIn, body.Unsqueeze(ce, -1), delay });
        var condOut = body.Node("Identity", new[] { condIn });
        body.AddOutputAnyShape(condOut, OnnxElementType.Bool);
        body.AddOutputAnyShape(stateOut, OnnxElementType.Float);
        body.AddOutputAnyShape(cellDelayOut, OnnxElementType.Float);

        var cond = b.Node("Constant", Array.Empty<string>(), new Dictionary<string, object> { ["value"] = BoolScalar(true) });
        var loop = b.NodeMulti("Loop", new[] { b.Squeeze(levels, 0), cond, statePad, cellDelay0 }, 2,
            new Dictionary<string, object> { ["body"] = body.GraphProto });
        var finalState = First(b, loop[0], n);
        var finalCellDelay = First(b, loop[1], ec);
        b.AddOutputDims(finalState, "state", OnnxElementType.Float, "pins", 8);
        b.AddOutputDims(b.Mul(b.Slice(finalState, new long[] { 0 }, new long[] { 4 }, new long[] { 1 }), timeScale), "arrival", OnnxElementType.Float, "pins", 4);
        b.AddOutputDims(netDelay, "net_delay", OnnxElementType.Float, "pins", 4);
        b.AddOutputDims(finalCellDelay, "cell_delay", OnnxElementType.Float, "cell_arcs", 4);
        return b;
    }

    private static readonly Dictionary<string, object> Alpha = new() { ["alpha"] = 0.2f };

    private static Onnx.TensorProto BoolScalar(bool value)
    {
        var t = new Onnx.TensorProto { DataType = (int)OnnxElementType.Bool };
        t.Int32Data.Add(value ? 1 : 0);
        return t;
    }

    // 1-D int64 tensor [size of axis] of x.
    private static string Dim(OnnxGraphBuilder b, string x, long axis) => b.Slice(b.Node("Shape", new[] { x }), new[] { axis }, new[] { axis + 1 }, new long[] { 0 });

    private static string First(OnnxGraphBuilder b, string x, string count) =>
        b.Node("Slice", new[] { x, b.Int64s(0), count, b.Int64s(0) });

    private static string Linear(OnnxGraphBuilder b, Linear layer, string x) =>
        b.Linear(x, layer.weight!.data<float>().ToArray(), layer.bias!.data<float>().ToArray(), (int)layer.weight.shape[0], (int)layer.weight.shape[1]);

    private static string LinearNd(OnnxGraphBuilder b, Linear layer, string x) =>
        b.LinearNd(x, layer.weight!.data<float>().ToArray(), layer.bias!.data<float>().ToArray(), (int)layer.weight.shape[0], (int)layer.weight.shape[1]);

    private static string Mlp(OnnxGraphBuilder b, GraphMlp mlp, string x, bool nd = false)
    {
        for (int i = 0; i < mlp._layers.Count; i++)
        {
            x = nd ? LinearNd(b, mlp._layers[i], x) : Linear(b, mlp._layers[i], x);
            if (i < mlp._layers.Count - 1) x = b.Node("LeakyRelu", new[] { x }, Alpha);
        }
        return x;
    }

    private static string Rows(OnnxGraphBuilder b, string count, long width) => b.Concat(0, count, b.Int64s(width));

    private static string ScatterSum(OnnxGraphBuilder b, string messages, string target, string count, long width)
    {
        var zeros = b.Node("ConstantOfShape", new[] { Rows(b, count, width) });
        var index = b.Node("Expand", new[] { b.Unsqueeze(target, 1), b.Node("Shape", new[] { messages }) });
        return b.ScatterElements(zeros, index, messages, 0, "add");
    }

    private static string ScatterExtreme(OnnxGraphBuilder b, string messages, string target, string count, long width, bool max)
    {
        var fill = b.Node("ConstantOfShape", new[] { Rows(b, count, width) }, new Dictionary<string, object> { ["value"] = FloatTensor(max ? -Huge : Huge) });
        var index = b.Node("Expand", new[] { b.Unsqueeze(target, 1), b.Node("Shape", new[] { messages }) });
        var r = b.ScatterElements(fill, index, messages, 0, max ? "max" : "min");
        // Rows no message reached keep the fill value: 0, as in training.
        var untouched = b.Node("Greater", new[] { b.Node("Abs", new[] { r }), b.Scalar(Huge / 2) });
        return b.Node("Where", new[] { untouched, b.Scalar(0f), r });
    }

    private static Onnx.TensorProto FloatTensor(float v)
    {
        var t = new Onnx.TensorProto { DataType = (int)OnnxElementType.Float };
        t.Dims.Add(1);
        t.FloatData.Add(v);
        return t;
    }

    private static string AllConv(OnnxGraphBuilder b, AllConv layer, string h, string src, string dst, string edge, string n)
    {
        var m = Mlp(b, layer._edge, b.Concat(1, b.Gather(h, src), b.Gather(h, dst), edge));
        var gate = b.Sigmoid(b.Slice(m, new long[] { 0 }, new long[] { 1 }, new long[] { 1 }));
        var f = b.Mul(b.Slice(m, new long[] { 1 }, new long[] { long.MaxValue }, new long[] { 1 }), gate);
        string Part(int k) => b.Slice(f, new long[] { 12 * k }, new long[] { 12 * (k + 1) }, new long[] { 1 });
        var sum0 = ScatterSum(b, Part(0), dst, n, 12);
        var ones = b.Node("ConstantOfShape", new[] { b.Concat(0, Dim(b, dst, 0), b.Int64s(1)) }, new Dictionary<string, object> { ["value"] = FloatTensor(1f) });
        var count = ScatterSum(b, ones, dst, n, 1);
        var mean = b.Div(sum0, b.Node("Max", new[] { count, b.Scalar(1f) }));
        var agg = b.Concat(1, mean, ScatterSum(b, Part(1), dst, n, 12), ScatterExtreme(b, Part(2), dst, n, 12, max: false), ScatterExtreme(b, Part(3), dst, n, 12, max: true));
        return Mlp(b, layer._node, b.Concat(1, h, agg));
    }

    private static string DeepGcnii(OnnxGraphBuilder b, DeepGcnii net, string x0, string src, string dst, string edge, string n)
    {
        var h = b.Node("LeakyRelu", new[] { AllConv(b, net._first, x0, src, dst, edge, n) }, Alpha);
        foreach (var layer in net._middle)
            h = b.Add(b.Node("LeakyRelu", new[] { AllConv(b, layer, b.Concat(1, h, x0), src, dst, edge, n) }, Alpha), h);
        return AllConv(b, net._last, h, src, dst, edge, n);
    }

    private static string NetConv(OnnxGraphBuilder b, NetConv layer, string h, string netSrc, string netDst, string ef, string n)
    {
        int outDim = (int)layer._toSink._layers[^1].weight!.shape[0];
        var hs = b.Gather(h, netSrc); var ht = b.Gather(h, netDst);
        var sinks = ScatterSum(b, Mlp(b, layer._toSink, b.Concat(1, hs, ht, ef)), netDst, n, outDim);
        var back = Mlp(b, layer._toDriver, b.Concat(1, ht, hs, b.Node("Neg", new[] { ef })));
        var k = b.Sigmoid(b.Slice(back, new long[] { 0 }, new long[] { 1 }, new long[] { 1 }));
        var sum = ScatterSum(b, b.Mul(k, b.Slice(back, new long[] { 1 }, new long[] { 33 }, new long[] { 1 })), netSrc, n, 32);
        var max = ScatterExtreme(b, b.Mul(k, b.Slice(back, new long[] { 33 }, new long[] { 65 }, new long[] { 1 })), netSrc, n, 32, max: true);
        var ones = b.Node("ConstantOfShape", new[] { b.Concat(0, Dim(b, netSrc, 0), b.Int64s(1)) }, new Dictionary<string, object> { ["value"] = FloatTensor(1f) });
        var isDriver = b.Node("Min", new[] { ScatterSum(b, ones, netSrc, n, 1), b.Scalar(1f) });
        var drivers = b.Mul(Mlp(b, layer._reduce, b.Concat(1, h, sum, max)), isDriver);
        return b.Add(sinks, drivers);
    }

    private static (string Sum, string Max, string Delay, string? Lookup) CellArcs(OnnxGraphBuilder b, SignalPropagation p, string srcState, string rawSrcState,
        string src, string dst, string axes, string values, string mask, string? exclusion)
    {
        var input = b.Concat(1, srcState, src, dst);
        string lut;
        if (p._readout == LutReadout.Attention)
        {
            const int heads = 4, d = 8;
            var q = Mlp(b, p._query, input);
            q = b.Reshape(LinearNd(b, p._qProj!, b.Reshape(q, 0, 8, 32)), 0, 8, heads, d);
            string W(Tensor t) => b.AddInitializer(b.Unique("lut_attn"), t.detach().data<float>().ToArray(), heads, d);
            var aa = b.ReduceSum(b.Mul(q, W(p._kWeight!)), new long[] { -1 }, keepDims: false);
            var bb = b.ReduceSum(b.Mul(q, W(p._kBias!)), new long[] { -1 }, keepDims: false);
            var i1 = b.Slice(axes, new long[] { 1 }, new long[] { 8 }, new long[] { 2 });
            var i2 = b.Slice(axes, new long[] { 8 }, new long[] { 15 }, new long[] { 2 });
            var keys = b.Reshape(b.Mul(b.Unsqueeze(i1, -1), b.Unsqueeze(i2, -2)), 0, 8, 49);
            var scores = b.Div(b.Add(b.Mul(b.Unsqueeze(aa, -1), b.Unsqueeze(keys, 2)), b.Unsqueeze(bb, -1)), b.Scalar(MathF.Sqrt(d)));
            var valid = b.Node("Greater", new[] { b.Unsqueeze(mask, 2), b.Scalar(0f) });
            scores = b.Node("Where", new[] { valid, scores, b.Scalar(-1e9f) });
            var weights = b.Mul(b.Softmax(scores, -1), b.Cast(valid, OnnxElementType.Float));
            var pooled = b.ReduceSum(b.Mul(weights, b.Unsqueeze(values, 2)), new long[] { -1 }, keepDims: false);
            var headsOut = b.Add(b.Mul(b.Unsqueeze(pooled, -1), W(p._vWeight!)), b.Mul(W(p._vBias!), b.ReduceSum(weights, new long[] { -1 })));
            var tableValid = b.Slice(axes, new long[] { 0 }, new long[] { 1 }, new long[] { 2 });
            lut = b.Reshape(b.Mul(LinearNd(b, p._outProj!, b.Reshape(headsOut, 0, 8, 32)), tableValid), 0, 256);
        }
        else
        {
            var q = b.Reshape(Mlp(b, p._query, input), 0, 8, 4, 2);
            var ax = b.Node("Expand", new[] { b.Unsqueeze(axes, 2), b.Concat(0, b.Slice(b.Node("Shape", new[] { q }), new long[] { 0 }, new long[] { 3 }, new long[] { 0 }), b.Int64s(15)) });
            var ab = Mlp(b, p._lutMask!, b.Concat(-1, q, ax), nd: true);
            var first = b.Slice(ab, new long[] { 0 }, new long[] { 7 }, new long[] { 3 });
            var second = b.Slice(ab, new long[] { 7 }, new long[] { 14 }, new long[] { 3 });
            var outer = b.Reshape(b.Mul(b.Unsqueeze(first, -1), b.Unsqueeze(second, -2)), 0, 8, 4, 49);
            lut = b.Reshape(b.ReduceSum(b.Mul(outer, b.Unsqueeze(b.Mul(values, mask), 2)), new long[] { -1 }, keepDims: false), 0, 32);
        }
        (string Features, string Delay, string State)? read = p._lutLookup ? ReadTables(b, p, rawSrcState, b.Slice(dst, new long[] { -4 }, new long[] { long.MaxValue }, new long[] { 1 }), axes, values, mask, exclusion!) : null;
        var o = Mlp(b, p._cell, read is null ? b.Concat(1, lut, input) : b.Concat(1, lut, input, read.Value.Features));
        var k = b.Sigmoid(b.Slice(o, new long[] { 0 }, new long[] { 1 }, new long[] { 1 }));
        var delay = b.Slice(o, new long[] { 65 }, new long[] { 69 }, new long[] { 1 });
        return (b.Mul(k, b.Slice(o, new long[] { 1 }, new long[] { 33 }, new long[] { 1 })), b.Mul(k, b.Slice(o, new long[] { 33 }, new long[] { 65 }, new long[] { 1 })),
            read is null ? delay : b.Add(delay, read.Value.Delay), read?.State);
    }

    // SignalPropagation.ReadTables, operator by operator.
    private static (string Features, string Delay, string State) ReadTables(OnnxGraphBuilder b, SignalPropagation p, string srcState, string load,
        string axes, string values, string mask, string exclusion)
    {
        string Cols(string x, long[] columns) => b.Gather(x, b.Int64s(columns), axis: 1);
        var slew = b.Relu(b.Sub(b.Exp(b.Sub(b.Slice(srcState, new long[] { 4 }, new long[] { 8 }, new long[] { 1 }), b.Scalar(TargetScales.SlewShift))), b.Scalar(TargetScales.LogFloor)));
        var tableLoad = b.Mul(Cols(load, NldmLookup.SameCorner), b.Scalar(MathF.Exp(p._loadLogScale!.detach().cpu().data<float>()[0])));
        var readSame = NldmRead(b, axes, values, mask, Cols(slew, NldmLookup.SameCorner), tableLoad);
        var readOpposite = NldmRead(b, axes, values, mask, Cols(slew, NldmLookup.OppositeCorner), tableLoad);
        var arrival = b.Slice(srcState, new long[] { 0 }, new long[] { 4 }, new long[] { 1 });
        var delaySame = Cols(readSame, NldmLookup.DelayTables); var delayOpposite = Cols(readOpposite, NldmLookup.DelayTables);
        var slewSame = Cols(readSame, NldmLookup.SlewTables); var slewOpposite = Cols(readOpposite, NldmLookup.SlewTables);
        string EarlyMinLateMax(string x, string y)
        {
            string Part(string t, long from) => b.Slice(t, new[] { from }, new[] { from + 2 }, new long[] { 1 });
            return b.Concat(1, b.Node("Min", new[] { Part(x, 0), Part(y, 0) }), b.Node("Max", new[] { Part(x, 2), Part(y, 2) }));
        }
        string LnSlew(string x) => b.Add(b.Node("Log", new[] { b.Add(b.Relu(x), b.Scalar(TargetScales.LogFloor)) }), b.Scalar(TargetScales.SlewShift));
        var exSame = b.Slice(exclusion, new long[] { 0 }, new long[] { 4 }, new long[] { 1 });
        var exOpposite = b.Slice(exclusion, new long[] { 4 }, new long[] { 8 }, new long[] { 1 });
        var outArrival = EarlyMinLateMax(b.Add(b.Add(arrival, delaySame), exSame), b.Add(b.Add(Cols(arrival, new long[] { 1, 0, 3, 2 }), delayOpposite), exOpposite));
        var outSlew = EarlyMinLateMax(b.Add(slewSame, exSame), b.Add(slewOpposite, exOpposite));
        var features = b.Concat(1, delaySame, delayOpposite, LnSlew(slewSame), LnSlew(slewOpposite));
        return (features, EarlyMinLateMax(b.Add(delaySame, exSame), b.Add(delayOpposite, exOpposite)), b.Concat(1, outArrival, LnSlew(outSlew)));
    }

    // NldmLookup.Read: every table of every arc [E, 8] read at (slew, load), bilinear inside the axes, linear outside up to
    // one axis range.
    private static string NldmRead(OnnxGraphBuilder b, string axes, string values, string mask, string slew, string load)
    {
        const long side = TimingGraph.LutSize;
        var grid = b.Reshape(mask, 0, 8, side, side);
        var rows = b.Cast(b.ReduceSum(b.Slice(grid, new long[] { 0 }, new long[] { 1 }, new long[] { 3 }), new long[] { 2, 3 }, keepDims: false), OnnxElementType.Int64);
        var cols = b.Cast(b.ReduceSum(b.Slice(grid, new long[] { 0 }, new long[] { 1 }, new long[] { 2 }), new long[] { 2, 3 }, keepDims: false), OnnxElementType.Int64);
        var (i0, i1, t) = Segment(b, b.Slice(axes, new long[] { 1 }, new long[] { 1 + side }, new long[] { 2 }), rows, slew);
        var (j0, j1, u) = Segment(b, b.Slice(axes, new long[] { 1 + side }, new long[] { 1 + 2 * side }, new long[] { 2 }), cols, load);
        var sideConst = b.Int64s(side);
        string V(string i, string j) => b.Squeeze(b.Node("GatherElements", new[] { values, b.Unsqueeze(b.Add(b.Mul(i, sideConst), j), -1) },
            new Dictionary<string, object> { ["axis"] = 2L }), -1);
        var top = b.Add(V(i0, j0), b.Mul(b.Sub(V(i0, j1), V(i0, j0)), u));
        var bottom = b.Add(V(i1, j0), b.Mul(b.Sub(V(i1, j1), V(i1, j0)), u));
        var tableValid = b.Squeeze(b.Slice(axes, new long[] { 0 }, new long[] { 1 }, new long[] { 2 }), -1);
        return b.Mul(b.Add(top, b.Mul(b.Sub(bottom, top), t)), tableValid);
    }

    private static (string K0, string K1, string Fraction) Segment(OnnxGraphBuilder b, string axis, string n, string v)
    {
        const long side = TimingGraph.LutSize;
        var position = b.AddInitializer(b.Unique("segment_positions"), Enumerable.Range(1, (int)side - 2).Select(i => (long)i).ToArray(), 1, 1, side - 2);
        string At(string k) => b.Squeeze(b.Node("GatherElements", new[] { axis, b.Unsqueeze(k, -1) }, new Dictionary<string, object> { ["axis"] = 2L }), -1);
        var first = b.Squeeze(b.Slice(axis, new long[] { 0 }, new long[] { 1 }, new long[] { 2 }), -1);
        var lastIndex = b.Node("Max", new[] { b.Sub(n, b.Int64s(1)), b.Int64s(0) });
        var last = At(lastIndex);
        var two = b.Scalar(2f);
        v = b.Node("Min", new[] { b.Node("Max", new[] { v, b.Sub(b.Mul(first, two), last) }), b.Sub(b.Mul(last, two), first) });
        var interior = b.Node("LessOrEqual", new[] { position, b.Unsqueeze(b.Sub(n, b.Int64s(2)), -1) });
        var above = b.Node("And", new[] { b.Node("Greater", new[] { b.Unsqueeze(v, -1), b.Slice(axis, new long[] { 1 }, new long[] { side - 1 }, new long[] { 2 }) }), interior });
        var k0 = b.ReduceSum(b.Cast(above, OnnxElementType.Int64), new long[] { -1 }, keepDims: false);
        var k1 = b.Node("Min", new[] { b.Add(k0, b.Int64s(1)), lastIndex });
        var a0 = At(k0);
        var span = b.Sub(At(k1), a0);
        var positive = b.Node("Greater", new[] { span, b.Scalar(0f) });
        var fraction = b.Node("Where", new[] { positive, b.Div(b.Sub(v, a0), b.Node("Where", new[] { positive, span, b.Scalar(1f) })), b.Scalar(0f) });
        return (k0, k1, fraction);
    }
}
