using System.Text.RegularExpressions;

namespace MLNetExt;

/// <summary>A turn is not in PragWorld's controlled conversation language.</summary>
public sealed class ConversationNotUnderstoodException(int turnIndex, string text)
    : FormatException($"Turn {turnIndex + 1} is not in the PragWorld conversation language: '{text}'.")
{
    /// <summary>0-based index of the turn.</summary>
    public int TurnIndex { get; } = turnIndex;
}

/// <summary>Kind of an entity mention found by the interpreter.</summary>
public enum MentionKind
{
    /// <summary>A movable or stateful object ("keys", "door").</summary>
    Object,

    /// <summary>A place ("kitchen").</summary>
    Location,

    /// <summary>A person named in a give statement.</summary>
    Person,
}

/// <summary>An entity mention: turn index, character span within the turn text, the word, and its kind.</summary>
public sealed record EntityMention(int TurnIndex, int Start, string Word, MentionKind Kind);

/// <summary>The kind of a benchmark question understood by <see cref="WorldReading.Answer(string)"/>.</summary>
public enum QuestionForm
{
    /// <summary>"are the X in the L?"</summary>
    Location,

    /// <summary>"are all the X in the L?" (scalar implicature: "some" ⇒ not all).</summary>
    All,

    /// <summary>"are there N X in the L?"</summary>
    Count,

    /// <summary>"does P have the X?"</summary>
    Possession,

    /// <summary>"is the X ADJ?"</summary>
    State,

    /// <summary>"does P know for sure where the X are?" (disjunction ⇒ not sure).</summary>
    Certainty,
}

/// <summary>A parsed benchmark question: its form, probed entity (and where it is in the text), and argument.</summary>
public sealed record ParsedQuestion(QuestionForm Form, string Entity, int EntityStart, string Argument, int? Number);

/// <summary>
/// Reads a conversation written in PragWorld's controlled language and tracks the local world model: where each
/// object is (with certainty), who holds it, its state, counts and "all/some" quantifiers, pronoun references
/// ("it", "them", "there"), yes/no answers to "did X put …?" questions, negation and disjunction. It is the single
/// source of truth the alterations use to recompute gold answers.
/// </summary>
public sealed partial class ConversationInterpreter(PragWorldLexicon? lexicon = null)
{
    private readonly PragWorldLexicon _lexicon = lexicon ?? PragWorldLexicon.Default;

    private const string Num = "zero|one|two|three|four|five|six|seven|eight|nine|ten";
    private const RegexOptions Options = RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture;

    // Asker turns.
    private static readonly Regex DidQuestion = new(
        @"^did (?<subj>[\w ]+?) (?:put|leave|place|move) (?<what>.+?) (?:in|into|to) (?:the (?<l1>\w+)|(?<there>there))$", Options);
    private static readonly Regex FocusQuestion = new(
        @"^(?:where (?:is|are) the (?<o>\w+)|where did \w+ (?:put|leave|place) the (?<o>\w+)|what about the (?<o>\w+)|who has the (?<o>\w+)"
        + @"|how is the (?<o>\w+)|did you see the (?<o>\w+)|how many (?<o>\w+) are in the (?<l>\w+)|are (?:all|some) (?:of )?the (?<o>\w+) in the (?<l>\w+))$", Options);

    // Answer turns.
    private static readonly Regex YesNo = new(
        @"^(?:(?<yn>yes|no)(?:,? (?:he|she|they|i|we|you) (?<aux>did|didn't|did not))?|(?:he|she|they|i|we|you) (?<aux>did|didn't|did not))$", Options);
    private static readonly Regex NoInformation = new(@"^(?:i don't know|i'm not sure|i have no idea|i didn't see (?:him|her|them))$", Options);
    private static readonly Regex Give = new(@"^(?<subj>[\w ]+?) gave (?<what>the \w+|it|them) to (?<to>\w+)$", Options);
    private static readonly Regex StateCopula = new(@"^(?<what>the \w+|it) (?<be>is|isn't)(?<neg> not)? (?<adj>\w+)(?: now)?$", Options);
    private static readonly Regex LocationCopula = new(
        @"^(?<what>.+?) (?<be>is|are|isn't|aren't)(?<neg> not)? (?:in the (?<l1>\w+)(?: (?<lc>and|or) the (?<l2>\w+))?|(?<there>there))$", Options);
    private static readonly Regex Put = new(
        @"^(?<subj>[\w ]+?) (?:(?<neg>didn't|did not) )?(?:put|left|leave|placed|place|moved|move) (?<what>.+?) (?:in|into|to) (?:the (?<l1>\w+)(?: (?<lc>and|or) the (?<l2>\w+))?|(?<there>there))$", Options);

