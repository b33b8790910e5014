using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt.Tests.Text;

namespace MLNetExt.Tests.Core;

/// <summary>Training reads batches from the view; the seed, device, log and cancellation come from the MLContext; models are independent.</summary>
public sealed class StreamingTrainingTests
{
    private static MlpClassifierOptions Options(int epochs = 30) => new()
    {
        HiddenSizes = new[] { 32, 32 }, Epochs = epochs, BatchSize = 32, LearningRate = 0.01, Seed = 7, Device = TorchDeviceKind.Cpu,
    };

    private static float[] Scores(ITransformer model, IDataView data)
    {
        var scored = model.Transform(data);
        return scored.Schema["Score"].Type is VectorDataViewType
            ? SyntheticData.Column(scored, "Score").SelectMany(v => v).ToArray()
            : scored.GetColumn<float>("Score").ToArray();
    }

    [Fact]
    public void ACachedViewIsShuffledByRowIndexAndTrainsExactlyAsTheInMemoryPath()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.Cache(SyntheticData.RingsView(ml, 600, 1));
        var options = Options(epochs: 5);
        options.ValidationFraction = 0.2;
        var streamed = ml.MulticlassClassification.Trainers.TorchMlp(options).Fit(train);
        var inMemoryOptions = Options(epochs: 5);
        inMemoryOptions.ValidationFraction = 0.2;
        inMemoryOptions.LoadAllRowsOnDevice = true;
        var inMemory = ml.MulticlassClassification.Trainers.TorchMlp(inMemoryOptions).Fit(train);

