using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>
/// A TorchSharp trainer whose training can be driven by something other than <see cref="IEstimator{T}.Fit"/>'s local
/// loop (for example the distributed <c>Co2Trainer</c>): it prepares the problem and wraps the trained module.
/// </summary>
public interface ITorchTrainer<TTransformer> : IEstimator<TTransformer> where TTransformer : ITransformer
{
    /// <summary>Method name used in logs.</summary>
    string MethodName { get; }
    /// <summary>Checks the data and opens it for training; see <see cref="TorchTrainerBase{TOptions, TTransformer}.PrepareTraining"/>.</summary>
    TorchTrainingProblem PrepareTraining(IDataView input);
    /// <summary>Wraps a trained module; see <see cref="TorchTrainerBase{TOptions, TTransformer}.CompleteTraining"/>.</summary>
    TTransformer CompleteTraining(nn.Module<Tensor, Tensor> module, TorchTrainingProblem problem, TrainingHistory history);
}

/// <summary>What one <c>Fit</c> learned about its data and settings, handed to the method's module and transformer factories.</summary>
/// <param name="Input">How rows become the module's float inputs.</param>
/// <param name="Targets">How targets are read (for a classifier, <see cref="TrainingTargets.Classes"/> with the class count and names).</param>
/// <param name="Seed">The seed in effect (the options' or the context's).</param>
public sealed record TorchTrainingSetup(IModelInput Input, TrainingTargets Targets, int Seed)
{
    /// <summary>Floats per row given to the module.</summary>
    public int FeatureSize => Input.Width;
    /// <summary>Number of classes (0 for a non-classifier).</summary>
    public int ClassCount => (Targets as TrainingTargets.Classes)?.ClassCount ?? 0;
    /// <summary>Class names from the label's key values, when it has text values.</summary>
    public IReadOnlyList<string>? ClassNames => (Targets as TrainingTargets.Classes)?.ClassNames;
}

