using Microsoft.ML.Data;

namespace PragWorldEvaluation;

/// <summary>One yes/no question about a two-party conversation, as the model reads it.</summary>
public sealed class ModelInput
{
    [ColumnName("Conversation")]
    public string Conversation { get; set; } = "";

    [ColumnName("Question")]
    public string Question { get; set; } = "";

    /// <summary>The true answer (yes = true); only read from labelled data, not needed to predict.</summary>
    [ColumnName("Label")]
    public bool Label { get; set; }
}
