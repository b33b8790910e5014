using System.Text;

namespace MLNetExt;

/// <summary>WordNet part of speech.</summary>
public enum WordNetPos
{
    /// <summary>Noun (index.noun / data.noun).</summary>
    Noun,

    /// <summary>Verb (index.verb / data.verb).</summary>
    Verb,

    /// <summary>Adjective (index.adj / data.adj).</summary>
    Adjective,
}

/// <summary>
/// Reads the WordNet 3.0 database files shipped by Debian's <c>wordnet</c> package (<c>/usr/share/wordnet</c>):
/// synonyms, antonyms, hypernyms and hyponyms of a lemma, and the base form of an inflected noun.
/// </summary>
public sealed class WordNetDictionary
{
    /// <summary>Where Debian's <c>wordnet</c> package installs the database.</summary>
    public const string DefaultDirectory = "/usr/share/wordnet";

    private readonly string _directory;
    private readonly Dictionary<WordNetPos, Dictionary<string, long[]>> _index = new();
    private readonly Dictionary<WordNetPos, Dictionary<string, string>> _exceptions = new();
    private readonly Dictionary<(WordNetPos, long), Synset> _synsets = new();

    private WordNetDictionary(string directory) => _directory = directory;

    /// <summary>True when the WordNet data files are present in <paramref name="directory"/>.</summary>
    public static bool IsAvailable(string directory = DefaultDirectory) =>
        File.Exists(Path.Combine(directory, "index.noun")) && File.Exists(Path.Combine(directory, "data.noun"));

    /// <summary>Opens the database in <paramref name="directory"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The WordNet files are not there.</exception>
    public static WordNetDictionary Open(string directory = DefaultDirectory)
    {
        if (!IsAvailable(directory))
            throw new DirectoryNotFoundException(
                $"WordNet data files (index.noun, data.noun, …) not found in '{directory}'. On Debian install the 'wordnet' package (scripts/setup.sh).");
        return new WordNetDictionary(directory);
    }

    /// <summary>True if <paramref name="lemma"/> is a WordNet lemma of part of speech <paramref name="pos"/>.</summary>
    public bool Contains(string lemma, WordNetPos pos) => Index(pos).ContainsKey(Key(lemma));

    /// <summary>
    /// The lexicographer categories of <paramref name="lemma"/>'s senses, most frequent sense first, without repeats
    /// (e.g. "noun.food", "noun.plant" for "orange"); empty when it is not a lemma.
    /// </summary>
    public IReadOnlyList<string> Categories(string lemma, WordNetPos pos) =>
        SynsetsOf(lemma, pos).Select(s => s.LexFile < LexFileNames.Length ? LexFileNames[s.LexFile] : $"lexfile.{s.LexFile}").Distinct().ToList();

    /// <summary>The other lemmas of every synset containing <paramref name="lemma"/>.</summary>
    public IReadOnlyList<string> Synonyms(string lemma, WordNetPos pos) =>
        Distinct(SynsetsOf(lemma, pos).SelectMany(s => s.Words), lemma);

    /// <summary>Direct antonyms of <paramref name="lemma"/> (WordNet '!' pointers from that word).</summary>
    public IReadOnlyList<string> Antonyms(string lemma, WordNetPos pos)
    {
        var key = Key(lemma);
        var result = new List<string>();
        foreach (var synset in SynsetsOf(lemma, pos))
        {
            int wordNumber = synset.Words.FindIndex(w => Key(w) == key) + 1;
            foreach (var pointer in synset.Pointers.Where(p => p.Symbol == "!" && p.SourceWord == wordNumber))
            {
                var target = Load(pointer.Pos, pointer.Offset);
                result.Add(target.Words[pointer.TargetWord - 1]);
            }
        }
        return Distinct(result, lemma);
    }

    /// <summary>Lemmas of the direct hypernym synsets of the first <paramref name="senses"/> senses of <paramref name="lemma"/>.</summary>
    public IReadOnlyList<string> Hypernyms(string lemma, WordNetPos pos, int senses = 1) =>
        Distinct(SynsetsOf(lemma, pos).Take(senses)
            .SelectMany(s => s.Pointers.Where(p => p.Symbol is "@" or "@i"))
            .SelectMany(p => Load(p.Pos, p.Offset).Words), lemma);

    /// <summary>Lemmas of all hyponym synsets (transitively, up to <paramref name="depth"/> levels) of the first sense of <paramref name="lemma"/>.</summary>
    public IReadOnlyList<string> Hyponyms(string lemma, WordNetPos pos, int depth = 1)
    {
        var result = new List<string>();
        var frontier = SynsetsOf(lemma, pos).Take(1).ToList();
        for (int level = 0; level < depth && frontier.Count > 0; level++)
        {
            frontier = frontier.SelectMany(s => s.Pointers.Where(p => p.Symbol is "~" or "~i"))
                .Select(p => Load(p.Pos, p.Offset)).ToList();
            result.AddRange(frontier.SelectMany(s => s.Words));
        }
        return Distinct(result, lemma);
    }

