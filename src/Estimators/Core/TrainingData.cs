using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

// The streaming benchmark measures against the former in-memory path (TorchTrainerOptions.LoadAllRowsOnDevice).
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("StreamingBench")]

namespace MLNetExt;

/// <summary>How a trainer reads its targets from a training row: one value per row, checked as it is read.</summary>
public abstract class TrainingTargets
{
    /// <summary>Creates the reader of column <paramref name="column"/>.</summary>
    protected TrainingTargets(string column) => Column = column;

    /// <summary>The label column.</summary>
    public string Column { get; }
    /// <summary>Tensor type of the targets (Int64 class indices or Float32 values).</summary>
    public abstract ScalarType Type { get; }
    /// <summary>Returns a reader of the current row's target; it gets the row number for error messages.</summary>
    public abstract Func<long, double> CreateGetter(DataViewRow row);

    /// <summary>Class indices 0…<see cref="ClassCount"/>−1 from a key-typed column (as MapValueToKey makes).</summary>
    public sealed class Classes : TrainingTargets
    {
        /// <summary>Checks the key column in <paramref name="schema"/> (the class count and names come from its type, not the rows).</summary>
        public Classes(DataViewSchema schema, string column) : base(column)
        {
            var col = DataViewReader.RequireColumn(schema, column, "Label");
            if (col.Type is not KeyDataViewType key || key.RawType != typeof(uint))
                throw new ArgumentException($"Label column '{column}' must be a key type (Key<UInt32>), but it is {DataViewReader.Describe(col.Type)}. " +
                    $"Add mlContext.Transforms.Conversion.MapValueToKey(\"{column}\") before the trainer.");
            if (key.Count > int.MaxValue || key.Count < 2)
                throw new ArgumentException($"Label column '{column}' has {key.Count} classes; a classifier needs between 2 and {int.MaxValue}.");
            ClassCount = (int)key.Count;
            ClassNames = DataViewReader.ReadKeyNames(col);
        }

        /// <summary>Number of classes (the key type's cardinality).</summary>
        public int ClassCount { get; }
        /// <summary>The key values' text, when the key has text values.</summary>
        public IReadOnlyList<string>? ClassNames { get; }
        /// <inheritdoc/>
        public override ScalarType Type => ScalarType.Int64;

        /// <inheritdoc/>
        public override Func<long, double> CreateGetter(DataViewRow row)
        {
            var getter = row.GetGetter<uint>(row.Schema[Column]);
            uint v = 0;
            return r =>
            {
                getter(ref v);
                if (v == 0) throw new InvalidDataException($"Label column '{Column}', row {r}: the label is missing (key value 0).");
                return v - 1;
            };
        }
    }

    /// <summary>A Single (or Double, Int32, Boolean) scalar target, e.g. for regression; a binary target must be 0 or 1.</summary>
    public sealed class Values : TrainingTargets
    {
        private readonly bool _binary;

        /// <summary>Checks the column in <paramref name="schema"/>.</summary>
        public Values(DataViewSchema schema, string column, bool binary = false) : base(column)
        {
            var col = DataViewReader.RequireColumn(schema, column, "Label");
            var raw = col.Type.RawType;
            if (col.Type is VectorDataViewType || (raw != typeof(float) && raw != typeof(double) && raw != typeof(int) && raw != typeof(bool)))
                throw new ArgumentException($"Label column '{column}' must be a scalar Single, but it is {DataViewReader.Describe(col.Type)}.");
            _binary = binary;
        }

        /// <inheritdoc/>
        public override ScalarType Type => ScalarType.Float32;

        /// <inheritdoc/>
        public override Func<long, double> CreateGetter(DataViewRow row)
        {
            var col = row.Schema[Column];
            var raw = col.Type.RawType;
            Func<double> read = raw == typeof(float) ? Reader<float>(row, col, x => x)
                : raw == typeof(double) ? Reader<double>(row, col, x => (float)x)
                : raw == typeof(int) ? Reader<int>(row, col, x => x)
                : Reader<bool>(row, col, x => x ? 1 : 0);
            return r =>
            {
                double v = read();
                if (!double.IsFinite(v))
                    throw new InvalidDataException($"Label column '{Column}', row {r}: value is {v}. Remove rows with missing targets first.");
                if (_binary && v != 0 && v != 1)
                    throw new InvalidDataException($"Label column '{Column}', row {r}: value {v} is not a binary label (Boolean, or 0/1).");
                return v;
            };
        }

