using System.Diagnostics;

namespace MLNetExt;

/// <summary>Counters of a <see cref="DistributedCoordinator"/> on one rank.</summary>
/// <param name="Steps">Inner steps taken.</param>
/// <param name="Rounds">Outer rounds completed (boundaries; equals steps for synchronous data-parallel).</param>
/// <param name="ElapsedSeconds">Wall time since the first step.</param>
/// <param name="CommunicationWaitSeconds">Time the training thread was blocked on communication.</param>
/// <param name="ClipActivations">Outer rounds in which momentum clipping changed this rank's momentum (shard).</param>
/// <param name="OuterStateFloatsPerRank">Persistent outer-optimizer floats this rank holds (anchor, basis, momentum, penalty state).</param>
/// <param name="LastLoss">Loss of the most recent local step.</param>
/// <param name="BoundarySeconds">Wall time spent in outer round boundaries (waits included): with
/// <see cref="CommunicationWaitSeconds"/> it separates the CPU cost of a boundary from waiting for the network.</param>
/// <param name="CommunicationCpuSeconds">CPU time the backend's communication thread used since this coordinator started
/// (<see cref="ICollectiveBackend.CommunicationCpuTime"/>): on cores shared with training it is time taken from training
/// that <see cref="CommunicationWaitSeconds"/> does not show, e.g. an MPI library spinning inside a collective.</param>
public sealed record DistributedMetrics(long Steps, long Rounds, double ElapsedSeconds, double CommunicationWaitSeconds,
    long ClipActivations, long OuterStateFloatsPerRank, float LastLoss, double BoundarySeconds = 0, double CommunicationCpuSeconds = 0)
{
    /// <summary>Communication-thread CPU time ÷ wall time (a share of one core).</summary>
    public double CommunicationCpuFraction => ElapsedSeconds > 0 ? CommunicationCpuSeconds / ElapsedSeconds : 0;

    /// <summary>
    /// The overlap meter: blocked communication time ÷ wall time (0 = communication fully hidden behind compute,
    /// 1 = nothing but waiting).
    /// </summary>
    public double BoundaryWaitFraction => ElapsedSeconds > 0 ? CommunicationWaitSeconds / ElapsedSeconds : 0;

    /// <summary>Inner steps per second of wall time.</summary>
    public double StepsPerSecond => ElapsedSeconds > 0 ? Steps / ElapsedSeconds : 0;
}

/// <summary>
/// Runs data-parallel training of one rank's <see cref="IInnerLearner"/> with synchronous data-parallel,
/// Local-SGD/SlowMo or CO2 synchronisation over an <see cref="ICollectiveBackend"/>.
/// </summary>
/// <remarks>
/// <para>Every rank creates its coordinator with the same options and calls <see cref="Step"/> the same number of
/// times; the coordinator issues the collectives. CO2 round boundary (the only place it may block):
/// wait for the average launched one boundary ago → outer step on it (penalty, momentum, clip) → stage this
/// round's local model → set the model to the new anchor → launch the average of the staged model in the
/// background, where it overlaps the next τ steps. With sharded outer state (ZeRO-1 style) the background work is a
/// chain: reduce-scatter of the staged models → outer step on this rank's shard → all-gather of the new anchor, so the
/// boundary only stages the model and copies the gathered anchor (except with the global-norm clip, whose step needs a
/// collective of its own and stays at the boundary, with a blocking gather).</para>
/// <para>Why the average of models rather than of deltas: with sharding a rank only holds its slice of the anchor,
/// but it always holds its whole local model; the pseudo-gradient (basis − x̄) is then formed per shard. Both
/// modes use the same formula, so they agree to float rounding.</para>
/// </remarks>
public sealed class DistributedCoordinator : IDisposable
{
    private readonly ICollectiveBackend _backend;
    private readonly IInnerLearner _learner;
    private readonly int _parameterCount;
    private readonly CollectiveBuffer _exchange;
    private readonly CollectiveBuffer _averageShard;
    private readonly CollectiveBuffer? _gathered;
    private readonly CollectiveBuffer _scalar;
    private readonly OuterOptimizer? _outer;
    private readonly bool _pipelinedOuterStep;
    private readonly Stopwatch _clock = new();
    private TimeSpan _communicationCpuAtStart;
    private CollectiveRequest? _inFlight;
    private bool _averageReady;
    private int _stepsSinceBoundary;
    private double _waitSeconds;
    private double _boundarySeconds;
    private float _lastLoss = float.NaN;

    /// <summary>
    /// Creates the coordinator and broadcasts rank 0's parameters so every rank starts from the same model.
    /// Collective: all ranks must call it.
    /// </summary>
    /// <exception cref="ArgumentException">When an option is invalid.</exception>
    public DistributedCoordinator(ICollectiveBackend backend, IInnerLearner learner, DistributedTrainingOptions options)
        : this(backend, learner, options, broadcastInitialModel: true)
    {
    }

