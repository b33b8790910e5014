namespace MLNetExt;

/// <summary>
/// One (conversation, question) row of a PragWorld benchmark: the IDataView schema read and written by the
/// alteration transforms and read by the evaluator. Original rows have <see cref="Alteration"/> = "Original".
/// </summary>
public sealed class PragWorldQuestionRow
{
    /// <summary>Name of <see cref="Alteration"/> for unaltered rows.</summary>
    public const string OriginalAlteration = "Original";

    /// <summary>Conversation identifier.</summary>
    public string ConversationId { get; set; } = "";

    /// <summary>Scenario template of the conversation.</summary>
    public string TemplateId { get; set; } = "";

    /// <summary>Identifies the original question; shared by the original row and all its altered rows.</summary>
    public string QuestionId { get; set; } = "";

    /// <summary>The conversation, one "Speaker: text" line per turn.</summary>
    public string Conversation { get; set; } = "";

    /// <summary>The yes/no question.</summary>
    public string Question { get; set; } = "";

    /// <summary>Gold answer: true = yes.</summary>
    public bool Label { get; set; }

    /// <summary>A <see cref="QuestionType"/> name.</summary>
    public string QuestionType { get; set; } = "";

    /// <summary>The probed entity.</summary>
    public string Entity { get; set; } = "";

    /// <summary>The probed state, location, holder or quantity.</summary>
    public string State { get; set; } = "";

    /// <summary>"Original" or the <see cref="AlterationKind"/> name that produced this row.</summary>
    public string Alteration { get; set; } = OriginalAlteration;

    /// <summary>What was altered: "None", "Context" or "Question".</summary>
    public string AlterationTarget { get; set; } = "None";

    /// <summary>"None" (original), "Flip" (gold answer changed), "Invariant" (unchanged) or "NotApplicable".</summary>
    public string AlterationEffect { get; set; } = "None";

    /// <summary>Human-readable description of the edit, or why no edit applied.</summary>
    public string AlterationNote { get; set; } = "";

    /// <summary>
    /// The gold answer as text: "yes", "no" or "cannot answer" (the authors' synthetic benchmark). Empty means
    /// "read <see cref="Label"/>"; a "cannot answer" row has <see cref="Label"/> = false, as in the authors' scoring.
    /// </summary>
    public string Answer { get; set; } = "";

    /// <summary>The sub-kind of the alteration as the authors name it (e.g. "location" in "Variable Substitution: location"), or empty.</summary>
    public string AlterationDetail { get; set; } = "";

    /// <summary>
    /// Where the edit is, the way the authors' synthetic file records it: the 1-based utterance (turn) index, a
    /// description such as "swapped between indexes 18 and 2", or empty (question edits, unaltered rows).
    /// </summary>
    public string AlterationUtteranceIndex { get; set; } = "";

    /// <summary>The word or phrase the edit replaced (empty when not recorded).</summary>
    public string AlterationOldWord { get; set; } = "";

    /// <summary>The word or phrase the edit put in its place (empty when not recorded).</summary>
    public string AlterationNewWord { get; set; } = "";

    /// <summary>
    /// The row's "Perturbation?" cell exactly as read from an authors' CSV file (untrimmed), or empty for rows
    /// from elsewhere; the evaluator's authors-literal mode reads it the way the authors' script does.
    /// </summary>
    public string SourcePerturbationCell { get; set; } = "";

    /// <summary>1-based line of the source file where the row's record starts, or 0 when the row is not from a file.</summary>
    public int SourceLine { get; set; }

    /// <summary>The gold answer: <see cref="Answer"/> when set, otherwise <see cref="Label"/>.</summary>
    public PragWorldAnswer GoldAnswer() =>
        Answer.Length > 0 && PragWorldAnswers.ParseGold(Answer) is { } answer ? answer : Label ? PragWorldAnswer.Yes : PragWorldAnswer.No;

    /// <summary>A copy of this row.</summary>
    public PragWorldQuestionRow Clone() => (PragWorldQuestionRow)MemberwiseClone();
}

/// <summary>Values of <see cref="PragWorldQuestionRow.AlterationEffect"/>.</summary>
public static class AlterationEffects
{
    /// <summary>Unaltered row.</summary>
    public const string None = "None";

    /// <summary>The alteration changed the gold answer.</summary>
    public const string Flip = "Flip";

    /// <summary>The alteration left the gold answer unchanged.</summary>
    public const string Invariant = "Invariant";

    /// <summary>The alteration found no edit site that keeps the question answerable; the row is a copy of the input.</summary>
    public const string NotApplicable = "NotApplicable";

    /// <summary>
    /// The row was altered but its effect on the gold answer is not known (the interpreter does not understand the
    /// conversation, so the label is the input's and may be wrong); evaluation excludes such rows.
    /// </summary>
    public const string Unknown = "Unknown";
}