        Assert.Equal(TrainingShuffle.RowIndex, streamed.Training!.Shuffle);
        Assert.Equal(TrainingShuffle.InMemory, inMemory.Training!.Shuffle);
        Assert.Equal(inMemory.Training.History.TrainLoss, streamed.Training.History.TrainLoss);
        Assert.Equal(inMemory.Training.History.ValidationLoss.Select(v => Math.Round(v, 5)), streamed.Training.History.ValidationLoss.Select(v => Math.Round(v, 5)));
        Assert.Equal(Scores(inMemory, train), Scores(streamed, train));
    }

    [Fact]
    public void AViewThatCannotSeekStreamsThroughTheShuffleBufferAndStillLearns()
    {
        var ml = new MLContext(seed: 1);
        var toKey = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(SyntheticData.Rings(600, 1)));
        var train = toKey.Transform(ml.Data.LoadFromEnumerable(SyntheticData.Rings(600, 1)));
        var test = toKey.Transform(ml.Data.LoadFromEnumerable(SyntheticData.Rings(300, 2)));
        var options = Options();
        options.ShuffleBufferSize = 64;   // far smaller than the data: rows leave the buffer while the cursor streams on
        var model = ml.MulticlassClassification.Trainers.TorchMlp(options).Fit(train);
        Assert.Equal(TrainingShuffle.Buffer, model.Training!.Shuffle);
        var accuracy = ml.MulticlassClassification.Evaluate(model.Transform(test)).MacroAccuracy;
        Assert.True(accuracy > 0.9, $"accuracy {accuracy}");
        // The buffered order is still fixed by the seed.
        var again = ml.MulticlassClassification.Trainers.TorchMlp(options).Fit(train);
        Assert.Equal(Scores(model, test), Scores(again, test));
    }

    [Theory]
    [InlineData(1000, 64, 0.0)]
    [InlineData(1000, 5000, 0.0)]
    [InlineData(1000, 64, 0.2)]
    public void AnEpochThroughTheShuffleBufferYieldsEveryTrainingRowOnceInAShuffledOrder(int rows, int buffer, double validation)
    {
        var ml = new MLContext(seed: 1);
        var view = new GeneratedRingsView(rows, width: 2);
        var options = Options(epochs: 1);
        options.ShuffleBufferSize = buffer;
        options.ValidationFraction = validation;
        options.BatchSize = 30;
        var host = ((Microsoft.ML.Runtime.IHostEnvironment)ml).Register("test");
        using var data = new TorchTrainingData(host, view, new FloatVectorInput("Features", 2), new TrainingTargets.Classes(view.Schema, "Label"),
            options, 1, TorchSharp.torch.CPU);
        Assert.Equal(TrainingShuffle.Buffer, data.Shuffle);
        var seen = new List<(float, float, long)>();
        foreach (var batch in data.TrainingEpoch(new Random(3), default))
        {
            var (x, y) = batch.ToTensors(TorchSharp.torch.CPU);
            var xs = x.data<float>().ToArray();
            var ys = y.data<long>().ToArray();
            Assert.True(batch.Rows <= 30);
            for (int i = 0; i < batch.Rows; i++) seen.Add((xs[2 * i], xs[2 * i + 1], ys[i]));
        }
        var expected = data.TrainRows.Select(r => GeneratedRingsView.Row(r)).Select(t => (t.X, t.Y, (long)t.Class - 1)).ToList();
        Assert.Equal(expected.OrderBy(t => t), seen.OrderBy(t => t));
        var inDataOrder = data.TrainRows.Order().Select(r => GeneratedRingsView.Row(r)).Select(t => (t.X, t.Y, (long)t.Class - 1)).ToList();
        Assert.NotEqual(inDataOrder, seen);
    }

    [Fact]
    public void EveryEpochReadsTheRowsAgainFromTheCursorInsteadOfKeepingThem()
    {
        var ml = new MLContext(seed: 1);
        var view = new GeneratedRingsView(rows: 3000, width: 2);
        var options = Options(epochs: 3);
        options.ValidationFraction = 0.1;
        var model = ml.MulticlassClassification.Trainers.TorchMlp(options).Fit(view);
        // 3 epochs over 2700 training rows and 3 validation passes over 300 rows; a copy made once would read 3000.
        Assert.Equal(3 * 2700 + 3 * 300, view.FeatureRowsServed);
        Assert.Equal(2700, model.Training!.TrainRows);
        Assert.Equal(300, model.Training.ValidationRows);
        Assert.True(view.MaxOpenCursors <= 1, $"{view.MaxOpenCursors} cursors were open at once");
    }

    [Fact]
    public void AnErrorInARowIsReportedFromTheReadingThreadWithItsRowNumber()
    {
        var ml = new MLContext(seed: 1);
        var view = new GeneratedRingsView(rows: 500, width: 2) { NaNAtRow = 321 };
        var error = Assert.Throws<InvalidDataException>(() => ml.MulticlassClassification.Trainers.TorchMlp(Options(epochs: 1)).Fit(view));
        Assert.Contains("row 321", error.Message);
    }

    // --- The MLContext: seed, device, log, cancellation ---

    private static void AssertSeedDrivesTheModel(Func<MLContext, ITransformer> fit, Func<MLContext, IDataView> data)
    {
        float[] Run(int seed)
        {
            var ml = new MLContext(seed: seed);
            return Scores(fit(ml), data(ml));
        }
        var first = Run(7);
        Assert.Equal(first, Run(7));
        Assert.NotEqual(first, Run(8));
    }

    [Fact]
    public void TheContextSeedDrivesTheMlpWhenItsSeedIsUnset()
        => AssertSeedDrivesTheModel(ml =>
        {
            var o = Options(epochs: 3);
            o.Seed = null;
            return ml.MulticlassClassification.Trainers.TorchMlp(o).Fit(SyntheticData.RingsView(ml, 200, 1));
        }, ml => SyntheticData.RingsView(ml, 50, 2));

    [Fact]
    public void TheContextSeedDrivesTerminatorWhenItsSeedIsUnset()
        => AssertSeedDrivesTheModel(ml =>
        {
            var o = MLNetExt.Tests.Terminator.TerminatorTests.Tiny();
            o.Seed = null;
            o.Epochs = 1;
            o.BatchSize = 16;
            return ml.MulticlassClassification.Trainers.Terminator(o).Fit(SmallImages(ml, 64, 1));
        }, ml => SmallImages(ml, 16, 2));

    [Fact]
    public void TheContextSeedDrivesTheTextTransformerWhenItsSeedIsUnset()
        => AssertSeedDrivesTheModel(ml =>
        {
            var o = new TextClassifierOptions { MaxLength = 16, Layers = 1, ModelDimension = 16, Heads = 2, FeedForwardDimension = 16, Epochs = 1, BatchSize = 16, Device = TorchDeviceKind.Cpu };
            return ml.BinaryClassification.Trainers.TextTransformer(o).Fit(ml.Data.LoadFromEnumerable(TextTransformerTests.GiveQuestions(96, 1)));
        }, ml => ml.Data.LoadFromEnumerable(TextTransformerTests.GiveQuestions(16, 2)));

    [Fact]
    public void AnExplicitSeedWinsOverTheContextSeed()
    {
        var a = new MLContext(seed: 1);
        var b = new MLContext(seed: 2);
        var ma = a.MulticlassClassification.Trainers.TorchMlp(Options(epochs: 2)).Fit(SyntheticData.RingsView(a, 200, 1));
        var mb = b.MulticlassClassification.Trainers.TorchMlp(Options(epochs: 2)).Fit(SyntheticData.RingsView(b, 200, 1));
        Assert.Equal(7, ma.Training!.Seed);
        Assert.Equal(Scores(ma, SyntheticData.RingsView(a, 50, 2)), Scores(mb, SyntheticData.RingsView(b, 50, 2)));
        var o = Options(epochs: 1);
        o.Seed = null;
        Assert.Equal(2, b.MulticlassClassification.Trainers.TorchMlp(o).Fit(SyntheticData.RingsView(b, 100, 1)).Training!.Seed);
    }

    [Theory]
    [InlineData(TorchDeviceKind.Cpu, null, false, true, "cpu")]
    [InlineData(TorchDeviceKind.Auto, null, false, false, "cpu")]
    [InlineData(TorchDeviceKind.Auto, null, false, true, "cuda:0")]
    [InlineData(TorchDeviceKind.Auto, 1, false, true, "cuda:1")]
    [InlineData(TorchDeviceKind.Auto, 1, true, false, "cpu (fallback)")]
    [InlineData(TorchDeviceKind.Cuda, null, true, false, "cpu (fallback)")]
    [InlineData(TorchDeviceKind.Cpu, 0, false, false, "cpu")]
    public void DeviceChoiceFollowsTheOptionsAndTheContext(TorchDeviceKind kind, int? gpu, bool fallback, bool cuda, string expected)
    {
        var c = TorchDevices.Choose(kind, gpu, fallback, cuda);
        string actual = c.Type == TorchSharp.DeviceType.CUDA ? $"cuda:{c.Index}" : c.FellBack ? "cpu (fallback)" : "cpu";
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void AGpuIdWithoutCudaAndWithoutFallbackIsAClearErrorForTrainingAndScoring()
    {
        var e = Assert.Throws<InvalidOperationException>(() => TorchDevices.Choose(TorchDeviceKind.Auto, 0, fallbackToCpu: false, cudaAvailable: false));
        Assert.Contains("GpuDeviceId = 0", e.Message);
        Assert.Contains("FallbackToCpu", e.Message);
        if (TorchSharp.torch.cuda.is_available()) return;   // the rest needs a machine without CUDA

        var strict = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = false };
        var o = Options(epochs: 1);
        o.Device = TorchDeviceKind.Auto;
        var train = Assert.Throws<InvalidOperationException>(() => strict.MulticlassClassification.Trainers.TorchMlp(o).Fit(SyntheticData.RingsView(strict, 100, 1)));
        Assert.Contains("GpuDeviceId = 0", train.Message);

        var lenient = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = true };
        var model = lenient.MulticlassClassification.Trainers.TorchMlp(o).Fit(SyntheticData.RingsView(lenient, 100, 1));
        Assert.Equal(TorchSharp.DeviceType.CPU, model.Device.type);

        // Scoring resolves the device in the context that loads the model.
        var path = Path.Combine(Path.GetTempPath(), $"device-{Guid.NewGuid():N}.zip");
        try
        {
            lenient.Model.Save(model, SyntheticData.RingsView(lenient, 10, 1).Schema, path);
            var load = Assert.ThrowsAny<Exception>(() => strict.Model.Load(path, out _));
            Assert.Contains("GpuDeviceId = 0", load.ToString());
            var loaded = (MlpMulticlassTransformer)lenient.Model.Load(path, out _);
            Assert.Equal(TorchSharp.DeviceType.CPU, loaded.Device.type);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ProgressGoesToTheContextLog()
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        ml.MulticlassClassification.Trainers.TorchMlp(Options(epochs: 2)).Fit(SyntheticData.RingsView(ml, 100, 1));
        lock (messages)
        {
            Assert.Contains(messages, m => m.Contains("Epoch 1/2: train loss"));
            Assert.Contains(messages, m => m.Contains("Epoch 2/2: train loss"));
            Assert.Contains(messages, m => m.Contains("seed 7"));
        }
    }

    [Fact]
    public void CancellingTheContextStopsTraining()
    {
        var ml = new MLContext(seed: 1);
        var o = Options(epochs: 50);
        var steps = new List<long>();
        o.ProgressEverySteps = 1;
        o.Progress = new SyncProgress<TrainingProgress>(p => { steps.Add(p.Step); if (p.Step == 5) CancelExecution(ml); });
        Assert.ThrowsAny<OperationCanceledException>(() => ml.MulticlassClassification.Trainers.TorchMlp(o).Fit(SyntheticData.RingsView(ml, 300, 1)));
        Assert.InRange(steps.Max(), 5, 6);
    }

    [Fact]
    public void CancellingTheOptionsTokenStopsTrainingAlsoWhileRowsAreRead()
    {
        var ml = new MLContext(seed: 1);
        using var cancel = new CancellationTokenSource();
        var view = new GeneratedRingsView(rows: 200_000, width: 2) { OnRow = r => { if (r == 1000) cancel.Cancel(); } };
        var o = Options(epochs: 1);
        o.CancellationToken = cancel.Token;
        Assert.ThrowsAny<OperationCanceledException>(() => ml.MulticlassClassification.Trainers.TorchMlp(o).Fit(view));
        Assert.True(view.FeatureRowsServed < 100_000, $"{view.FeatureRowsServed} rows were read after cancelling");
    }

    /// <summary>ML.NET's cancellation of a context (<c>ICancelable.CancelExecution</c>, which the host's CheckAlive honours).</summary>
    private static void CancelExecution(MLContext ml)
    {
        // MLContext keeps its environment in a field; the environment is what CheckAlive asks.
        const System.Reflection.BindingFlags all = System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public;
        var env = new object?[] { ml }.Concat(typeof(MLContext).GetFields(all).Select(f => f.GetValue(ml)))
            .First(o => o?.GetType().GetInterfaces().Any(i => i.Name == "ICancelable") == true)!;
        env.GetType().GetInterfaces().Single(i => i.Name == "ICancelable").GetMethod("CancelExecution")!.Invoke(env, null);
    }

    // --- Trained models are independent of the trainer ---

    [Fact]
    public void FittingOneTrainerTwiceGivesTwoIndependentModels()
    {
        var ml = new MLContext(seed: 1);
        var trainer = ml.MulticlassClassification.Trainers.TorchMlp(Options(epochs: 3));
        var rings = SyntheticData.RingsView(ml, 300, 1);
        var first = trainer.Fit(rings);
        var firstScores = Scores(first, rings);
        // Two classes with other names: a model that read class count or names from the trainer would change.
        var two = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(TwoClasses(200)))
            .Transform(ml.Data.LoadFromEnumerable(TwoClasses(200)));
        var second = trainer.Fit(two);

        Assert.Equal(3, first.ClassCount);
        Assert.Equal(2, second.ClassCount);
        Assert.Equal(new[] { "inner", "middle", "outer" }, first.ClassNames!.OrderBy(n => n));
        Assert.Equal(new[] { "left", "right" }, second.ClassNames!.OrderBy(n => n));
        Assert.Equal(first.ClassNames, first.Training!.ClassNames);
        Assert.NotSame(first.Training, second.Training);
        Assert.Equal(3, first.Training.History.TrainLoss.Count);
        Assert.Equal(firstScores, Scores(first, rings));
        Assert.NotSame(first.Network, second.Network);
    }

    private static List<VectorRow> TwoClasses(int rows)
    {
        var rng = new Random(3);
        return Enumerable.Range(0, rows).Select(_ =>
        {
            float x = (float)(rng.NextDouble() * 2 - 1);
            return new VectorRow { Features = new[] { x, (float)rng.NextDouble() }, Label = x < 0 ? "left" : "right" };
        }).ToList();
    }

    private sealed class PixelRow
    {
        [VectorType(36)] public float[] Features { get; set; } = Array.Empty<float>();
        public uint Label { get; set; }
    }

    /// <summary>6×6 images: a bright left or right half (two classes) with noise.</summary>
    private static IDataView SmallImages(MLContext ml, int rows, int seed)
    {
        var rng = new Random(seed);
        var list = Enumerable.Range(0, rows).Select(_ =>
        {
            uint c = (uint)rng.Next(2);
            var f = Enumerable.Range(0, 36).Select(i => (float)((i % 6 < 3) == (c == 0) ? 0.8 + 0.2 * rng.NextDouble() : 0.2 * rng.NextDouble())).ToArray();
            return new PixelRow { Features = f, Label = c };
        }).ToList();
        var schema = SchemaDefinition.Create(typeof(PixelRow));
        schema[nameof(PixelRow.Label)].ColumnType = new KeyDataViewType(typeof(uint), 2);
        return ml.Data.LoadFromEnumerable(list, schema);
    }
}

