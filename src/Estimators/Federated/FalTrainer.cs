using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>Settings of federated adversarial learning (FAL).</summary>
public sealed class FalOptions : FederatedOptions
{
    /// <summary>Creates FAL options: 5 clients, 2 local epochs, mean of deltas with server LR 1, PGD-10 ℓ∞ ε = 0.1.</summary>
    public FalOptions()
    {
        LocalEpochs = 2;
        Aggregation = new AggregationOptions { Rule = AggregationRule.MeanOfDeltas };
    }

    /// <summary>The library defaults (PGD-10 ℓ∞ ε = 0.1, adversarial loss only, 2 local epochs, IID): <c>new FalOptions()</c>.</summary>
    public static new FalOptions Recommended => new();

    /// <summary>
    /// 10 rounds over 5 clients with a Dirichlet(0.5) label split, PGD-10 ℓ∞ ε = 0.1, half clean and half adversarial loss
    /// (<see cref="CleanLossWeight"/> 0.5): the FAL setting of the federated guide's example.
    /// </summary>
    public static new FalOptions NonIid => new() { Split = ClientSplit.NonIid(0.5), CleanLossWeight = 0.5 };

    /// <summary>The adversary used for every local step (PGD or FGSM; ε = 0 trains on clean inputs, i.e. plain FedAvg).</summary>
    public AttackOptions Attack { get; set; } = AttackOptions.Pgd(0.1, steps: 10);

    /// <summary>
    /// Weight w of the clean-input loss: each local step minimises w·L(x) + (1 − w)·L(x_adv) (Goodfellow et al. 2015 used
    /// w = 0.5). 0 (default) is Madry's purely adversarial objective; larger w keeps more natural accuracy.
    /// </summary>
    public double CleanLossWeight { get; set; }

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        ArgumentNullException.ThrowIfNull(Attack, nameof(Attack));
        Attack.Validate();
        if (!(CleanLossWeight >= 0 && CleanLossWeight <= 1))
            throw new ArgumentOutOfRangeException(nameof(CleanLossWeight), CleanLossWeight, "CleanLossWeight must be in [0, 1].");
    }
}

/// <summary>
/// FAL (Li, Song, Yang, ICML 2023): federated averaging in which every local step trains on adversarial examples
/// generated against the client's current local model; the server averages the deltas and applies a server learning rate.
/// </summary>
public sealed class FalTrainer<TTransformer> : FederatedTrainerBase<TTransformer, FalOptions> where TTransformer : class, ITransformer
{
    /// <summary>Wraps <paramref name="trainer"/> (its model, loss and optimizer are used on every client).</summary>
    public FalTrainer(IHostEnvironment env, ITorchTrainer<TTransformer> trainer, FalOptions? options = null)
        : base(env, trainer, options ?? new FalOptions(), "FalTrainer") { }

    /// <inheritdoc/>
    protected override double ClientStep(TorchTrainingProblem problem, nn.Module<Tensor, Tensor> module, optim.Optimizer optimizer, Tensor rows, Random random)
    {
        var (x, y) = problem.Batch(rows);
        var attack = Options.Attack;
        Tensor inputs = x;
        if (attack.Epsilon > 0)
        {
            // The adversary attacks the current local model in eval mode (dropout off) with the un-smoothed loss.
            module.eval();
            var generator = new Generator((ulong)random.NextInt64());
            inputs = AdversarialAttack.Perturb(input => problem.LossOn(module, input, y, training: false) * input.shape[0], x, attack, generator);
            module.train();
        }
        optimizer.zero_grad();
        double w = attack.Epsilon > 0 ? Options.CleanLossWeight : 0;
        var loss = w > 0
            ? w * problem.LossOn(module, x, y, training: true) + (1 - w) * problem.LossOn(module, inputs, y, training: true)
            : problem.LossOn(module, inputs, y, training: true);
        loss.backward();
        optimizer.step();
        return loss.item<float>();
    }
}

