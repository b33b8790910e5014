namespace MLNetExt;

/// <summary>Options of <see cref="ConversationGenerator"/>.</summary>
public sealed class ConversationGeneratorOptions
{
    /// <summary>Random seed; the same seed and options give the same conversations.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Templates to draw from (cycled in order); null = <see cref="ConversationGenerator.TemplateIds"/>.</summary>
    public IReadOnlyList<string>? Templates { get; init; }

    /// <summary>Most distractor exchanges (about other objects) added at each distractor slot of a template.</summary>
    public int MaxDistractorsPerSlot { get; init; } = 2;

    /// <summary>Prefix of generated conversation ids.</summary>
    public string IdPrefix { get; init; } = "conv";

    /// <summary>Vocabulary; <see cref="PragWorldLexicon.Default"/> when null.</summary>
    public PragWorldLexicon? Lexicon { get; init; }
}

/// <summary>
/// Generates realistic two-party conversations in PragWorld's controlled language, with yes/no questions whose
/// answers are correct by construction: each template knows what its events did (objects moved, given, changed
/// state, placed with "some"/"all", "and"/"or", pronoun references, negated confirmations) and states the answers.
/// Whole templates can be held out (<see cref="DefaultHeldOutTemplateIds"/>) to test generalisation.
/// </summary>
public sealed class ConversationGenerator
{
    private readonly ConversationGeneratorOptions _options;
    private readonly PragWorldLexicon _lexicon;
    private readonly IReadOnlyList<string> _templates;

    private static readonly Dictionary<string, Action<ScenarioBuilder>> Builders = new()
    {
        ["moved-once"] = MovedOnce,
        ["moved-twice"] = MovedTwice,
        ["confirmed-placement"] = ConfirmedPlacement,
        ["given"] = Given,
        ["given-then-placed"] = GivenThenPlaced,
        ["state-changed"] = StateChanged,
        ["state-negated"] = StateNegated,
        ["counted"] = Counted,
        ["some-or-all"] = SomeOrAll,
        ["either-or"] = EitherOr,
        ["both-objects"] = BothObjects,
        ["not-there"] = NotThere,
    };

    /// <summary>All template ids.</summary>
    public static IReadOnlyList<string> TemplateIds { get; } = Builders.Keys.ToList();

    /// <summary>Templates kept out of training by default (a held-out set the model never sees).</summary>
    public static IReadOnlyList<string> DefaultHeldOutTemplateIds { get; } = ["given-then-placed", "state-negated", "both-objects"];

    /// <summary>Templates not in <see cref="DefaultHeldOutTemplateIds"/>.</summary>
    public static IReadOnlyList<string> DefaultTrainingTemplateIds { get; } = TemplateIds.Except(DefaultHeldOutTemplateIds).ToList();

    /// <summary>Creates a generator.</summary>
    /// <exception cref="ArgumentException">An unknown template id is requested.</exception>
    public ConversationGenerator(ConversationGeneratorOptions? options = null)
    {
        _options = options ?? new ConversationGeneratorOptions();
        _lexicon = _options.Lexicon ?? PragWorldLexicon.Default;
        _templates = _options.Templates ?? TemplateIds;
        if (_templates.Count == 0) throw new ArgumentException("At least one template is required.", nameof(options));
        foreach (var t in _templates.Where(t => !Builders.ContainsKey(t)))
            throw new ArgumentException($"Unknown PragWorld template '{t}'; known templates: {string.Join(", ", TemplateIds)}.", nameof(options));
    }

    /// <summary>Generates <paramref name="count"/> conversations, cycling through the templates.</summary>
    public IEnumerable<PragWorldConversation> Generate(int count)
    {
        var random = new Random(_options.Seed);
        for (int i = 0; i < count; i++)
        {
            var template = _templates[i % _templates.Count];
            var builder = new ScenarioBuilder(random, _lexicon, _options.MaxDistractorsPerSlot);
            Builders[template](builder);
            yield return builder.Build($"{_options.IdPrefix}{i:D5}", template);
        }
    }

    // ----- templates ---------------------------------------------------------------------------------------------

    private static void MovedOnce(ScenarioBuilder b)
    {
        var (obj, at, elsewhere, person) = (b.Object(), b.Location(), b.Location(), b.ThirdPerson());
        b.Distractors();
        b.Exchange($"where are the {obj}?", $"{person} put them in the {at}");
        b.Distractors();
        b.Ask($"are the {obj} in the {at}?", true, QuestionType.Reference, obj, at);
        b.Ask($"are the {obj} in the {elsewhere}?", false, QuestionType.Reference, obj, elsewhere);
    }