/// <summary>
/// Base of every supervised TorchSharp trainer: opens the feature and label columns for streaming, makes the
/// validation split, runs the shared <see cref="TorchTrainingLoop"/> and wraps the trained module in a transformer.
/// A method supplies its module, its loss (when not the task's default) and its transformer. The trainer keeps no
/// state between fits: everything learned from the data goes into the returned transformer and its
/// <see cref="TorchModelTransformer.Training"/> report, so one trainer can be fitted again.
/// </summary>
public abstract class TorchTrainerBase<TOptions, TTransformer> : ITorchTrainer<TTransformer>
    where TOptions : TorchTrainerOptions
    where TTransformer : TorchModelTransformer
{
    /// <summary>Creates the trainer.</summary>
    protected TorchTrainerBase(IHostEnvironment env, string methodName, TOptions options)
    {
        Environment = env ?? throw new ArgumentNullException(nameof(env));
        MethodName = methodName;
        Options = options ?? throw new ArgumentNullException(nameof(options));
    }

    /// <summary>ML.NET environment (logging, seed, device settings, cancellation).</summary>
    protected IHostEnvironment Environment { get; }
    /// <summary>Method name used in logs and stored with the model.</summary>
    public string MethodName { get; }
    /// <summary>The options this trainer was created with.</summary>
    public TOptions Options { get; }

    /// <summary>How the targets are read, checked against <paramref name="schema"/> (no rows are read).</summary>
    protected abstract TrainingTargets CreateTargets(DataViewSchema schema);

    /// <summary>The module to train, for the data described by <paramref name="setup"/>.</summary>
    protected abstract nn.Module<Tensor, Tensor> CreateModule(TorchTrainingSetup setup);

    /// <summary>Loss of a batch. <paramref name="training"/> is false for the validation loss.</summary>
    protected abstract Tensor Loss(nn.Module<Tensor, Tensor> module, Tensor features, Tensor targets, bool training);

    /// <summary>Wraps the trained module.</summary>
    protected abstract TTransformer CreateTransformer(nn.Module<Tensor, Tensor> module, TorchTrainingSetup setup);

    /// <summary>
    /// How a training row becomes the module's inputs (default: the float vector feature column as it is; non-finite
    /// values are rejected as rows are read). A method may read the data once here (e.g. to learn a vocabulary).
    /// </summary>
    protected virtual IModelInput CreateTrainingInput(IDataView data)
        => new FloatVectorInput(Options.FeatureColumnName, DataViewReader.RequireFloatVector(data.Schema, Options.FeatureColumnName));

    /// <summary>Checks the feature column in a schema shape (default: a known-size vector of Single).</summary>
    protected virtual void CheckFeatureColumn(SchemaShape.Column feature)
    {
        if (feature.Kind != SchemaShape.Column.VectorKind.Vector || feature.ItemType != NumberDataViewType.Single)
            throw new ArgumentException($"Feature column '{Options.FeatureColumnName}' must be a known-size vector of Single.");
    }

    /// <summary>Checks the feature vector size (e.g. an image method checks C×H×W); throw <see cref="ArgumentException"/> naming the column.</summary>
    protected virtual void ValidateFeatureSize(int featureSize) { }

    /// <summary>A method-specific optimizer, or null for the one chosen in the options.</summary>
    protected virtual optim.Optimizer? CreateOptimizer(nn.Module<Tensor, Tensor> module) => null;

    /// <summary>Adds the score columns to the schema shape.</summary>
    protected abstract void AddScoreColumns(Dictionary<string, SchemaShape.Column> columns, SchemaShape inputSchema);

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        if (!inputSchema.TryFindColumn(Options.FeatureColumnName, out var feature))
            throw new ArgumentException($"Feature column '{Options.FeatureColumnName}' was not found in the input schema.");
        CheckFeatureColumn(feature);
        var columns = inputSchema.ToDictionary(c => c.Name);
        AddScoreColumns(columns, inputSchema);
        return new SchemaShape(columns.Values);
    }

    /// <summary>Trains on <paramref name="input"/>, reading it batch by batch; returns a new, independent model.</summary>
    public TTransformer Fit(IDataView input)
    {
        using var problem = PrepareTraining(input);
        var module = problem.CreateModule();
        try
        {
            using var optimizer = problem.CreateOptimizer(module);
            var history = problem.Loop.Run(module, problem.Data, (x, y) => problem.LossOn(module, x, y, training: true),
                problem.ValidationRows.Count > 0 ? () => problem.ValidationLoss(module) : null, optimizer);
            return CompleteTraining(module, problem, history);
        }
        catch
        {
            module.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Checks <paramref name="input"/> and returns everything a training driver needs (the module factory, the batch
    /// loss, the streamed train/validation rows, the optimizer). <see cref="Fit"/> runs it with the shared
    /// <see cref="TorchTrainingLoop"/>; other drivers (e.g. the distributed <c>Co2Trainer</c>) run it their way and
    /// finish with <see cref="CompleteTraining"/>.
    /// </summary>
    public TorchTrainingProblem PrepareTraining(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        Options.Validate();
        int seed = TorchSeeds.Resolve(Options.Seed, Environment);
        var trainingInput = CreateTrainingInput(input);
        var targets = CreateTargets(input.Schema);
        ValidateFeatureSize(trainingInput.Width);
        var loop = new TorchTrainingLoop(Environment, MethodName, Options, seed);
        var setup = new TorchTrainingSetup(trainingInput, targets, seed);
        var data = new TorchTrainingData(Environment.Register(MethodName), input, trainingInput, targets, Options, seed, loop.Device);
        return new TorchTrainingProblem(loop, Options, data, setup, () => CreateModule(setup), Loss, CreateOptimizer);
    }

    /// <summary>Wraps a module trained on a <see cref="TorchTrainingProblem"/> from <see cref="PrepareTraining"/>, with its training report.</summary>
    public TTransformer CompleteTraining(nn.Module<Tensor, Tensor> module, TorchTrainingProblem problem, TrainingHistory history)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(history);
        module.eval();
        var transformer = CreateTransformer(module, problem.Setup);
        transformer.ScoringBatchSize = Options.ScoringBatchSize;
        transformer.NonFiniteFeatures = Options.NonFiniteFeatures;
        transformer.Training = new TrainingReport(history, problem.Setup.Seed, problem.TrainRows.Count, problem.ValidationRows.Count,
            problem.Data.Shuffle, problem.Setup.ClassNames);
        return transformer;
    }
}

/// <summary>What training produced besides the weights: the loss history and the facts of the run.</summary>
/// <param name="History">Per-epoch losses, best epoch, steps and timing.</param>
/// <param name="Seed">The seed in effect.</param>
/// <param name="TrainRows">Rows trained on.</param>
/// <param name="ValidationRows">Rows held out for validation.</param>
/// <param name="Shuffle">How the training rows were shuffled.</param>
/// <param name="ClassNames">Class names from the label's key values (classifiers whose label has text values).</param>
public sealed record TrainingReport(TrainingHistory History, int Seed, int TrainRows, int ValidationRows, TrainingShuffle Shuffle,
    IReadOnlyList<string>? ClassNames);

/// <summary>
/// A supervised training task ready to run: the streamed rows and their train/validation split, and the method's
/// module factory, loss and optimizer. Training drivers (the local loop, the distributed trainer) share it so every
/// method trains the same way under each driver.
/// </summary>
public sealed class TorchTrainingProblem : IDisposable
{
    private readonly Func<nn.Module<Tensor, Tensor>> _createModule;
    private readonly Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, bool, Tensor> _loss;
    private readonly Func<nn.Module<Tensor, Tensor>, optim.Optimizer?> _createOptimizer;

    internal TorchTrainingProblem(TorchTrainingLoop loop, TorchTrainerOptions options, TorchTrainingData data, TorchTrainingSetup setup,
        Func<nn.Module<Tensor, Tensor>> createModule, Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, bool, Tensor> loss,
        Func<nn.Module<Tensor, Tensor>, optim.Optimizer?> createOptimizer)
    {
        Loop = loop;
        Options = options;
        Data = data;
        Setup = setup;
        _createModule = createModule;
        _loss = loss;
        _createOptimizer = createOptimizer;
    }

    /// <summary>The shared loop (device, seeding, optimizer choice, schedule).</summary>
    public TorchTrainingLoop Loop { get; }
    /// <summary>The trainer's options.</summary>
    public TorchTrainerOptions Options { get; }
    /// <summary>The training rows, read from the view as they are needed.</summary>
    public TorchTrainingData Data { get; }
    /// <summary>Input, targets and seed of this training.</summary>
    public TorchTrainingSetup Setup { get; }
    /// <summary>Width of the feature vector.</summary>
    public int FeatureSize => Setup.FeatureSize;
    /// <summary>The seed in effect.</summary>
    public int Seed => Setup.Seed;
    /// <summary>Data-row indices of the training split.</summary>
    public IReadOnlyList<int> TrainRows => Data.TrainRows;
    /// <summary>Data-row indices of the validation split (empty without one).</summary>
    public IReadOnlyList<int> ValidationRows => Data.ValidationRows;

    /// <summary>A new module on the training device (each call gives a fresh replica, e.g. one per worker).</summary>
    public nn.Module<Tensor, Tensor> CreateModule()
    {
        var module = _createModule();
        module.to(Loop.Device);
        return module;
    }

    /// <summary>The method's optimizer for <paramref name="module"/> (its own, or the one chosen in the options); the caller disposes it.</summary>
    public optim.Optimizer CreateOptimizer(nn.Module<Tensor, Tensor> module) => _createOptimizer(module) ?? Loop.CreateOptimizer(module);

    /// <summary>Loss of <paramref name="module"/> on data rows <paramref name="rows"/> (int64 indices into the whole data).</summary>
    public Tensor Loss(nn.Module<Tensor, Tensor> module, Tensor rows, bool training)
    {
        var (features, targets) = Batch(rows);
        return _loss(module, features, targets, training);
    }

    /// <summary>
    /// Features and targets of data rows <paramref name="rows"/> (int64 indices into the whole data), on the training
    /// device, read by row index (see <see cref="TorchTrainingData.ReadRows"/>).
    /// </summary>
    public (Tensor Features, Tensor Targets) Batch(Tensor rows)
    {
        using var cpu = rows.cpu();
        var indices = cpu.data<long>().Select(r => (int)r).ToArray();
        var batch = Data.ReadRows(indices);
        var (x, y) = batch.ToTensors(Loop.Device);
        // The caller may keep the tensors beyond the step (e.g. an adversarial copy): on the CPU they are views of the
        // pooled batch, so they get their own storage before the batch goes back to the pool.
        if (Loop.Device.type == DeviceType.CPU && batch is HostBatch) (x, y) = (x.clone(), y.clone());
        Data.Return(batch);
        return (x, y);
    }

    /// <summary>
    /// The method's loss on explicit <paramref name="features"/> (e.g. adversarial examples derived from a <see cref="Batch"/>).
    /// </summary>
    public Tensor LossOn(nn.Module<Tensor, Tensor> module, Tensor features, Tensor targets, bool training)
        => _loss(module, features, targets, training);

    /// <summary>Number of data rows (training and validation).</summary>
    public long RowCount => Data.RowCount;

    /// <summary>The targets of data rows <paramref name="rows"/> as a CPU tensor (e.g. class indices for a non-IID split).</summary>
    public Tensor TargetsOf(IReadOnlyList<int> rows) => Data.TargetsOf(rows);

    /// <summary>
    /// Training loss of <paramref name="module"/> on a batch given by <paramref name="positions"/>: int64 positions
    /// 0..<see cref="TrainRows"/>.Count−1 within the training split (what <see cref="TorchTrainingLoop.Run(nn.Module, int, Func{Tensor, Tensor}, Func{double}?, optim.Optimizer?, TrainingLoopControl?)"/> draws).
    /// </summary>
    public Tensor TrainingLoss(nn.Module<Tensor, Tensor> module, Tensor positions)
    {
        using var cpu = positions.cpu();
        var rows = cpu.data<long>().Select(p => (long)Data.TrainRows[p]).ToArray();
        return Loss(module, torch.tensor(rows, ScalarType.Int64), training: true);
    }

    /// <summary>Mean loss of <paramref name="module"/> on the validation split (eval mode, no gradients), streamed in batches.</summary>
    public double ValidationLoss(nn.Module<Tensor, Tensor> module)
    {
        if (ValidationRows.Count == 0) throw new InvalidOperationException("There is no validation split (ValidationFraction is 0).");
        double sum = 0;
        long rows = 0;
        using var noGrad = torch.no_grad();
        using var prefetch = new Prefetcher<TrainingBatch>(cancel => Data.ValidationBatches(cancel), Options.PrefetchBatches, Options.CancellationToken, Data.Return);
        foreach (var batch in prefetch.Items())
        {
            using (var scope = NewDisposeScope())
            {
                var (x, y) = batch.ToTensors(Loop.Device);
                sum += _loss(module, x, y, false).item<float>() * batch.Rows;
            }
            rows += batch.Rows;
            Data.Return(batch);
        }
        return sum / rows;
    }

    /// <inheritdoc/>
    public void Dispose() => Data.Dispose();
}

/// <summary>Options of TorchSharp multiclass trainers.</summary>
public class TorchClassifierOptions : TorchTrainerOptions
{
    /// <summary>Label smoothing of the cross-entropy loss (0 = none).</summary>
    public double LabelSmoothing { get; set; }

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (LabelSmoothing < 0 || LabelSmoothing >= 1) throw new ArgumentOutOfRangeException(nameof(LabelSmoothing), LabelSmoothing, "LabelSmoothing must be in [0, 1).");
    }
}