/// <summary>Plain federated averaging (McMahan et al.) of any TorchSharp trainer of this package: the baseline of FAL and FFA-LoRA.</summary>
public sealed class FedAvgTrainer<TTransformer> : FederatedTrainerBase<TTransformer, FederatedOptions> where TTransformer : class, ITransformer
{
    /// <summary>Wraps <paramref name="trainer"/>.</summary>
    public FedAvgTrainer(IHostEnvironment env, ITorchTrainer<TTransformer> trainer, FederatedOptions? options = null)
        : base(env, trainer, options ?? new FederatedOptions(), "FedAvgTrainer") { }
}

/// <summary>Natural and robust accuracy of a trained classifier.</summary>
public sealed record RobustnessMetrics(double NaturalAccuracy, double RobustAccuracy, AttackOptions Attack, long Rows);

/// <summary>
/// Federated training wrappers, reached with <c>mlContext.Federated()</c>: FedAvg, FAL (adversarial) and FFA-LoRA around a
/// TorchSharp trainer of this package, in process; the gRPC runtime (package MLNetExt.Federated.Grpc) trains across machines.
/// </summary>
public sealed class FederatedTrainersCatalog
{
    private readonly IHostEnvironment _env;

    internal FederatedTrainersCatalog(IHostEnvironment env) => _env = env;

    /// <summary>FedAvg: federated averaging of <paramref name="trainer"/> across the clients set in <paramref name="options"/>.</summary>
    public FedAvgTrainer<TTransformer> Averaging<TTransformer>(ITorchTrainer<TTransformer> trainer, FederatedOptions? options = null)
        where TTransformer : class, ITransformer
        => new(_env, trainer, options);

    /// <summary>FAL: federated adversarial training of <paramref name="trainer"/> (robust to PGD-style attacks).</summary>
    public FalTrainer<TTransformer> Adversarial<TTransformer>(ITorchTrainer<TTransformer> trainer, FalOptions? options = null)
        where TTransformer : class, ITransformer
        => new(_env, trainer, options);

    /// <summary>FFA-LoRA (or vanilla federated LoRA with <c>FreezeA = false</c>) fine-tuning of <paramref name="trainer"/>, optionally with differential privacy.</summary>
    public FfaLoraTrainer<TTransformer> Lora<TTransformer>(ITorchTrainer<TTransformer> trainer, FfaLoraOptions? options = null)
        where TTransformer : class, ITransformer
        => new(_env, trainer, options);
}

/// <summary>The <c>mlContext.Federated()</c> entry point and the robustness evaluation.</summary>
public static class FederatedCatalog
{
    /// <summary>Federated training wrappers (FedAvg, FAL, FFA-LoRA) that use this context's seed, log and device settings.</summary>
    public static FederatedTrainersCatalog Federated(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new FederatedTrainersCatalog(mlContext);
    }

    /// <summary>
    /// Natural accuracy and accuracy under <paramref name="attack"/> (e.g. PGD-20) of <paramref name="model"/> on
    /// <paramref name="data"/>, whose feature and label columns are named as in training.
    /// </summary>
    public static RobustnessMetrics EvaluateRobustness(this MulticlassClassificationCatalog catalog, TorchMulticlassTransformer model, IDataView data,
        AttackOptions attack, string labelColumnName = "Label", int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        attack.Validate();
        var features = DataViewReader.ReadFeatures(data, model.FeatureColumnName, model.FeatureSize);
        var labels = DataViewReader.ReadClassLabels(data, labelColumnName);
        using var scope = NewDisposeScope();
        var x = torch.tensor(features.Values, new long[] { features.Rows, features.Width }).to(model.Device);
        var y = torch.tensor(labels.Classes).to(model.Device);
        var (natural, robust) = AdversarialAttack.Accuracy(model.Classifier, x, y, attack, generator: new Generator((ulong)seed));
        return new RobustnessMetrics(natural, robust, attack, features.Rows);
    }
}