/// <summary>The memory test runs alone: the working set is the whole test process's, which parallel tests would grow.</summary>
[CollectionDefinition(nameof(StreamingMemoryTests), DisableParallelization = true)]
public sealed class StreamingMemoryCollection { }

/// <summary>Training on a view larger than the memory budget.</summary>
[Collection(nameof(StreamingMemoryTests))]
public sealed class StreamingMemoryTests
{
    [Fact]
    public void ADataSetLargerThanTheMemoryBudgetTrainsWithinIt()
    {
        // 1,000,000 rows × 256 floats = 1 GB if materialised; streaming keeps the shuffle buffer and a few batches.
        const int rows = 1_000_000, width = 256;
        var ml = new MLContext(seed: 1);
        var view = new GeneratedRingsView(rows, width);
        var options = new MlpClassifierOptions
        {
            HiddenSizes = new[] { 8 }, Epochs = 1, BatchSize = 4096, LearningRate = 0.01, Seed = 1, Device = TorchDeviceKind.Cpu, ShuffleBufferSize = 20_000,
        };
        using var process = Process.GetCurrentProcess();
        GC.Collect();
        process.Refresh();
        long before = process.WorkingSet64, peak = before;
        using var stop = new CancellationTokenSource();
        var sampler = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                process.Refresh();
                peak = Math.Max(peak, process.WorkingSet64);
                Thread.Sleep(20);
            }
        }) { IsBackground = true }; // a failed Fit must not leave a thread that keeps the test process alive
        sampler.Start();
        try
        {
            using var model = ml.MulticlassClassification.Trainers.TorchMlp(options).Fit(view);
        }
        finally
        {
            stop.Cancel();
            sampler.Join();
        }
        Assert.Equal(rows, view.FeatureRowsServed);
        double grownMiB = (peak - before) / (1024.0 * 1024.0);
        Assert.True(grownMiB < 400, $"working set grew by {grownMiB:F0} MiB while training on 1 GB of rows");
    }
}

