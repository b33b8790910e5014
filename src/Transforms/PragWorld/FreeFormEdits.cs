using System.Text.RegularExpressions;

namespace MLNetExt;

/// <summary>A person name or a noun phrase head found in free-form English text.</summary>
/// <param name="Start">Character offset in the text.</param>
/// <param name="Word">The surface form ("oranges", "master_bedroom", "Emma").</param>
/// <param name="Kind">"person" or "noun".</param>
/// <param name="Category">The WordNet lexicographer category of the noun's first sense ("noun.food"), "person" for names, or the lexicon's "object" / "place" when WordNet is absent.</param>
public sealed record FreeFormMention(int Start, string Word, string Kind, string Category)
{
    /// <summary>The categories of all the noun's senses, first sense first (just <see cref="Category"/> for names and without WordNet).</summary>
    public IReadOnlyList<string> Categories { get; init; } = [Category];
}

/// <summary>
/// Finds edit sites in free-form English dialogue: person names (the lexicon's people, or capitalised words that are
/// not WordNet common words) and nouns heading a determiner phrase ("the oranges", "my membership card"), with
/// their WordNet category. WordNet is optional: without it only the lexicon's objects and places are nouns.
/// </summary>
public sealed class FreeFormLexicon
{
    private static readonly Lazy<FreeFormLexicon> DefaultLexicon = new(() =>
        new FreeFormLexicon(PragWorldLexicon.Default, WordNetDictionary.IsAvailable() ? WordNetDictionary.Open() : null));

    private static readonly Regex Word = new(@"\b[A-Za-z][A-Za-z_']*\b", RegexOptions.CultureInvariant);
    private static readonly HashSet<string> Determiners = new(StringComparer.OrdinalIgnoreCase)
        { "the", "a", "an", "my", "your", "his", "her", "our", "their", "these", "those", "this", "that", "some", "any", "its" };
    private static readonly HashSet<string> NotNames = new(StringComparer.Ordinal)
        { "I", "I'm", "I'll", "I've", "I'd", "Mr", "Mrs", "Ms", "Dr", "OK", "Okay", "TV", "Yes", "No" };
    private static readonly HashSet<string> NotNouns = new(StringComparer.OrdinalIgnoreCase)
        {
            "same", "other", "one", "way", "thing", "things", "time", "lot", "bit", "kind", "sort", "first", "last", "next", "rest", "most",
            "end", "there", "here", "good", "special", "double", "long", "whole", "only", "best", "right", "left", "give", "due", "point",
        };

    private static readonly HashSet<string> ConcreteCategories = new(StringComparer.Ordinal)
        { "person", "object", "place", "noun.food", "noun.artifact", "noun.location", "noun.object", "noun.plant", "noun.animal", "noun.person", "noun.substance", "noun.body" };

    /// <summary>Creates the lexicon.</summary>
    public FreeFormLexicon(PragWorldLexicon lexicon, WordNetDictionary? wordNet)
    {
        Lexicon = lexicon;
        WordNet = wordNet;
    }

    /// <summary>The built-in lexicon with Debian's WordNet when it is installed.</summary>
    public static FreeFormLexicon Default => DefaultLexicon.Value;

    /// <summary>People, objects and places of the controlled language (also used on free text).</summary>
    public PragWorldLexicon Lexicon { get; }

    /// <summary>WordNet, or null.</summary>
    public WordNetDictionary? WordNet { get; }

    /// <summary>Person names and determiner-phrase nouns of <paramref name="text"/>, in text order.</summary>
    public IReadOnlyList<FreeFormMention> Mentions(string text)
    {
        var words = Word.Matches(text).ToList();
        var result = new List<FreeFormMention>();
        for (int i = 0; i < words.Count; i++)
        {
            var w = words[i].Value;
            if (IsName(w, text, words[i].Index))
            {
                result.Add(new FreeFormMention(words[i].Index, w, "person", "person"));
                continue;
            }
            if (!Determiners.Contains(w) || i + 1 >= words.Count || !Adjacent(text, words[i], words[i + 1])) continue;
            var first = words[i + 1];
            // A two-word compound WordNet knows ("sweet potatoes", "green peppers") is one noun.
            if (i + 2 < words.Count && Adjacent(text, first, words[i + 2]) && Category(first.Value + "_" + words[i + 2].Value) is { } compound)
            {
                result.Add(new FreeFormMention(first.Index, text.Substring(first.Index, words[i + 2].Index + words[i + 2].Length - first.Index), "noun", compound)
                    { Categories = AllCategories(first.Value + "_" + words[i + 2].Value, compound) });
                i += 2;
                continue;
            }
            if (Category(first.Value) is { } category)
            {
                result.Add(new FreeFormMention(first.Index, first.Value, "noun", category) { Categories = AllCategories(first.Value, category) });
                i++;
            }
            else if (i + 2 < words.Count && Adjacent(text, first, words[i + 2]) && !Determiners.Contains(first.Value) && Category(words[i + 2].Value) is { } head)
            {
                result.Add(new FreeFormMention(words[i + 2].Index, words[i + 2].Value, "noun", head) { Categories = AllCategories(words[i + 2].Value, head) }); // "the big audience"
                i += 2;
            }
        }
        return result;
    }

