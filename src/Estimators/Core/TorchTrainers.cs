using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt.Core;

/// <summary>
/// A TorchSharp trainer whose training can be driven by something other than <see cref="IEstimator{T}.Fit"/>'s local
/// loop (for example the distributed <c>Co2Trainer</c>): it prepares the problem and wraps the trained module.
/// </summary>
public interface ITorchTrainer<TTransformer> : IEstimator<TTransformer> where TTransformer : ITransformer
{
    /// <summary>Method name used in logs.</summary>
    string MethodName { get; }
    /// <summary>Reads and checks the data; see <see cref="TorchTrainerBase{TOptions, TTransformer}.PrepareTraining"/>.</summary>
    TorchTrainingProblem PrepareTraining(IDataView input);
    /// <summary>Wraps a trained module; see <see cref="TorchTrainerBase{TOptions, TTransformer}.CompleteTraining"/>.</summary>
    TTransformer CompleteTraining(nn.Module<Tensor, Tensor> module, int featureSize, TrainingHistory history);
}

/// <summary>
/// Base of every supervised TorchSharp trainer: reads the feature and label columns, makes the validation split, runs
/// the shared <see cref="TorchTrainingLoop"/> and wraps the trained module in a transformer. A method supplies its module,
/// its loss (when not the task's default) and its transformer.
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

    /// <summary>ML.NET environment (logging, component catalog).</summary>
    protected IHostEnvironment Environment { get; }
    /// <summary>Method name used in logs and stored with the model.</summary>
    public string MethodName { get; }
    /// <summary>The options this trainer was created with.</summary>
    public TOptions Options { get; }
    /// <summary>Losses and timing of the last <see cref="Fit"/>.</summary>
    public TrainingHistory? History { get; private set; }

    /// <summary>Reads the labels as a CPU tensor with one entry (or row) per data row.</summary>
    protected abstract Tensor ReadTargets(IDataView data);

    /// <summary>The module to train for feature vectors of <paramref name="featureSize"/> values.</summary>
    protected abstract nn.Module<Tensor, Tensor> CreateModule(int featureSize);

    /// <summary>Loss of a batch. <paramref name="training"/> is false for the validation loss.</summary>
    protected abstract Tensor Loss(nn.Module<Tensor, Tensor> module, Tensor features, Tensor targets, bool training);

    /// <summary>Wraps the trained module.</summary>
    protected abstract TTransformer CreateTransformer(nn.Module<Tensor, Tensor> module, int featureSize);

    /// <summary>Reads the model inputs of every row (default: the float vector feature column, NaN rejected).</summary>
    protected virtual FeatureMatrix ReadFeatures(IDataView data)
        => DataViewReader.ReadFeatures(data, Options.FeatureColumnName, cancel: Options.CancellationToken);

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

    /// <summary>Trains on <paramref name="input"/>.</summary>
    public TTransformer Fit(IDataView input)
    {
        using var problem = PrepareTraining(input);
        var module = problem.CreateModule();
        History = problem.Loop.Run(module, problem.TrainRows.Count, positions => problem.TrainingLoss(module, positions),
            problem.ValidationRows.Count > 0 ? () => problem.ValidationLoss(module) : null, problem.CreateOptimizer(module));
        return CompleteTraining(module, problem.FeatureSize, History);
    }

    /// <summary>
    /// Reads and checks <paramref name="input"/> and returns everything a training driver needs (the module factory,
    /// the batch loss, the train/validation split, the optimizer). <see cref="Fit"/> runs it with the shared
    /// <see cref="TorchTrainingLoop"/>; other drivers (e.g. the distributed <c>Co2Trainer</c>) run it their way and
    /// finish with <see cref="CompleteTraining"/>.
    /// </summary>
    public TorchTrainingProblem PrepareTraining(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        Options.Validate();
        var features = ReadFeatures(input);
        ValidateFeatureSize(features.Width);
        using var targetsCpu = ReadTargets(input);
        if (targetsCpu.shape[0] != features.Rows)
            throw new InvalidDataException($"Label column '{Options.LabelColumnName}' has {targetsCpu.shape[0]} rows but the features have {features.Rows}.");
        var loop = new TorchTrainingLoop(Environment, MethodName, Options);
        var (trainRows, validationRows) = TorchTrainingLoop.Split(features.Rows, Options.ValidationFraction, Options.Seed);
        return new TorchTrainingProblem(loop, Options, features, targetsCpu, trainRows, validationRows,
            () => CreateModule(features.Width), Loss, CreateOptimizer);
    }

    /// <summary>Wraps a module trained on a <see cref="TorchTrainingProblem"/> from <see cref="PrepareTraining"/>.</summary>
    public TTransformer CompleteTraining(nn.Module<Tensor, Tensor> module, int featureSize, TrainingHistory history)
    {
        ArgumentNullException.ThrowIfNull(module);
        History = history;
        module.eval();
        var transformer = CreateTransformer(module, featureSize);
        transformer.ScoringBatchSize = Options.ScoringBatchSize;
        transformer.NonFiniteFeatures = Options.NonFiniteFeatures;
        return transformer;
    }
}