/// <summary>
/// Rings of <see cref="SyntheticData.Rings"/>-like rows computed from the row index when a cursor asks (any row count,
/// nothing stored), padded with zeros to <c>width</c> features. Counts the feature vectors it makes.
/// </summary>
internal sealed class GeneratedRingsView : IDataView
{
    private readonly int _width;
    private long _served;
    private int _open, _maxOpen;

    public GeneratedRingsView(long rows, int width)
    {
        Rows = rows;
        _width = width;
        var names = new VBuffer<ReadOnlyMemory<char>>(3, new[] { "inner".AsMemory(), "middle".AsMemory(), "outer".AsMemory() });
        var keyValues = new DataViewSchema.Annotations.Builder();
        keyValues.Add("KeyValues", new VectorDataViewType(TextDataViewType.Instance, 3), (ref VBuffer<ReadOnlyMemory<char>> v) => names.CopyTo(ref v));
        var schema = new DataViewSchema.Builder();
        schema.AddColumn("Features", new VectorDataViewType(NumberDataViewType.Single, width));
        schema.AddColumn("Label", new KeyDataViewType(typeof(uint), 3), keyValues.ToAnnotations());
        Schema = schema.ToSchema();
    }

    public long Rows { get; }
    public long? NaNAtRow { get; init; }
    public Action<long>? OnRow { get; init; }
    public long FeatureRowsServed => Interlocked.Read(ref _served);
    public int MaxOpenCursors => _maxOpen;
    public bool CanShuffle => false;
    public DataViewSchema Schema { get; }
    public long? GetRowCount() => Rows;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var cursor = new Cursor(this, columnsNeeded);
        // Counting cursors without feature columns (e.g. a row count pass) would not be a copy; only feature readers count.
        if (cursor.ReadsFeatures)
        {
            int open = Interlocked.Increment(ref _open);
            int seen;
            while (open > (seen = _maxOpen) && Interlocked.CompareExchange(ref _maxOpen, open, seen) != seen) { }
        }
        return cursor;
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => new[] { GetRowCursor(columnsNeeded, rand) };