    /// <summary>True for categories of tangible things, people and places (preferred edit sites).</summary>
    public static bool IsConcrete(string category) => ConcreteCategories.Contains(category);

    /// <summary>
    /// Preference tier of replacing mention <paramref name="a"/> by <paramref name="b"/>: 0 = they share a concrete
    /// category in some sense ("oranges" and "watermelons": noun.food), 1 = they share another category,
    /// 2 = no shared category.
    /// </summary>
    public static int Tier(FreeFormMention a, FreeFormMention b)
    {
        var shared = a.Categories.Intersect(b.Categories).ToList();
        return shared.Any(IsConcrete) ? 0 : shared.Count > 0 ? 1 : 2;
    }

    private IReadOnlyList<string> AllCategories(string word, string first) =>
        NounLemma(word) is { } lemma && WordNet!.Categories(lemma, WordNetPos.Noun) is { Count: > 0 } all ? all : [first];

    /// <summary>The WordNet noun lemma of <paramref name="word"/>; a compound inflects on its last part ("sweet_potatoes" → "sweet_potato").</summary>
    private string? NounLemma(string word)
    {
        if (WordNet is null) return null;
        if (WordNet.BaseForm(word, WordNetPos.Noun) is { } lemma) return lemma;
        int underscore = word.LastIndexOf('_');
        if (underscore <= 0 || WordNet.BaseForm(word[(underscore + 1)..], WordNetPos.Noun) is not { } last) return null;
        var compound = word[..underscore].ToLowerInvariant() + "_" + last;
        return WordNet.Contains(compound, WordNetPos.Noun) ? compound : null;
    }

    /// <summary>The noun's category, or null when <paramref name="word"/> is not a noun this lexicon knows.</summary>
    public string? Category(string word)
    {
        if (NotNouns.Contains(word) || Determiners.Contains(word) || char.IsUpper(word[0])) return null;
        if (Lexicon.MovableObjects.Contains(word, StringComparer.OrdinalIgnoreCase)) return WordNetCategory(word) ?? "object";
        if (Lexicon.Locations.Contains(word, StringComparer.OrdinalIgnoreCase)) return WordNetCategory(word) ?? "place";
        return WordNetCategory(word);
    }

    private string? WordNetCategory(string word)
    {
        if (NounLemma(word) is not { } lemma || WordNet is null) return null;
        // Function words that WordNet also lists as nouns ("do", "will", "can") head no noun phrase.
        if (WordNet.Contains(lemma, WordNetPos.Verb) && !WordNet.Contains(lemma, WordNetPos.Adjective) && lemma.Length <= 3) return null;
        var category = WordNet.Categories(lemma, WordNetPos.Noun).FirstOrDefault();
        // An adjective used as a noun ("the good", "the funny") is a site only when it names a tangible thing ("the orange").
        return category is not null && !IsConcrete(category) && WordNet.Contains(lemma, WordNetPos.Adjective) ? null : category;
    }

    private bool IsName(string word, string text, int index)
    {
        if (!char.IsUpper(word[0]) || NotNames.Contains(word) || word.Contains('_')) return false;
        if (Lexicon.People.ContainsKey(word)) return true;
        var before = text[..index].TrimEnd();
        if (before.Length == 0 || before[^1] is '.' or '!' or '?' or '"' or ':') return false; // sentence-initial capital
        if (word.Length < 3 || word.Skip(1).Any(char.IsUpper)) return false;
        var lower = word.ToLowerInvariant();
        return WordNet is not null && !WordNet.Contains(lower, WordNetPos.Noun) && !WordNet.Contains(lower, WordNetPos.Adjective)
            && !WordNet.Contains(lower, WordNetPos.Verb);
    }

    private static bool Adjacent(string text, Match a, Match b) =>
        text.AsSpan(a.Index + a.Length, b.Index - a.Index - a.Length).Trim().Length == 0;
}

