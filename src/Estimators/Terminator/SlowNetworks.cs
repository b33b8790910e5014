using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>
/// A slow network: produces a kernel as a function of coordinates. Either a coordinate-based implicit MLP
/// (<see cref="MagNet"/>) — a hyper-kernel — or, for the ablation, a directly learned tensor (<see cref="PlainKernel"/>).
/// </summary>
internal abstract class KernelSource : nn.Module
{
    protected KernelSource(string name) : base(name) { }

    /// <summary>The kernel as [points, channels]; <paramref name="condition"/> is [points, hidden] for context-dependent kernels.</summary>
    public abstract Tensor Generate(Tensor? condition);
}

/// <summary>
/// Multiplicative filter network (MAGNet style, as in CKConv/FlexConv/CCNN): h₁ = sin(A₀c),
/// h_{l+1} = sin(A_l c) ⊙ (W_l h_l + b_l) + p, out = W_out h_L + b_out, over a fixed coordinate grid c ∈ [−1, 1]^d.
/// Sine frequencies are drawn as A_l · ω₀ · γ_l with γ_l ~ Gamma(α/(l+1), β), so deeper layers get lower frequencies.
/// When <c>conditioned</c>, every layer is S-renormalised (h ← stopgrad(h) + 0.1·normalise(h)) and multiplied by a
/// linear map of the context (MAGNet_L: the local, input-dependent hyper-kernel).
/// </summary>
internal sealed class MagNet : KernelSource
{
    private readonly ModuleList<Linear> filters = new(), linears = new(), contexts = new();
    private readonly Linear output;
    private readonly Parameter pointBias;
    private readonly Tensor coordinates;
    private readonly bool _conditioned;

    public MagNet(int[] grid, int hidden, int layers, int outChannels, double omega0, double gammaAlpha, double gammaBeta, bool conditioned, Random random)
        : base("MagNet")
    {
        if (layers < 1) throw new ArgumentOutOfRangeException(nameof(layers), layers, "A slow network needs at least one layer.");
        _conditioned = conditioned;
        coordinates = Grid(grid);
        int points = (int)coordinates.shape[0], dims = grid.Length;
        for (int l = 0; l < layers; l++)
        {
            var f = nn.Linear(dims, hidden);
            using (no_grad())
            {
                // Per-layer frequency scale: Gamma(α/(l+1), β) keeps low frequencies in deep layers (MAGNet init).
                double gamma = RandomSampling.Gamma(random, gammaAlpha / (l + 1), gammaBeta);
                f.weight!.mul_(omega0 * gamma);
                f.bias!.zero_();
            }
            filters.Add(f);
            if (l > 0)
            {
                var w = nn.Linear(hidden, hidden);
                using (no_grad()) w.bias!.fill_(1.0);
                linears.Add(w);
                if (conditioned) contexts.Add(nn.Linear(hidden, hidden));
            }
        }
        output = nn.Linear(hidden, outChannels);
        using (no_grad())
        {
            // "Chang" initialisation: scale the output so the kernel's variance does not grow with its size.
            output.weight!.mul_(Math.Sqrt(1.0 / points));
            output.bias!.zero_();
        }
        pointBias = new Parameter(zeros(points, 1));
        RegisterComponents();
    }

    public override Tensor Generate(Tensor? condition)
    {
        var c = coordinates;
        var h = filters[0].call(c).sin();
        for (int l = 1; l < filters.Count; l++)
        {
            h = filters[l].call(c).sin() * linears[l - 1].call(h) + pointBias;
            if (_conditioned)
            {
                if (condition is null) throw new InvalidOperationException("This slow network needs a context.");
                h = h.detach() + 0.1 * nn.functional.normalize(h, dim: 0, eps: 1e-4);
                h = h * contexts[l - 1].call(condition);
            }
        }
        return output.call(h);
    }

    /// <summary>Coordinates of a regular grid in [−1, 1]^d, [points, d], row-major (last axis fastest).</summary>
    internal static Tensor Grid(int[] grid)
    {
        var axes = grid.Select(n => n == 1 ? zeros(1) : linspace(-1, 1, n)).ToArray();
        if (axes.Length == 1) return axes[0].unsqueeze(1);
        var mesh = meshgrid(axes, indexing: "ij");
        return stack(mesh.Select(m => m.flatten()).ToArray(), 1);
    }
}

/// <summary>The ablation of a hyper-kernel: the kernel is a directly learned tensor.</summary>
internal sealed class PlainKernel : KernelSource
{
    private readonly Parameter kernel;

    public PlainKernel(int points, int channels) : base("PlainKernel")
    {
        kernel = new Parameter(randn(points, channels) * Math.Sqrt(1.0 / points));
        RegisterComponents();
    }

    public override Tensor Generate(Tensor? condition) => kernel;
}
