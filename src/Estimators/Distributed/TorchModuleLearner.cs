using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>
/// <see cref="IInnerLearner"/> for a TorchSharp module: its trainable parameters (declaration order) form the flat
/// vector, a TorchSharp optimizer (AdamW by default) is the inner optimizer, and a delegate computes the loss of a step.
/// </summary>
/// <remarks>
/// The loss delegate is where a trainer plugs in its batches: given the local step index it draws that step's
/// batch from this rank's data shard, runs the forward pass and returns the scalar loss tensor. Parameters on a
/// GPU are staged through host memory (Debian's MPICH is not CUDA-aware).
/// </remarks>
public sealed class TorchModuleLearner : IInnerLearner
{
    private readonly Parameter[] _parameters;
    private readonly optim.Optimizer _optimizer;
    private readonly Func<long, Tensor> _lossForStep;

    /// <summary>Wraps <paramref name="module"/>, trained by <paramref name="optimizer"/> on losses from <paramref name="lossForStep"/>.</summary>
    /// <exception cref="ArgumentException">When the module has no trainable float32 parameters.</exception>
    public TorchModuleLearner(nn.Module module, optim.Optimizer optimizer, Func<long, Tensor> lossForStep)
    {
        ArgumentNullException.ThrowIfNull(module);
        _optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        _lossForStep = lossForStep ?? throw new ArgumentNullException(nameof(lossForStep));
        _parameters = module.parameters().Where(p => p.requires_grad).ToArray();
        if (_parameters.Length == 0)
            throw new ArgumentException("The module has no trainable parameters.", nameof(module));
        var wrongType = _parameters.FirstOrDefault(p => p.dtype != ScalarType.Float32);
        if (wrongType is not null)
            throw new ArgumentException($"Distributed training exchanges float32 parameters; a parameter is {wrongType.dtype}.", nameof(module));
        var count = _parameters.Sum(p => p.numel());
        if (count > int.MaxValue)
            throw new ArgumentException($"The module has {count} parameters; at most {int.MaxValue} are supported.", nameof(module));
        ParameterCount = (int)count;
    }

    /// <summary>Wraps <paramref name="module"/> with an AdamW inner optimizer (the paper's inner optimizer).</summary>
    public static TorchModuleLearner WithAdamW(nn.Module module, Func<long, Tensor> lossForStep,
        double learningRate = 1e-3, double weightDecay = 0.01, double beta1 = 0.9, double beta2 = 0.999)
    {
        ArgumentNullException.ThrowIfNull(module);
        var adamW = optim.AdamW(module.parameters(), learningRate, beta1, beta2, weight_decay: weightDecay);
        return new TorchModuleLearner(module, adamW, lossForStep);
    }

    /// <inheritdoc />
    public int ParameterCount { get; }

    /// <inheritdoc />
    public void CopyParametersTo(Span<float> destination) => ForEachSlice(destination, (p, slice) => Read(p, slice));

    /// <inheritdoc />
    public void CopyParametersFrom(ReadOnlySpan<float> source)
    {
        var offset = 0;
        foreach (var p in _parameters)
        {
            var n = (int)p.numel();
            Write(p, source.Slice(offset, n));
            offset += n;
        }
    }

    /// <inheritdoc />
    public float ComputeGradients(long step)
    {
        using var scope = NewDisposeScope();
        _optimizer.zero_grad();
        var loss = _lossForStep(step);
        if (loss.numel() != 1)
            throw new InvalidOperationException($"The loss delegate must return a scalar tensor; step {step} returned shape [{string.Join(", ", loss.shape)}].");
        loss.backward();
        return loss.item<float>();
    }

    /// <inheritdoc />
    public void CopyGradientsTo(Span<float> destination) => ForEachSlice(destination, (p, slice) =>
    {
        using var scope = NewDisposeScope();
        var grad = p.grad;
        if (grad is null)
            slice.Clear(); // a parameter the loss did not use has no gradient: it contributes zero
        else
            Read(grad, slice);
    });

    /// <inheritdoc />
    public void CopyGradientsFrom(ReadOnlySpan<float> source)
    {
        var offset = 0;
        foreach (var p in _parameters)
        {
            var n = (int)p.numel();
            using var scope = NewDisposeScope();
            if (p.grad is null)
                FlatParameters.AssignGradient(p, zeros_like(p)); // a parameter the loss did not use still receives the average
            Write(p.grad!, source.Slice(offset, n));
            offset += n;
        }
    }

    /// <inheritdoc />
    public void ApplyOptimizerStep()
    {
        using var scope = NewDisposeScope();
        _optimizer.step();
    }

    /// <inheritdoc />
    public void SaveOptimizerState(BinaryWriter writer) => StatefulOptimizer.save_state_dict(writer);

    /// <inheritdoc />
    public void LoadOptimizerState(BinaryReader reader) => StatefulOptimizer.load_state_dict(reader);

    private OptimizerHelper StatefulOptimizer => _optimizer as OptimizerHelper
        ?? throw new NotSupportedException($"{_optimizer.GetType().Name} cannot save its state; use a TorchSharp built-in optimizer such as AdamW.");

    private delegate void SliceAction(Parameter parameter, Span<float> slice);

    private void ForEachSlice(Span<float> destination, SliceAction action)
    {
        var offset = 0;
        foreach (var p in _parameters)
        {
            var n = (int)p.numel();
            action(p, destination.Slice(offset, n));
            offset += n;
        }
    }

    private static void Read(Tensor tensor, Span<float> destination) => FlatParameters.Read(tensor, destination);

    private static void Write(Tensor tensor, ReadOnlySpan<float> source) => FlatParameters.Write(tensor, source);
}