/// <summary>What a free-form alteration sees: the turns and question of a conversation the interpreter does not understand.</summary>
/// <param name="Turns">The turns.</param>
/// <param name="Question">The question.</param>
/// <param name="Lexicon">Entity finder.</param>
/// <param name="Random">Seeded per row.</param>
public sealed record FreeFormInput(IReadOnlyList<ConversationTurn> Turns, string Question, FreeFormLexicon Lexicon, Random Random);

/// <summary>Word-level rewrite rules of the free-form alterations (negation, quantity, quantifier and connective lexicons).</summary>
public static class FreeFormRules
{
    private const RegexOptions Options = RegexOptions.IgnoreCase | RegexOptions.CultureInvariant;

    /// <summary>Auxiliaries and their negations ("did" ↔ "didn't", …).</summary>
    public static IReadOnlyDictionary<string, string> Auxiliaries { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["did"] = "didn't", ["is"] = "isn't", ["are"] = "aren't", ["was"] = "wasn't", ["were"] = "weren't", ["do"] = "don't",
        ["does"] = "doesn't", ["can"] = "can't", ["will"] = "won't", ["could"] = "couldn't", ["would"] = "wouldn't",
        ["should"] = "shouldn't", ["have"] = "haven't", ["has"] = "hasn't", ["had"] = "hadn't", ["must"] = "mustn't",
    };

    private static readonly Dictionary<string, string> Negated = Auxiliaries.ToDictionary(p => p.Value, p => p.Key, StringComparer.OrdinalIgnoreCase);

    /// <summary>Scale words and the word each is changed to ("all" → "some", "a few" → "a lot of", "too" → "quite").</summary>
    public static IReadOnlyDictionary<string, string> QuantifierScale { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["all"] = "some", ["some"] = "all", ["every"] = "some", ["each"] = "some", ["a few"] = "a lot of", ["a lot of"] = "a few",
        ["a lot"] = "a little", ["a little"] = "a lot", ["many"] = "few", ["few"] = "many", ["most"] = "few", ["always"] = "sometimes",
        ["never"] = "sometimes", ["usually"] = "rarely", ["often"] = "rarely", ["too"] = "quite", ["very"] = "slightly",
        ["several"] = "a few", ["both"] = "one of", ["none"] = "some", ["much"] = "little", ["everyone"] = "someone", ["everything"] = "something",
    };

    /// <summary>Connectives and their replacements ("and" ↔ "or", "but" → "and", "if not" → "or").</summary>
    public static IReadOnlyDictionary<string, string> Connectives { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["and"] = "or", ["or"] = "and", ["but"] = "and", ["if not"] = "or", ["either"] = "both", ["neither"] = "either", ["nor"] = "or",
    };

    /// <summary>Fractions and multiplicatives ("half" → "a quarter", "twice" → "three times").</summary>
    public static IReadOnlyDictionary<string, string> Fractions { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["half"] = "quarter", ["quarter"] = "half", ["twice"] = "three times", ["once"] = "twice", ["double"] = "triple",
    };

    private static readonly string[] NumberWords =
    [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen",
        "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
    ];
    private static readonly string[] Tens = ["thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand"];

    private static readonly Regex AnswerWord = new(@"^(?:yes|no)\b", Options);
    private static readonly Regex Auxiliary = new(@"\b(?:" + string.Join('|', Auxiliaries.Keys) + @")\b(?!n't|'t)(?: not\b)?", Options);
    private static readonly Regex NegatedAuxiliary = new(@"\b(?:" + string.Join('|', Negated.Keys.Select(Regex.Escape)) + @")(?=\W|$)", Options);
    private static readonly Regex Scale = new(@"\b(?:" + string.Join('|', QuantifierScale.Keys.OrderByDescending(k => k.Length).Select(Regex.Escape)) + @")\b", Options);
    private static readonly Regex Connective = new(@"\b(?:" + string.Join('|', Connectives.Keys.OrderByDescending(k => k.Length).Select(Regex.Escape)) + @")\b", Options);
    private static readonly Regex Number = new(@"(?<![\w.])(?<cur>\$|£|€)?(?<n>\d+(?:\.\d+)?)\b|\b(?:" + string.Join('|', NumberWords.Concat(Tens)) + @")\b|\b(?:" + string.Join('|', Fractions.Keys) + @")\b", Options);
    private static readonly Regex OnePronoun = new(@"\b(?:the|this|that|which|no|any|every|each|a|another|someone|anyone|no one|last|next|new|old|big|small|good|right|other) one\b", Options);

