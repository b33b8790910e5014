using System.Text.RegularExpressions;

namespace MLNetExt;

/// <summary>Base of the alterations that rewrite one regex match inside a context turn.</summary>
public abstract class ContextWordAlteration : PragWorldAlteration
{
    /// <summary>Creates the alteration.</summary>
    protected ContextWordAlteration(AlterationKind kind) : base(kind, "Context") { }

    /// <summary>Sites to rewrite and their replacements, per turn text.</summary>
    protected abstract IEnumerable<(Match Site, string Replacement)> Rewrites(string turnText, AlterationInput input);

    /// <inheritdoc/>
    protected override IEnumerable<AlterationCandidate> Candidates(AlterationInput input)
    {
        for (int t = 0; t < input.Turns.Count; t++)
        {
            foreach (var (site, replacement) in Rewrites(input.Turns[t].Text, input))
            {
                yield return new AlterationCandidate(ReplaceAt(input.Turns, t, site.Index, site.Length, replacement),
                    input.Question, EditNote(t, site.Value, replacement), input.ParsedQuestion.Entity)
                {
                    UtteranceIndex = (t + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), OldWord = site.Value, NewWord = replacement,
                };
            }
        }
    }

    /// <summary>Sites of the free-form rewrite in one turn: (offset, old text, new text).</summary>
    protected virtual IEnumerable<(int Start, string Old, string New)> FreeFormSites(string turnText) => [];

    /// <inheritdoc/>
    protected override IEnumerable<AlterationCandidate> FreeFormCandidates(FreeFormInput input)
    {
        for (int t = 0; t < input.Turns.Count; t++)
        {
            foreach (var (start, old, replacement) in FreeFormSites(input.Turns[t].Text))
            {
                yield return new AlterationCandidate(ReplaceAt(input.Turns, t, start, old.Length, replacement), input.Question,
                    EditNote(t, old, replacement), "")
                {
                    UtteranceIndex = (t + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), OldWord = old, NewWord = replacement,
                };
            }
        }
    }

    /// <summary>Regex options used by the subclasses.</summary>
    protected const RegexOptions Options = RegexOptions.IgnoreCase | RegexOptions.CultureInvariant;
}

/// <summary>
/// Negation: toggles the polarity of one statement — "yes, he did" ↔ "no, he didn't", "is/are" ↔ "is/are not",
/// "isn't" → "is", "X put …" → "X didn't put …", "X didn't put …" → "X put …".
/// </summary>
public sealed class NegationAlteration() : ContextWordAlteration(AlterationKind.Negation)
{
    private static readonly Regex Answer = new(@"^(?<yn>yes|no)(?<mid>,? \w+ )(?<aux>did|didn't)(?=[.!]?$)", Options);
    private static readonly Regex NegatedBe = new(@"\b(?:is|are) not\b|\b(?:isn't|aren't)\b", Options);
    private static readonly Regex PositiveBe = new(@"^(?:the \w+|they|it) (?:is|are)\b(?! not)", Options);
    private static readonly Regex PositivePut = new(@"(?<=^[\w ]+? )(?:put|left|placed|moved)\b", Options);
    private static readonly Regex NegatedPut = new(@"(?<=^[\w ]+? )didn't (?:put|leave|place|move)\b", Options);
    private static readonly Regex AuxOnly = new(@"^(?:he|she|they|i|we|you) (?:did|didn't)(?=[.!]?$)", Options);

    private static readonly Dictionary<string, string> BaseForm = new(StringComparer.OrdinalIgnoreCase)
    {
        ["put"] = "put", ["left"] = "leave", ["placed"] = "place", ["moved"] = "move",
    };
    private static readonly Dictionary<string, string> PastForm = BaseForm.ToDictionary(p => p.Value, p => p.Key, StringComparer.OrdinalIgnoreCase);

