using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt;

/// <summary>Rows of a float feature column read into one contiguous row-major array.</summary>
/// <param name="Values">Row-major values, <c>Rows × Width</c>.</param>
/// <param name="Rows">Number of rows.</param>
/// <param name="Width">Values per row.</param>
public sealed record FeatureMatrix(float[] Values, int Rows, int Width)
{
    /// <summary>Copies the rows at <paramref name="rowIndices"/> into a new matrix (for splits).</summary>
    public FeatureMatrix Take(IReadOnlyList<int> rowIndices)
    {
        var values = new float[rowIndices.Count * Width];
        for (int i = 0; i < rowIndices.Count; i++)
            Array.Copy(Values, (long)rowIndices[i] * Width, values, (long)i * Width, Width);
        return new FeatureMatrix(values, rowIndices.Count, Width);
    }
}

/// <summary>Variable-length float vectors stored back to back: row <c>i</c> is <c>Values[Offsets[i]..Offsets[i + 1]]</c>.</summary>
/// <param name="Values">All values, row after row.</param>
/// <param name="Offsets">Row start offsets, with a final entry equal to <c>Values.Length</c>.</param>
public sealed record RaggedMatrix(float[] Values, int[] Offsets)
{
    /// <summary>Number of rows.</summary>
    public int Rows => Offsets.Length - 1;

    /// <summary>Length of the longest row.</summary>
    public int MaxLength => Enumerable.Range(0, Rows).Select(i => Offsets[i + 1] - Offsets[i]).DefaultIfEmpty(0).Max();

    /// <summary>Rows padded (or cut) to <paramref name="length"/> with <paramref name="padValue"/>, row-major, plus each row's kept length.</summary>
    public (float[] Padded, int[] Lengths) Pad(int length, float padValue = 0)
    {
        var padded = new float[(long)Rows * length];
        Array.Fill(padded, padValue);
        var lengths = new int[Rows];
        for (int i = 0; i < Rows; i++)
        {
            lengths[i] = Math.Min(length, Offsets[i + 1] - Offsets[i]);
            Array.Copy(Values, Offsets[i], padded, (long)i * length, lengths[i]);
        }
        return (padded, lengths);
    }
}

/// <summary>Class labels read from a key-typed column: 0-based class indices plus the class names.</summary>
/// <param name="Classes">0-based class index per row.</param>
/// <param name="ClassCount">Number of classes (the key type's cardinality).</param>
/// <param name="ClassNames">Names of the classes from the column's KeyValues annotation, when it has text key values.</param>
public sealed record ClassLabels(long[] Classes, int ClassCount, string[]? ClassNames);

