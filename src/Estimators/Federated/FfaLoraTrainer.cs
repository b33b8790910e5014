using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>Sample-level DP-SGD settings of each client.</summary>
public sealed record DifferentialPrivacyOptions
{
    /// <summary>Per-sample gradient clipping norm C.</summary>
    public double ClipNorm { get; init; } = 1.0;
    /// <summary>Target ε (σ is searched with the RDP accountant so that every client stays within it), or null to use <see cref="NoiseMultiplier"/>.</summary>
    public double? TargetEpsilon { get; init; }
    /// <summary>Noise multiplier σ when no <see cref="TargetEpsilon"/> is set.</summary>
    public double NoiseMultiplier { get; init; } = 1.0;
    /// <summary>δ of the (ε, δ) guarantee.</summary>
    public double Delta { get; init; } = 1e-5;
    /// <summary>RDP → (ε, δ) conversion (Balle et al. 2020 by default, as Opacus).</summary>
    public RdpConversion Conversion { get; init; } = RdpConversion.Balle2020;
}

/// <summary>Settings of federated LoRA fine-tuning (FFA-LoRA by default).</summary>
public sealed class FfaLoraOptions : FederatedOptions
{
    /// <summary>Creates options: 3 clients, rank 8, α 8, A frozen, SGD lr 0.05.</summary>
    public FfaLoraOptions() => Clients = 3;

    /// <summary>The library defaults (FFA-LoRA rank 8, α 8, A frozen, 3 clients, no differential privacy): <c>new FfaLoraOptions()</c>; set <see cref="BaseModel"/>.</summary>
    public static new FfaLoraOptions Recommended => new();

    /// <summary>
    /// FFA-LoRA under differential privacy, ε = 6 per client (δ = 1e-5, clip norm 1), rank 8 and α 8 over 5 clients with a
    /// Dirichlet(0.5) label split and 10 rounds: the setting of the federated guide's example and the FFA-LoRA benchmark's
    /// ε = 6 runs. Set <see cref="BaseModel"/>.
    /// </summary>
    public static FfaLoraOptions Private => new()
    {
        Clients = 5, Split = ClientSplit.NonIid(0.5),
        Privacy = new DifferentialPrivacyOptions { TargetEpsilon = 6, ClipNorm = 1, Delta = 1e-5 },
    };

    /// <summary>A trained model of the wrapped trainer whose weights are the frozen base (null = the trainer's fresh initialisation).</summary>
    public TorchModelTransformer? BaseModel { get; set; }
    /// <summary>LoRA rank r.</summary>
    public int Rank { get; set; } = 8;
    /// <summary>LoRA α (scale s = α/r).</summary>
    public double Alpha { get; set; } = 8;
    /// <summary>True: FFA-LoRA (A frozen at its shared random init; only B is trained and sent). False: vanilla federated LoRA.</summary>
    public bool FreezeA { get; set; } = true;
    /// <summary>Seed of A, identical on every client.</summary>
    public long ASeed { get; set; } = 1234;
    /// <summary>How A is initialised.</summary>
    public LoraAInit AInit { get; set; } = LoraAInit.KaimingUniform;
    /// <summary>Module paths of the Linear layers to adapt (null = every Linear).</summary>
    public IReadOnlyCollection<string>? TargetModules { get; set; }
    /// <summary>Client learning rate (plain SGD with momentum 0.9, the usual choice under DP).</summary>
    public double LearningRate { get; set; } = 0.05;
    /// <summary>DP-SGD on the clients, or null for non-private training.</summary>
    public DifferentialPrivacyOptions? Privacy { get; set; }

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (Rank < 1) throw new ArgumentOutOfRangeException(nameof(Rank), Rank, "Rank must be ≥ 1.");
        if (!(Alpha > 0)) throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, "Alpha must be > 0.");
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be > 0.");
        if (Privacy is { } p)
        {
            if (!(p.ClipNorm > 0)) throw new ArgumentOutOfRangeException(nameof(Privacy), p.ClipNorm, "Privacy.ClipNorm must be > 0.");
            if (p.TargetEpsilon is double e && !(e > 0)) throw new ArgumentOutOfRangeException(nameof(Privacy), e, "Privacy.TargetEpsilon must be > 0.");
            if (!(p.NoiseMultiplier >= 0)) throw new ArgumentOutOfRangeException(nameof(Privacy), p.NoiseMultiplier, "Privacy.NoiseMultiplier must be ≥ 0.");
        }
    }
}