    /// <inheritdoc/>
    protected override IEnumerable<(Match, string)> Rewrites(string text, AlterationInput input)
    {
        var answer = Answer.Match(text);
        if (answer.Success)
        {
            bool yes = answer.Groups["yn"].Value.Equals("yes", StringComparison.OrdinalIgnoreCase);
            yield return (answer, MatchCase(answer.Value, (yes ? "no" : "yes") + answer.Groups["mid"].Value + (yes ? "didn't" : "did")));
            yield break;
        }
        var aux = AuxOnly.Match(text);
        if (aux.Success)
        {
            yield return (aux, aux.Value.EndsWith("didn't", StringComparison.OrdinalIgnoreCase) ? aux.Value[..^6] + "did" : aux.Value + "n't");
            yield break;
        }
        foreach (Match m in NegatedBe.Matches(text))
            yield return (m, m.Value.Split(' ')[0].Replace("n't", "", StringComparison.OrdinalIgnoreCase));
        foreach (Match m in PositiveBe.Matches(text))
            yield return (m, m.Value + " not");
        foreach (Match m in PositivePut.Matches(text))
            yield return (m, "didn't " + BaseForm[m.Value]);
        foreach (Match m in NegatedPut.Matches(text))
            yield return (m, PastForm[m.Value["didn't ".Length..]]);
    }

    /// <inheritdoc/>
    protected override IEnumerable<(int Start, string Old, string New)> FreeFormSites(string turnText) =>
        FreeFormRules.NegationSites(turnText);
}

/// <summary>Quantity change: one number word ± 1 ("three" → "four" or "two").</summary>
public sealed class QuantityChangeAlteration() : ContextWordAlteration(AlterationKind.QuantityChange)
{
    private static readonly Regex NumberWord = new(@"\b(?:one|two|three|four|five|six|seven|eight|nine)\b", Options);

    /// <inheritdoc/>
    protected override IEnumerable<(Match, string)> Rewrites(string text, AlterationInput input)
    {
        foreach (Match m in NumberWord.Matches(text))
        {
            int value = PragWorldLexicon.NumberValue(m.Value)!.Value;
            yield return (m, MatchCase(m.Value, PragWorldLexicon.NumberWords[value + 1]));
            if (value > 1) yield return (m, MatchCase(m.Value, PragWorldLexicon.NumberWords[value - 1]));
        }
    }

    /// <inheritdoc/>
    protected override IEnumerable<(int Start, string Old, string New)> FreeFormSites(string turnText) =>
        FreeFormRules.QuantitySites(turnText);
}

/// <summary>Quantifier change: "all of" ↔ "some of".</summary>
public sealed class QuantifierChangeAlteration() : ContextWordAlteration(AlterationKind.QuantifierChange)
{
    private static readonly Regex Quantifier = new(@"\b(?:all|some)(?= of\b)", Options);

    /// <inheritdoc/>
    protected override IEnumerable<(Match, string)> Rewrites(string text, AlterationInput input)
    {
        foreach (Match m in Quantifier.Matches(text))
            yield return (m, MatchCase(m.Value, m.Value.Equals("all", StringComparison.OrdinalIgnoreCase) ? "some" : "all"));
    }

    /// <inheritdoc/>
    protected override IEnumerable<(int Start, string Old, string New)> FreeFormSites(string turnText) =>
        FreeFormRules.QuantifierSites(turnText);
}

/// <summary>Logical connective change: "and" ↔ "or".</summary>
public sealed class LogicalConnectiveChangeAlteration() : ContextWordAlteration(AlterationKind.LogicalConnectiveChange)
{
    private static readonly Regex Connective = new(@"\b(?:and|or)\b", Options);

    /// <inheritdoc/>
    protected override IEnumerable<(Match, string)> Rewrites(string text, AlterationInput input)
    {
        foreach (Match m in Connective.Matches(text))
            yield return (m, MatchCase(m.Value, m.Value.Equals("and", StringComparison.OrdinalIgnoreCase) ? "or" : "and"));
    }

    /// <inheritdoc/>
    protected override IEnumerable<(int Start, string Old, string New)> FreeFormSites(string turnText) =>
        FreeFormRules.ConnectiveSites(turnText);
}