    public static (float X, float Y, uint Class) Row(long index)
    {
        var rng = new Random(unchecked((int)(index * 2654435761L)));
        int c = rng.Next(3);
        double r = 0.5 + c + rng.NextDouble() * 0.6, a = rng.NextDouble() * 2 * Math.PI;
        return ((float)(r * Math.Cos(a)), (float)(r * Math.Sin(a)), (uint)c + 1);
    }

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly GeneratedRingsView _view;
        private readonly bool[] _active;
        private long _position = -1;
        private bool _disposed;

        public Cursor(GeneratedRingsView view, IEnumerable<DataViewSchema.Column> columns)
        {
            _view = view;
            _active = new bool[view.Schema.Count];
            foreach (var c in columns) _active[c.Index] = true;
        }

        public bool ReadsFeatures => _active[0];
        public override long Position => _position;
        public override long Batch => 0;
        public override DataViewSchema Schema => _view.Schema;
        public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];
        public override bool MoveNext() => ++_position < _view.Rows;
        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)_position, 0);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index == 0)
            {
                ValueGetter<VBuffer<float>> features = (ref VBuffer<float> value) =>
                {
                    var (x, y, _) = Row(_position);
                    var editor = VBufferEditor.Create(ref value, _view._width);
                    editor.Values.Clear();
                    editor.Values[0] = _view.NaNAtRow == _position ? float.NaN : x;
                    editor.Values[1] = y;
                    value = editor.Commit();
                    Interlocked.Increment(ref _view._served);
                    _view.OnRow?.Invoke(_position);
                };
                return (ValueGetter<TValue>)(Delegate)features;
            }
            ValueGetter<uint> label = (ref uint value) => value = Row(_position).Class;
            return (ValueGetter<TValue>)(Delegate)label;
        }

        protected override void Dispose(bool disposing)
        {
            if (!_disposed && ReadsFeatures) Interlocked.Decrement(ref _view._open);
            _disposed = true;
            base.Dispose(disposing);
        }
    }
}
