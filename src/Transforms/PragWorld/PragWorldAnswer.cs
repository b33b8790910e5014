namespace MLNetExt;

/// <summary>An answer to a PragWorld question: a gold answer or what a model replied.</summary>
public enum PragWorldAnswer
{
    /// <summary>"no".</summary>
    No,

    /// <summary>"yes".</summary>
    Yes,

    /// <summary>"cannot answer": the conversation does not determine the answer (the authors' synthetic benchmark).</summary>
    CannotAnswer,

    /// <summary>A reply that is none of the above; always counted wrong.</summary>
    Invalid,
}

/// <summary>Reading gold answers and model replies as <see cref="PragWorldAnswer"/>.</summary>
public static class PragWorldAnswers
{
    /// <summary>The text form used in rows and files: "yes", "no", "cannot answer" (Invalid has none).</summary>
    public static string ToText(PragWorldAnswer answer) => answer switch
    {
        PragWorldAnswer.Yes => "yes",
        PragWorldAnswer.No => "no",
        PragWorldAnswer.CannotAnswer => "cannot answer",
        _ => "",
    };

    /// <summary>
    /// A gold answer cell: "yes" / "no" / "cannot answer" in any case, surrounding whitespace ignored;
    /// null for anything else.
    /// </summary>
    public static PragWorldAnswer? ParseGold(string cell) => cell.Trim().ToLowerInvariant() switch
    {
        "yes" => PragWorldAnswer.Yes,
        "no" => PragWorldAnswer.No,
        "cannot answer" => PragWorldAnswer.CannotAnswer,
        _ => null,
    };

    /// <summary>
    /// A model's free-text reply, read the way the PragWorld authors' metric script reads it: the first line,
    /// lower-cased without commas, is taken whole when it is "yes", "no", "(yes)", "(no)", "yes)" or "no)";
    /// otherwise its first word without "," and "." is taken, and is "yes" or "no" or else
    /// <see cref="PragWorldAnswer.Invalid"/>. With <paramref name="acceptCannotAnswer"/>, a first line that starts
    /// with "cannot answer" (optionally after "(") reads as <see cref="PragWorldAnswer.CannotAnswer"/>; the authors'
    /// script has no such reply and counts it wrong.
    /// </summary>
    public static PragWorldAnswer ParseReply(string? reply, bool acceptCannotAnswer = false)
    {
        if (string.IsNullOrWhiteSpace(reply)) return PragWorldAnswer.Invalid;
        var firstLine = reply.Trim().Split('\n')[0].Trim().ToLowerInvariant().Replace(",", "", StringComparison.Ordinal);
        if (acceptCannotAnswer && firstLine.TrimStart('(').StartsWith("cannot answer", StringComparison.Ordinal))
            return PragWorldAnswer.CannotAnswer;
        string word = firstLine is "(yes)" or "(no)" or "no)" or "yes" or "yes)" or "no"
            ? firstLine
            : firstLine.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries) is { Length: > 0 } words
                ? words[0].Replace(".", "", StringComparison.Ordinal)
                : "";
        return word switch
        {
            "(yes)" or "yes" or "yes)" => PragWorldAnswer.Yes,
            "(no)" or "no" or "no)" => PragWorldAnswer.No,
            _ => PragWorldAnswer.Invalid,
        };
    }
}