        private static Func<double> Reader<T>(DataViewRow row, DataViewSchema.Column col, Func<T, double> convert)
        {
            var getter = row.GetGetter<T>(col);
            T value = default!;
            return () => { getter(ref value); return convert(value); };
        }
    }
}

/// <summary>A batch of training rows ready to be moved to the device.</summary>
public abstract class TrainingBatch
{
    /// <summary>Rows in the batch.</summary>
    public abstract int Rows { get; }
    /// <summary>Features [Rows, width] and targets [Rows] on <paramref name="device"/> (new tensors owned by the caller's dispose scope).</summary>
    public abstract (Tensor Features, Tensor Targets) ToTensors(Device device);
}

/// <summary>
/// Rows read from the cursor straight into pooled CPU tensors (the streaming path): the reading thread writes each row
/// into the tensors' storage, and the step gets views of the first <see cref="Count"/> rows, so no batch allocates or
/// copies on the training thread.
/// </summary>
internal sealed unsafe class HostBatch : TrainingBatch, IDisposable
{
    private readonly int _width;
    private readonly Tensor _x, _y;
    private readonly float* _features;
    private readonly void* _targets;
    private readonly bool _classes;

    public HostBatch(int capacity, int width, ScalarType type)
    {
        _width = width;
        Capacity = capacity;
        _classes = type == ScalarType.Int64;
        // Pooled across steps (and threads): kept out of whatever dispose scope the batch happens to be made in.
        _x = torch.empty(new long[] { capacity, width }, ScalarType.Float32).DetachFromDisposeScope();
        _y = torch.empty(new long[] { capacity }, type).DetachFromDisposeScope();
        // CPU storage does not move, so its address is taken once.
        fixed (byte* x = _x.bytes) _features = (float*)x;
        fixed (byte* y = _y.bytes) _targets = y;
    }

    public int Count { get; set; }
    public int Capacity { get; }
    public override int Rows => Count;

    /// <summary>The storage of row <paramref name="slot"/>.</summary>
    public Span<float> Row(int slot) => new(_features + (long)slot * _width, _width);

    public void SetTarget(int slot, double value)
    {
        if (_classes) ((long*)_targets)[slot] = (long)value;
        else ((float*)_targets)[slot] = (float)value;
    }

    /// <summary>Appends a row copied from <paramref name="features"/>.</summary>
    public void Add(ReadOnlySpan<float> features, double target)
    {
        features.CopyTo(Row(Count));
        SetTarget(Count++, target);
    }

    public override (Tensor Features, Tensor Targets) ToTensors(Device device)
    {
        // Views of the pooled storage: the batch goes back to the pool only after the step's tensors are disposed.
        var x = _x.narrow(0, 0, Count);
        var y = _y.narrow(0, 0, Count);
        return device.type == DeviceType.CPU ? (x, y) : (x.to(device), y.to(device));
    }

    public void Dispose()
    {
        _x.Dispose();
        _y.Dispose();
    }
}

/// <summary>The bounded shuffle buffer of <see cref="TorchTrainingData"/>: rows in host arrays, kept from epoch to epoch.</summary>
internal sealed class ShuffleBuffer
{
    private readonly int _width;

    public ShuffleBuffer(int capacity, int width)
    {
        _width = width;
        Features = new float[(long)capacity * width];
        Targets = new double[capacity];
    }

    public float[] Features { get; }
    public double[] Targets { get; }
    public int Count { get; set; }
    public int Capacity => Targets.Length;

    public Span<float> Row(int slot) => Features.AsSpan(slot * _width, _width);

    /// <summary>Moves buffered row <paramref name="slot"/> to the batch (its slot is then free to be overwritten).</summary>
    public void MoveTo(int slot, HostBatch batch) => batch.Add(Row(slot), Targets[slot]);

    /// <summary>Moves buffered row <paramref name="slot"/> to the batch and closes the gap with the last buffered row.</summary>
    public void TakeTo(int slot, HostBatch batch)
    {
        MoveTo(slot, batch);
        int last = --Count;
        if (slot == last) return;
        Row(last).CopyTo(Row(slot));
        Targets[slot] = Targets[last];
    }
}

/// <summary>Row indices into tensors already on the device (the former in-memory path).</summary>
internal sealed class IndexBatch : TrainingBatch
{
    private readonly Tensor _x, _y;
    private readonly long[] _rows;