/// <summary>
/// A supervised training task ready to run: features and targets on the training device, the train/validation split,
/// and the method's module factory, loss and optimizer. Training drivers (the local loop, the distributed trainer)
/// share it so every method trains the same way under each driver.
/// </summary>
public sealed class TorchTrainingProblem : IDisposable
{
    private readonly Func<nn.Module<Tensor, Tensor>> _createModule;
    private readonly Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, bool, Tensor> _loss;
    private readonly Func<nn.Module<Tensor, Tensor>, optim.Optimizer?> _createOptimizer;
    private readonly Tensor _x, _y, _trainIndex, _validationIndex;

    internal TorchTrainingProblem(TorchTrainingLoop loop, TorchTrainerOptions options, FeatureMatrix features, Tensor targetsCpu,
        int[] trainRows, int[] validationRows, Func<nn.Module<Tensor, Tensor>> createModule,
        Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, bool, Tensor> loss, Func<nn.Module<Tensor, Tensor>, optim.Optimizer?> createOptimizer)
    {
        Loop = loop;
        Options = options;
        FeatureSize = features.Width;
        TrainRows = trainRows;
        ValidationRows = validationRows;
        _createModule = createModule;
        _loss = loss;
        _createOptimizer = createOptimizer;
        _x = torch.tensor(features.Values, new long[] { features.Rows, features.Width }).to(loop.Device);
        _y = targetsCpu.to(loop.Device);
        _trainIndex = torch.tensor(trainRows.Select(i => (long)i).ToArray()).to(loop.Device);
        _validationIndex = torch.tensor(validationRows.Select(i => (long)i).ToArray()).to(loop.Device);
    }

    /// <summary>The shared loop (device, seeding, optimizer choice, schedule).</summary>
    public TorchTrainingLoop Loop { get; }
    /// <summary>The trainer's options.</summary>
    public TorchTrainerOptions Options { get; }
    /// <summary>Width of the feature vector.</summary>
    public int FeatureSize { get; }
    /// <summary>Data-row indices of the training split.</summary>
    public IReadOnlyList<int> TrainRows { get; }
    /// <summary>Data-row indices of the validation split (empty without one).</summary>
    public IReadOnlyList<int> ValidationRows { get; }

    /// <summary>A new module on the training device (each call gives a fresh replica, e.g. one per worker).</summary>
    public nn.Module<Tensor, Tensor> CreateModule()
    {
        var module = _createModule();
        module.to(Loop.Device);
        return module;
    }

    /// <summary>The method's optimizer for <paramref name="module"/> (its own, or the one chosen in the options).</summary>
    public optim.Optimizer CreateOptimizer(nn.Module<Tensor, Tensor> module) => _createOptimizer(module) ?? Loop.CreateOptimizer(module);

