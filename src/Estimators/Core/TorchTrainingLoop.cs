using System.Diagnostics;
using Microsoft.ML.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt.Core;

/// <summary>What a training run did: per-epoch losses, where the best validation loss was, and timing.</summary>
/// <param name="TrainLoss">Mean training loss per epoch.</param>
/// <param name="ValidationLoss">Validation loss per epoch (empty without a validation split).</param>
/// <param name="BestEpoch">1-based epoch whose weights were kept (the last one without validation).</param>
/// <param name="StoppedEarly">True when early stopping ended training before the last epoch.</param>
/// <param name="Steps">Optimisation steps taken.</param>
/// <param name="Elapsed">Wall time.</param>
/// <param name="SkippedSteps">Steps skipped because a gradient was not finite (see <see cref="TorchTrainingLoop.MaxConsecutiveSkippedSteps"/>).</param>
public sealed record TrainingHistory(IReadOnlyList<double> TrainLoss, IReadOnlyList<double> ValidationLoss, int BestEpoch,
    bool StoppedEarly, long Steps, TimeSpan Elapsed, long SkippedSteps = 0);

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
    public TrainingHistory Run(nn.Module model, int trainRows, Func<Tensor, Tensor> batchLoss,
        Func<double>? validationLoss = null, optim.Optimizer? optimizer = null)
    {
        if (trainRows < 1) throw new ArgumentException("There are no training rows.", nameof(trainRows));
        var order = Enumerable.Range(0, trainRows).ToArray();   // reshuffled every epoch
        IEnumerable<Step> Epoch(Random rng)
        {
            rng.Shuffle(order);
            for (int start = 0; start < trainRows; start += _options.BatchSize)
            {
                int n = Math.Min(_options.BatchSize, trainRows - start);
                var rows = order.AsSpan(start, n).ToArray().Select(i => (long)i).ToArray();
                yield return new Step(n, () => batchLoss(torch.tensor(rows, ScalarType.Int64)), null);
            }
        }
        return RunCore(model, trainRows, Epoch, validationLoss, optimizer);
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
            using var prefetch = new Prefetcher<TrainingBatch>(cancel => data.TrainingEpoch(rng, cancel), _options.PrefetchBatches, _options.CancellationToken);
            foreach (var batch in prefetch.Items())
                yield return new Step(batch.Rows, () =>
                {
                    var (x, y) = batch.ToTensors(Device);
                    return batchLoss(x, y);
                }, () => data.Return(batch));
        }
        return RunCore(model, data.TrainRows.Length, Epoch, validationLoss, optimizer);
    }

    /// <summary>One optimisation step: its row count, its loss (built inside the step's dispose scope) and what to do after it.</summary>
    private readonly record struct Step(int Rows, Func<Tensor> Loss, Action? Done);

    private TrainingHistory RunCore(nn.Module model, int trainRows, Func<Random, IEnumerable<Step>> epochSteps,
        Func<double>? validationLoss, optim.Optimizer? optimizer)
    {
        bool ownsOptimizer = optimizer is null;
        optimizer ??= CreateOptimizer(model);
        try
        {
            return RunSteps(model, trainRows, epochSteps, validationLoss, optimizer);
        }
        finally
        {
            if (ownsOptimizer) optimizer.Dispose();
        }
    }

    private TrainingHistory RunSteps(nn.Module model, int trainRows, Func<Random, IEnumerable<Step>> epochSteps,
        Func<double>? validationLoss, optim.Optimizer optimizer)
    {
        var o = _options;
        var rng = new Random(Seed);
        long stepsPerEpoch = (trainRows + o.BatchSize - 1) / o.BatchSize;
        long totalSteps = stepsPerEpoch * o.Epochs;
        var trainLosses = new List<double>();
        var valLosses = new List<double>();
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

        try
        {
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
                        var loss = batch.Loss();
                        double value = loss.item<float>();
                        if (!double.IsFinite(value))
                            throw new InvalidOperationException($"Training diverged at epoch {epoch}, step {step + 1}: the loss is {value}. " +
                                "Lower LearningRate or check the inputs for extreme values.");
                        loss.backward();
                        if (GradientsAreFinite(trainable))
                        {
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
                if (validationLoss != null)
                {
                    model.eval();
                    using (no_grad()) val = validationLoss();
                    valLosses.Add(val.Value);
                }
                var report = new TrainingProgress(epoch, o.Epochs, step, totalSteps, trainLoss, val,
                    LearningRateAt(o, Math.Max(0, step - 1), totalSteps, stepsPerEpoch), watch.Elapsed);
                o.Progress?.Report(report);
                ch.Info($"Epoch {epoch}/{o.Epochs}: train loss {trainLoss:G5}" + (val is double v ? $", validation loss {v:G5}" : "") + $" ({watch.Elapsed.TotalSeconds:F1} s)");

                if (val is double current && o.EarlyStoppingPatience > 0)
                {
                    if (current < bestVal)
                    {
                        bestVal = current;
                        bestEpoch = epoch;
                        epochsWithoutGain = 0;
                        DisposeState(best);
                        best = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
                    }
                    else if (++epochsWithoutGain >= o.EarlyStoppingPatience)
                    {
                        ch.Info($"Early stopping after epoch {epoch}: no better validation loss for {epochsWithoutGain} epochs; keeping epoch {bestEpoch}.");
                        stoppedEarly = true;
                        break;
                    }
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
        return new TrainingHistory(trainLosses, valLosses, bestEpoch, stoppedEarly, step, watch.Elapsed, skipped);
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
