using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>Where TorchSharp trains and scores.</summary>
public enum TorchDeviceKind
{
    /// <summary>CUDA when TorchSharp reports it available (a CUDA TorchSharp package and a GPU), otherwise CPU.</summary>
    Auto,
    /// <summary>Always CPU.</summary>
    Cpu,
    /// <summary>CUDA; training fails with a clear error when CUDA is not available.</summary>
    Cuda,
}

/// <summary>Inner optimizer used by the shared training loop.</summary>
public enum TorchOptimizerKind
{
    /// <summary>Adam with decoupled weight decay.</summary>
    AdamW,
    /// <summary>Adam (weight decay added to the gradient).</summary>
    Adam,
    /// <summary>Stochastic gradient descent with momentum 0.9.</summary>
    Sgd,
}

/// <summary>Learning-rate schedule applied per optimisation step.</summary>
public enum LearningRateScheduleKind
{
    /// <summary>Constant learning rate.</summary>
    Constant,
    /// <summary>Linear warm-up over <see cref="TorchTrainerOptions.WarmupEpochs"/>, then cosine decay to zero.</summary>
    WarmupCosine,
}

/// <summary>Options shared by every TorchSharp-backed trainer of this package.</summary>
public class TorchTrainerOptions
{
    /// <summary>Name of the input feature column (a known-size vector of Single).</summary>
    public string FeatureColumnName { get; set; } = "Features";
    /// <summary>Name of the label column.</summary>
    public string LabelColumnName { get; set; } = "Label";
    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; set; } = 10;
    /// <summary>Rows per optimisation step.</summary>
    public int BatchSize { get; set; } = 64;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; set; } = 1e-3;
    /// <summary>Weight decay (decoupled for AdamW).</summary>
    public double WeightDecay { get; set; } = 0;
    /// <summary>Inner optimizer.</summary>
    public TorchOptimizerKind Optimizer { get; set; } = TorchOptimizerKind.AdamW;
    /// <summary>Learning-rate schedule.</summary>
    public LearningRateScheduleKind Schedule { get; set; } = LearningRateScheduleKind.Constant;
    /// <summary>Warm-up length in epochs for <see cref="LearningRateScheduleKind.WarmupCosine"/>.</summary>
    public double WarmupEpochs { get; set; } = 1;
    /// <summary>
    /// Seed for weight initialisation, shuffling and the validation split: equal seeds give equal models. Null (the
    /// default) takes the <c>MLContext</c>'s seed; see <see cref="TorchSeeds.Resolve"/>.
    /// </summary>
    public int? Seed { get; set; }
    /// <summary>Training device.</summary>
    public TorchDeviceKind Device { get; set; } = TorchDeviceKind.Auto;
    /// <summary>
    /// Rows held in the shuffle buffer when the training data cannot be read by row index (a view that is not cached):
    /// batches are drawn at random from this many buffered rows while the cursor streams the rest. Larger mixes better
    /// and costs <c>ShuffleBufferSize × feature size</c> floats of memory. When the buffer is smaller than the training
    /// split, batches start while it fills (every second row read sends a buffered row on), so an epoch does not wait for
    /// the whole buffer; a buffer that holds the whole split is filled first, which shuffles fully. Cached views
    /// (<c>mlContext.Data.Cache</c>) are shuffled by row index instead and ignore this.
    /// </summary>
    public int ShuffleBufferSize { get; set; } = 10_000;
    /// <summary>Batches a background thread reads ahead of the training step (reading overlaps compute).</summary>
    public int PrefetchBatches { get; set; } = 4;
    /// <summary>Reads all rows into one tensor on the device before training (the former path, kept to measure streaming against).</summary>
    internal bool LoadAllRowsOnDevice { get; set; }
    /// <summary>Fraction of the training rows held out for validation (0 = none). Needed for early stopping.</summary>
    public double ValidationFraction { get; set; }
    /// <summary>Stop after this many epochs without a better validation loss and restore the best weights (0 = off).</summary>
    public int EarlyStoppingPatience { get; set; }
    /// <summary>Rows per forward pass when scoring.</summary>
    public int ScoringBatchSize { get; set; } = 256;

    /// <summary>
    /// What the trained transformer does when it scores a row whose features hold NaN or ±Infinity (saved with the
    /// model): a missing prediction by default (NaN scores, key <c>PredictedLabel</c> 0), or throw.
    /// See <see cref="TorchModelTransformer.NonFiniteFeatures"/>.
    /// </summary>
    public NonFiniteFeatureHandling NonFiniteFeatures { get; set; } = NonFiniteFeatureHandling.MissingPrediction;
    /// <summary>Receives a report after every epoch (and every <see cref="ProgressEverySteps"/> steps).</summary>
    public IProgress<TrainingProgress>? Progress { get; set; }
    /// <summary>Also report progress every this many steps within an epoch (0 = only per epoch).</summary>
    public int ProgressEverySteps { get; set; }
    /// <summary>
    /// Cancels training between steps; <see cref="OperationCanceledException"/> is thrown. Cancelling the
    /// <c>MLContext</c> (<c>CancelExecution</c>) stops training the same way (see docs/architecture.md).
    /// </summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Checks the values and throws <see cref="ArgumentOutOfRangeException"/> naming the bad option.</summary>
    public virtual void Validate()
    {
        if (string.IsNullOrWhiteSpace(FeatureColumnName)) throw new ArgumentException("FeatureColumnName must be set.");
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 1.");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be at least 1.");
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be positive.");
        if (WeightDecay < 0) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "WeightDecay must not be negative.");
        if (ValidationFraction < 0 || ValidationFraction >= 1) throw new ArgumentOutOfRangeException(nameof(ValidationFraction), ValidationFraction, "ValidationFraction must be in [0, 1).");
        if (EarlyStoppingPatience < 0) throw new ArgumentOutOfRangeException(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "EarlyStoppingPatience must not be negative.");
        if (EarlyStoppingPatience > 0 && ValidationFraction == 0)
            throw new ArgumentException("EarlyStoppingPatience needs a validation split: set ValidationFraction (e.g. 0.1).");
        if (ShuffleBufferSize < 1) throw new ArgumentOutOfRangeException(nameof(ShuffleBufferSize), ShuffleBufferSize, "ShuffleBufferSize must be at least 1.");
        if (PrefetchBatches < 1) throw new ArgumentOutOfRangeException(nameof(PrefetchBatches), PrefetchBatches, "PrefetchBatches must be at least 1.");
        if (ScoringBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(ScoringBatchSize), ScoringBatchSize, "ScoringBatchSize must be at least 1.");
        if (!Enum.IsDefined(NonFiniteFeatures))
            throw new ArgumentOutOfRangeException(nameof(NonFiniteFeatures), NonFiniteFeatures, "NonFiniteFeatures must be MissingPrediction or Throw.");
    }
}

