using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt;

/// <summary>Schema of <see cref="PragWorldQuestionRow"/> IDataViews, and saving/loading of benchmark rows.</summary>
public static class PragWorldData
{
    /// <summary>The IDataView schema of <see cref="PragWorldQuestionRow"/>.</summary>
    public static DataViewSchema QuestionRowSchema { get; } = BuildQuestionRowSchema();

    private static DataViewSchema BuildQuestionRowSchema()
    {
        var builder = new DataViewSchema.Builder();
        foreach (var column in SchemaDefinition.Create(typeof(PragWorldQuestionRow)))
            builder.AddColumn(column.ColumnName, column.ColumnType);
        return builder.ToSchema();
    }

    /// <summary>Every column of <see cref="PragWorldQuestionRow"/> with its type (all are required in alteration input).</summary>
    public static IReadOnlyList<(string Name, DataViewType Type)> RequiredColumns { get; } =
        QuestionRowSchema.Select(c => (c.Name, c.Type)).ToList();

    /// <summary>Checks that <paramref name="schema"/> has every <see cref="PragWorldQuestionRow"/> column with the right type.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or has another type (named in the message).</exception>
    public static void CheckQuestionRowSchema(DataViewSchema schema)
    {
        foreach (var (name, type) in RequiredColumns)
        {
            var column = schema.GetColumnOrNull(name);
            if (column is null)
                throw new ArgumentOutOfRangeException(nameof(schema), $"PragWorld rows need a '{name}' column of type {type}; the data has none.");
            if (!column.Value.Type.Equals(type))
                throw new ArgumentOutOfRangeException(nameof(schema), $"PragWorld column '{name}' must be {type}, not {column.Value.Type}.");
        }
    }

    /// <summary>Writes benchmark rows (original and altered) as JSONL, one row object per line.</summary>
    public static void SaveQuestionRows(string path, IEnumerable<PragWorldQuestionRow> rows)
    {
        using var writer = new StreamWriter(path);
        foreach (var row in rows) writer.WriteLine(JsonSerializer.Serialize(row));
    }

    /// <summary>Reads rows written by <see cref="SaveQuestionRows"/>.</summary>
    public static IEnumerable<PragWorldQuestionRow> LoadQuestionRows(string path)
    {
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            PragWorldQuestionRow? row;
            try
            {
                row = JsonSerializer.Deserialize<PragWorldQuestionRow>(text);
            }
            catch (JsonException e)
            {
                throw new PragWorldFormatException(Path.GetFileName(path), line, "$", $"invalid JSON ({e.Message})", e);
            }
            yield return row ?? throw new PragWorldFormatException(Path.GetFileName(path), line, "$", "null row");
        }
    }
}