    public IndexBatch(Tensor x, Tensor y, long[] rows)
    {
        _x = x;
        _y = y;
        _rows = rows;
    }

    public override int Rows => _rows.Length;

    public override (Tensor Features, Tensor Targets) ToTensors(Device device)
    {
        var index = torch.tensor(_rows, ScalarType.Int64).to(device);
        return (_x.index_select(0, index), _y.index_select(0, index));
    }
}

/// <summary>How training rows are shuffled (recorded in the training report).</summary>
public enum TrainingShuffle
{
    /// <summary>A fresh permutation of the row indices every epoch, rows read by seeking (the view is cached or otherwise seekable).</summary>
    RowIndex,
    /// <summary>One sequential pass per epoch through a bounded shuffle buffer (<see cref="TorchTrainerOptions.ShuffleBufferSize"/> rows).</summary>
    Buffer,
    /// <summary>All rows in one tensor on the device, indexed by a permutation (kept only to measure streaming against).</summary>
    InMemory,
}

/// <summary>
/// The training rows of one <c>Fit</c>, read from the <see cref="IDataView"/> batch by batch: never the whole set in
/// memory. A seekable view (<c>mlContext.Data.Cache(...)</c>) is shuffled by row index, which gives exactly the batches
/// an in-memory permutation would; any other view is read with one cursor per epoch through a bounded shuffle buffer.
/// Validation rows are streamed likewise. Only the split (one bit of membership and one index per row) is kept.
/// </summary>
public sealed class TorchTrainingData : IDisposable
{
    private readonly IHost _host;
    private readonly IDataView _data;
    private readonly IModelInput _input;
    private readonly TrainingTargets _targets;
    private readonly TorchTrainerOptions _options;
    private readonly bool[] _isValidation;
    private readonly List<HostBatch> _free = new();
    private ShuffleBuffer? _shuffleBuffer;
    private bool _disposed;
    private IDataView? _seekable;
    private Tensor? _allX, _allY;
    private int[]? _order;

    internal TorchTrainingData(IHost host, IDataView data, IModelInput input, TrainingTargets targets, TorchTrainerOptions options, int seed, Device device)
    {
        _host = host;
        _data = data;
        _input = input;
        _targets = targets;
        _options = options;
        Width = input.Width;
        input.CheckSchema(data.Schema);
        long rows = data.GetRowCount() ?? CountRows(data);
        if (rows == 0) throw new InvalidDataException($"The training data has no rows (feature column '{input.ColumnNames[0]}').");
        if (rows > int.MaxValue) throw new InvalidDataException($"The training data has {rows} rows; at most {int.MaxValue} are supported.");
        RowCount = (int)rows;
        (TrainRows, ValidationRows) = TorchTrainingLoop.Split(RowCount, options.ValidationFraction, seed);
        _isValidation = new bool[RowCount];
        foreach (var r in ValidationRows) _isValidation[r] = true;
        if (options.LoadAllRowsOnDevice)
        {
            Shuffle = TrainingShuffle.InMemory;
            LoadAll(device);
        }
        else
        {
            Shuffle = data is IRowSeekable ? TrainingShuffle.RowIndex : TrainingShuffle.Buffer;
            if (Shuffle == TrainingShuffle.RowIndex) _seekable = data;
        }
    }

    /// <summary>Number of rows (training and validation).</summary>
    public int RowCount { get; }
    /// <summary>Floats per row given to the module.</summary>
    public int Width { get; }
    /// <summary>Data-row indices of the training split.</summary>
    public int[] TrainRows { get; }
    /// <summary>Data-row indices of the validation split (empty without one).</summary>
    public int[] ValidationRows { get; }
    /// <summary>How the training rows are shuffled.</summary>
    public TrainingShuffle Shuffle { get; }
    /// <summary>Rows read through cursors and seekers so far (every epoch and validation pass counts its rows).</summary>
    public long RowsRead => Interlocked.Read(ref _rowsRead);
    private long _rowsRead;

    private static long CountRows(IDataView data)
    {
        long n = 0;
        using var cursor = data.GetRowCursor(Array.Empty<DataViewSchema.Column>());
        while (cursor.MoveNext()) n++;
        return n;
    }

