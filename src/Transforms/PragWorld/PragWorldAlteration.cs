namespace MLNetExt;

/// <summary>The seven minimal linguistic alterations of the PragWorld paper (see docs/pragworld.md).</summary>
public enum AlterationKind
{
    /// <summary>Toggle the polarity of one statement ("he didn't" ↔ "he did", "is" ↔ "is not", "put" → "didn't put").</summary>
    Negation,

    /// <summary>Replace the question's entity with another entity mentioned in the conversation.</summary>
    VariableSubstitution,

    /// <summary>Change one number word by one ("three" → "four").</summary>
    QuantityChange,

    /// <summary>Swap two mentions of different entities of the same kind (objects or places) in two turns.</summary>
    VariableSwap,

    /// <summary>"all of" ↔ "some of" ("some" implicates "not all").</summary>
    QuantifierChange,

    /// <summary>"and" ↔ "or" ("or" read as exclusive disjunction: the speaker is not sure which).</summary>
    LogicalConnectiveChange,

    /// <summary>Append an exchange with common-sense-inconsistent information (a sofa put in an envelope).</summary>
    InjectingInconsistentData,
}

/// <summary>Options shared by the alteration transforms.</summary>
public sealed class PragWorldAlterationOptions
{
    /// <summary>Seed of the per-row choice among applicable edit sites.</summary>
    public int Seed { get; init; }

    /// <summary>
    /// Prefer edits with this effect (<see cref="AlterationEffects.Flip"/> or <see cref="AlterationEffects.Invariant"/>);
    /// null = take the first applicable edit in seeded random order.
    /// </summary>
    public string? PreferredEffect { get; init; }

    /// <summary>Keep rows the alteration could not alter (as <see cref="AlterationEffects.NotApplicable"/> copies); default drops them.</summary>
    public bool KeepNotApplicable { get; init; }

    /// <summary>Vocabulary (state antonyms, large objects, containers); <see cref="PragWorldLexicon.Default"/> when null.</summary>
    public PragWorldLexicon? Lexicon { get; init; }

    /// <summary>
    /// When the interpreter does not understand the conversation or the question (real, free-form dialogue), still
    /// make the minimal edit from the free-form lexicons, with effect <see cref="AlterationEffects.Unknown"/> and the
    /// input's label (never a guessed one). Default true; false = such rows are NotApplicable.
    /// </summary>
    public bool FreeForm { get; init; } = true;

    /// <summary>Entity finder of the free-form edits; <see cref="FreeFormLexicon.Default"/> (WordNet when installed) when null.</summary>
    public FreeFormLexicon? FreeFormLexicon { get; init; }
}

/// <summary>One possible edit: the altered turns and question, and a description.</summary>
/// <param name="Turns">The conversation after the edit.</param>
/// <param name="Question">The question after the edit.</param>
/// <param name="Note">What was changed, e.g. "turn 4: 'didn't' → 'did'".</param>
/// <param name="Entity">The probed entity after the edit.</param>
public sealed record AlterationCandidate(IReadOnlyList<ConversationTurn> Turns, string Question, string Note, string Entity)
{
    /// <summary>1-based turn of the edit, "swapped between indexes A and B", or empty (question edits).</summary>
    public string UtteranceIndex { get; init; } = "";

    /// <summary>The replaced word or phrase (empty for an insertion).</summary>
    public string OldWord { get; init; } = "";

    /// <summary>What replaced it.</summary>
    public string NewWord { get; init; } = "";

    /// <summary>Preference: candidates of a lower tier are tried first (each tier in seeded random order).</summary>
    public int Tier { get; init; }
}

/// <summary>What an alteration sees of the row it alters.</summary>
/// <param name="Turns">The original turns.</param>
/// <param name="Question">The original question.</param>
/// <param name="ParsedQuestion">The question as understood by the interpreter.</param>
/// <param name="Reading">The world model read from the original turns.</param>
/// <param name="Lexicon">Vocabulary.</param>
/// <param name="Random">Seeded per row.</param>
public sealed record AlterationInput(
    IReadOnlyList<ConversationTurn> Turns, string Question, ParsedQuestion ParsedQuestion, WorldReading Reading,
    PragWorldLexicon Lexicon, Random Random);

/// <summary>
/// A minimal linguistic alteration of a PragWorld question row. Subclasses list candidate edits; the base class
/// re-reads each edited conversation with <see cref="ConversationInterpreter"/> and takes the first edit (in seeded
/// random order) that keeps the question answerable. The new label is the interpreter's answer, so the label flips
/// exactly when the edit flips the truth.
/// </summary>
public abstract class PragWorldAlteration
{
    /// <summary>Creates the alteration.</summary>
    protected PragWorldAlteration(AlterationKind kind, string target)
    {
        Kind = kind;
        Target = target;
    }

    /// <summary>Which alteration this is.</summary>
    public AlterationKind Kind { get; }

    /// <summary>"Context" or "Question".</summary>
    public string Target { get; }

    /// <summary>Candidate edits of one row, in any order.</summary>
    protected abstract IEnumerable<AlterationCandidate> Candidates(AlterationInput input);

    /// <summary>Candidate edits of a conversation the interpreter does not understand (free-form English); none by default.</summary>
    protected virtual IEnumerable<AlterationCandidate> FreeFormCandidates(FreeFormInput input) => [];