    /// <summary>
    /// The WordNet base form of an inflected word ("oranges" → "orange", "mice" → "mouse"), using the exception
    /// lists and WordNet's detachment rules; null when no form is a lemma.
    /// </summary>
    public string? BaseForm(string word, WordNetPos pos)
    {
        var key = Key(word);
        if (Exceptions(pos).TryGetValue(key, out var exception)) return exception;
        if (Contains(key, pos)) return key;
        (string Suffix, string Ending)[] rules = pos switch
        {
            WordNetPos.Noun => [("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("ies", "y"), ("s", "")],
            WordNetPos.Verb => [("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", ""), ("s", "")],
            _ => [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
        };
        foreach (var (suffix, ending) in rules)
        {
            if (!key.EndsWith(suffix, StringComparison.Ordinal)) continue;
            var candidate = key[..^suffix.Length] + ending;
            if (Contains(candidate, pos)) return candidate;
        }
        return null;
    }

    private static string Key(string word) => word.Trim().ToLowerInvariant().Replace(' ', '_');

    private static IReadOnlyList<string> Distinct(IEnumerable<string> words, string exclude)
    {
        var excluded = Key(exclude);
        return words.Select(w => w.Replace('_', ' ')).Where(w => Key(w) != excluded)
            .Distinct(StringComparer.OrdinalIgnoreCase).ToList();
    }

    private IEnumerable<Synset> SynsetsOf(string lemma, WordNetPos pos) =>
        Index(pos).TryGetValue(Key(lemma), out var offsets) ? offsets.Select(o => Load(pos, o)) : [];

    private static string FileSuffix(WordNetPos pos) => pos switch
    {
        WordNetPos.Noun => "noun",
        WordNetPos.Verb => "verb",
        _ => "adj",
    };

    private Dictionary<string, long[]> Index(WordNetPos pos)
    {
        if (_index.TryGetValue(pos, out var index)) return index;
        index = new Dictionary<string, long[]>(StringComparer.Ordinal);
        // index.<pos> line: lemma pos synset_cnt p_cnt [ptr_symbol…] sense_cnt tagsense_cnt synset_offset…
        foreach (var line in File.ReadLines(Path.Combine(_directory, "index." + FileSuffix(pos))))
        {
            if (line.StartsWith(' ')) continue; // licence header
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int synsetCount = int.Parse(fields[2]);
            index[fields[0]] = fields[^synsetCount..].Select(long.Parse).ToArray();
        }
        _index[pos] = index;
        return index;
    }

    private Dictionary<string, string> Exceptions(WordNetPos pos)
    {
        if (_exceptions.TryGetValue(pos, out var exceptions)) return exceptions;
        exceptions = new Dictionary<string, string>(StringComparer.Ordinal);
        var path = Path.Combine(_directory, FileSuffix(pos) + ".exc");
        if (File.Exists(path))
        {
            foreach (var line in File.ReadLines(path))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length >= 2) exceptions.TryAdd(fields[0], fields[1]);
            }
        }
        _exceptions[pos] = exceptions;
        return exceptions;
    }

    private Synset Load(WordNetPos pos, long offset)
    {
        if (_synsets.TryGetValue((pos, offset), out var cached)) return cached;
        // data.<pos> line at byte offset: offset lex_filenum ss_type w_cnt(hex) [word lex_id]… p_cnt [ptr offset pos src/tgt]… | gloss
        using var stream = File.OpenRead(Path.Combine(_directory, "data." + FileSuffix(pos)));
        stream.Seek(offset, SeekOrigin.Begin);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var fields = (reader.ReadLine() ?? "").Split(" | ")[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        int wordCount = Convert.ToInt32(fields[3], 16);
        var words = new List<string>();
        for (int i = 0; i < wordCount; i++)
        {
            var word = fields[4 + 2 * i];
            int marker = word.IndexOf('('); // adjective syntactic markers: "open(p)"
            words.Add(marker > 0 ? word[..marker] : word);
        }
        int p = 4 + 2 * wordCount;
        int pointerCount = int.Parse(fields[p]);
        var pointers = new List<Pointer>();
        for (int i = 0; i < pointerCount; i++)
        {
            int f = p + 1 + 4 * i;
            var sourceTarget = fields[f + 3];
            pointers.Add(new Pointer(fields[f], long.Parse(fields[f + 1]), ParsePos(fields[f + 2]),
                Convert.ToInt32(sourceTarget[..2], 16), Convert.ToInt32(sourceTarget[2..], 16)));
        }
        var synset = new Synset(words, pointers, int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture));
        _synsets[(pos, offset)] = synset;
        return synset;
    }

    private static WordNetPos ParsePos(string code) => code switch
    {
        "n" => WordNetPos.Noun,
        "v" => WordNetPos.Verb,
        _ => WordNetPos.Adjective, // "a" and satellite "s" both live in data.adj
    };

    private sealed record Pointer(string Symbol, long Offset, WordNetPos Pos, int SourceWord, int TargetWord);

    private sealed record Synset(List<string> Words, List<Pointer> Pointers, int LexFile);

    // WordNet 3.0 lexicographer files, by number (lexnames(5WN)).
    private static readonly string[] LexFileNames =
    [
        "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
        "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
        "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
        "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
        "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition", "verb.consumption",
        "verb.contact", "verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession",
        "verb.social", "verb.stative", "verb.weather", "adj.ppl",
    ];
}