    /// <summary>Loss of <paramref name="module"/> on data rows <paramref name="rows"/> (int64 indices into the whole data).</summary>
    public Tensor Loss(nn.Module<Tensor, Tensor> module, Tensor rows, bool training)
    {
        var (features, targets) = Batch(rows);
        return _loss(module, features, targets, training);
    }

    /// <summary>Features and targets of data rows <paramref name="rows"/> (int64 indices into the whole data), on the training device.</summary>
    public (Tensor Features, Tensor Targets) Batch(Tensor rows)
    {
        var index = rows.to(Loop.Device);
        return (_x.index_select(0, index), _y.index_select(0, index));
    }

    /// <summary>
    /// The method's loss on explicit <paramref name="features"/> (e.g. adversarial examples derived from a <see cref="Batch"/>).
    /// </summary>
    public Tensor LossOn(nn.Module<Tensor, Tensor> module, Tensor features, Tensor targets, bool training)
        => _loss(module, features, targets, training);

    /// <summary>Number of data rows (training and validation).</summary>
    public long RowCount => _x.shape[0];

    /// <summary>The targets of data rows <paramref name="rows"/> as a CPU tensor (e.g. class indices for a non-IID split).</summary>
    public Tensor TargetsOf(IReadOnlyList<int> rows) => _y.index_select(0, torch.tensor(rows.Select(r => (long)r).ToArray()).to(Loop.Device)).cpu();

    /// <summary>
    /// Training loss of <paramref name="module"/> on a batch given by <paramref name="positions"/>: int64 positions
    /// 0..<see cref="TrainRows"/>.Count−1 within the training split (what <see cref="TorchTrainingLoop.Run"/> draws).
    /// </summary>
    public Tensor TrainingLoss(nn.Module<Tensor, Tensor> module, Tensor positions)
        => Loss(module, _trainIndex.index_select(0, positions.to(Loop.Device)), training: true);

    /// <summary>Mean loss of <paramref name="module"/> on the validation split (eval mode, no gradients).</summary>
    public double ValidationLoss(nn.Module<Tensor, Tensor> module)
    {
        if (ValidationRows.Count == 0) throw new InvalidOperationException("There is no validation split (ValidationFraction is 0).");
        double sum = 0;
        using var noGrad = torch.no_grad();
        for (int start = 0; start < ValidationRows.Count; start += Options.ScoringBatchSize)
        {
            using var scope = NewDisposeScope();
            int n = Math.Min(Options.ScoringBatchSize, ValidationRows.Count - start);
            sum += Loss(module, _validationIndex.narrow(0, start, n), training: false).item<float>() * n;
        }
        return sum / ValidationRows.Count;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _x.Dispose();
        _y.Dispose();
        _trainIndex.Dispose();
        _validationIndex.Dispose();
    }
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

    /// <summary>Number of classes of the last data read.</summary>
    protected int ClassCount { get; private set; }
    /// <summary>Class names of the last data read (null when the label's key values are not text).</summary>
    protected IReadOnlyList<string>? ClassNames { get; private set; }

    /// <inheritdoc/>
    protected override Tensor ReadTargets(IDataView data)
    {
        var labels = DataViewReader.ReadClassLabels(data, Options.LabelColumnName);
        ClassCount = labels.ClassCount;
        ClassNames = labels.ClassNames;
        return torch.tensor(labels.Classes);
    }

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
    protected override Tensor ReadTargets(IDataView data) => torch.tensor(DataViewReader.ReadFloatColumn(data, Options.LabelColumnName));

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
    protected override Tensor ReadTargets(IDataView data)
    {
        var labels = DataViewReader.ReadFloatColumn(data, Options.LabelColumnName);
        int bad = Array.FindIndex(labels, v => v != 0 && v != 1);
        if (bad >= 0)
            throw new InvalidDataException($"Label column '{Options.LabelColumnName}', row {bad}: value {labels[bad]} is not a binary label (Boolean, or 0/1).");
        return torch.tensor(labels);
    }

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