/// <summary>Base of multiclass trainers: key-typed labels, cross-entropy loss, Score + PredictedLabel outputs.</summary>
public abstract class TorchMulticlassTrainer<TOptions, TTransformer> : TorchTrainerBase<TOptions, TTransformer>
    where TOptions : TorchClassifierOptions
    where TTransformer : TorchMulticlassTransformer
{
    /// <summary>Creates the trainer.</summary>
    protected TorchMulticlassTrainer(IHostEnvironment env, string methodName, TOptions options) : base(env, methodName, options) { }

    /// <inheritdoc/>
    protected override TrainingTargets CreateTargets(DataViewSchema schema) => new TrainingTargets.Classes(schema, Options.LabelColumnName);

    /// <inheritdoc/>
    protected override Tensor Loss(nn.Module<Tensor, Tensor> module, Tensor features, Tensor targets, bool training)
        => nn.functional.cross_entropy(module.call(features), targets, label_smoothing: training ? Options.LabelSmoothing : 0.0);

    /// <inheritdoc/>
    protected override void AddScoreColumns(Dictionary<string, SchemaShape.Column> columns, SchemaShape inputSchema)
    {
        // Like ML.NET's own multiclass trainers: the label's key values become PredictedLabel's key values and Score's slot names.
        SchemaShape? keyValues = null, slotNames = null;
        if (inputSchema.TryFindColumn(Options.LabelColumnName, out var label) && label.Annotations.TryFindColumn(AnnotationUtils.Kinds.KeyValues, out var kv))
        {
            keyValues = new SchemaShape(new[] { kv });
            slotNames = new SchemaShape(new[] { new SchemaShape.Column(AnnotationUtils.Kinds.SlotNames, kv.Kind, kv.ItemType, false) });
        }
        columns["Score"] = new SchemaShape.Column("Score", SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false, slotNames);
        columns["PredictedLabel"] = new SchemaShape.Column("PredictedLabel", SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.UInt32, true, keyValues);
    }
}

