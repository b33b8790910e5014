using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>How LoRA's A matrices are initialised (B always starts at zero).</summary>
public enum LoraAInit
{
    /// <summary>Kaiming-uniform(a = √5), bound 1/√fan_in, like nn.Linear (PEFT's default).</summary>
    KaimingUniform,
    /// <summary>A ~ N(0, (1/r)²).</summary>
    Gaussian,
}

/// <summary>One adapted Linear layer: y = W₀x + b + s·B(Ax), s = α/r, with A [r, in] and B [out, r].</summary>
public sealed class LoraLayer
{
    internal LoraLayer(string name, Linear target, Parameter a, Parameter b, double scale)
    {
        Name = name;
        Target = target;
        A = a;
        B = b;
        Scale = scale;
    }

    /// <summary>Module path of the adapted Linear (e.g. "layers.0").</summary>
    public string Name { get; }
    /// <summary>The frozen base layer.</summary>
    public Linear Target { get; }
    /// <summary>Down-projection A [r, in].</summary>
    public Parameter A { get; }
    /// <summary>Up-projection B [out, r] (zero at start).</summary>
    public Parameter B { get; }
    /// <summary>s = α/r.</summary>
    public double Scale { get; }

    /// <summary>Input of the last forward pass (for per-sample gradients).</summary>
    public Tensor? LastInput { get; internal set; }
    /// <summary>A·x of the last forward pass.</summary>
    public Tensor? LastDown { get; internal set; }
    /// <summary>s·B·A·x of the last forward pass (the adapter's contribution).</summary>
    public Tensor? LastUp { get; internal set; }
}

/// <summary>
/// LoRA adapters attached to the Linear layers of any TorchSharp module through forward hooks (the module's own type
/// and forward code are untouched), with the base weights frozen. <see cref="MergeAndDetach"/> folds s·B·A into the
/// base weights and removes the hooks, leaving an ordinary module that saves, loads and exports like the original.
/// </summary>
public sealed class LoraAdapters : IDisposable
{
    private readonly List<LoraLayer> _layers = new();
    private readonly List<Action> _hooks = new();
    private readonly List<Parameter> _frozen = new();

    /// <summary>
    /// Adds adapters of rank <paramref name="rank"/> to every Linear of <paramref name="module"/> whose path matches
    /// <paramref name="targetModules"/> (null = all Linears). A is drawn from <paramref name="aSeed"/> — the same on every client.
    /// </summary>
    public LoraAdapters(nn.Module module, int rank, double alpha, long aSeed, bool freezeA, IReadOnlyCollection<string>? targetModules = null,
        LoraAInit aInit = LoraAInit.KaimingUniform)
    {
        if (rank < 1) throw new ArgumentOutOfRangeException(nameof(rank), rank, "The LoRA rank must be ≥ 1.");
        if (!(alpha > 0)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "LoRA α must be > 0.");
        var generator = new Generator((ulong)aSeed);
        var linears = module.named_modules().Where(m => m.module is Linear).ToList();
        var chosen = linears.Where(m => targetModules is null || targetModules.Contains(m.name)).ToList();
        if (chosen.Count == 0)
            throw new ArgumentException(targetModules is null
                ? "The model has no Linear layers to adapt."
                : $"No Linear layer matches the target modules {string.Join(", ", targetModules)}; the model's Linear layers are: {string.Join(", ", linears.Select(m => m.name))}.");
        foreach (var p in module.parameters())
        {
            if (p.requires_grad) _frozen.Add(p);
            p.requires_grad = false;
        }
        foreach (var (name, m) in chosen)
        {
            var linear = (Linear)m;
            long inFeatures = linear.weight!.shape[1], outFeatures = linear.weight.shape[0];
            Tensor a;
            using (no_grad())
            {
                a = aInit == LoraAInit.KaimingUniform
                    ? (torch.rand(new[] { (long)rank, inFeatures }, generator: generator) * 2 - 1) / Math.Sqrt(inFeatures)
                    : torch.randn(new[] { (long)rank, inFeatures }, generator: generator) / rank;
            }
            var layer = new LoraLayer(name, linear, new Parameter(a.to(linear.weight.device), requires_grad: !freezeA),
                new Parameter(torch.zeros(outFeatures, rank, device: linear.weight.device)), alpha / rank);
            _layers.Add(layer);
            var remover = linear.register_forward_hook((_, input, output) =>
            {
                var down = input.matmul(layer.A.t());
                var up = down.matmul(layer.B.t()) * layer.Scale;
                if (CaptureActivations)
                {
                    layer.LastInput = input.detach(); // own handle: containers such as Sequential dispose intermediate inputs
                    layer.LastDown = down;
                    layer.LastUp = up;
                }
                return output + up;
            });
            _hooks.Add(remover.remove);
        }
        FreezeA = freezeA;
    }

    /// <summary>The adapted layers.</summary>
    public IReadOnlyList<LoraLayer> Layers => _layers;
    /// <summary>True when A is frozen (FFA-LoRA).</summary>
    public bool FreezeA { get; }
    /// <summary>When true, each forward pass records the layers' inputs and adapter activations (for DP per-sample gradients).</summary>
    public bool CaptureActivations { get; set; }

    /// <summary>The trained (and communicated) parameters: B of every layer, plus A when it is not frozen.</summary>
    public IReadOnlyList<Parameter> TrainableParameters =>
        _layers.SelectMany(l => FreezeA ? new[] { l.B } : new[] { l.A, l.B }).ToList();

    /// <summary>Folds s·B·A into each base weight, removes the hooks and restores the base parameters' trainability.</summary>
    public void MergeAndDetach()
    {
        using (no_grad())
            foreach (var l in _layers)
                l.Target.weight!.add_(l.B.matmul(l.A) * l.Scale);
        Dispose();
        foreach (var p in _frozen) p.requires_grad = true;
        _frozen.Clear();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var remove in _hooks) remove();
        _hooks.Clear();
    }
}
