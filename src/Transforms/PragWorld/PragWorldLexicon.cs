namespace MLNetExt;

/// <summary>
/// The vocabulary of PragWorld's controlled conversation language: people, movable objects, rooms, objects with
/// a two-valued state (and the state antonyms), number words and small containers.
/// </summary>
public sealed class PragWorldLexicon
{
    /// <summary>The built-in vocabulary (no WordNet needed).</summary>
    public static PragWorldLexicon Default { get; } = new();

    /// <summary>People, with true for "she" and false for "he".</summary>
    public IReadOnlyDictionary<string, bool> People { get; init; } = new Dictionary<string, bool>
    {
        ["Alice"] = true, ["Bob"] = false, ["Emma"] = true, ["Noah"] = false, ["Olivia"] = true, ["Liam"] = false,
        ["Mia"] = true, ["Lucas"] = false, ["Sofia"] = true, ["Ethan"] = false, ["Ava"] = true, ["Jack"] = false,
        ["Lily"] = true, ["Owen"] = false, ["Chloe"] = true, ["Henry"] = false,
    };

    /// <summary>Movable objects (plural nouns; one token each).</summary>
    public IReadOnlyList<string> MovableObjects { get; init; } =
    [
        "keys", "books", "oranges", "apples", "cups", "plates", "socks", "letters", "coins", "batteries", "candles",
        "tomatoes", "onions", "spoons", "pencils", "towels", "lemons", "potatoes", "glasses", "scissors", "tickets",
        "photos", "peaches", "carrots",
    ];

    /// <summary>Rooms and places (one token each).</summary>
    public IReadOnlyList<string> Locations { get; init; } =
    [
        "kitchen", "garage", "attic", "cellar", "hallway", "bedroom", "bathroom", "pantry", "garden", "porch",
        "study", "basement", "closet", "shed", "balcony", "living_room", "dining_room", "office",
    ];

    /// <summary>Singular objects with a two-valued state, mapped to that state's two adjectives.</summary>
    public IReadOnlyDictionary<string, (string, string)> StatefulObjects { get; init; } = new Dictionary<string, (string, string)>
    {
        ["door"] = ("open", "closed"), ["window"] = ("open", "closed"), ["drawer"] = ("open", "closed"),
        ["oven"] = ("hot", "cold"), ["soup"] = ("hot", "cold"), ["jar"] = ("full", "empty"),
        ["kettle"] = ("full", "empty"), ["bottle"] = ("full", "empty"), ["shirt"] = ("clean", "dirty"),
        ["floor"] = ("clean", "dirty"), ["towel"] = ("wet", "dry"), ["umbrella"] = ("wet", "dry"),
    };

    /// <summary>Small containers, used by the inconsistent-data alteration.</summary>
    public IReadOnlyList<string> SmallContainers { get; init; } = ["envelope", "teacup", "matchbox", "pencil_case", "shoebox"];

    /// <summary>Large objects that cannot fit in a small container (replaced by WordNet furniture when available).</summary>
    public IReadOnlyList<string> LargeObjects { get; init; } = ["sofa", "wardrobe", "piano", "bookcase", "refrigerator", "bed"];

    /// <summary>Number words understood as quantities, index = value.</summary>
    public static IReadOnlyList<string> NumberWords { get; } =
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];

    /// <summary>
    /// This lexicon with <see cref="LargeObjects"/> taken from WordNet's hyponyms of "furniture" (single-word lemmas,
    /// sorted), and every state pair checked against WordNet antonyms.
    /// </summary>
    /// <exception cref="InvalidOperationException">A built-in state pair is not a WordNet antonym pair.</exception>
    public PragWorldLexicon WithWordNet(WordNetDictionary wordNet)
    {
        foreach (var (first, second) in StatefulObjects.Values.Distinct())
        {
            if (!wordNet.Antonyms(first, WordNetPos.Adjective).Contains(second, StringComparer.OrdinalIgnoreCase))
                throw new InvalidOperationException($"WordNet does not list '{second}' as an antonym of '{first}'.");
        }
        var furniture = wordNet.Hyponyms("furniture", WordNetPos.Noun, depth: 2)
            .Where(w => !w.Contains(' ') && !w.Contains('-') && w.All(char.IsLower))
            .Order(StringComparer.Ordinal).ToList();
        return furniture.Count == 0 ? this : new PragWorldLexicon
        {
            People = People, MovableObjects = MovableObjects, Locations = Locations, StatefulObjects = StatefulObjects,
            SmallContainers = SmallContainers, LargeObjects = furniture,
        };
    }

    /// <summary>The other adjective of <paramref name="adjective"/>'s state pair, or null if it is not a state adjective.</summary>
    public string? StateAntonym(string adjective)
    {
        foreach (var (first, second) in StatefulObjects.Values)
        {
            if (first.Equals(adjective, StringComparison.OrdinalIgnoreCase)) return second;
            if (second.Equals(adjective, StringComparison.OrdinalIgnoreCase)) return first;
        }
        return null;
    }

    /// <summary>"he" or "she" for a known person; "they" otherwise.</summary>
    public string SubjectPronoun(string person) =>
        People.TryGetValue(person, out var female) ? (female ? "she" : "he") : "they";

    /// <summary>The value of a number word ("three" → 3), or null.</summary>
    public static int? NumberValue(string word)
    {
        int index = NumberWords.ToList().FindIndex(w => w.Equals(word, StringComparison.OrdinalIgnoreCase));
        return index < 0 ? null : index;
    }
}