/// <summary>Variable substitution (question target): the probed entity is replaced by another object of the conversation.</summary>
public sealed class VariableSubstitutionAlteration() : PragWorldAlteration(AlterationKind.VariableSubstitution, "Question")
{
    /// <inheritdoc/>
    protected override IEnumerable<AlterationCandidate> Candidates(AlterationInput input)
    {
        var entity = input.ParsedQuestion.Entity;
        var others = input.Reading.Mentions.Where(m => m.Kind == MentionKind.Object)
            .Select(m => m.Word.ToLowerInvariant()).Where(w => w != entity).Distinct();
        int start = input.ParsedQuestion.EntityStart;
        foreach (var other in others)
        {
            var question = input.Question[..start] + other + input.Question[(start + entity.Length)..];
            yield return new AlterationCandidate(input.Turns, question, $"question: '{entity}' → '{other}'", other) { OldWord = entity, NewWord = other };
        }
    }

    /// <summary>
    /// A person or noun of the question replaced by a different one mentioned in the conversation: of the same
    /// WordNet category first, then of the same kind (person / noun).
    /// </summary>
    protected override IEnumerable<AlterationCandidate> FreeFormCandidates(FreeFormInput input)
    {
        var inConversation = input.Turns.SelectMany(t => input.Lexicon.Mentions(t.Text)).ToList();
        foreach (var mention in input.Lexicon.Mentions(input.Question))
        {
            var others = inConversation.Where(o => o.Kind == mention.Kind && !o.Word.Equals(mention.Word, StringComparison.OrdinalIgnoreCase))
                .GroupBy(o => o.Word.ToLowerInvariant()).Select(g => g.First());
            foreach (var other in others)
            {
                var question = input.Question[..mention.Start] + other.Word + input.Question[(mention.Start + mention.Word.Length)..];
                yield return new AlterationCandidate(input.Turns, question, $"question: '{mention.Word}' → '{other.Word}'", other.Word)
                {
                    OldWord = mention.Word, NewWord = other.Word, Tier = FreeFormLexicon.Tier(mention, other),
                };
            }
        }
    }
}

/// <summary>Variable swap: two mentions of different objects (or places) in two different turns trade places.</summary>
public sealed class VariableSwapAlteration() : PragWorldAlteration(AlterationKind.VariableSwap, "Context")
{
    /// <inheritdoc/>
    protected override IEnumerable<AlterationCandidate> Candidates(AlterationInput input)
    {
        var mentions = input.Reading.Mentions.Where(m => m.Kind != MentionKind.Person).ToList();
        for (int i = 0; i < mentions.Count; i++)
        for (int j = i + 1; j < mentions.Count; j++)
        {
            var (a, b) = (mentions[i], mentions[j]);
            if (a.Kind != b.Kind || a.TurnIndex == b.TurnIndex || a.Word.Equals(b.Word, StringComparison.OrdinalIgnoreCase)) continue;
            var turns = ReplaceAt(ReplaceAt(input.Turns, a.TurnIndex, a.Start, a.Word.Length, b.Word), b.TurnIndex, b.Start, b.Word.Length, a.Word);
            yield return new AlterationCandidate(turns, input.Question,
                $"swapped '{a.Word}' (turn {a.TurnIndex + 1}) and '{b.Word}' (turn {b.TurnIndex + 1})", input.ParsedQuestion.Entity)
            {
                UtteranceIndex = $"swapped between indexes {a.TurnIndex + 1} and {b.TurnIndex + 1}", OldWord = a.Word, NewWord = b.Word,
            };
        }
    }