    private static void MovedTwice(ScenarioBuilder b)
    {
        var (obj, first, second) = (b.Object(), b.Location(), b.Location());
        b.Exchange($"what about the {obj}?", $"{b.ThirdPerson()} left the {obj} in the {first}");
        b.Distractors();
        b.Exchange($"where are the {obj}?", $"{b.ThirdPerson()} moved them to the {second}");
        b.Distractors();
        b.Ask($"are the {obj} in the {second}?", true, QuestionType.Location, obj, second);
        b.Ask($"are the {obj} in the {first}?", false, QuestionType.Location, obj, first);
    }

    private static void ConfirmedPlacement(ScenarioBuilder b)
    {
        var (obj, proposed, actual, person) = (b.Object(), b.Location(), b.Location(), b.ThirdPerson());
        b.Distractors();
        if (b.Coin())
        {
            b.Exchange($"did {person} put the {obj} in the {proposed}?", $"yes, {b.Pronoun(person)} did");
            b.Ask($"are the {obj} in the {proposed}?", true, QuestionType.Location, obj, proposed);
            b.Ask($"are the {obj} in the {actual}?", false, QuestionType.Location, obj, actual);
        }
        else
        {
            b.Exchange($"did {person} put the {obj} in the {proposed}?", $"no, {b.Pronoun(person)} didn't");
            b.Exchange($"where are the {obj}?", $"I put them in the {actual}");
            b.Ask($"are the {obj} in the {actual}?", true, QuestionType.Location, obj, actual);
            b.Ask($"are the {obj} in the {proposed}?", false, QuestionType.Location, obj, proposed);
        }
        b.Distractors();
    }

    private static void Given(ScenarioBuilder b)
    {
        var (obj, giver, receiver) = (b.Object(), b.ThirdPerson(), b.ThirdPerson());
        b.Distractors();
        b.Exchange($"who has the {obj}?", $"{giver} gave the {obj} to {receiver}");
        b.Distractors();
        b.Ask($"does {receiver} have the {obj}?", true, QuestionType.Possession, obj, receiver);
        b.Ask($"does {giver} have the {obj}?", false, QuestionType.Possession, obj, giver);
    }

    private static void GivenThenPlaced(ScenarioBuilder b)
    {
        var (obj, giver, receiver, at) = (b.Object(), b.ThirdPerson(), b.ThirdPerson(), b.Location());
        b.Exchange($"who has the {obj}?", $"{giver} gave them to {receiver}");
        b.Distractors();
        b.Exchange($"what about the {obj}?", $"{receiver} put them in the {at}");
        b.Ask($"does {receiver} have the {obj}?", false, QuestionType.Possession, obj, receiver);
        b.Ask($"are the {obj} in the {at}?", true, QuestionType.Reference, obj, at);
    }

    private static void StateChanged(ScenarioBuilder b)
    {
        var (thing, (before, after)) = b.StatefulObject();
        if (b.Coin()) (before, after) = (after, before);
        b.Exchange($"how is the {thing}?", $"the {thing} is {before}");
        b.Distractors();
        b.Exchange($"how is the {thing}?", $"the {thing} is {after} now");
        b.Ask($"is the {thing} {after}?", true, QuestionType.State, thing, after);
        b.Ask($"is the {thing} {before}?", false, QuestionType.State, thing, before);
    }

    private static void StateNegated(ScenarioBuilder b)
    {
        var (thing, (denied, implied)) = b.StatefulObject();
        if (b.Coin()) (denied, implied) = (implied, denied);
        b.Distractors();
        b.Exchange($"how is the {thing}?", $"the {thing} is not {denied}");
        b.Distractors();
        b.Ask($"is the {thing} {implied}?", true, QuestionType.State, thing, implied);
        b.Ask($"is the {thing} {denied}?", false, QuestionType.State, thing, denied);
    }

    private static void Counted(ScenarioBuilder b)
    {
        var (obj, at) = (b.Object(), b.Location());
        int count = b.Number(2, 8);
        var (said, other) = (PragWorldLexicon.NumberWords[count], PragWorldLexicon.NumberWords[count + 1]);
        b.Distractors();
        b.Exchange($"how many {obj} are in the {at}?", $"{said} of them are in the {at}");
        b.Distractors();
        b.Ask($"are there {said} {obj} in the {at}?", true, QuestionType.Quantity, obj, said);
        b.Ask($"are there {other} {obj} in the {at}?", false, QuestionType.Quantity, obj, other);
    }

    private static void SomeOrAll(ScenarioBuilder b)
    {
        var (obj, at) = (b.Object(), b.Location());
        bool all = b.Coin();
        b.Distractors();
        b.Exchange($"are all the {obj} in the {at}?", $"{(all ? "all" : "some")} of them are in the {at}");
        b.Distractors();
        b.Ask($"are all the {obj} in the {at}?", all, QuestionType.Implicature, obj, at);
        b.Ask($"are the {obj} in the {at}?", true, QuestionType.Location, obj, at);
    }