    // Object phrases inside statements.
    private static readonly Regex TheObjects = new(@"^the (?<a>\w+)(?: (?<c>and|or) the (?<b>\w+))?$", Options);
    private static readonly Regex Pronoun = new(@"^(?:it|them|they)$", Options);
    private static readonly Regex Quantified = new($@"^(?:(?<q>all|some|none)|(?<n>{Num})) of (?:them|the (?<a>\w+))$", Options);
    private static readonly Regex Counted = new($@"^(?<n>{Num}) (?<a>\w+)$", Options);

    // Benchmark questions.
    private static readonly Regex AllQuestion = new(@"^are all (?:of )?the (?<o>\w+) in the (?<a>\w+)$", Options);
    private static readonly Regex CountQuestion = new($@"^are there (?<n>{Num}) (?<o>\w+) in the (?<a>\w+)$", Options);
    private static readonly Regex HaveQuestion = new(@"^does (?<a>\w+) have the (?<o>\w+)$", Options);
    private static readonly Regex SureQuestion = new(@"^does (?<a>\w+) know for sure where the (?<o>\w+) (?:is|are)$", Options);
    private static readonly Regex StateQuestion = new(@"^is the (?<o>\w+) (?<a>\w+)$", Options);
    private static readonly Regex LocationQuestion = new(@"^(?:is|are) the (?<o>\w+) in the (?<a>\w+)$", Options);

    /// <summary>The lexicon used for state antonyms.</summary>
    public PragWorldLexicon Lexicon => _lexicon;

    /// <summary>Reads the conversation, or returns null (with the reason) if a turn is not understood.</summary>
    public WorldReading? TryRead(IReadOnlyList<ConversationTurn> turns, out string? error)
    {
        try
        {
            error = null;
            return Read(turns);
        }
        catch (ConversationNotUnderstoodException e)
        {
            error = e.Message;
            return null;
        }
    }

    /// <summary>Reads the conversation turn by turn.</summary>
    /// <exception cref="ConversationNotUnderstoodException">A turn is not in the controlled language.</exception>
    public WorldReading Read(IReadOnlyList<ConversationTurn> turns)
    {
        var state = new ReadingState(this);
        for (int i = 0; i < turns.Count; i++)
            state.ReadTurn(i, turns[i].Text);
        return new WorldReading(_lexicon, state.Facts, state.Mentions);
    }

    /// <summary>Parses a benchmark question, or returns null if it is not one of the <see cref="QuestionForm"/>s.</summary>
    public ParsedQuestion? ParseQuestion(string question)
    {
        var text = TrimEnd(question);
        ParsedQuestion? Try(Regex regex, QuestionForm form)
        {
            var m = regex.Match(text);
            if (!m.Success) return null;
            int? number = m.Groups["n"].Success ? PragWorldLexicon.NumberValue(m.Groups["n"].Value) : null;
            return new ParsedQuestion(form, m.Groups["o"].Value.ToLowerInvariant(), m.Groups["o"].Index, m.Groups["a"].Value, number);
        }
        var state = StateQuestion.Match(text);
        if (state.Success && _lexicon.StateAntonym(state.Groups["a"].Value) is not null) return Try(StateQuestion, QuestionForm.State);
        return Try(AllQuestion, QuestionForm.All) ?? Try(CountQuestion, QuestionForm.Count) ?? Try(HaveQuestion, QuestionForm.Possession)
            ?? Try(SureQuestion, QuestionForm.Certainty) ?? Try(LocationQuestion, QuestionForm.Location);
    }

    internal static string TrimEnd(string text) => text.Trim().TrimEnd('.', '?', '!').TrimEnd();

