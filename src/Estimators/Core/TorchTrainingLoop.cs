using System.Diagnostics;
using Microsoft.ML.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>What a training run did: per-epoch losses, where the best validation loss was, and timing.</summary>
/// <param name="TrainLoss">Mean training loss per epoch.</param>
/// <param name="ValidationLoss">Validation loss per epoch (empty without a validation split).</param>
/// <param name="BestEpoch">1-based epoch whose weights were kept (the last one without validation).</param>
/// <param name="StoppedEarly">True when early stopping ended training before the last epoch.</param>
/// <param name="Steps">Optimisation steps taken.</param>
/// <param name="Elapsed">Wall time.</param>
/// <param name="SkippedSteps">Steps skipped because a gradient was not finite (see <see cref="TorchTrainingLoop.MaxConsecutiveSkippedSteps"/>).</param>
/// <param name="ValidationEpochs">The epoch of each <paramref name="ValidationLoss"/> entry (0 = before training); null when
/// every epoch was validated from the first.</param>
public sealed record TrainingHistory(IReadOnlyList<double> TrainLoss, IReadOnlyList<double> ValidationLoss, int BestEpoch,
    bool StoppedEarly, long Steps, TimeSpan Elapsed, long SkippedSteps = 0, IReadOnlyList<int>? ValidationEpochs = null);

/// <summary>
/// Optional controls of <see cref="TorchTrainingLoop.Run(nn.Module, int, Func{Tensor, Tensor}, Func{double}?, optim.Optimizer?, TrainingLoopControl?)"/> for methods whose examples are large or whose validation is
/// costly (e.g. whole graphs): the defaults reproduce the plain loop.
/// </summary>
public sealed record TrainingLoopControl
{
    /// <summary>The plain loop.</summary>
    public static TrainingLoopControl Default { get; } = new();
    /// <summary>Validate every this many epochs (and after the last one).</summary>
    public int ValidateEvery { get; init; } = 1;
    /// <summary>Also validate before the first step; those weights compete for the best (BestEpoch 0), so training that
    /// does not beat a good initialisation keeps it.</summary>
    public bool ValidateBeforeTraining { get; init; }
    /// <summary>Restore the weights of the best validation loss even without early stopping.</summary>
    public bool KeepBestWeights { get; init; }
    /// <summary>Stop after this many validations without a better loss (null: the options' EarlyStoppingPatience, counted in epochs).</summary>
    public int? EarlyStoppingPatience { get; init; }
    /// <summary>Clip the gradients' global norm to this before each step (0 = off).</summary>
    public double GradientClipNorm { get; init; }
    /// <summary>
    /// Back-propagate each batch in parts of this many rows, accumulating their gradients (weighted by size) before the
    /// single step (0 = the whole batch at once). Only one part's graph is alive at a time.
    /// </summary>
    public int MicroBatchSize { get; init; }
    /// <summary>
    /// The training rows of an epoch, drawn from the loop's seeded generator (null = every row, shuffled). Planned step
    /// counts (schedule, progress) still assume every row.
    /// </summary>
    public Func<Random, IReadOnlyList<int>>? EpochRows { get; init; }
}

/// <summary>
/// The one training loop every TorchSharp-backed trainer uses: seeding, device, optimizer and learning-rate schedule,
/// shuffled mini-batches, cancellation, progress through ML.NET's log and <see cref="IProgress{T}"/>, and early stopping
/// on a validation loss with the best weights restored. Methods supply only their batch loss.
/// </summary>
public sealed class TorchTrainingLoop
{
    private readonly IHost _host;
    private readonly TorchTrainerOptions _options;

    /// <summary>
    /// Creates the loop for component <paramref name="componentName"/> (used in log messages), with the seed and device
    /// resolved from the options and the <c>MLContext</c> <paramref name="env"/> (<see cref="TorchSeeds.Resolve"/>,
    /// <see cref="TorchDevices.Choose"/>).
    /// </summary>
    public TorchTrainingLoop(IHostEnvironment env, string componentName, TorchTrainerOptions options)
        : this(env, componentName, options, TorchSeeds.Resolve(options?.Seed, env ?? throw new ArgumentNullException(nameof(env)))) { }