/// <summary>
/// FFA-LoRA (Sun, Li, Li, Ding, ICLR 2024): federated LoRA fine-tuning in which A is frozen at a random initialisation shared
/// by all clients and only B is trained, sent and averaged — so averaging is exact and DP noise enters linearly — with
/// optional sample-level DP-SGD on every client (Poisson sampling, per-sample clipping, Gaussian noise, division by the
/// expected batch size) accounted by the RDP accountant. <see cref="FfaLoraOptions.FreezeA"/> = false is vanilla federated LoRA.
/// The returned model has the adapters merged into the base weights.
/// </summary>
public sealed class FfaLoraTrainer<TTransformer> : FederatedTrainerBase<TTransformer, FfaLoraOptions> where TTransformer : class, ITransformer
{
    private LoraAdapters? _adapters;
    private readonly Dictionary<int, RdpAccountant> _accountants = new();
    private readonly Dictionary<int, double> _sigmas = new();
    private double _sigma, _sampleRate;
    private int _batchSize;
    private int _clientRows;
    private RdpAccountant? _current;

    /// <summary>Wraps <paramref name="trainer"/>.</summary>
    public FfaLoraTrainer(IHostEnvironment env, ITorchTrainer<TTransformer> trainer, FfaLoraOptions? options = null)
        : base(env, trainer, options ?? new FfaLoraOptions(), "FfaLoraTrainer") { }

    /// <summary>The largest noise multiplier σ used by any client (0 without DP).</summary>
    public double NoiseMultiplier => _sigmas.Count > 0 ? _sigmas.Values.Max() : 0;

    /// <summary>ε spent so far: the largest over clients (each client's guarantee covers its own rows), or ∞ without DP.</summary>
    public double EpsilonSpent => Options.Privacy is { } p && _accountants.Count > 0
        ? _accountants.Values.Max(a => a.GetEpsilon(p.Delta).Epsilon)
        : double.PositiveInfinity;

    /// <summary>Floats each client sends per round (B only under FFA-LoRA; A and B for vanilla LoRA).</summary>
    public long ParametersSentPerRound { get; private set; }

    /// <inheritdoc/>
    protected override nn.Module<Tensor, Tensor> PrepareModule(nn.Module<Tensor, Tensor> module, TorchTrainingProblem problem)
    {
        if (Options.BaseModel is { } baseModel)
        {
            using (no_grad())
            {
                var source = baseModel.Module.state_dict();
                foreach (var (name, tensor) in module.state_dict())
                {
                    if (!source.TryGetValue(name, out var value) || !value.shape.SequenceEqual(tensor.shape))
                        throw new ArgumentException($"BaseModel does not fit the wrapped trainer's model: '{name}' is missing or has another shape. " +
                                                    "Train the base model with the same trainer options (architecture, feature size, classes).");
                    tensor.copy_(value);
                }
            }
        }
        _adapters = new LoraAdapters(module, Options.Rank, Options.Alpha, Options.ASeed, Options.FreezeA, Options.TargetModules, Options.AInit);
        _accountants.Clear();
        ParametersSentPerRound = _adapters.TrainableParameters.Sum(p => p.numel());
        _sigmas.Clear();
        _batchSize = problem.Options.BatchSize;
        return module;
    }

    /// <inheritdoc/>
    protected override IReadOnlyList<Parameter> SharedParameters(nn.Module<Tensor, Tensor> module) => _adapters!.TrainableParameters;

    /// <inheritdoc/>
    protected override optim.Optimizer CreateClientOptimizer(TorchTrainingProblem problem, nn.Module<Tensor, Tensor> module, IReadOnlyList<Parameter> shared)
        => optim.SGD(shared, Options.LearningRate, momentum: 0.9);

    /// <inheritdoc/>
    protected override nn.Module<Tensor, Tensor> FinishModule(nn.Module<Tensor, Tensor> module)
    {
        _adapters!.MergeAndDetach();
        return module;
    }

    /// <inheritdoc/>
    protected override void BeginClient(int round, int client, int rows)
    {
        _clientRows = rows;
        if (Options.Privacy is null) return;
        if (!_accountants.TryGetValue(client, out var accountant))
            _accountants[client] = accountant = new RdpAccountant(conversion: Options.Privacy.Conversion);
        _current = accountant;
        // Each client's guarantee covers its own rows, so σ is set per client from its own sampling rate and step count.
        if (!_sigmas.TryGetValue(client, out _sigma))
        {
            var privacy = Options.Privacy;
            double q = Math.Min(1, _batchSize / (double)rows);
            long steps = (long)Options.Rounds * Options.LocalEpochs * Math.Max(1, (long)Math.Round(1 / q));
            _sigma = privacy.TargetEpsilon is double eps
                ? RdpAccountant.NoiseMultiplierFor(eps, privacy.Delta, q, steps, conversion: privacy.Conversion)
                : privacy.NoiseMultiplier;
            _sigmas[client] = _sigma;
        }
    }

