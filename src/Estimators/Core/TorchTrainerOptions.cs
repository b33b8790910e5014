using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt.Core;

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
    /// <summary>Seed for weight initialisation, shuffling and the validation split: equal seeds give equal models.</summary>
    public int Seed { get; set; }
    /// <summary>Training device.</summary>
    public TorchDeviceKind Device { get; set; } = TorchDeviceKind.Auto;
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
    /// <summary>Cancels training between steps; <see cref="OperationCanceledException"/> is thrown.</summary>
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

/// <summary>Resolves <see cref="TorchDeviceKind"/> to a TorchSharp device.</summary>
public static class TorchDevices
{
    /// <summary>The device for <paramref name="kind"/>; throws when CUDA is required but unavailable.</summary>
    public static Device Resolve(TorchDeviceKind kind)
    {
        bool cuda = cuda_is_available();
        return kind switch
        {
            TorchDeviceKind.Cpu => CPU,
            TorchDeviceKind.Cuda when !cuda => throw new InvalidOperationException(
                "Device = Cuda was requested but TorchSharp reports no CUDA device. Reference a CUDA TorchSharp package " +
                "(e.g. TorchSharp-cuda-linux) instead of TorchSharp-cpu and check the GPU driver, or use Device = Auto."),
            TorchDeviceKind.Cuda => CUDA,
            _ => cuda ? CUDA : CPU,
        };
    }

    /// <summary>True when TorchSharp reports a CUDA device.</summary>
    internal static bool CudaAvailable => cuda_is_available();

    private static bool cuda_is_available()
    {
        try { return torch.cuda.is_available(); }
        catch (Exception) { return false; }
    }

    /// <summary>Seeds TorchSharp's generators (CPU and CUDA) for reproducible initialisation and dropout.</summary>
    public static void Seed(int seed)
    {
        torch.random.manual_seed(seed);
        if (cuda_is_available()) torch.cuda.manual_seed_all(seed);
    }
}
