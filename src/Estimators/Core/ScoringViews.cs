using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>Supplies the score values of the row a <see cref="ScoringRow"/> stands on.</summary>
internal interface IScoreSource
{
    /// <summary>Values of score column <paramref name="column"/> for the current row.</summary>
    ReadOnlySpan<float> Current(int column);
}

/// <summary>
/// The lazily scored view <see cref="TorchModelTransformer.Transform"/> returns. It is a data transform that can save
/// itself as ONNX, which is how ML.NET's <c>ConvertToOnnx</c> walks a pipeline back from its output.
/// </summary>
internal sealed class ScoredDataView : ITransformCanSaveOnnx
{
    private readonly TorchModelTransformer _model;
    private readonly IDataView _input;

    public ScoredDataView(TorchModelTransformer model, IDataView input, DataViewSchema schema)
    {
        _model = model;
        _input = input;
        Schema = schema;
    }

    public IDataView Source => _input;

    // Always true: a transformer that cannot be exported throws from SaveAsOnnx with the reason, where returning false
    // would make ML.NET stop walking the pipeline and write a graph without the network.
    public bool CanSaveOnnx(OnnxContext ctx) => true;

    public void SaveAsOnnx(OnnxContext ctx) => _model.SaveAsOnnx(ctx);

    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)_model).Save(ctx);

    public bool CanShuffle => false;
    public DataViewSchema Schema { get; }
    public long? GetRowCount() => _input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        int inputCount = _input.Schema.Count;
        var inputColumns = needed.Where(c => c.Index < inputCount).Select(c => _input.Schema[c.Index]);
        bool scores = needed.Any(c => c.Index >= inputCount);
        // Scores come from a second cursor that reads features ahead in batches; both cursors see rows in the same order.
        var source = scores ? new BatchScoreSource(_model, _input) : null;
        return new ScoringRow(Schema, _input.GetRowCursor(inputColumns), inputCount, _model.ScoreColumns, source);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => new[] { GetRowCursor(columnsNeeded, rand) };
}

/// <summary>Row-at-a-time mapping for PredictionEngine.</summary>
internal sealed class ScoringRowMapper : IRowToRowMapper
{
    private readonly TorchModelTransformer _model;

    public ScoringRowMapper(TorchModelTransformer model, DataViewSchema input, DataViewSchema output)
    {
        _model = model;
        InputSchema = input;
        OutputSchema = output;
    }

    public DataViewSchema InputSchema { get; }
    public DataViewSchema OutputSchema { get; }

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        var cols = dependingColumns.ToList();
        var needed = cols.Where(c => c.Index < InputSchema.Count).Select(c => InputSchema[c.Index]).ToList();
        if (cols.Any(c => c.Index >= InputSchema.Count)) needed.AddRange(_model.Input.ColumnNames.Select(n => InputSchema[n]));
        return needed.Distinct();
    }

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
        => new ScoringRow(OutputSchema, input, InputSchema.Count, _model.ScoreColumns, new SingleRowScoreSource(_model, input));
}

/// <summary>A row (or cursor) that passes input columns through and appends score columns.</summary>
internal sealed class ScoringRow : DataViewRowCursor
{
    private readonly DataViewRow _input;
    private readonly int _inputCount;
    private readonly IReadOnlyList<ScoreColumn> _scores;
    private readonly IScoreSource? _source;

    public ScoringRow(DataViewSchema schema, DataViewRow input, int inputCount, IReadOnlyList<ScoreColumn> scores, IScoreSource? source)
    {
        Schema = schema;
        _input = input;
        _inputCount = inputCount;
        _scores = scores;
        _source = source;
    }

    public override DataViewSchema Schema { get; }
    public override long Position => _input.Position;
    public override long Batch => _input.Batch;
    public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();

    public override bool IsColumnActive(DataViewSchema.Column column)
        => column.Index < _inputCount ? _input.IsColumnActive(_input.Schema[column.Index]) : _source != null;

    public override bool MoveNext()
    {
        if (_input is not DataViewRowCursor cursor) throw new InvalidOperationException("This row is not a cursor.");
        if (!cursor.MoveNext()) return false;
        (_source as BatchScoreSource)?.Advance();
        return true;
    }

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        if (column.Index < _inputCount) return _input.GetGetter<TValue>(_input.Schema[column.Index]);
        if (_source is null) throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
        int ci = column.Index - _inputCount;
        var spec = _scores[ci];
        var source = _source;
        Delegate getter = spec.Kind switch
        {
            ScoreColumnKind.Float => (ValueGetter<float>)((ref float v) => v = source.Current(ci)[0]),
            // NaN is a missing prediction: ML.NET's missing key value 0.
            ScoreColumnKind.Key => (ValueGetter<uint>)((ref uint v) => v = source.Current(ci)[0] is var k && float.IsNaN(k) ? 0 : (uint)k + 1),
            ScoreColumnKind.Boolean => (ValueGetter<bool>)((ref bool v) => v = source.Current(ci)[0] > 0.5f),
            _ => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> v) =>
            {
                var editor = VBufferEditor.Create(ref v, spec.Width);
                source.Current(ci).CopyTo(editor.Values);
                v = editor.Commit();
            }),
        };
        return getter as ValueGetter<TValue>
            ?? throw new InvalidOperationException($"Column '{column.Name}' is {DataViewReader.Describe(column.Type)}; it cannot be read as {typeof(TValue).Name}.");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _input is DataViewRowCursor c) c.Dispose();
        (_source as IDisposable)?.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>