    /// <summary>
    /// Two different persons or nouns of the conversation exchanged (within a turn or across turns): of the same
    /// WordNet category first, then of the same kind.
    /// </summary>
    protected override IEnumerable<AlterationCandidate> FreeFormCandidates(FreeFormInput input)
    {
        var mentions = input.Turns.SelectMany((t, i) => input.Lexicon.Mentions(t.Text).Select(m => (Turn: i, Mention: m))).ToList();
        for (int i = 0; i < mentions.Count; i++)
        for (int j = i + 1; j < mentions.Count; j++)
        {
            var (a, b) = (mentions[i], mentions[j]);
            if (a.Mention.Kind != b.Mention.Kind || a.Mention.Word.Equals(b.Mention.Word, StringComparison.OrdinalIgnoreCase)) continue;
            // Replace the later site first so the earlier offset stays valid when both are in one turn.
            var turns = ReplaceAt(input.Turns, b.Turn, b.Mention.Start, b.Mention.Word.Length, a.Mention.Word);
            turns = ReplaceAt(turns, a.Turn, a.Mention.Start, a.Mention.Word.Length, b.Mention.Word);
            yield return new AlterationCandidate(turns, input.Question,
                $"swapped '{a.Mention.Word}' (turn {a.Turn + 1}) and '{b.Mention.Word}' (turn {b.Turn + 1})", "")
            {
                UtteranceIndex = $"swapped between indexes {a.Turn + 1} and {b.Turn + 1}", OldWord = a.Mention.Word, NewWord = b.Mention.Word,
                Tier = FreeFormLexicon.Tier(a.Mention, b.Mention),
            };
        }
    }
}

/// <summary>
/// Injecting inconsistent data: appends an exchange in which a large object (a sofa, or WordNet furniture) is put
/// in a small container (an envelope) — plausible wording, inconsistent with common sense, about a new entity.
/// </summary>
public sealed class InjectingInconsistentDataAlteration() : PragWorldAlteration(AlterationKind.InjectingInconsistentData, "Context")
{
    /// <inheritdoc/>
    protected override IEnumerable<AlterationCandidate> Candidates(AlterationInput input)
    {
        var speakers = input.Turns.Select(t => t.Speaker).Distinct().ToList();
        if (speakers.Count != 2) yield break;
        var mentioned = input.Reading.Mentions.Select(m => m.Word).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var large = input.Lexicon.LargeObjects.Where(o => !mentioned.Contains(o)).ToList();
        var small = input.Lexicon.SmallContainers.Where(o => !mentioned.Contains(o)).ToList();
        if (large.Count == 0 || small.Count == 0) yield break;
        var (asker, answerer) = (speakers[0], speakers[1]);
        foreach (var thing in large)
        {
            var container = small[input.Random.Next(small.Count)];
            var turns = input.Turns.Append(new ConversationTurn(asker, $"what about the {thing}?"))
                .Append(new ConversationTurn(answerer, $"I put the {thing} in the {container}")).ToList();
            yield return new AlterationCandidate(turns, input.Question,
                $"appended: '{answerer}: I put the {thing} in the {container}'", input.ParsedQuestion.Entity)
            {
                UtteranceIndex = turns.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), NewWord = $"I put the {thing} in the {container}",
            };
        }
    }

    /// <summary>
    /// An existing turn that mentions a thing gets a sentence contradicting common sense about it appended
    /// ("I heard that the shoes can turn into gold at midnight."), the way the authors rewrite a turn.
    /// </summary>
    protected override IEnumerable<AlterationCandidate> FreeFormCandidates(FreeFormInput input)
    {
        for (int t = 0; t < input.Turns.Count; t++)
        {
            var text = input.Turns[t].Text;
            foreach (var noun in input.Lexicon.Mentions(text).Where(m => m.Kind == "noun").GroupBy(m => m.Word.ToLowerInvariant()).Select(g => g.First()))
            {
                var sentence = string.Format(System.Globalization.CultureInfo.InvariantCulture,
                    FreeFormRules.Implausible[input.Random.Next(FreeFormRules.Implausible.Count)], noun.Word);
                var trimmed = text.TrimEnd();
                var separator = trimmed.Length > 0 && trimmed[^1] is '.' or '!' or '?' ? " " : ". ";
                var turns = ReplaceAt(input.Turns, t, 0, text.Length, trimmed + separator + sentence);
                yield return new AlterationCandidate(turns, input.Question, $"turn {t + 1}: appended '{sentence}'", "")
                {
                    UtteranceIndex = (t + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), NewWord = sentence,
                    Tier = FreeFormLexicon.IsConcrete(noun.Category) ? 0 : 1,
                };
            }
        }
    }
}