    private IEnumerable<DataViewSchema.Column> Columns
        => _input.ColumnNames.Append(_targets.Column).Distinct().Select(n => _data.Schema[n]);

    /// <summary>Reads the current row of a cursor or seeker, checking that features are finite.</summary>
    private sealed class RowReader
    {
        private readonly RowFeatureFiller _fill;
        private readonly Func<long, double> _target;
        private readonly string _column;

        public RowReader(DataViewRow row, IModelInput input, TrainingTargets targets)
        {
            _fill = input.CreateFiller(row);
            _target = targets.CreateGetter(row);
            _column = input.ColumnNames[0];
        }

        /// <summary>Writes the features of row <paramref name="rowNumber"/> into <paramref name="features"/> and returns its target.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public double Read(long rowNumber, Span<float> features)
        {
            _fill(features);
            int bad = FiniteValues.FirstNonFinite(features);
            if (bad >= 0)
                throw new InvalidDataException($"Feature column '{_column}', row {rowNumber}: value at index {bad} is {features[bad]}. " +
                    "Remove or impute non-finite values before training (e.g. mlContext.Transforms.ReplaceMissingValues).");
            return _target(rowNumber);
        }
    }

    /// <summary>
    /// One pass of a cursor over the view, stopping on each training (or validation) row in data order; counts the rows
    /// read and checks cancellation every 256 rows.
    /// </summary>
    private sealed class SplitCursor : IDisposable
    {
        private readonly TorchTrainingData _owner;
        private readonly DataViewRowCursor _cursor;
        private readonly RowReader _reader;
        private readonly bool _validation;
        private readonly CancellationToken _cancel;
        private long _row = -1, _uncounted;

        public SplitCursor(TorchTrainingData owner, bool validation, CancellationToken cancel)
        {
            _owner = owner;
            _validation = validation;
            _cancel = cancel;
            _cursor = owner._data.GetRowCursor(owner.Columns);
            _reader = new RowReader(_cursor, owner._input, owner._targets);
        }

        /// <summary>Rows of the split read so far in this pass.</summary>
        public long Read { get; private set; }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public bool Next()
        {
            var isValidation = _owner._isValidation;
            while (_cursor.MoveNext())
            {
                _row++;
                if (isValidation[_row] != _validation) continue;
                if ((_row & 255) == 0)
                {
                    _owner.CheckAlive(_cancel);
                    Count();
                }
                Read++;
                _uncounted++;
                return true;
            }
            return false;
        }

        /// <summary>Copies the current row's features into <paramref name="features"/> and returns its target.</summary>
        public double Copy(Span<float> features) => _reader.Read(_row, features);

        private void Count()
        {
            Interlocked.Add(ref _owner._rowsRead, _uncounted);
            _uncounted = 0;
        }

        public void Dispose()
        {
            Count();
            _cursor.Dispose();
        }
    }

    private HostBatch Rent(int capacity)
    {
        lock (_free)
            for (int i = _free.Count - 1; i >= 0; i--)
                if (_free[i].Capacity >= capacity)
                {
                    var b = _free[i];
                    _free.RemoveAt(i);
                    b.Count = 0;
                    return b;
                }
        return new HostBatch(capacity, Width, _targets.Type);
    }

    /// <summary>Gives a batch back once the step's tensors are disposed, so steady-state training allocates no new storage.</summary>
    internal void Return(TrainingBatch batch)
    {
        if (batch is not HostBatch h) return;
        lock (_free)
            if (!_disposed && _free.Count < _options.PrefetchBatches + 4)
            {
                _free.Add(h);
                return;
            }
        h.Dispose();
    }