    private static void EitherOr(ScenarioBuilder b)
    {
        var (obj, first, second, neither) = (b.Object(), b.Location(), b.Location(), b.Location());
        bool both = b.Coin();
        b.Distractors();
        b.Exchange($"where did you leave the {obj}?", $"I left them in the {first} {(both ? "and" : "or")} the {second}");
        b.Distractors();
        b.Ask($"does {b.Answerer} know for sure where the {obj} are?", both, QuestionType.Implicature, obj, b.Answerer);
        if (both) b.Ask($"are the {obj} in the {second}?", true, QuestionType.Location, obj, second);
        b.Ask($"are the {obj} in the {neither}?", false, QuestionType.Location, obj, neither);
    }

    private static void BothObjects(ScenarioBuilder b)
    {
        var (first, second, at, elsewhere) = (b.Object(), b.Object(), b.Location(), b.Location());
        b.Distractors();
        b.Exchange($"what about the {first}?", $"I put the {first} and the {second} in the {at}");
        b.Distractors();
        b.Ask($"are the {second} in the {at}?", true, QuestionType.Location, second, at);
        b.Ask($"are the {first} in the {elsewhere}?", false, QuestionType.Location, first, elsewhere);
        b.Ask($"does {b.Answerer} know for sure where the {first} are?", true, QuestionType.Implicature, first, b.Answerer);
    }

    private static void NotThere(ScenarioBuilder b)
    {
        var (obj, notAt) = (b.Object(), b.Location());
        b.Distractors();
        b.Exchange($"where are the {obj}?", $"they are not in the {notAt}");
        b.Distractors();
        b.Ask($"are the {obj} in the {notAt}?", false, QuestionType.Location, obj, notAt);
    }

    /// <summary>Accumulates the turns and questions of one conversation, drawing fresh entities.</summary>
    private sealed class ScenarioBuilder
    {
        private readonly Random _random;
        private readonly PragWorldLexicon _lexicon;
        private readonly int _maxDistractors;
        private readonly List<ConversationTurn> _turns = [];
        private readonly List<WorldQuestion> _questions = [];
        private readonly HashSet<string> _used = new(StringComparer.OrdinalIgnoreCase);

        public ScenarioBuilder(Random random, PragWorldLexicon lexicon, int maxDistractors)
        {
            _random = random;
            _lexicon = lexicon;
            _maxDistractors = maxDistractors;
            Asker = Fresh(lexicon.People.Keys.ToList());
            Answerer = Fresh(lexicon.People.Keys.ToList());
        }

        public string Asker { get; }
        public string Answerer { get; }

        public bool Coin() => _random.Next(2) == 0;
        public int Number(int min, int maxInclusive) => _random.Next(min, maxInclusive + 1);
        public string Object() => Fresh(_lexicon.MovableObjects);
        public string Location() => Fresh(_lexicon.Locations);
        public string ThirdPerson() => Fresh(_lexicon.People.Keys.ToList());
        public string Pronoun(string person) => _lexicon.SubjectPronoun(person);

        public (string Thing, (string, string) States) StatefulObject()
        {
            var thing = Fresh(_lexicon.StatefulObjects.Keys.ToList());
            return (thing, _lexicon.StatefulObjects[thing]);
        }

        public void Exchange(string question, string answer)
        {
            _turns.Add(new ConversationTurn(Asker, question));
            _turns.Add(new ConversationTurn(Answerer, answer));
        }

        public void Ask(string text, bool answer, QuestionType type, string entity, string state) =>
            _questions.Add(new WorldQuestion($"q{_questions.Count + 1}", text, answer, type, entity, state));

        /// <summary>0…max exchanges about other, fresh objects; some get a question of their own.</summary>
        public void Distractors()
        {
            int count = _random.Next(_maxDistractors + 1);
            for (int i = 0; i < count; i++)
            {
                var (obj, at) = (Object(), Location());
                switch (_random.Next(3))
                {
                    case 0:
                        Exchange($"what about the {obj}?", $"{ThirdPerson()} put the {obj} in the {at}");
                        break;
                    case 1:
                        Exchange($"where are the {obj}?", $"the {obj} are in the {at}");
                        break;
                    default:
                        Exchange($"where are the {obj}?", "I don't know");
                        continue; // nothing to ask about
                }
                if (Coin()) Ask($"are the {obj} in the {at}?", true, QuestionType.Location, obj, at);
            }
        }

        public PragWorldConversation Build(string id, string template) =>
            new(id, template, [Asker, Answerer], _turns.ToList(), _questions.ToList());

        private string Fresh(IReadOnlyList<string> candidates)
        {
            var available = candidates.Where(c => !_used.Contains(c)).ToList();
            if (available.Count == 0) throw new InvalidOperationException("The lexicon ran out of distinct entities for one conversation.");
            var pick = available[_random.Next(available.Count)];
            _used.Add(pick);
            return pick;
        }
    }
}