/// The pooled memory of one scoring cursor or engine: a batch's features in one array that a tensor views without
/// copying, and the score arrays the outputs are copied into. Reused for every batch; nothing is allocated per row.
/// </summary>
internal sealed class ScoringBuffers : IDisposable
{
    private readonly Tensor _features;

    public ScoringBuffers(TorchModelTransformer model, int capacity)
    {
        Capacity = capacity;
        Features = new float[checked(capacity * model.FeatureSize)];
        // frombuffer pins the array and shares its memory (the tensor's storage releases the pin when disposed).
        using (var flat = torch.frombuffer(Features, ScalarType.Float32))
            _features = flat.view(capacity, model.FeatureSize).DetachFromDisposeScope();
        Scores = model.ScoreColumns.Select(c => new float[capacity * c.Width]).ToArray();
        Missing = new bool[capacity];
    }

    /// <summary>Rows the buffers hold.</summary>
    public int Capacity { get; }
    /// <summary>[Capacity × FeatureSize] row-major features, filled by the caller before each batch.</summary>
    public float[] Features { get; }
    /// <summary>One [Capacity × Width] array per score column, written by each batch.</summary>
    public float[][] Scores { get; }
    /// <summary>Rows of the last batch whose features were not finite.</summary>
    public bool[] Missing { get; }

    /// <summary>A [rows, FeatureSize] tensor over the first rows of <see cref="Features"/> (a view, no copy).</summary>
    public Tensor Rows(int rows) => rows == Capacity ? _features.alias() : _features.narrow(0, 0, rows);

    public void Dispose() => _features.Dispose();
}

/// <summary>Scores rows in batches of <see cref="TorchModelTransformer.ScoringBatchSize"/> read ahead by its own cursor.</summary>
internal sealed class BatchScoreSource : IScoreSource, IDisposable
{
    private readonly TorchModelTransformer _model;
    private readonly DataViewRowCursor _features;
    private readonly RowFeatureFiller _fill;
    private readonly ScoringBuffers _buffers;
    private int _rowsInBatch, _index = -1;
    private long _firstRow;

    public BatchScoreSource(TorchModelTransformer model, IDataView input)
    {
        _model = model;
        _features = input.GetRowCursor(model.Input.ColumnNames.Select(n => input.Schema[n]));
        _fill = model.Input.CreateFiller(_features);
        long? count = input.GetRowCount();
        // A view known to be smaller than one batch gets buffers of its size.
        int capacity = count is > 0 && count < model.ScoringBatchSize ? (int)count.Value : Math.Max(1, model.ScoringBatchSize);
        _buffers = new ScoringBuffers(model, capacity);
    }

    public void Advance()
    {
        if (++_index < _rowsInBatch) return;
        int width = _model.FeatureSize;
        var values = _buffers.Features;
        int rows = 0;
        while (rows < _buffers.Capacity && _features.MoveNext())
        {
            _fill(values.AsSpan(rows * width, width));
            rows++;
        }
        if (rows == 0) throw new InvalidOperationException("The feature cursor ended before the row cursor: the input view changed while it was read.");
        _firstRow += _rowsInBatch;
        _model.Score(_buffers, rows, _model.BatchScoringThreads, _firstRow);
        _rowsInBatch = rows;
        _index = 0;
    }

    public ReadOnlySpan<float> Current(int column)
    {
        int width = _model.ScoreColumns[column].Width;
        return _buffers.Scores[column].AsSpan(_index * width, width);
    }

    public void Dispose()
    {
        _features.Dispose();
        _buffers.Dispose();
    }
}

/// <summary>Scores the single row a PredictionEngine fills in; re-scores only when the features change.</summary>
internal sealed class SingleRowScoreSource : IScoreSource, IDisposable
{
    private readonly TorchModelTransformer _model;
    private readonly RowFeatureFiller _fill;
    private readonly float[] _scored;
    private readonly ScoringBuffers _buffers;
    private bool _hasScores;

    public SingleRowScoreSource(TorchModelTransformer model, DataViewRow input)
    {
        _model = model;
        _fill = model.Input.CreateFiller(input);
        _scored = new float[model.FeatureSize];
        _buffers = new ScoringBuffers(model, 1);
    }

    public ReadOnlySpan<float> Current(int column)
    {
        // The row is filled straight into the scoring buffer; scoring replaces non-finite features there by 0, so the
        // comparison keeps its own copy of the features last scored.
        var features = _buffers.Features;
        _fill(features);
        if (!_hasScores || !features.AsSpan().SequenceEqual(_scored))
        {
            features.CopyTo(_scored, 0);
            _hasScores = false;
            _model.Score(_buffers, 1, _model.SingleRowScoringThreads, 0);
            _hasScores = true;
        }
        return _buffers.Scores[column];
    }

    public void Dispose() => _buffers.Dispose();
}