/// <summary>A training progress report.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TotalEpochs">Configured number of epochs.</param>
/// <param name="Step">Global optimisation step (1-based).</param>
/// <param name="TotalSteps">Total steps planned.</param>
/// <param name="TrainLoss">Mean training loss over the epoch so far.</param>
/// <param name="ValidationLoss">Validation loss at the end of the epoch, when a validation split exists.</param>
/// <param name="LearningRate">Current learning rate.</param>
/// <param name="Elapsed">Wall time since training started.</param>
public readonly record struct TrainingProgress(int Epoch, int TotalEpochs, long Step, long TotalSteps, double TrainLoss,
    double? ValidationLoss, double LearningRate, TimeSpan Elapsed)
{
    /// <summary>Fraction of planned steps completed, in [0, 1].</summary>
    public double Fraction => TotalSteps == 0 ? 1 : Math.Min(1, (double)Step / TotalSteps);
}

/// <summary>Where a model trains or scores, as resolved from the options and the <c>MLContext</c>.</summary>
/// <param name="Type">CPU or CUDA.</param>
/// <param name="Index">CUDA device index (−1 for the CPU).</param>
/// <param name="FellBack">True when a GPU was asked for, none was available and the context allowed the CPU instead.</param>
public readonly record struct TorchDeviceChoice(DeviceType Type, int Index, bool FellBack = false)
{
    /// <summary>The TorchSharp device.</summary>
    public Device ToDevice() => Type == DeviceType.CUDA ? torch.device(DeviceType.CUDA, Index) : CPU;
}

/// <summary>Resolves <see cref="TorchDeviceKind"/> to a TorchSharp device.</summary>
public static class TorchDevices
{
    /// <summary>The device for <paramref name="kind"/>; throws when CUDA is required but unavailable.</summary>
    public static Device Resolve(TorchDeviceKind kind) => Choose(kind, null, false, CudaIsAvailable()).ToDevice();

