
namespace MLNetExt;

/// <summary>Which weights <see cref="PreRoutGnnTrainer"/> returns when it has validation designs.</summary>
public enum PreRoutGnnSelection
{
    /// <summary>The best mean validation endpoint slack R² (the figure sign-off cares about).</summary>
    SlackR2,
    /// <summary>The best mean validation arrival-time R².</summary>
    ArrivalR2,
    /// <summary>The last epoch's (the reference); validation is only reported.</summary>
    LastEpoch,
}

/// <summary>
/// Options of <see cref="PreRoutGnnTrainer"/>. Start from a preset: <see cref="Recommended"/> (the default of
/// <c>new PreRoutGnnOptions()</c>) or <see cref="Paper"/>, and change what you need.
/// </summary>
public sealed class PreRoutGnnOptions
{
    /// <summary>
    /// The benchmark's best setting (docs/preroutgnn.md): <see cref="PreRoutGnnArchitecture.Recommended"/>, 120 epochs of
    /// about 15,000 pins from windows of at most 10,000 pins, 60 pre-training epochs, learning rate 5e-4, gradient clip 10,
    /// weights chosen by validation slack R² every 10 epochs. Equal to <c>new PreRoutGnnOptions()</c>.
    /// </summary>
    public static PreRoutGnnOptions Recommended => new();

    /// <summary>
    /// The paper's model and training as its reference code runs them: <see cref="PreRoutGnnArchitecture.Paper"/>, 10,000
    /// pre-training and 30,000 timing epochs of one optimiser step each (gradients summed over every piece), learning rate
    /// 5e-4, clip 1e3, windows of 50,000 pins, the last epoch's weights. Its budget is a GPU's; lower the epochs on a CPU.
    /// </summary>
    public static PreRoutGnnOptions Paper => new()
    {
        Architecture = PreRoutGnnArchitecture.Paper, PretrainEpochs = 10_000, Epochs = 30_000, GradientClip = 1e3, StepPerPiece = false,
        PartitionNodes = 50_000, PinsPerEpoch = 0, SelectBy = PreRoutGnnSelection.LastEpoch,
    };

