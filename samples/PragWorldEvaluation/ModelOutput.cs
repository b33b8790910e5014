using Microsoft.ML.Data;

namespace PragWorldEvaluation;

/// <summary>What the binary text model adds to a row, named as ML.NET's binary trainers name it.</summary>
public sealed class ModelOutput
{
    /// <summary>The predicted answer: yes = true.</summary>
    [ColumnName("PredictedLabel")]
    public bool PredictedLabel { get; set; }

    /// <summary>The probability of "yes".</summary>
    [ColumnName("Probability")]
    public float Probability { get; set; }

    /// <summary>The raw score (logit).</summary>
    [ColumnName("Score")]
    public float Score { get; set; }
}