    /// <summary>The training batches of one epoch, shuffled with <paramref name="random"/> (called on the prefetching thread).</summary>
    public IEnumerable<TrainingBatch> TrainingEpoch(Random random, CancellationToken cancel)
    {
        int batchSize = _options.BatchSize;
        if (Shuffle != TrainingShuffle.Buffer)
        {
            // The permutation is reshuffled epoch after epoch, as the former in-memory loop did, so a cached view
            // trains exactly as before.
            var order = _order ??= Enumerable.Range(0, TrainRows.Length).ToArray();
            random.Shuffle(order);
            for (int start = 0; start < order.Length; start += batchSize)
            {
                int n = Math.Min(batchSize, order.Length - start);
                var rows = new int[n];
                for (int i = 0; i < n; i++) rows[i] = TrainRows[order[start + i]];
                CheckAlive(cancel);
                yield return ReadRows(rows);
            }
            yield break;
        }

        int poolSize = Math.Min(_options.ShuffleBufferSize, TrainRows.Length);
        // The buffer's arrays are kept from epoch to epoch (only the prefetching thread of one epoch uses them).
        if (_shuffleBuffer?.Capacity != poolSize) _shuffleBuffer = new ShuffleBuffer(poolSize, Width);
        var pool = _shuffleBuffer;
        pool.Count = 0;
        var batch = Rent(batchSize);
        using (var rows = new SplitCursor(this, validation: false, cancel))
        {
            while (FillThroughBuffer(rows, pool, batch, batchSize, random, progressive: poolSize < TrainRows.Length))
            {
                yield return batch;
                batch = Rent(batchSize);
            }
        }
        // The cursor is done (and closed): the buffered rows go out in random order.
        while (pool.Count > 0)
        {
            pool.TakeTo(random.Next(pool.Count), batch);
            if (batch.Count == batchSize)
            {
                yield return batch;
                batch = Rent(batchSize);
            }
        }
        if (batch.Count > 0) yield return batch;
        else Return(batch);
    }

    /// <summary>
    /// Fills <paramref name="batch"/> with rows leaving the shuffle buffer as new rows from the cursor take their place;
    /// false when the cursor ended first (the batch may then be partly filled).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool FillThroughBuffer(SplitCursor rows, ShuffleBuffer pool, HostBatch batch, int batchSize, Random random, bool progressive)
    {
        while (batch.Count < batchSize)
        {
            if (!rows.Next()) return false;
            if (pool.Count < pool.Capacity)
            {
                // Progressive fill: until the buffer is full, every second row read also sends a random buffered row on,
                // so an epoch's first batch comes after about 2 × BatchSize rows instead of after the whole buffer. Not
                // when the buffer holds the whole split: then filling it first gives a full shuffle.
                int slot = pool.Count++;
                pool.Targets[slot] = rows.Copy(pool.Row(slot));
                if (progressive && (rows.Read & 1) == 0) pool.TakeTo(random.Next(pool.Count), batch);
                continue;
            }
            // The buffer is full: a random buffered row goes to the batch and the new row takes its place.
            int j = random.Next(pool.Capacity);
            pool.MoveTo(j, batch);
            pool.Targets[j] = rows.Copy(pool.Row(j));
        }
        return true;
    }

    private void CheckAlive(CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        _host.CheckAlive();
    }

    /// <summary>The validation rows in data order, in batches of <see cref="TorchTrainerOptions.ScoringBatchSize"/>.</summary>
    public IEnumerable<TrainingBatch> ValidationBatches(CancellationToken cancel)
    {
        int batchSize = _options.ScoringBatchSize;
        if (ValidationRows.Length == 0) yield break;
        if (Shuffle != TrainingShuffle.Buffer)
        {
            var rows = ValidationRows.Order().ToArray();
            for (int start = 0; start < rows.Length; start += batchSize)
            {
                var chunk = rows.AsSpan(start, Math.Min(batchSize, rows.Length - start)).ToArray();
                CheckAlive(cancel);
                yield return ReadRows(chunk);
            }
            yield break;
        }
        var batch = Rent(batchSize);
        using (var rows = new SplitCursor(this, validation: true, cancel))
            while (rows.Next())
            {
                batch.SetTarget(batch.Count, rows.Copy(batch.Row(batch.Count)));
                if (++batch.Count < batchSize) continue;
                yield return batch;
                batch = Rent(batchSize);
            }
        if (batch.Count > 0) yield return batch;
        else Return(batch);
    }