    /// <summary>Name of the text column with each row's timing graph file (<see cref="TimingGraphFile"/>).</summary>
    public string GraphColumnName { get; set; } = "GraphPath";
    /// <summary>Name of the text column with each row's pin name (read when scoring; training uses whole designs).</summary>
    public string PinColumnName { get; set; } = "Pin";
    /// <summary>Components and widths (default <see cref="PreRoutGnnArchitecture.Recommended"/>).</summary>
    public PreRoutGnnArchitecture Architecture { get; set; } = PreRoutGnnArchitecture.Recommended;
    /// <summary>Auto-encoder pre-training epochs, one step each over all sampled pieces (reference 10,000); used with
    /// <see cref="PreRoutGnnArchitecture.Pretraining"/>.</summary>
    public int PretrainEpochs { get; set; } = 60;
    /// <summary>Timing training epochs (reference 30,000 with one step per epoch).</summary>
    public int Epochs { get; set; } = 120;
    /// <summary>Adam learning rate of timing training (reference 5e-4).</summary>
    public double LearningRate { get; set; } = 5e-4;
    /// <summary>Adam learning rate of pre-training.</summary>
    public double PretrainLearningRate { get; set; } = 2e-3;
    /// <summary>Gradient-norm clip (reference 1e3; 10 here because arrival targets span 0.1–15 ns across technologies).</summary>
    public double GradientClip { get; set; } = 10;
    /// <summary>
    /// One optimiser step per training piece (true) or one per epoch with the pieces' gradients averaged (false, the
    /// reference). Per piece gives many more updates for the same compute, which a CPU budget needs.
    /// </summary>
    public bool StepPerPiece { get; set; } = true;
    /// <summary>Order-preserving partition: pins per training window (reference 50,000). Graphs at most this large stay whole.</summary>
    public int PartitionNodes { get; set; } = 10_000;
    /// <summary>Context levels before and after each window (reference 4).</summary>
    public int PartitionPadLevels { get; set; } = 4;
    /// <summary>
    /// Pins per epoch (0 = every piece every epoch): each epoch trains on a random subset of the training pieces holding
    /// about this many pins, so large designs enter training without making every epoch as slow as the whole set.
    /// Pre-training samples its pieces the same way.
    /// </summary>
    public int PinsPerEpoch { get; set; } = 15_000;
    /// <summary>
    /// With validation designs: evaluate them before training and every this many epochs (and after the last); the
    /// evaluation before training lets a network started from the tables keep the tables' prediction when training does not beat it.
    /// </summary>
    public int ValidateEvery { get; set; } = 10;
    /// <summary>Which weights are returned when there are validation designs (ours; the reference keeps the last epoch).</summary>
    public PreRoutGnnSelection SelectBy { get; set; } = PreRoutGnnSelection.SlackR2;
    /// <summary>Stop after this many validations without a better score (0 = train every epoch); needs validation designs.</summary>
    public int EarlyStoppingPatience { get; set; }
    /// <summary>Seed of initialisation and sampling; null (the default) takes it from the MLContext (<c>new MLContext(seed: 7)</c>).</summary>
    public int? Seed { get; set; }
    /// <summary>Training and scoring device; the MLContext's GpuDeviceId and FallbackToCpu refine it.</summary>
    public TorchDeviceKind Device { get; set; } = TorchDeviceKind.Auto;
    /// <summary>Receives a report after every timing epoch (validation loss = 1 − validation R² where validated); the MLContext's
    /// log gets these and the pre-training epochs.</summary>
    public IProgress<TrainingProgress>? Progress { get; set; }
    /// <summary>Cancels training between steps (<see cref="OperationCanceledException"/>).</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> (or <see cref="ArgumentException"/>) naming a bad option.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(GraphColumnName)) throw new ArgumentException("GraphColumnName must be set.", nameof(GraphColumnName));
        if (string.IsNullOrWhiteSpace(PinColumnName)) throw new ArgumentException("PinColumnName must be set.", nameof(PinColumnName));
        ArgumentNullException.ThrowIfNull(Architecture, nameof(Architecture));
        Architecture.Validate();
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 1.");
        if (PretrainEpochs < 0) throw new ArgumentOutOfRangeException(nameof(PretrainEpochs), PretrainEpochs, "PretrainEpochs must not be negative.");
        if (Architecture.Pretraining && PretrainEpochs == 0)
            throw new ArgumentOutOfRangeException(nameof(PretrainEpochs), 0, "Pre-training is on (Architecture.Pretraining) but PretrainEpochs is 0.");
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be positive.");
        if (!(PretrainLearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(PretrainLearningRate), PretrainLearningRate, "PretrainLearningRate must be positive.");
        if (!(GradientClip > 0)) throw new ArgumentOutOfRangeException(nameof(GradientClip), GradientClip, "GradientClip must be positive.");
        if (PartitionNodes < 100) throw new ArgumentOutOfRangeException(nameof(PartitionNodes), PartitionNodes, "PartitionNodes must be at least 100.");
        if (PartitionPadLevels < 0) throw new ArgumentOutOfRangeException(nameof(PartitionPadLevels), PartitionPadLevels, "PartitionPadLevels must not be negative.");
        if (PinsPerEpoch < 0) throw new ArgumentOutOfRangeException(nameof(PinsPerEpoch), PinsPerEpoch, "PinsPerEpoch must not be negative (0 = all).");
        if (ValidateEvery < 1) throw new ArgumentOutOfRangeException(nameof(ValidateEvery), ValidateEvery, "ValidateEvery must be at least 1.");
        if (EarlyStoppingPatience < 0) throw new ArgumentOutOfRangeException(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "EarlyStoppingPatience must not be negative.");
        if (EarlyStoppingPatience > 0 && SelectBy == PreRoutGnnSelection.LastEpoch)
            throw new ArgumentException("EarlyStoppingPatience needs a validation score to select by: SelectBy is LastEpoch.", nameof(EarlyStoppingPatience));
    }

    /// <summary>A copy, so a trainer is not changed by later edits of the options it was created with.</summary>
    internal PreRoutGnnOptions Clone() => (PreRoutGnnOptions)MemberwiseClone();
}
