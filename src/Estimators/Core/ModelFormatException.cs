
namespace MLNetExt;

/// <summary>
/// A saved MLNetExt model is damaged, incomplete, of a newer format, or has an entry that belongs to another model.
/// <see cref="InputFormatException.File"/> names the model file and entry (for example
/// <c>model.zip, entry TransformerChain/TorchModel.bin</c>) as far as the loader knows them; <see cref="Reason"/> is the
/// message without that prefix.
/// </summary>
/// <remarks>
/// ML.NET's <c>mlContext.Model.Load</c> creates each transformer through reflection and does not unwrap what the
/// transformer throws, so there this exception arrives as the <c>InnerException</c> of a
/// <see cref="System.Reflection.TargetInvocationException"/> (one per nesting level of the pipeline).
/// <see cref="ModelLoading.LoadChecked(Microsoft.ML.ModelOperationsCatalog, string, out Microsoft.ML.DataViewSchema)"/>
/// throws it directly; <see cref="Find"/> digs it out of what <c>Model.Load</c> threw.
/// </remarks>
public sealed class ModelFormatException : InputFormatException
{
    /// <summary>Creates the exception; the message becomes <c>source: reason</c>.</summary>
    /// <param name="source">Model file and/or entry being read.</param>
    /// <param name="reason">What is wrong and what to do.</param>
    /// <param name="expected">What the loader expected, when that is one thing (for example the parameter shapes).</param>
    /// <param name="inner">The underlying error, if any.</param>
    public ModelFormatException(string source, string reason, string? expected = null, Exception? inner = null)
        : base(source, 0, 0, reason, expected, inner) => Reason = reason;

    /// <summary>The message without the file and entry prefix.</summary>
    public string Reason { get; }

    /// <summary>
    /// The <see cref="ModelFormatException"/> inside <paramref name="error"/> (itself, or the first one among its inner
    /// exceptions, which is where <c>mlContext.Model.Load</c> puts it), or null.
    /// </summary>
    public static ModelFormatException? Find(Exception? error)
    {
        for (var e = error; e != null; e = e.InnerException)
            if (e is ModelFormatException m) return m;
        return null;
    }

    /// <summary>The same error with <paramref name="file"/> (the model file's path) in front of the entry it names.</summary>
    internal ModelFormatException InFile(string file) => new($"{file}, entry {File}", Reason, Expected, this);
}