    /// <summary>What is known about one object.</summary>
    internal sealed class ObjectFacts
    {
        public HashSet<string> Locations { get; } = new(StringComparer.OrdinalIgnoreCase);
        public HashSet<string> NotLocations { get; } = new(StringComparer.OrdinalIgnoreCase);
        public Dictionary<string, bool> AllAt { get; } = new(StringComparer.OrdinalIgnoreCase);
        public Dictionary<string, int> Counts { get; } = new(StringComparer.OrdinalIgnoreCase);
        public bool Uncertain { get; set; }
        public bool Exhaustive { get; set; } // Locations lists every place the object is (or may be)
        public string? Holder { get; set; }
        public string? State { get; set; }

        public void PlaceOnlyAt(string location)
        {
            Locations.Clear();
            Locations.Add(location);
            NotLocations.Remove(location);
            AllAt.Clear();
            AllAt[location] = true;
            Counts.Clear();
            Uncertain = false;
            Exhaustive = true;
            Holder = null;
        }

        public void PlaceAtEither(string first, string second, bool both)
        {
            Locations.Clear();
            Locations.Add(first);
            Locations.Add(second);
            AllAt.Clear();
            Counts.Clear();
            if (both) AllAt[first] = AllAt[second] = false; // split between the two
            Uncertain = !both; // "or" is read as exclusive disjunction: the speaker is not sure which
            Exhaustive = true;
            Holder = null;
        }

        public void NotAt(string location)
        {
            NotLocations.Add(location);
            Locations.Remove(location);
            AllAt[location] = false;
            if (Uncertain && Locations.Count == 1) // "in A or B" and "not in A" ⇒ in B
            {
                Uncertain = false;
                AllAt[Locations.First()] = true;
            }
        }
    }

    private sealed record ObjectPhrase(List<(string Word, int Start)> Objects, string? Connective, string? Quantifier, int? Count);

    private sealed class ReadingState(ConversationInterpreter owner)
    {
        public Dictionary<string, ObjectFacts> Facts { get; } = new(StringComparer.OrdinalIgnoreCase);
        public List<EntityMention> Mentions { get; } = [];
        private string? _focusObject, _focusLocation;
        private Action<bool>? _pending; // the placement proposed by "did X put …?", confirmed (true) or denied (false)

        private int _turn;
        private string _text = "";

        public void ReadTurn(int turnIndex, string rawText)
        {
            _turn = turnIndex;
            _text = TrimEnd(rawText);
            if (!(TryAsk() || TryYesNo() || NoInformation.IsMatch(_text) || TryGive() || TryState() || TryLocationCopula() || TryPut()))
                throw new ConversationNotUnderstoodException(turnIndex, rawText);
        }

        private ObjectFacts FactsOf(string word) =>
            Facts.TryGetValue(word, out var f) ? f : Facts[word.ToLowerInvariant()] = new ObjectFacts();

        private void Mention(Group group, MentionKind kind, int offset = 0)
        {
            Mentions.Add(new EntityMention(_turn, group.Index + offset, group.Value, kind));
            if (kind == MentionKind.Object) _focusObject = group.Value.ToLowerInvariant();
            if (kind == MentionKind.Location) _focusLocation = group.Value.ToLowerInvariant();
        }

        private bool TryAsk()
        {
            var did = DidQuestion.Match(_text);
            if (did.Success)
            {
                var phrase = ObjectsOf(did.Groups["what"]);
                var location = LocationOf(did);
                _pending = confirmed => ApplyPlacement(phrase, location, null, null, denied: !confirmed);
                return true;
            }
            var focus = FocusQuestion.Match(_text);
            if (!focus.Success) return false;
            if (focus.Groups["l"].Success) Mention(focus.Groups["l"], MentionKind.Location);
            Mention(focus.Groups["o"], MentionKind.Object);
            _pending = null;
            return true;
        }

        private bool TryYesNo()
        {
            var m = YesNo.Match(_text);
            if (!m.Success) return false;
            bool positive = m.Groups["aux"].Success
                ? m.Groups["aux"].Value.Equals("did", StringComparison.OrdinalIgnoreCase)
                : m.Groups["yn"].Value.Equals("yes", StringComparison.OrdinalIgnoreCase);
            if (_pending is null) throw new ConversationNotUnderstoodException(_turn, _text); // a yes/no needs a "did …?" question
            _pending(positive);
            _pending = null;
            return true;
        }