/// <summary>Base of regression trainers: Single labels, mean squared error, Score output.</summary>
public abstract class TorchRegressionTrainer<TOptions, TTransformer> : TorchTrainerBase<TOptions, TTransformer>
    where TOptions : TorchTrainerOptions
    where TTransformer : TorchRegressionTransformer
{
    /// <summary>Creates the trainer.</summary>
    protected TorchRegressionTrainer(IHostEnvironment env, string methodName, TOptions options) : base(env, methodName, options) { }

    /// <inheritdoc/>
    protected override TrainingTargets CreateTargets(DataViewSchema schema) => new TrainingTargets.Values(schema, Options.LabelColumnName);

    /// <inheritdoc/>
    protected override Tensor Loss(nn.Module<Tensor, Tensor> module, Tensor features, Tensor targets, bool training)
        => nn.functional.mse_loss(module.call(features).reshape(-1), targets);

    /// <inheritdoc/>
    protected override void AddScoreColumns(Dictionary<string, SchemaShape.Column> columns, SchemaShape inputSchema)
        => columns["Score"] = new SchemaShape.Column("Score", SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false);
}

/// <summary>Base of binary trainers: Boolean (or 0/1 Single) labels, logistic loss, Score + Probability + PredictedLabel outputs.</summary>
public abstract class TorchBinaryTrainer<TOptions, TTransformer> : TorchTrainerBase<TOptions, TTransformer>
    where TOptions : TorchTrainerOptions
    where TTransformer : TorchBinaryTransformer
{
    /// <summary>Creates the trainer.</summary>
    protected TorchBinaryTrainer(IHostEnvironment env, string methodName, TOptions options) : base(env, methodName, options) { }

    /// <inheritdoc/>
    protected override TrainingTargets CreateTargets(DataViewSchema schema) => new TrainingTargets.Values(schema, Options.LabelColumnName, binary: true);

    /// <inheritdoc/>
    protected override Tensor Loss(nn.Module<Tensor, Tensor> module, Tensor features, Tensor targets, bool training)
        => nn.functional.binary_cross_entropy_with_logits(module.call(features).reshape(-1), targets);

    /// <inheritdoc/>
    protected override void AddScoreColumns(Dictionary<string, SchemaShape.Column> columns, SchemaShape inputSchema)
    {
        columns["Score"] = new SchemaShape.Column("Score", SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false);
        columns["Probability"] = new SchemaShape.Column("Probability", SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false);
        columns["PredictedLabel"] = new SchemaShape.Column("PredictedLabel", SchemaShape.Column.VectorKind.Scalar, BooleanDataViewType.Instance, false);
    }
}