/// <summary>
/// Reads ML.NET <see cref="IDataView"/> columns into arrays ready for tensors, with schema checks whose messages name
/// the column, the expected type and the actual type.
/// </summary>
public static class DataViewReader
{
    /// <summary>Returns the column or throws an <see cref="ArgumentException"/> listing the available columns.</summary>
    public static DataViewSchema.Column RequireColumn(DataViewSchema schema, string name, string role)
    {
        var col = schema.GetColumnOrNull(name);
        if (col is null)
        {
            var available = string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"'{c.Name}'"));
            throw new ArgumentException($"{role} column '{name}' was not found in the input data. Available columns: {available}. " +
                $"Set the option {role}ColumnName to the right column, or add a transform that creates '{name}'.");
        }
        return col.Value;
    }

    /// <summary>Checks that <paramref name="name"/> is a vector of Single, of size <paramref name="expectedSize"/> when given (else any known size); returns its size.</summary>
    public static int RequireFloatVector(DataViewSchema schema, string name, int? expectedSize = null, string role = "Feature")
    {
        var col = RequireColumn(schema, name, role);
        if (col.Type is not VectorDataViewType vt || vt.ItemType != NumberDataViewType.Single)
            throw new ArgumentException($"{role} column '{name}' must be a vector of Single{Expected(expectedSize)}, but it is {Describe(col.Type)}. " +
                "Use mlContext.Transforms.Concatenate / Conversion.ConvertType to build a float vector column.");
        if (!vt.IsKnownSize)
            throw new ArgumentException($"{role} column '{name}' must be a known-size vector of Single{Expected(expectedSize)}, but its size is variable. " +
                $"For a PredictionEngine input class, mark the property with [VectorType({expectedSize?.ToString() ?? "size"})].");
        if (expectedSize is int n && vt.Size != n)
            throw new ArgumentException($"{role} column '{name}' has vectors of size {vt.Size}, but the model expects size {n}.");
        return vt.Size;
    }

    private static string Expected(int? size) => size is int n ? $" of size {n}" : "";

    /// <summary>ML.NET-style description of a column type, e.g. "Vector&lt;Double, 10&gt;".</summary>
    public static string Describe(DataViewType type) => type switch
    {
        VectorDataViewType v => $"Vector<{v.ItemType.RawType.Name}{(v.IsKnownSize ? ", " + v.Size : "")}>",
        KeyDataViewType k => $"Key<{k.RawType.Name}, {k.Count}>",
        _ => type.RawType.Name,
    };

    /// <summary>
    /// Reads a known-size float vector column. Throws with the row number when a value is NaN or infinite
    /// (models cannot learn from them; clean or impute first, e.g. mlContext.Transforms.ReplaceMissingValues).
    /// </summary>
    public static FeatureMatrix ReadFeatures(IDataView data, string column, int? expectedSize = null, CancellationToken cancel = default)
    {
        int width = RequireFloatVector(data.Schema, column, expectedSize);
        var col = data.Schema[column];
        var values = new List<float>(1 << 16);
        int rows = 0;
        using (var cursor = data.GetRowCursor(new[] { col }))
        {
            var getter = cursor.GetGetter<VBuffer<float>>(col);
            VBuffer<float> buffer = default;
            var dense = new float[width];
            while (cursor.MoveNext())
            {
                if ((rows & 1023) == 0) cancel.ThrowIfCancellationRequested();
                getter(ref buffer);
                buffer.CopyTo(dense);
                for (int j = 0; j < width; j++)
                    if (!float.IsFinite(dense[j]))
                        throw new InvalidDataException($"Feature column '{column}', row {rows}: value at index {j} is {dense[j]}. " +
                            "Remove or impute non-finite values before training (e.g. mlContext.Transforms.ReplaceMissingValues).");
                values.AddRange(dense);
                rows++;
            }
        }
        if (rows == 0) throw new InvalidDataException($"The training data has no rows (feature column '{column}').");
        return new FeatureMatrix(values.ToArray(), rows, width);
    }

    /// <summary>Reads a float vector column of any (also variable) size, e.g. token ids of different lengths.</summary>
    public static RaggedMatrix ReadVariableLengthFeatures(IDataView data, string column)
    {
        var col = RequireColumn(data.Schema, column, "Feature");
        if (col.Type is not VectorDataViewType vt || vt.ItemType != NumberDataViewType.Single)
            throw new ArgumentException($"Feature column '{column}' must be a vector of Single, but it is {Describe(col.Type)}.");
        var values = new List<float>(1 << 16);
        var offsets = new List<int> { 0 };
        using var cursor = data.GetRowCursor(new[] { col });
        var getter = cursor.GetGetter<VBuffer<float>>(col);
        VBuffer<float> buffer = default;
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            foreach (var v in buffer.DenseValues())
            {
                if (!float.IsFinite(v))
                    throw new InvalidDataException($"Feature column '{column}', row {offsets.Count - 1}: value at index {values.Count - offsets[^1]} is {v}.");
                values.Add(v);
            }
            offsets.Add(values.Count);
        }
        return new RaggedMatrix(values.ToArray(), offsets.ToArray());
    }

    /// <summary>
    /// Reads a key-typed label column (as produced by mlContext.Transforms.Conversion.MapValueToKey) into 0-based class indices.
    /// </summary>
    public static ClassLabels ReadClassLabels(IDataView data, string column)
    {
        var col = RequireColumn(data.Schema, column, "Label");
        if (col.Type is not KeyDataViewType key || key.RawType != typeof(uint))
            throw new ArgumentException($"Label column '{column}' must be a key type (Key<UInt32>), but it is {Describe(col.Type)}. " +
                $"Add mlContext.Transforms.Conversion.MapValueToKey(\"{column}\") before the trainer.");
        if (key.Count > int.MaxValue || key.Count < 2)
            throw new ArgumentException($"Label column '{column}' has {key.Count} classes; a classifier needs between 2 and {int.MaxValue}.");
        var classes = new List<long>(1 << 12);
        using (var cursor = data.GetRowCursor(new[] { col }))
        {
            var getter = cursor.GetGetter<uint>(col);
            uint v = 0;
            while (cursor.MoveNext())
            {
                getter(ref v);
                if (v == 0) throw new InvalidDataException($"Label column '{column}', row {classes.Count}: the label is missing (key value 0).");
                classes.Add(v - 1);
            }
        }
        return new ClassLabels(classes.ToArray(), (int)key.Count, ReadKeyNames(col));
    }

    /// <summary>The text key values of a key column, or null when it has none (or they are not text).</summary>
    public static string[]? ReadKeyNames(DataViewSchema.Column column)
    {
        var kv = column.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues);
        if (kv is null || kv.Value.Type is not VectorDataViewType { ItemType: TextDataViewType }) return null;
        VBuffer<ReadOnlyMemory<char>> names = default;
        column.Annotations.GetValue(AnnotationUtils.Kinds.KeyValues, ref names);
        return names.DenseValues().Select(m => m.ToString()).ToArray();
    }

    /// <summary>Reads a Single (or Double, Int32, Boolean) scalar column as floats, e.g. a regression target.</summary>
    public static float[] ReadFloatColumn(IDataView data, string column, string role = "Label")
    {
        var col = RequireColumn(data.Schema, column, role);
        var raw = col.Type.RawType;
        if (col.Type is VectorDataViewType || (raw != typeof(float) && raw != typeof(double) && raw != typeof(int) && raw != typeof(bool)))
            throw new ArgumentException($"{role} column '{column}' must be a scalar Single, but it is {Describe(col.Type)}.");
        var values = new List<float>(1 << 12);
        using var cursor = data.GetRowCursor(new[] { col });
        Func<float> read = raw == typeof(float) ? Reader<float>(cursor, col, x => x)
            : raw == typeof(double) ? Reader<double>(cursor, col, x => (float)x)
            : raw == typeof(int) ? Reader<int>(cursor, col, x => x)
            : Reader<bool>(cursor, col, x => x ? 1f : 0f);
        while (cursor.MoveNext())
        {
            float v = read();
            if (!float.IsFinite(v))
                throw new InvalidDataException($"{role} column '{column}', row {values.Count}: value is {v}. Remove rows with missing targets first.");
            values.Add(v);
        }
        return values.ToArray();
    }

    private static Func<float> Reader<T>(DataViewRowCursor cursor, DataViewSchema.Column col, Func<T, float> convert)
    {
        var getter = cursor.GetGetter<T>(col);
        T value = default!;
        return () => { getter(ref value); return convert(value); };
    }
}