        private bool TryGive()
        {
            var m = Give.Match(_text);
            if (!m.Success) return false;
            var phrase = ObjectsOf(m.Groups["what"]);
            Mention(m.Groups["to"], MentionKind.Person);
            foreach (var (word, _) in phrase.Objects)
            {
                var facts = FactsOf(word);
                facts.Locations.Clear();
                facts.AllAt.Clear();
                facts.Counts.Clear();
                facts.Uncertain = false;
                facts.Exhaustive = false;
                facts.Holder = m.Groups["to"].Value;
            }
            return true;
        }

        private bool TryState()
        {
            var m = StateCopula.Match(_text);
            if (!m.Success) return false;
            var adjective = m.Groups["adj"].Value.ToLowerInvariant();
            var antonym = owner._lexicon.StateAntonym(adjective);
            if (antonym is null) return false;
            bool negated = m.Groups["neg"].Success || m.Groups["be"].Value.EndsWith("n't", StringComparison.OrdinalIgnoreCase);
            foreach (var (word, _) in ObjectsOf(m.Groups["what"]).Objects)
                FactsOf(word).State = negated ? antonym : adjective;
            return true;
        }

        private bool TryLocationCopula()
        {
            var m = LocationCopula.Match(_text);
            if (!m.Success) return false;
            var phrase = ObjectsOf(m.Groups["what"]);
            bool negated = m.Groups["neg"].Success || m.Groups["be"].Value.EndsWith("n't", StringComparison.OrdinalIgnoreCase);
            var location = LocationOf(m);
            if (negated)
            {
                foreach (var (word, _) in phrase.Objects) FactsOf(word).NotAt(location);
                return true;
            }
            ApplyPlacement(phrase, location, m.Groups["lc"].Success ? m.Groups["lc"].Value : null, SecondLocationOf(m));
            return true;
        }

        private bool TryPut()
        {
            var m = Put.Match(_text);
            if (!m.Success) return false;
            var phrase = ObjectsOf(m.Groups["what"]);
            var location = LocationOf(m);
            var second = SecondLocationOf(m);
            ApplyPlacement(phrase, location, m.Groups["lc"].Success ? m.Groups["lc"].Value : null, second, denied: m.Groups["neg"].Success);
            return true;
        }

        private string LocationOf(Match m)
        {
            if (m.Groups["there"].Success)
                return _focusLocation ?? throw new ConversationNotUnderstoodException(_turn, _text);
            Mention(m.Groups["l1"], MentionKind.Location);
            return m.Groups["l1"].Value.ToLowerInvariant();
        }

        private string? SecondLocationOf(Match m)
        {
            if (!m.Groups["l2"].Success) return null;
            Mention(m.Groups["l2"], MentionKind.Location);
            return m.Groups["l2"].Value.ToLowerInvariant();
        }

        private void ApplyPlacement(ObjectPhrase phrase, string location, string? locationConnective, string? secondLocation, bool denied = false)
        {
            foreach (var (word, _) in phrase.Objects)
            {
                var facts = FactsOf(word);
                // Pragmatic reading (as in the paper's data): "did X put the keys there?" "no, he didn't" — the
                // asker's hypothesis is rejected, so the keys are not there.
                if (denied) facts.NotAt(location);
                else if (secondLocation is not null)
                    facts.PlaceAtEither(location, secondLocation, both: locationConnective!.Equals("and", StringComparison.OrdinalIgnoreCase));
                else if (phrase.Connective is { } c && c.Equals("or", StringComparison.OrdinalIgnoreCase))
                {
                    facts.PlaceOnlyAt(location);
                    facts.Uncertain = true; // "the A or the B": neither is known for sure
                }
                else if (phrase.Count is { } count)
                {
                    facts.Counts[location] = count;
                    facts.Locations.Add(location);
                    facts.Holder = null;
                }
                else if (phrase.Quantifier?.ToLowerInvariant() == "some")
                {
                    facts.Locations.Add(location);
                    facts.AllAt[location] = false; // scalar implicature: "some" ⇒ not all
                    facts.Holder = null;
                }
                else if (phrase.Quantifier?.ToLowerInvariant() == "none") facts.NotAt(location);
                else facts.PlaceOnlyAt(location);
            }
        }