    /// <summary>
    /// The device for <paramref name="kind"/> under the settings of <paramref name="env"/> (an <c>MLContext</c>): its
    /// <c>GpuDeviceId</c> and <c>FallbackToCpu</c>. See <see cref="Choose"/> for the rule.
    /// </summary>
    public static Device Resolve(TorchDeviceKind kind, IHostEnvironment env)
    {
        var (gpu, fallback) = ContextSettings(env);
        var choice = Choose(kind, gpu, fallback, CudaIsAvailable());
        if (choice.FellBack)
            env.Register("TorchDevices").Start("Device").Warning($"GPU {gpu ?? 0} was requested but TorchSharp reports no CUDA device; using the CPU (MLContext.FallbackToCpu).");
        return choice.ToDevice();
    }

    /// <summary>The context's <c>GpuDeviceId</c> and <c>FallbackToCpu</c> (null and true for an environment without them).</summary>
    public static (int? GpuDeviceId, bool FallbackToCpu) ContextSettings(IHostEnvironment env)
        => env is IHostEnvironmentInternal settings ? (settings.GpuDeviceId, settings.FallbackToCpu) : (null, true);

    /// <summary>
    /// The one device rule for training and scoring. <see cref="TorchDeviceKind.Cpu"/> is the CPU.
    /// <see cref="TorchDeviceKind.Cuda"/>, or <see cref="TorchDeviceKind.Auto"/> with the context's
    /// <paramref name="gpuDeviceId"/> set, asks for GPU <paramref name="gpuDeviceId"/> (0 when unset); without CUDA that
    /// is an error unless <paramref name="fallbackToCpu"/>, which gives the CPU. <see cref="TorchDeviceKind.Auto"/> without
    /// a GPU id uses CUDA device 0 when available, else the CPU.
    /// </summary>
    public static TorchDeviceChoice Choose(TorchDeviceKind kind, int? gpuDeviceId, bool fallbackToCpu, bool cudaAvailable)
    {
        if (gpuDeviceId < 0) throw new ArgumentOutOfRangeException(nameof(gpuDeviceId), gpuDeviceId, "MLContext.GpuDeviceId must not be negative.");
        if (kind == TorchDeviceKind.Cpu) return new TorchDeviceChoice(DeviceType.CPU, -1);
        bool gpuRequested = kind == TorchDeviceKind.Cuda || gpuDeviceId is not null;
        if (!gpuRequested) return cudaAvailable ? new TorchDeviceChoice(DeviceType.CUDA, 0) : new TorchDeviceChoice(DeviceType.CPU, -1);
        if (cudaAvailable) return new TorchDeviceChoice(DeviceType.CUDA, gpuDeviceId ?? 0);
        if (fallbackToCpu) return new TorchDeviceChoice(DeviceType.CPU, -1, FellBack: true);
        throw new InvalidOperationException(
            (kind == TorchDeviceKind.Cuda ? "Device = Cuda was requested" : $"MLContext.GpuDeviceId = {gpuDeviceId} was set") +
            " but TorchSharp reports no CUDA device. Reference a CUDA TorchSharp package (e.g. TorchSharp-cuda-linux) instead of " +
            "TorchSharp-cpu and check the GPU driver, set MLContext.FallbackToCpu = true to use the CPU, or use Device = Cpu.");
    }

    private static bool CudaIsAvailable()
    {
        try { return torch.cuda.is_available(); }
        catch (Exception) { return false; }
    }

    /// <summary>Seeds TorchSharp's generators (CPU and CUDA) for reproducible initialisation and dropout.</summary>
    public static void Seed(int seed)
    {
        torch.random.manual_seed(seed);
        if (CudaIsAvailable()) torch.cuda.manual_seed_all(seed);
    }
}

/// <summary>The one seed rule of the TorchSharp trainers.</summary>
public static class TorchSeeds
{
    /// <summary>
    /// <paramref name="seed"/> when set; otherwise the seed of the <c>MLContext</c> <paramref name="env"/>
    /// (<c>new MLContext(seed: 7)</c> → 7); when the context has no seed either, one drawn from the context's random
    /// source, so unseeded contexts give different models run to run, as ML.NET's own trainers do.
    /// </summary>
    public static int Resolve(int? seed, IHostEnvironment env)
    {
        if (seed is int s) return s;
        if (env is IHostEnvironmentInternal { Seed: int contextSeed }) return contextSeed;
        return env.Register("TorchSeeds").Rand.Next();
    }
}