    /// <inheritdoc/>
    protected override IEnumerable<int[]> ClientBatches(int[] rows, int batchSize, Random random)
    {
        if (Options.Privacy is null)
        {
            foreach (var b in base.ClientBatches(rows, batchSize, random)) yield return b;
            yield break;
        }
        // Poisson sampling: each row joins each batch independently with q = B/n; the batch size is random (possibly 0).
        _sampleRate = Math.Min(1, batchSize / (double)rows.Length);
        int batches = Math.Max(1, (int)Math.Round(1 / _sampleRate));
        for (int k = 0; k < batches; k++)
            yield return rows.Where(_ => random.NextDouble() < _sampleRate).ToArray();
    }

    /// <inheritdoc/>
    protected override double ClientStep(TorchTrainingProblem problem, nn.Module<Tensor, Tensor> module, optim.Optimizer optimizer, Tensor rows, Random random)
    {
        if (Options.Privacy is not { } privacy) return base.ClientStep(problem, module, optimizer, rows, random);
        var adapters = _adapters!;
        var parameters = adapters.TrainableParameters;
        var clipped = parameters.Select(p => torch.zeros_like(p)).ToArray();
        double lossValue = double.NaN;
        long n = rows.shape[0];
        if (n > 0)
        {
            adapters.CaptureActivations = true;
            var (x, y) = problem.Batch(rows);
            var loss = problem.LossOn(module, x, y, training: true);
            adapters.CaptureActivations = false;
            lossValue = loss.item<float>();
            var perSample = PerSampleGradients(adapters, loss, n);
            // ‖g_i‖ over all trained tensors, c_i = min(1, C/‖g_i‖), then Σ_i c_i g_i per tensor.
            // Scalars held in `using` locals: an implicitly converted Scalar can be finalized while libtorch still reads it
            // (TorchSharp 0.107; crashed a benchmark with "toDouble at Scalar.h:140").
            using var two = 2.ToScalar();
            using var epsilon = 1e-6.ToScalar();
            using var clipNorm = privacy.ClipNorm.ToScalar();
            using var one = 1.0.ToScalar();
            var norms = torch.stack(perSample.Select(g => g.flatten(1).pow(two).sum(1)).ToArray()).sum(new long[] { 0 }).sqrt(); // not sum(0): a literal 0 binds to the ScalarType overload
            var factors = ((norms + epsilon).reciprocal() * clipNorm).clamp_max(one);
            for (int k = 0; k < parameters.Count; k++)
                clipped[k] = (perSample[k] * factors.view(new long[] { -1 }.Concat(Enumerable.Repeat(1L, (int)perSample[k].dim() - 1)).ToArray())).sum(new long[] { 0 });
        }
        using var expectedBatch = (_sampleRate * _clientRows).ToScalar();
        using var noiseScale = (_sigma * privacy.ClipNorm).ToScalar();
        var generator = new Generator((ulong)random.NextInt64());
        for (int k = 0; k < parameters.Count; k++)
        {
            var noise = torch.randn(parameters[k].shape, generator: generator, device: parameters[k].device) * noiseScale;
            FlatParameters.AssignGradient(parameters[k], (clipped[k] + noise) / expectedBatch);
        }
        optimizer.step();
        _current!.Step(_sampleRate, _sigma);
        return lossValue;
    }

    /// <summary>
    /// Per-sample gradients [N, …param shape] of the trained LoRA tensors from the captured activations: with g = ∂L/∂(s·BAx)
    /// (rescaled by N because the loss is a batch mean), ∇B_i = s·Σ_t g_it u_itᵀ and ∇A_i = s·Σ_t (Bᵀg_it) x_itᵀ, u = Ax.
    /// </summary>
    public static Tensor[] PerSampleGradients(LoraAdapters adapters, Tensor meanLoss, long n)
    {
        var ups = adapters.Layers.Select(l => l.LastUp ?? throw new InvalidOperationException($"LoRA layer {l.Name} was not used by the forward pass.")).ToList();
        var g = torch.autograd.grad(new[] { meanLoss }, ups, retain_graph: false, allow_unused: true);
        var result = new List<Tensor>();
        using var batch = n.ToScalar(); // held: see ClientStep
        for (int i = 0; i < adapters.Layers.Count; i++)
        {
            var l = adapters.Layers[i];
            using var scale = l.Scale.ToScalar();
            var gi = (g[i] * batch).reshape(n, -1, l.B.shape[0]);      // [N, T, out]
            var u = l.LastDown!.detach().reshape(n, -1, l.A.shape[0]);  // [N, T, r]
            if (!adapters.FreezeA)
            {
                var xin = l.LastInput!.detach().reshape(n, -1, l.A.shape[1]);   // [N, T, in]
                var back = gi.matmul(l.B.detach());                              // [N, T, r]
                result.Add(torch.einsum("ntr,nti->nri", back, xin) * scale);     // ∇A_i
            }
            result.Add(torch.einsum("nto,ntr->nor", gi, u) * scale);             // ∇B_i
        }
        return result.ToArray();
    }
}