        private ObjectPhrase ObjectsOf(Group what)
        {
            var text = what.Value;
            if (Pronoun.IsMatch(text))
                return new ObjectPhrase([(_focusObject ?? throw new ConversationNotUnderstoodException(_turn, _text), -1)], null, null, null);

            var the = TheObjects.Match(text);
            if (the.Success)
            {
                var objects = new List<(string, int)>();
                foreach (var name in new[] { "a", "b" })
                {
                    if (!the.Groups[name].Success) continue;
                    Mention(the.Groups[name], MentionKind.Object, what.Index);
                    objects.Add((the.Groups[name].Value.ToLowerInvariant(), what.Index + the.Groups[name].Index));
                }
                return new ObjectPhrase(objects, the.Groups["c"].Success ? the.Groups["c"].Value : null, null, null);
            }

            var quantified = Quantified.Match(text);
            var counted = Counted.Match(text);
            var m = quantified.Success ? quantified : counted.Success ? counted : null;
            if (m is null) throw new ConversationNotUnderstoodException(_turn, _text);
            string word;
            if (m.Groups["a"].Success)
            {
                Mention(m.Groups["a"], MentionKind.Object, what.Index);
                word = m.Groups["a"].Value.ToLowerInvariant();
            }
            else word = _focusObject ?? throw new ConversationNotUnderstoodException(_turn, _text);
            int? count = m.Groups["n"].Success ? PragWorldLexicon.NumberValue(m.Groups["n"].Value) : null;
            return new ObjectPhrase([(word, -1)], null, m.Groups["q"].Success ? m.Groups["q"].Value : null, count);
        }
    }
}

/// <summary>The world model read from a conversation; answers benchmark questions about it.</summary>
public sealed class WorldReading
{
    private readonly PragWorldLexicon _lexicon;
    private readonly IReadOnlyDictionary<string, ConversationInterpreter.ObjectFacts> _facts;

    internal WorldReading(PragWorldLexicon lexicon, IReadOnlyDictionary<string, ConversationInterpreter.ObjectFacts> facts, IReadOnlyList<EntityMention> mentions)
    {
        _lexicon = lexicon;
        _facts = facts;
        Mentions = mentions;
    }

    /// <summary>Object, location and person mentions, in reading order.</summary>
    public IReadOnlyList<EntityMention> Mentions { get; }

    /// <summary>
    /// The answer to <paramref name="question"/>: true (yes), false (no), or null when the conversation does not
    /// determine it.
    /// </summary>
    /// <exception cref="FormatException">The question is not one of the understood <see cref="QuestionForm"/>s.</exception>
    public bool? Answer(string question)
    {
        var parsed = new ConversationInterpreter(_lexicon).ParseQuestion(question)
            ?? throw new FormatException($"Question is not in the PragWorld question language: '{question}'.");
        return Answer(parsed);
    }

    /// <summary>The answer to a parsed question (see <see cref="Answer(string)"/>).</summary>
    public bool? Answer(ParsedQuestion question)
    {
        if (!_facts.TryGetValue(question.Entity, out var f)) return null;
        var argument = question.Argument;
        switch (question.Form)
        {
            case QuestionForm.Location:
                if (f.Holder is not null) return null;
                if (f.NotLocations.Contains(argument)) return false;
                if (f.Uncertain) return f.Locations.Contains(argument) ? null : false;
                if (f.Locations.Contains(argument)) return true;
                return f.Exhaustive && f.Locations.Count > 0 ? false : null;
            case QuestionForm.All:
                if (f.Uncertain) return null;
                if (f.AllAt.TryGetValue(argument, out var all)) return all;
                return f.Holder is not null || (f.Exhaustive && !f.Locations.Contains(argument)) ? false : null;
            case QuestionForm.Count:
                return f.Counts.TryGetValue(argument, out var count) ? count == question.Number : null;
            case QuestionForm.Possession:
                if (f.Holder is not null) return f.Holder.Equals(argument, StringComparison.OrdinalIgnoreCase);
                return f.Locations.Count > 0 && !f.Uncertain ? false : null;
            case QuestionForm.State:
                if (f.State is null) return null;
                if (f.State.Equals(argument, StringComparison.OrdinalIgnoreCase)) return true;
                return _lexicon.StateAntonym(argument)?.Equals(f.State, StringComparison.OrdinalIgnoreCase) == true ? false : null;
            case QuestionForm.Certainty:
                if (f.Holder is not null) return true;
                return f.Locations.Count == 0 ? null : !f.Uncertain;
            default:
                return null;
        }
    }
}