    private DistributedCoordinator(ICollectiveBackend backend, IInnerLearner learner, DistributedTrainingOptions options, bool broadcastInitialModel)
    {
        _backend = backend ?? throw new ArgumentNullException(nameof(backend));
        _learner = learner ?? throw new ArgumentNullException(nameof(learner));
        Options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
        _parameterCount = learner.ParameterCount;
        _scalar = backend.Allocate(1);
        if (options.Algorithm == DistributedAlgorithm.SynchronousDataParallel)
        {
            _exchange = backend.Allocate(_parameterCount);
            _averageShard = _exchange;
        }
        else if (options.ShardOuterState)
        {
            // Pad to a multiple of N so every rank owns an equal slice (MPI_Reduce_scatter_block needs that);
            // the padding is zero everywhere and stays zero through the outer step.
            var shardLength = (_parameterCount + backend.Size - 1) / backend.Size;
            _exchange = backend.Allocate(shardLength * backend.Size);
            _averageShard = backend.Allocate(shardLength);
            _gathered = backend.Allocate(shardLength * backend.Size);
            _outer = new OuterOptimizer(options, backend.Rank * shardLength, shardLength, SumOverRanks);
            // CO2 with an elementwise outer step: the shard's step and the all-gather of the new anchor follow the
            // reduce-scatter on the communication thread, inside the round they overlap. The global-norm clip needs a
            // collective inside the step, so it keeps the step (and the gather) at the boundary.
            _pipelinedOuterStep = options.Algorithm == DistributedAlgorithm.Co2 && options.Clipping.Kind != MomentumClippingKind.GlobalNorm;
        }
        else
        {
            _exchange = backend.Allocate(_parameterCount);
            _averageShard = _exchange; // in-place all-reduce: the staged model becomes the average
            _outer = new OuterOptimizer(options, 0, _parameterCount, partial => partial);
        }
        if (broadcastInitialModel)
            BroadcastInitialModel();
    }

    /// <summary>The options in use.</summary>
    public DistributedTrainingOptions Options { get; }

    /// <summary>This rank.</summary>
    public int Rank => _backend.Rank;

    /// <summary>Inner steps taken so far (also the index the learner receives for the next batch).</summary>
    public long StepsCompleted { get; private set; }

    /// <summary>Outer rounds completed.</summary>
    public long RoundsCompleted { get; private set; }

    /// <summary>A snapshot of this rank's counters.</summary>
    public DistributedMetrics Metrics => new(StepsCompleted, RoundsCompleted, _clock.Elapsed.TotalSeconds, _waitSeconds,
        _outer?.ClipActivations ?? 0, _outer?.StateFloats ?? 0, _lastLoss, _boundarySeconds,
        (_backend.CommunicationCpuTime - _communicationCpuAtStart).TotalSeconds);