    /// <summary>Creates the loop with an already resolved <paramref name="seed"/>.</summary>
    public TorchTrainingLoop(IHostEnvironment env, string componentName, TorchTrainerOptions options, int seed)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _host = env.Register(componentName);
        _options = options;
        Seed = seed;
        Device = TorchDevices.Resolve(options.Device, env);
        TorchDevices.Seed(seed);
    }

    /// <summary>The seed in effect (the options' or the context's).</summary>
    public int Seed { get; }

    /// <summary>
    /// A step whose gradients contain NaN or ±∞ is skipped (the optimizer is not stepped), as mixed-precision gradient
    /// scalers do; more than this many in a row fail the run. Rare isolated non-finite gradients were observed with
    /// multi-threaded CPU kernels on deep normalised networks (the same step is finite single-threaded).
    /// </summary>
    public const int MaxConsecutiveSkippedSteps = 5;

    /// <summary>True when every gradient of <paramref name="parameters"/> is finite (one host sync).</summary>
    public static bool GradientsAreFinite(IReadOnlyList<Parameter> parameters)
    {
        using var scope = NewDisposeScope();
        var norms = parameters.Where(p => p.grad is not null).Select(p => p.grad!.norm()).ToArray();
        return norms.Length == 0 || torch.stack(norms).sum().isfinite().item<bool>();
    }

    /// <summary>The resolved training device.</summary>
    public Device Device { get; }

    /// <summary>Creates the optimizer chosen in the options over the trainable parameters of <paramref name="model"/>.</summary>
    public optim.Optimizer CreateOptimizer(nn.Module model)
    {
        var parameters = model.parameters().Where(p => p.requires_grad).ToList();
        if (parameters.Count == 0) throw new InvalidOperationException("The model has no trainable parameters.");
        return _options.Optimizer switch
        {
            TorchOptimizerKind.Adam => optim.Adam(parameters, _options.LearningRate, weight_decay: _options.WeightDecay),
            TorchOptimizerKind.Sgd => optim.SGD(parameters, _options.LearningRate, momentum: 0.9, weight_decay: _options.WeightDecay),
            _ => optim.AdamW(parameters, _options.LearningRate, weight_decay: _options.WeightDecay),
        };
    }

    /// <summary>Learning rate at 0-based <paramref name="step"/> of <paramref name="totalSteps"/>.</summary>
    public static double LearningRateAt(TorchTrainerOptions o, long step, long totalSteps, long stepsPerEpoch)
    {
        if (o.Schedule == LearningRateScheduleKind.Constant) return o.LearningRate;
        long warmup = (long)Math.Round(o.WarmupEpochs * stepsPerEpoch);
        if (step < warmup) return o.LearningRate * (step + 1) / warmup;
        double progress = (double)(step - warmup) / Math.Max(1, totalSteps - warmup);
        return o.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress)));
    }

    /// <summary>
    /// Trains <paramref name="model"/> (already on <see cref="Device"/>) on batches addressed by row position.
    /// </summary>
    /// <param name="model">The module; switched to train mode for steps and to eval mode for validation.</param>
    /// <param name="trainRows">Number of training rows; batches are shuffled row indices.</param>
    /// <param name="batchLoss">Loss of one batch, given its row indices (an int64 CPU tensor). Must be a scalar with a graph.</param>
    /// <param name="validationLoss">Loss on the validation split (called in eval mode under no_grad), or null.</param>
    /// <param name="optimizer">Optimizer to use instead of <see cref="CreateOptimizer"/> (e.g. a method's own); the caller disposes it.</param>
    /// <param name="control">Validation schedule, best weights, clipping, gradient accumulation and epoch sampling (default: none).</param>
    public TrainingHistory Run(nn.Module model, int trainRows, Func<Tensor, Tensor> batchLoss,
        Func<double>? validationLoss = null, optim.Optimizer? optimizer = null, TrainingLoopControl? control = null)
    {
        if (trainRows < 1) throw new ArgumentException("There are no training rows.", nameof(trainRows));
        control ??= TrainingLoopControl.Default;
        var order = Enumerable.Range(0, trainRows).ToArray();   // reshuffled every epoch
        IEnumerable<Step> Epoch(Random rng)
        {
            IReadOnlyList<int> rows = order;
            if (control.EpochRows is null) rng.Shuffle(order);
            else rows = control.EpochRows(rng);
            for (int start = 0; start < rows.Count; start += _options.BatchSize)
            {
                int n = Math.Min(_options.BatchSize, rows.Count - start), first = start;
                Tensor Part(int from, int m) => batchLoss(torch.tensor(Enumerable.Range(first + from, m).Select(i => (long)rows[i]).ToArray(), ScalarType.Int64));
                yield return new Step(n, () => Part(0, n), null, Part);
            }
        }
        return RunCore(model, trainRows, Epoch, validationLoss, optimizer, control);
    }

    /// <summary>
    /// Trains <paramref name="model"/> (already on <see cref="Device"/>) on batches streamed from <paramref name="data"/>:
    /// a background thread reads up to <see cref="TorchTrainerOptions.PrefetchBatches"/> batches ahead of the step.
    /// </summary>
    /// <param name="model">The module; switched to train mode for steps and to eval mode for validation.</param>
    /// <param name="data">The training rows.</param>
    /// <param name="batchLoss">Loss of one batch given its features and targets on <see cref="Device"/>. Must be a scalar with a graph.</param>
    /// <param name="validationLoss">Loss on the validation split (called in eval mode under no_grad), or null.</param>
    /// <param name="optimizer">Optimizer to use instead of <see cref="CreateOptimizer"/>; the caller disposes it.</param>
    public TrainingHistory Run(nn.Module model, TorchTrainingData data, Func<Tensor, Tensor, Tensor> batchLoss,
        Func<double>? validationLoss = null, optim.Optimizer? optimizer = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.TrainRows.Length < 1) throw new ArgumentException("There are no training rows.", nameof(data));
        IEnumerable<Step> Epoch(Random rng)
        {
            using var prefetch = new Prefetcher<TrainingBatch>(cancel => data.TrainingEpoch(rng, cancel), _options.PrefetchBatches, _options.CancellationToken, data.Return);
            foreach (var batch in prefetch.Items())
                yield return new Step(batch.Rows, () =>
                {
                    var (x, y) = batch.ToTensors(Device);
                    return batchLoss(x, y);
                }, () => data.Return(batch));
        }
        return RunCore(model, data.TrainRows.Length, Epoch, validationLoss, optimizer, TrainingLoopControl.Default);
    }

    /// <summary>
    /// One optimisation step: its row count, its loss (built inside the step's dispose scope), what to do after it, and
    /// the loss of rows [from, from + m) of the batch for gradient accumulation (null when the batch cannot be split).
    /// </summary>
    private readonly record struct Step(int Rows, Func<Tensor> Loss, Action? Done, Func<int, int, Tensor>? Part = null);

    private TrainingHistory RunCore(nn.Module model, int trainRows, Func<Random, IEnumerable<Step>> epochSteps,
        Func<double>? validationLoss, optim.Optimizer? optimizer, TrainingLoopControl control)
    {
        if (control.ValidateEvery < 1) throw new ArgumentOutOfRangeException(nameof(control), control.ValidateEvery, "ValidateEvery must be at least 1.");
        bool ownsOptimizer = optimizer is null;
        optimizer ??= CreateOptimizer(model);
        try
        {
            return RunSteps(model, trainRows, epochSteps, validationLoss, optimizer, control);
        }
        finally
        {
            if (ownsOptimizer) optimizer.Dispose();
        }
    }

    private TrainingHistory RunSteps(nn.Module model, int trainRows, Func<Random, IEnumerable<Step>> epochSteps,
        Func<double>? validationLoss, optim.Optimizer optimizer, TrainingLoopControl control)
    {
        var o = _options;
        int patience = control.EarlyStoppingPatience ?? o.EarlyStoppingPatience;
        bool keepBest = patience > 0 || control.KeepBestWeights;
        var rng = new Random(Seed);
        long stepsPerEpoch = (trainRows + o.BatchSize - 1) / o.BatchSize;
        long totalSteps = stepsPerEpoch * o.Epochs;
        var trainLosses = new List<double>();
        var valLosses = new List<double>();
        var valEpochs = new List<int>();
        Dictionary<string, Tensor>? best = null;
        double bestVal = double.PositiveInfinity;
        int bestEpoch = o.Epochs, epochsWithoutGain = 0;
        bool stoppedEarly = false;
        long step = 0, skipped = 0;
        int consecutiveSkips = 0;
        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        var watch = Stopwatch.StartNew();
        using var ch = _host.Start("Training");
        ch.Info($"Training on {Device.type} with {trainRows} rows, {o.Epochs} epochs of {stepsPerEpoch} steps (batch {o.BatchSize}, seed {Seed}).");

        // Records a validation; returns true when early stopping ends training.
        bool Validated(int epoch, double current)
        {
            valLosses.Add(current);
            valEpochs.Add(epoch);
            if (!keepBest) return false;
            if (current < bestVal)
            {
                bestVal = current;
                bestEpoch = epoch;
                epochsWithoutGain = 0;
                DisposeState(best);
                best = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            }
            else if (patience > 0 && ++epochsWithoutGain >= patience)
            {
                ch.Info($"Early stopping after epoch {epoch}: no better validation loss for {epochsWithoutGain} validations; keeping epoch {bestEpoch}.");
                return true;
            }
            return false;
        }

        try
        {
            if (validationLoss != null && control.ValidateBeforeTraining)
            {
                model.eval();
                double initial;
                using (no_grad()) initial = validationLoss();
                ch.Info($"Before training: validation loss {initial:G5}");
                Validated(0, initial);
            }
            for (int epoch = 1; epoch <= o.Epochs; epoch++)
            {
                model.train();
                double sum = 0;
                int count = 0;
                foreach (var batch in epochSteps(rng))
                {
                    o.CancellationToken.ThrowIfCancellationRequested();
                    _host.CheckAlive();
                    double lr = LearningRateAt(o, step, totalSteps, stepsPerEpoch);
                    foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
                    int n = batch.Rows;
                    using (var scope = NewDisposeScope())
                    {
                        optimizer.zero_grad();
                        // Gradient accumulation: back-propagate the batch in parts, each weighted by its share of the rows,
                        // so only one part's graph is alive at a time.
                        int part = control.MicroBatchSize > 0 && batch.Part is not null ? Math.Min(control.MicroBatchSize, n) : n;
                        double value = 0;
                        for (int from = 0; from < n; from += part)
                        {
                            int m = Math.Min(part, n - from);
                            using var partScope = NewDisposeScope();
                            var loss = m == n ? batch.Loss() : batch.Part!(from, m);
                            double partValue = loss.item<float>();
                            if (!double.IsFinite(partValue))
                                throw new InvalidOperationException($"Training diverged at epoch {epoch}, step {step + 1}: the loss is {partValue}. " +
                                    "Lower LearningRate or check the inputs for extreme values.");
                            (m == n ? loss : loss * ((double)m / n)).backward();
                            value += partValue * m / n;
                        }
                        if (GradientsAreFinite(trainable))
                        {
                            if (control.GradientClipNorm > 0) nn.utils.clip_grad_norm_(trainable, control.GradientClipNorm);
                            optimizer.step();
                            consecutiveSkips = 0;
                        }
                        else
                        {
                            skipped++;
                            if (++consecutiveSkips > MaxConsecutiveSkippedSteps)
                                throw new InvalidOperationException($"Training diverged at epoch {epoch}, step {step + 1}: the gradients were not finite " +
                                    $"for {consecutiveSkips} steps in a row. Lower LearningRate or check the inputs for extreme values.");
                            ch.Warning($"Step {step + 1}: non-finite gradient, step skipped ({skipped} so far).");
                        }
                        sum += value * n;
                        count += n;
                    }
                    batch.Done?.Invoke();
                    step++;
                    if (o.ProgressEverySteps > 0 && step % o.ProgressEverySteps == 0)
                    {
                        var progress = new TrainingProgress(epoch, o.Epochs, step, totalSteps, sum / count, null, lr, watch.Elapsed);
                        o.Progress?.Report(progress);
                        ch.Info($"Step {step}/{totalSteps}: train loss {progress.TrainLoss:G5} ({watch.Elapsed.TotalSeconds:F1} s)");
                    }
                }
                double trainLoss = sum / count;
                trainLosses.Add(trainLoss);
                double? val = null;
                if (validationLoss != null && (epoch % control.ValidateEvery == 0 || epoch == o.Epochs))
                {
                    model.eval();
                    using (no_grad()) val = validationLoss();
                }
                var report = new TrainingProgress(epoch, o.Epochs, step, totalSteps, trainLoss, val,
                    LearningRateAt(o, Math.Max(0, step - 1), totalSteps, stepsPerEpoch), watch.Elapsed);
                o.Progress?.Report(report);
                ch.Info($"Epoch {epoch}/{o.Epochs}: train loss {trainLoss:G5}" + (val is double v ? $", validation loss {v:G5}" : "") + $" ({watch.Elapsed.TotalSeconds:F1} s)");

                if (val is double current && Validated(epoch, current))
                {
                    stoppedEarly = true;
                    break;
                }
            }
            if (best != null)
            {
                using (no_grad())
                    foreach (var (name, tensor) in model.state_dict()) tensor.copy_(best[name]);
            }
        }
        finally
        {
            DisposeState(best);
        }
        model.eval();
        bool everyEpoch = valEpochs.Select((e, i) => e == i + 1).All(x => x);
        return new TrainingHistory(trainLosses, valLosses, bestEpoch, stoppedEarly, step, watch.Elapsed, skipped, everyEpoch ? null : valEpochs);
    }

    private static void DisposeState(Dictionary<string, Tensor>? state)
    {
        if (state == null) return;
        foreach (var t in state.Values) t.Dispose();
    }

    /// <summary>Splits row indices into shuffled train and validation sets (validation gets ⌈fraction·rows⌉, at least 1 when fraction &gt; 0).</summary>
    public static (int[] Train, int[] Validation) Split(int rows, double fraction, int seed)
    {
        var all = Enumerable.Range(0, rows).ToArray();
        if (fraction <= 0) return (all, Array.Empty<int>());
        new Random(seed ^ 0x5EED).Shuffle(all);
        int val = Math.Clamp((int)Math.Ceiling(rows * fraction), 1, rows - 1);
        return (all[val..], all[..val]);
    }
}