    /// <summary>
    /// Reads the given data rows, in that order, by seeking. A view that cannot seek is wrapped once in ML.NET's row
    /// cache (host memory, filled as it is read): random access is what drivers that address rows by index
    /// (distributed shards, federated clients) need. Such drivers check cancellation at their own step boundaries.
    /// </summary>
    public TrainingBatch ReadRows(IReadOnlyList<int> rows)
    {
        if (_allX is not null) return new IndexBatch(_allX, _allY!, rows.Select(r => (long)r).ToArray());
        // Distributed workers read concurrently: build the cache once.
        lock (_free)
            _seekable ??= new CacheDataView(_host, _data, null);
        var batch = Rent(rows.Count);
        var columns = Columns.Select(c => c.Index).ToHashSet();
        using var seeker = ((IRowSeekable)_seekable).GetSeeker(columns.Contains);
        var reader = new RowReader(seeker, _input, _targets);
        foreach (var r in rows)
        {
            if (r < 0 || r >= RowCount) throw new ArgumentOutOfRangeException(nameof(rows), r, $"Row {r} is outside the {RowCount} training rows.");
            if (!seeker.MoveTo(r)) throw new InvalidOperationException($"Row {r} could not be read: the input view changed while it was read.");
            batch.SetTarget(batch.Count, reader.Read(r, batch.Row(batch.Count)));
            batch.Count++;
        }
        Interlocked.Add(ref _rowsRead, rows.Count);
        return batch;
    }

    /// <summary>The targets of <paramref name="rows"/> as a CPU tensor (one pass over the label column only).</summary>
    public Tensor TargetsOf(IReadOnlyList<int> rows)
    {
        var all = new double[RowCount];
        using (var cursor = _data.GetRowCursor(new[] { _data.Schema[_targets.Column] }))
        {
            var get = _targets.CreateGetter(cursor);
            long r = 0;
            while (cursor.MoveNext() && r < RowCount) { all[r] = get(r); r++; }
        }
        return _targets.Type == ScalarType.Int64
            ? torch.tensor(rows.Select(r => (long)all[r]).ToArray(), ScalarType.Int64)
            : torch.tensor(rows.Select(r => (float)all[r]).ToArray(), ScalarType.Float32);
    }

    private void LoadAll(Device device)
    {
        using var all = new HostBatch(RowCount, Width, _targets.Type);
        using (var cursor = _data.GetRowCursor(Columns))
        {
            var reader = new RowReader(cursor, _input, _targets);
            while (all.Count < RowCount && cursor.MoveNext())
            {
                all.SetTarget(all.Count, reader.Read(all.Count, all.Row(all.Count)));
                all.Count++;
            }
        }
        using var scope = NewDisposeScope();
        var (x, y) = all.ToTensors(device);
        // The views keep the storage alive after the batch's own tensors are disposed.
        _allX = x.MoveToOuterDisposeScope();
        _allY = y.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _allX?.Dispose();
        _allY?.Dispose();
        if (_seekable is CacheDataView) _seekable = null;
        lock (_free)
        {
            _disposed = true;
            foreach (var b in _free) b.Dispose();
            _free.Clear();
        }
    }
}

/// <summary>
/// Runs an enumeration on a background thread and hands its items over through a bounded queue, so reading the next
/// batches from the <see cref="IDataView"/> overlaps the training step. The order is the enumeration's, so results do
/// not depend on timing. Errors of the reading thread are rethrown to the consumer.
/// </summary>
internal sealed class Prefetcher<T> : IDisposable
{
    private readonly BlockingCollection<T> _queue;
    private readonly CancellationTokenSource _stop;
    private readonly Thread _thread;
    private readonly Action<T>? _discard;
    private ExceptionDispatchInfo? _error;

    /// <param name="source">The enumeration run on the background thread.</param>
    /// <param name="capacity">Items read ahead at most.</param>
    /// <param name="cancel">Stops the reading thread.</param>
    /// <param name="discard">Called on items read but never consumed (e.g. to give pooled batches back) when the consumer stops early.</param>
    public Prefetcher(Func<CancellationToken, IEnumerable<T>> source, int capacity, CancellationToken cancel, Action<T>? discard = null)
    {
        _discard = discard;
        _queue = new BlockingCollection<T>(capacity);
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var token = _stop.Token;
        _thread = new Thread(() =>
        {
            try
            {
                foreach (var item in source(token)) _queue.Add(item, token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested && !cancel.IsCancellationRequested) { }
            catch (Exception e) { _error = ExceptionDispatchInfo.Capture(e); }
            finally { _queue.CompleteAdding(); }
        }) { IsBackground = true, Name = "MLNetExt batch reader" };
        _thread.Start();
    }

    /// <summary>The items in order; throws what the reading thread threw.</summary>
    public IEnumerable<T> Items()
    {
        foreach (var item in _queue.GetConsumingEnumerable()) yield return item;
        _error?.Throw();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        while (_queue.TryTake(out var item)) _discard?.Invoke(item);
        _queue.Dispose();
        _stop.Dispose();
    }
}