    /// <summary>
    /// Resumes from a checkpoint written by <see cref="SaveCheckpoint"/> on this rank. Collective: all ranks must
    /// resume from checkpoints of the same step.
    /// </summary>
    /// <exception cref="InvalidDataException">When the checkpoint does not match this rank, group, model or options.</exception>
    public static DistributedCoordinator Resume(ICollectiveBackend backend, IInnerLearner learner, DistributedTrainingOptions options, Stream checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var coordinator = new DistributedCoordinator(backend, learner, options, broadcastInitialModel: false);
        try
        {
            coordinator.ReadCheckpoint(checkpoint);
            coordinator.RequireSameStepOnAllRanks();
            coordinator.GatherAnchorAfterResume();
            return coordinator;
        }
        catch
        {
            coordinator.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Takes one inner step (and, every τ steps, an outer round boundary); returns this rank's loss of the step.
    /// </summary>
    public float Step()
    {
        if (!_clock.IsRunning)
        {
            _communicationCpuAtStart = _backend.CommunicationCpuTime; // the initial broadcast is set-up, not training
            _clock.Start();
        }
        var loss = _learner.ComputeGradients(StepsCompleted);
        if (Options.Algorithm == DistributedAlgorithm.SynchronousDataParallel)
        {
            _learner.CopyGradientsTo(_exchange.Span);
            Blocked(() => _backend.AllReduce(_exchange, ReduceOperation.Average));
            _learner.CopyGradientsFrom(_exchange.Span);
            RoundsCompleted++;
        }
        _learner.ApplyOptimizerStep();
        StepsCompleted++;
        _lastLoss = loss;
        if (_outer is not null && ++_stepsSinceBoundary == Options.LocalSteps)
        {
            var started = Stopwatch.GetTimestamp();
            RoundBoundary();
            _boundarySeconds += Stopwatch.GetElapsedTime(started).TotalSeconds;
        }
        return loss;
    }

    /// <summary>
    /// Ends training consistently: closes a partial round, waits for the in-flight average and applies it, so that
    /// every rank's model equals the synchronised anchor. Training may continue afterwards.
    /// </summary>
    public void Finish()
    {
        if (_outer is null)
            return;
        if (_stepsSinceBoundary > 0)
            RoundBoundary();
        CompleteInFlight();
        if (_pipelinedOuterStep)
            _learner.CopyParametersFrom(_gathered!.Span[.._parameterCount]); // the anchor the last average produced
        else if (_averageReady)
        {
            _outer.Apply(_averageShard.Span);
            _averageReady = false;
            PublishAnchor();
        }
    }

    /// <summary>
    /// Copies the synchronised model (the anchor; for synchronous data-parallel the model itself) into
    /// <paramref name="destination"/>. Collective when the outer state is sharded.
    /// </summary>
    public void CopySynchronizedParametersTo(Span<float> destination)
    {
        if (_outer is null)
            _learner.CopyParametersTo(destination);
        else if (_gathered is null)
            _outer.Anchor.Span[.._parameterCount].CopyTo(destination);
        else if (_pipelinedOuterStep)
        {
            CompleteInFlight(); // the anchor as of the average in flight (it is kept for the next boundary)
            _gathered.Span[.._parameterCount].CopyTo(destination);
        }
        else
        {
            _backend.AllGather(_outer.Anchor, _gathered);
            _gathered.Span[.._parameterCount].CopyTo(destination);
        }
    }

    /// <summary>
    /// Writes this rank's state (model, inner optimizer, outer state, a completed stale average) to
    /// <paramref name="checkpoint"/>. Call it at the same step on every rank; it waits for an in-flight average.
    /// </summary>
    public void SaveCheckpoint(Stream checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        CompleteInFlight();
        using var writer = new BinaryWriter(checkpoint, System.Text.Encoding.UTF8, leaveOpen: true);
        writer.Write(DistributedCheckpoint.Magic);
        writer.Write(DistributedCheckpoint.Version);
        writer.Write((int)Options.Algorithm);
        writer.Write(Options.ShardOuterState);
        writer.Write(_backend.Rank);
        writer.Write(_backend.Size);
        writer.Write(StepsCompleted);
        writer.Write(RoundsCompleted);
        writer.Write(_stepsSinceBoundary);
        var parameters = new float[_parameterCount];
        _learner.CopyParametersTo(parameters);
        DistributedCheckpoint.WriteFloats(writer, parameters);
        _learner.SaveOptimizerState(writer);
        if (_outer is null)
            return;
        _outer.Save(writer);
        writer.Write(_averageReady);
        if (_averageReady)
            DistributedCheckpoint.WriteFloats(writer, _averageShard.Span);
    }

    /// <summary>Waits for an in-flight average (so no collective outlives the backend) and frees the buffers.</summary>
    public void Dispose()
    {
        try
        {
            _inFlight?.Wait();
        }
        catch (CollectiveException)
        {
            // Already failed: the failure was (or will be) reported by the call that observed it.
        }
        _inFlight = null;
        _outer?.Dispose();
        _gathered?.Dispose();
        if (!ReferenceEquals(_averageShard, _exchange))
            _averageShard.Dispose();
        _exchange.Dispose();
        _scalar.Dispose();
    }

    private void BroadcastInitialModel()
    {
        using var start = _exchange.Slice(0, _parameterCount);
        _learner.CopyParametersTo(start.Span);
        _backend.Broadcast(start, root: 0);
        _learner.CopyParametersFrom(start.Span);
        _outer?.Initialize(start.Span);
        if (_pipelinedOuterStep)
            start.Span.CopyTo(_gathered!.Span); // the gathered anchor the first round boundary restarts from
    }

    private void RoundBoundary()
    {
        _stepsSinceBoundary = 0;
        RoundsCompleted++;
        var outer = _outer!;
        if (Options.Algorithm == DistributedAlgorithm.LocalSgd)
        {
            // Blocking variant (Local-SGD/SlowMo): average this round's models now and step on the fresh average.
            outer.MarkRoundStart();
            StageLocalModel();
            var average = StartAveraging();
            Blocked(average.Wait);
            outer.Apply(_averageShard.Span);
            PublishAnchor();
            return;
        }

        // CO2: the previous round's average has been travelling during the τ steps just taken.
        CompleteInFlight();
        if (_pipelinedOuterStep)
        {
            // The step on it was taken and the new anchor gathered while those steps ran.
            StageLocalModel();
            _learner.CopyParametersFrom(_gathered!.Span[.._parameterCount]);
            _inFlight = StartPipelinedOuterStep();
            return;
        }
        if (_averageReady)
        {
            outer.Apply(_averageShard.Span);
            _averageReady = false;
        }
        else
        {
            outer.MarkRoundStart();
        }
        StageLocalModel();
        PublishAnchor(); // before launching: collectives must not overtake the in-flight one in the FIFO
        _inFlight = StartAveraging();
    }

    private void CompleteInFlight()
    {
        if (_inFlight is null)
            return;
        var request = _inFlight;
        _inFlight = null;
        Blocked(request.Wait);
        _averageReady = !_pipelinedOuterStep; // pipelined, the average was already used by the step that followed it
    }

    // Reduce-scatter of the staged models, the outer step on this rank's shard, all-gather of the new anchor: one chain
    // on the communication thread, waited for at the next boundary (the outer state is not touched in between).
    private CollectiveRequest StartPipelinedOuterStep()
    {
        var outer = _outer!;
        _backend.ReduceScatterAsync(_exchange, _averageShard, ReduceOperation.Average); // a failure fails the gather below
        _backend.RunInOrder("CO2 outer step on this rank's shard", () => outer.Apply(_averageShard.Span));
        return _backend.AllGatherAsync(outer.Anchor, _gathered!);
    }

    // Pipelined, a rank holds the gathered anchor between boundaries; a checkpoint keeps only its shard.
    private void GatherAnchorAfterResume()
    {
        if (!_pipelinedOuterStep)
            return;
        if (_averageReady) // a checkpoint of the boundary-step form: take that step now, as its next boundary would have
        {
            _outer!.Apply(_averageShard.Span);
            _averageReady = false;
        }
        Blocked(() => _backend.AllGather(_outer!.Anchor, _gathered!));
    }

    private void StageLocalModel() => _learner.CopyParametersTo(_exchange.Span[.._parameterCount]);

    private CollectiveRequest StartAveraging() => _gathered is null
        ? _backend.AllReduceAsync(_exchange, ReduceOperation.Average)
        : _backend.ReduceScatterAsync(_exchange, _averageShard, ReduceOperation.Average);

    private void PublishAnchor()
    {
        if (_gathered is null)
        {
            _learner.CopyParametersFrom(_outer!.Anchor.Span[.._parameterCount]);
            return;
        }
        Blocked(() => _backend.AllGather(_outer!.Anchor, _gathered));
        _learner.CopyParametersFrom(_gathered.Span[.._parameterCount]);
    }

    private float SumOverRanks(float partial)
    {
        _scalar.Span[0] = partial;
        Blocked(() => _backend.AllReduce(_scalar, ReduceOperation.Sum));
        return _scalar.Span[0];
    }

    private void Blocked(Action communication)
    {
        var started = Stopwatch.GetTimestamp();
        communication();
        _waitSeconds += Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    private void ReadCheckpoint(Stream checkpoint)
    {
        using var reader = new BinaryReader(checkpoint, System.Text.Encoding.UTF8, leaveOpen: true);
        if (reader.ReadString() != DistributedCheckpoint.Magic || reader.ReadInt32() != DistributedCheckpoint.Version)
            throw new InvalidDataException("Not a distributed-training checkpoint of this version.");
        var algorithm = (DistributedAlgorithm)reader.ReadInt32();
        var sharded = reader.ReadBoolean();
        var rank = reader.ReadInt32();
        var size = reader.ReadInt32();
        if (algorithm != Options.Algorithm || sharded != Options.ShardOuterState)
            throw new InvalidDataException($"The checkpoint is of {algorithm} (sharded: {sharded}); the options ask for {Options.Algorithm} (sharded: {Options.ShardOuterState}).");
        if (rank != _backend.Rank || size != _backend.Size)
            throw new InvalidDataException($"The checkpoint was written by rank {rank} of {size}; this is rank {_backend.Rank} of {_backend.Size}.");
        StepsCompleted = reader.ReadInt64();
        RoundsCompleted = reader.ReadInt64();
        _stepsSinceBoundary = reader.ReadInt32();
        var parameters = new float[_parameterCount];
        DistributedCheckpoint.ReadFloats(reader, parameters);
        _learner.CopyParametersFrom(parameters);
        _learner.LoadOptimizerState(reader);
        if (_outer is null)
            return;
        _outer.Load(reader);
        _averageReady = reader.ReadBoolean();
        if (_averageReady)
            DistributedCheckpoint.ReadFloats(reader, _averageShard.Span);
    }

    private void RequireSameStepOnAllRanks()
    {
        var total = SumOverRanks(StepsCompleted);
        if (total != (float)StepsCompleted * _backend.Size)
            throw new InvalidDataException(
                $"Rank {_backend.Rank} resumed at step {StepsCompleted}, but the ranks' checkpoints are from different steps (sum {total}).");
    }
}
