using System.Text.RegularExpressions;

namespace MLNetExt;

/// <summary>
/// A word-level tokenizer with a vocabulary learned from training texts (no downloads: the vocabulary travels with the
/// model). Lower-cases, splits into words, numbers and single punctuation marks; the literal "[SEP]" in a text becomes
/// the separator token (e.g. between a conversation and a question). Ids: 0 = [PAD], 1 = [UNK], 2 = [CLS], 3 = [SEP].
/// </summary>
public sealed partial class WordTokenizer
{
    /// <summary>Padding id.</summary>
    public const int Pad = 0;
    /// <summary>Unknown-word id.</summary>
    public const int Unknown = 1;
    /// <summary>Id of the leading classification token.</summary>
    public const int Cls = 2;
    /// <summary>Separator id.</summary>
    public const int Sep = 3;
    private static readonly string[] Specials = { "[PAD]", "[UNK]", "[CLS]", "[SEP]" };

    private readonly Dictionary<string, int> _ids;
    private readonly string[] _words;

    private WordTokenizer(string[] words)
    {
        _words = words;
        _ids = new Dictionary<string, int>(words.Length, StringComparer.Ordinal);
        for (int i = 0; i < words.Length; i++) _ids[words[i]] = i;
    }

    /// <summary>Number of ids, special tokens included.</summary>
    public int VocabularySize => _words.Length;

    [GeneratedRegex(@"\[SEP\]|[\p{L}\p{N}]+|[^\s\p{L}\p{N}]")]
    private static partial Regex TokenPattern();

    /// <summary>Splits <paramref name="text"/> into lower-case word tokens.</summary>
    public static IEnumerable<string> Split(string text)
    {
        foreach (Match m in TokenPattern().Matches(text))
            yield return m.Value == "[SEP]" ? m.Value : m.Value.ToLowerInvariant();
    }

    /// <summary>Learns the <paramref name="maxVocabulary"/> most frequent words (ties broken alphabetically, so equal data give equal vocabularies).</summary>
    public static WordTokenizer Train(IEnumerable<string> texts, int maxVocabulary = 8000, int minCount = 1)
    {
        if (maxVocabulary <= Specials.Length) throw new ArgumentOutOfRangeException(nameof(maxVocabulary), maxVocabulary, $"The vocabulary needs more than {Specials.Length} entries.");
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var text in texts)
            foreach (var token in Split(text))
                if (token != "[SEP]") counts[token] = counts.GetValueOrDefault(token) + 1;
        var words = counts.Where(kv => kv.Value >= minCount).OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Take(maxVocabulary - Specials.Length).Select(kv => kv.Key);
        return new WordTokenizer(Specials.Concat(words).ToArray());
    }

    /// <summary>Writes [CLS] + token ids (truncated) into <paramref name="destination"/>, padding the rest with 0; returns the used length.</summary>
    public int Encode(string text, Span<float> destination)
    {
        destination.Clear();
        if (destination.IsEmpty) return 0;
        destination[0] = Cls;
        int n = 1;
        foreach (var token in Split(text))
        {
            if (n == destination.Length) break;
            destination[n++] = _ids.TryGetValue(token, out var id) ? id : Unknown;
        }
        return n;
    }

    /// <summary>The word of an id.</summary>
    public string Word(int id) => _words[id];

    /// <summary>Writes the vocabulary.</summary>
    public void Write(BinaryWriter writer)
    {
        writer.Write(_words.Length);
        foreach (var w in _words) writer.Write(w);
    }

    /// <summary>Reads a vocabulary written by <see cref="Write"/>.</summary>
    public static WordTokenizer Read(BinaryReader reader)
    {
        int n = reader.ReadInt32();
        if (n < Specials.Length || n > 10_000_000) throw new InvalidDataException($"Stored vocabulary size {n} is invalid.");
        var words = new string[n];
        for (int i = 0; i < n; i++) words[i] = reader.ReadString();
        return new WordTokenizer(words);
    }
}