    /// <summary>The altered copy of <paramref name="row"/> (or a NotApplicable copy with the reason in the note).</summary>
    public PragWorldQuestionRow Apply(PragWorldQuestionRow row, PragWorldAlterationOptions? options = null)
    {
        options ??= new PragWorldAlterationOptions();
        var lexicon = options.Lexicon ?? PragWorldLexicon.Default;
        var interpreter = new ConversationInterpreter(lexicon);

        PragWorldQuestionRow NotApplicable(string reason)
        {
            var copy = row.Clone();
            copy.Alteration = Kind.ToString();
            copy.AlterationTarget = Target;
            copy.AlterationEffect = AlterationEffects.NotApplicable;
            copy.AlterationNote = reason;
            return copy;
        }

        IReadOnlyList<ConversationTurn> turns;
        try
        {
            turns = ConversationText.Parse(row.Conversation);
        }
        catch (FormatException e)
        {
            return NotApplicable(e.Message);
        }
        var reading = interpreter.TryRead(turns, out var readError);
        var parsed = reading is null ? null : interpreter.ParseQuestion(row.Question);
        var original = parsed is null ? null : reading!.Answer(parsed);
        if (original is null)
        {
            var reason = reading is null ? readError!
                : parsed is null ? $"Question is not in the PragWorld question language: '{row.Question}'."
                : "The original conversation does not determine the answer.";
            return options.FreeForm ? FreeForm(row, turns, options, reason) ?? NotApplicable($"{reason} No free-form edit site either.") : NotApplicable(reason);
        }
        if (original != row.Label)
            return NotApplicable($"The gold label ({(row.Label ? "yes" : "no")}) disagrees with the conversation ({(original.Value ? "yes" : "no")}).");

        var random = new Random(StableSeed(options.Seed, row.QuestionId, Kind));
        var candidates = Ordered(Candidates(new AlterationInput(turns, row.Question, parsed!, reading!, lexicon, random)), random);

        PragWorldQuestionRow? fallback = null;
        foreach (var candidate in candidates)
        {
            var altered = interpreter.TryRead(candidate.Turns, out _);
            var alteredQuestion = interpreter.ParseQuestion(candidate.Question);
            if (altered is null || alteredQuestion is null || altered.Answer(alteredQuestion) is not { } answer) continue;

            var result = row.Clone();
            result.Conversation = ConversationText.Render(candidate.Turns);
            result.Question = candidate.Question;
            result.Entity = candidate.Entity;
            result.Label = answer;
            result.Alteration = Kind.ToString();
            result.AlterationTarget = Target;
            result.AlterationEffect = answer == original ? AlterationEffects.Invariant : AlterationEffects.Flip;
            Record(result, candidate);
            result.Answer = PragWorldAnswers.ToText(answer ? PragWorldAnswer.Yes : PragWorldAnswer.No);
            if (options.PreferredEffect is null || options.PreferredEffect == result.AlterationEffect) return result;
            fallback ??= result;
        }
        return fallback ?? NotApplicable("No edit site keeps the question answerable.");
    }

    /// <summary>The first free-form edit (Unknown effect, input label), or null when there is no edit site.</summary>
    private PragWorldQuestionRow? FreeForm(PragWorldQuestionRow row, IReadOnlyList<ConversationTurn> turns, PragWorldAlterationOptions options, string reason)
    {
        var random = new Random(StableSeed(options.Seed, row.QuestionId, Kind));
        var candidate = Ordered(FreeFormCandidates(new FreeFormInput(turns, row.Question, options.FreeFormLexicon ?? FreeFormLexicon.Default, random)), random)
            .FirstOrDefault();
        if (candidate is null) return null;
        var result = row.Clone();
        result.Conversation = ConversationText.Render(candidate.Turns);
        result.Question = candidate.Question;
        result.Alteration = Kind.ToString();
        result.AlterationTarget = Target;
        result.AlterationEffect = AlterationEffects.Unknown;
        Record(result, candidate);
        result.AlterationNote = $"{candidate.Note} (effect unknown: {reason})";
        return result;
    }

    private static void Record(PragWorldQuestionRow result, AlterationCandidate candidate)
    {
        result.AlterationNote = candidate.Note;
        result.AlterationUtteranceIndex = candidate.UtteranceIndex;
        result.AlterationOldWord = candidate.OldWord;
        result.AlterationNewWord = candidate.NewWord;
        result.AlterationDetail = "";
        result.SourcePerturbationCell = "";
    }

    /// <summary>Seeded random order within each tier, lower tiers first.</summary>
    private static List<AlterationCandidate> Ordered(IEnumerable<AlterationCandidate> candidates, Random random)
    {
        var list = candidates.ToList();
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list));
        return list.OrderBy(c => c.Tier).ToList();
    }

    /// <summary>The turns with <paramref name="length"/> characters at <paramref name="start"/> of turn <paramref name="turnIndex"/> replaced.</summary>
    protected static IReadOnlyList<ConversationTurn> ReplaceAt(
        IReadOnlyList<ConversationTurn> turns, int turnIndex, int start, int length, string replacement)
    {
        var copy = turns.ToList();
        var text = copy[turnIndex].Text;
        copy[turnIndex] = copy[turnIndex] with { Text = text[..start] + replacement + text[(start + length)..] };
        return copy;
    }

    /// <summary>"turn N: 'old' → 'new'".</summary>
    protected static string EditNote(int turnIndex, string before, string after) => $"turn {turnIndex + 1}: '{before}' → '{after}'";

    /// <summary>Keeps the capitalisation of <paramref name="original"/>'s first letter.</summary>
    protected static string MatchCase(string original, string replacement) =>
        original.Length > 0 && char.IsUpper(original[0]) ? char.ToUpperInvariant(replacement[0]) + replacement[1..] : replacement;

    // FNV-1a: string.GetHashCode is randomised per process, and the choice must be reproducible.
    private static int StableSeed(int seed, string questionId, AlterationKind kind)
    {
        uint hash = 2166136261;
        foreach (char c in $"{seed}|{kind}|{questionId}")
            hash = (hash ^ c) * 16777619;
        return (int)(hash & 0x7FFFFFFF);
    }
}