    /// <summary>Negation sites of one text: a leading yes/no, an auxiliary (negated or not), "not" after an auxiliary.</summary>
    public static IEnumerable<(int Start, string Old, string New)> NegationSites(string text)
    {
        var answer = AnswerWord.Match(text);
        if (answer.Success) yield return (answer.Index, answer.Value, Case(answer.Value, answer.Value.Equals("yes", StringComparison.OrdinalIgnoreCase) ? "no" : "yes"));
        foreach (Match m in NegatedAuxiliary.Matches(text)) yield return (m.Index, m.Value, Case(m.Value, Negated[m.Value]));
        foreach (Match m in Auxiliary.Matches(text))
        {
            var aux = m.Value.Split(' ')[0];
            yield return m.Value.Contains(' ') ? (m.Index, m.Value, aux) : (m.Index, m.Value, Case(m.Value, Auxiliaries[aux]));
        }
    }

    /// <summary>
    /// Quantity sites: numerals (with a currency sign), number words, fractions and multiplicatives. Each number
    /// gives the candidates n+1, n−1, n+2 and n−2 (non-negative; number words stay within zero…twenty).
    /// </summary>
    public static IEnumerable<(int Start, string Old, string New)> QuantitySites(string text)
    {
        foreach (Match m in Number.Matches(text))
        {
            if (m.Groups["n"].Success)
            {
                var numeral = m.Groups["n"].Value;
                var value = decimal.Parse(numeral, System.Globalization.CultureInfo.InvariantCulture);
                foreach (var delta in Deltas)
                {
                    if (value + delta >= 0)
                        yield return (m.Index, m.Value, m.Groups["cur"].Value + (value + delta).ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
                continue;
            }
            var word = m.Value.ToLowerInvariant();
            if (word == "one" && (OnePronoun.IsMatch(text[Math.Max(0, m.Index - 12)..(m.Index + m.Length)]) || IsLastWord(text, m))) continue;
            if (Fractions.TryGetValue(word, out var fraction)) { yield return (m.Index, m.Value, Case(m.Value, fraction)); continue; }
            int index = Array.IndexOf(NumberWords, word);
            if (index < 0)
            {
                yield return (m.Index, m.Value, Case(m.Value, Tens[(Array.IndexOf(Tens, word) + 1) % Tens.Length]));
                continue;
            }
            foreach (var delta in Deltas)
            {
                if (index + delta >= 0 && index + delta < NumberWords.Length)
                    yield return (m.Index, m.Value, Case(m.Value, NumberWords[index + (int)delta]));
            }
        }
    }

    private static readonly decimal[] Deltas = [1, -1, 2, -2];

    /// <summary>Quantifier-scale sites.</summary>
    public static IEnumerable<(int Start, string Old, string New)> QuantifierSites(string text)
    {
        foreach (Match m in Scale.Matches(text))
        {
            // "too" is a degree word only before another word ("too expensive"), not in "me too".
            if (m.Value.Equals("too", StringComparison.OrdinalIgnoreCase) && IsLastWord(text, m)) continue;
            var replacement = QuantifierScale[m.Value];
            // "a few of them" → "a lot of them", not "a lot of of them".
            if (replacement.EndsWith(" of", StringComparison.Ordinal) && text.AsSpan(m.Index + m.Length).StartsWith(" of ", StringComparison.OrdinalIgnoreCase))
                replacement = replacement[..^3];
            yield return (m.Index, m.Value, Case(m.Value, replacement));
        }
    }

    /// <summary>Connective sites.</summary>
    public static IEnumerable<(int Start, string Old, string New)> ConnectiveSites(string text)
    {
        foreach (Match m in Connective.Matches(text))
            yield return (m.Index, m.Value, Case(m.Value, Connectives[m.Value]));
    }

    /// <summary>Sentences that contradict common sense about a thing (appended to a turn by Injecting Inconsistent Data).</summary>
    public static IReadOnlyList<string> Implausible { get; } =
    [
        "I heard that the {0} can turn into gold at midnight.",
        "Apparently the {0} can sing when nobody is listening.",
        "Did you know the {0} can shrink by an inch for every mile walked?",
        "They say the {0} can vanish into thin air every full moon.",
        "Oddly, the {0} can grow back overnight after being used up.",
        "I was told the {0} can float in the air on its own.",
    ];

    private static bool IsLastWord(string text, Match m) =>
        text.AsSpan(m.Index + m.Length).TrimStart().Length == 0 || text[m.Index + m.Length] is '.' or '!' or '?' or ',';

    /// <summary>Keeps the capitalisation of <paramref name="original"/>'s first letter.</summary>
    public static string Case(string original, string replacement) =>
        original.Length > 0 && char.IsUpper(original[0]) ? char.ToUpperInvariant(replacement[0]) + replacement[1..] : replacement;
}
