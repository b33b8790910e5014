using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>The norm of the threat model.</summary>
public enum AttackNorm
{
    /// <summary>‖δ‖∞ ≤ ε (sign steps).</summary>
    LInf,
    /// <summary>‖δ‖₂ ≤ ε per example (normalised-gradient steps).</summary>
    L2,
}

/// <summary>
/// A PGD adversary (Madry et al.): optional uniform random start in the ε-ball, <see cref="Steps"/> ascent steps of size
/// <see cref="StepSize"/> on the loss, each followed by projection onto the ε-ball and the valid input range.
/// FGSM is <see cref="Fgsm"/>: one step of size ε, no random start.
/// </summary>
public sealed record AttackOptions
{
    /// <summary>Radius ε of the threat model (0 = no attack: inputs are returned unchanged).</summary>
    public double Epsilon { get; init; } = 0.1;
    /// <summary>Norm of the threat model.</summary>
    public AttackNorm Norm { get; init; } = AttackNorm.LInf;
    /// <summary>Ascent steps.</summary>
    public int Steps { get; init; } = 10;
    /// <summary>Step size (default 2.5·ε/steps, Madry's rule of thumb).</summary>
    public double? StepSize { get; init; }
    /// <summary>Start from a uniform random point of the ε-ball.</summary>
    public bool RandomStart { get; init; } = true;
    /// <summary>Smallest valid input value (pixels: 0).</summary>
    public double InputMin { get; init; }
    /// <summary>Largest valid input value (pixels: 1).</summary>
    public double InputMax { get; init; } = 1;

    /// <summary>The effective step size.</summary>
    public double EffectiveStepSize => StepSize ?? 2.5 * Epsilon / Math.Max(1, Steps);

    /// <summary>PGD with <paramref name="steps"/> steps at radius <paramref name="epsilon"/>.</summary>
    public static AttackOptions Pgd(double epsilon, int steps = 10, AttackNorm norm = AttackNorm.LInf, double? stepSize = null) =>
        new() { Epsilon = epsilon, Steps = steps, Norm = norm, StepSize = stepSize };

    /// <summary>FGSM: one step of size ε, no random start (≡ PGD-1 with step ε).</summary>
    public static AttackOptions Fgsm(double epsilon, AttackNorm norm = AttackNorm.LInf) =>
        new() { Epsilon = epsilon, Steps = 1, StepSize = epsilon, RandomStart = false, Norm = norm };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!(Epsilon >= 0)) throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "Epsilon must be ≥ 0.");
        if (Steps < 1) throw new ArgumentOutOfRangeException(nameof(Steps), Steps, "Steps must be ≥ 1.");
        if (StepSize is double s && !(s > 0)) throw new ArgumentOutOfRangeException(nameof(StepSize), s, "StepSize must be > 0.");
        if (!(InputMax > InputMin)) throw new ArgumentException($"InputMax ({InputMax}) must exceed InputMin ({InputMin}).");
    }
}

/// <summary>Generates adversarial examples and measures robust accuracy for any TorchSharp classifier.</summary>
public static class AdversarialAttack
{
    /// <summary>
    /// Adversarial versions of <paramref name="x"/> (rows are examples) against <paramref name="loss"/>(x) — a scalar
    /// loss, typically the sum or mean of the per-example losses. The result is detached and inside the ε-ball and input range.
    /// </summary>
    public static Tensor Perturb(Func<Tensor, Tensor> loss, Tensor x, AttackOptions options, Generator? generator = null)
    {
        options.Validate();
        if (options.Epsilon == 0) return x.detach().clone();
        using var scope = NewDisposeScope();
        var clean = x.detach();
        var eps = options.Epsilon;
        Tensor adv;
        if (options.RandomStart)
        {
            var noise = options.Norm == AttackNorm.LInf
                ? (torch.rand(clean.shape, generator: generator, device: clean.device) * 2 - 1) * eps
                : ProjectL2(torch.randn(clean.shape, generator: generator, device: clean.device), eps * 0.5);
            adv = (clean + noise).clamp(options.InputMin, options.InputMax);
        }
        else adv = clean.clone();
        for (int k = 0; k < options.Steps; k++)
        {
            var input = adv.detach().requires_grad_(true);
            var value = loss(input);
            var grad = torch.autograd.grad(new[] { value }, new[] { input })[0];
            using (no_grad())
            {
                Tensor step = options.Norm == AttackNorm.LInf
                    ? grad.sign()
                    : grad / (grad.flatten(1).norm(1, keepdim: true).clamp_min(1e-12).view(RowShape(grad)));
                var moved = input.detach() + options.EffectiveStepSize * step;
                var delta = moved - clean;
                delta = options.Norm == AttackNorm.LInf ? delta.clamp(-eps, eps) : ProjectL2(delta, eps);
                adv = (clean + delta).clamp(options.InputMin, options.InputMax);
            }
        }
        return adv.detach().MoveToOuterDisposeScope();
    }

    /// <summary>Natural and robust accuracy of <paramref name="classifier"/> (logits) on (<paramref name="x"/>, <paramref name="labels"/>).</summary>
    public static (double Natural, double Robust) Accuracy(nn.Module<Tensor, Tensor> classifier, Tensor x, Tensor labels, AttackOptions attack,
        int batchSize = 256, Generator? generator = null)
    {
        bool wasTraining = classifier.training;
        classifier.eval();
        long correct = 0, robust = 0, n = x.shape[0];
        for (long start = 0; start < n; start += batchSize)
        {
            using var scope = NewDisposeScope();
            long m = Math.Min(batchSize, n - start);
            var xb = x.narrow(0, start, m);
            var yb = labels.narrow(0, start, m);
            using (no_grad()) correct += classifier.call(xb).argmax(1).eq(yb).sum().item<long>();
            var adv = Perturb(input => nn.functional.cross_entropy(classifier.call(input), yb, reduction: nn.Reduction.Sum), xb, attack, generator);
            using (no_grad()) robust += classifier.call(adv).argmax(1).eq(yb).sum().item<long>();
        }
        if (wasTraining) classifier.train();
        return ((double)correct / n, (double)robust / n);
    }

    private static long[] RowShape(Tensor t) => new[] { t.shape[0] }.Concat(Enumerable.Repeat(1L, (int)t.dim() - 1)).ToArray();

    private static Tensor ProjectL2(Tensor delta, double eps)
    {
        var norms = delta.flatten(1).norm(1, keepdim: true).view(RowShape(delta));
        return delta * (eps / norms.clamp_min(1e-12)).clamp_max(1.0);
    }
}
