using Microsoft.ML;

namespace MLNetExt.Tests.PragWorld;

/// <summary>The alterations on real turns of the authors' manual benchmark, which the interpreter does not understand.</summary>
public class FreeFormAlterationTests
{
    // Turns quoted from the authors' manual set (Manual_Dataset_500.csv).
    private const string EmmaAndOranges =
        "Person 1: where did Emma go\nPerson 1: did you leave the oranges in the garage\nPerson 2: I left the watermelons there";
    private const string Cellar = "A: what about Emma\nB: she said she was in the cellar";
    private const string Grapefruits = "Alice: what about the grapefruits\nBob: some of the grapefruits are in the playroom";
    private const string Turnips = "Alice: how about the turnips\nBob: Owen left them in the pantry and walked to the playroom";
    private const string Strawberries = "Person 1: where can I find them\nPerson 2: two are there";
    private const string Rentals = "A: Okay, how much are movie rentals anyway\nB: Well, new releases are $5";

    private static PragWorldQuestionRow Apply(AlterationKind kind, string conversation, string question, bool label = false) =>
        PragWorldTransformsCatalog.Create(kind).Apply(AlterationTests.Row(conversation, question, label, type: ""), new PragWorldAlterationOptions { KeepNotApplicable = true });

    private static void AssertUnknown(PragWorldQuestionRow altered, bool label)
    {
        Assert.Equal(AlterationEffects.Unknown, altered.AlterationEffect);
        Assert.Equal(label, altered.Label); // never guessed: the input's label
        Assert.Contains("effect unknown: ", altered.AlterationNote);
    }

    [Fact]
    public void NegationTogglesTheOnlyAuxiliary()
    {
        var altered = Apply(AlterationKind.Negation, Cellar, "is Emma in the cellar?", label: true);
        Assert.Equal("A: what about Emma\nB: she said she wasn't in the cellar", altered.Conversation);
        Assert.Equal(("Context", "2", "was", "wasn't"), (altered.AlterationTarget, altered.AlterationUtteranceIndex, altered.AlterationOldWord, altered.AlterationNewWord));
        AssertUnknown(altered, label: true);
    }

    [Fact]
    public void NegationSitesCoverAnswersAuxiliariesAndNot()
    {
        Assert.Equal([(0, "No", "Yes"), (5, "don't", "do")], FreeFormRules.NegationSites("No I don't. Do I need one").Take(2));
        Assert.Equal([(3, "didn't", "did")], FreeFormRules.NegationSites("he didn't"));
        Assert.Equal([(3, "is not", "is")], FreeFormRules.NegationSites("it is not here"));
        Assert.Equal([(2, "can't", "can")], FreeFormRules.NegationSites("I can't come"));
    }

    [Fact]
    public void QuantifierChangeMovesAlongTheScale()
    {
        // This real exchange is within the interpreter's language: the effect is computed ("some" implies "not all").
        var understood = Apply(AlterationKind.QuantifierChange, Grapefruits, "are all the grapefruits in the playroom ?");
        Assert.Equal("Alice: what about the grapefruits\nBob: all of the grapefruits are in the playroom", understood.Conversation);
        Assert.Equal(("2", "some", "all"), (understood.AlterationUtteranceIndex, understood.AlterationOldWord, understood.AlterationNewWord));
        Assert.Equal((AlterationEffects.Flip, true), (understood.AlterationEffect, understood.Label));

        var altered = Apply(AlterationKind.QuantifierChange, "A: I'd like a few of them\nB: okay", "does A want many of them?");
        Assert.Equal("A: I'd like a lot of them\nB: okay", altered.Conversation);
        AssertUnknown(altered, label: false);
        Assert.Equal([(9, "a few", "a lot of")], FreeFormRules.QuantifierSites("I'd like a few apples"));
        Assert.Equal([(7, "too", "quite")], FreeFormRules.QuantifierSites("that's too expensive, me too"));
    }

    [Fact]
    public void LogicalConnectiveChangeSwapsAndForOr()
    {
        var altered = Apply(AlterationKind.LogicalConnectiveChange, Turnips, "are the turnips in the pantry?", label: true);
        Assert.Equal("Alice: how about the turnips\nBob: Owen left them in the pantry or walked to the playroom", altered.Conversation);
        Assert.Equal(("2", "and", "or"), (altered.AlterationUtteranceIndex, altered.AlterationOldWord, altered.AlterationNewWord));
        AssertUnknown(altered, label: true);
        Assert.Equal([(2, "if not", "or")], FreeFormRules.ConnectiveSites("I if not you"));
    }

    [Fact]
    public void QuantityChangeEditsNumberWordsNumeralsAndMoney()
    {
        Assert.Equal(["three", "one", "four", "zero"], FreeFormRules.QuantitySites("two are there").Select(s => s.New));
        Assert.Equal(["$6", "$4", "$7", "$3"], FreeFormRules.QuantitySites("new releases are $5").Select(s => s.New));
        Assert.Equal([(0, "half", "quarter")], FreeFormRules.QuantitySites("half of it"));
        Assert.Empty(FreeFormRules.QuantitySites("Do I need one?")); // "one" as a pronoun is no quantity

        var altered = Apply(AlterationKind.QuantityChange, Strawberries, "are two of the strawberries there?", label: true);
        Assert.Equal(("2", "two"), (altered.AlterationUtteranceIndex, altered.AlterationOldWord));
        Assert.Contains(altered.AlterationNewWord, new[] { "three", "one", "four", "zero" });
        Assert.Equal($"Person 1: where can I find them\nPerson 2: {altered.AlterationNewWord} are there", altered.Conversation);
        AssertUnknown(altered, label: true);

        var money = Apply(AlterationKind.QuantityChange, Rentals, "are new releases $5?", label: true);
        Assert.Equal("$5", money.AlterationOldWord);
        Assert.Equal($"A: Okay, how much are movie rentals anyway\nB: Well, new releases are {money.AlterationNewWord}", money.Conversation);
    }

    [WordNetFact]
    public void VariableSubstitutionReplacesTheQuestionsEntityWithOneOfTheSameCategory()
    {
        // The authors' own edit of this row: "are the oranges in the garage?" → "are the watermelons in the garage?".
        var altered = Apply(AlterationKind.VariableSubstitution, EmmaAndOranges, "are the oranges in the garage?");
        Assert.Equal("are the watermelons in the garage?", altered.Question);
        Assert.Equal(EmmaAndOranges, altered.Conversation);
        Assert.Equal(("Question", "", "oranges", "watermelons"), (altered.AlterationTarget, altered.AlterationUtteranceIndex, altered.AlterationOldWord, altered.AlterationNewWord));
        AssertUnknown(altered, label: false);
    }

    [WordNetFact]
    public void VariableSwapExchangesTwoEntitiesOfTheSameCategory()
    {
        // The authors' own edit of this conversation swaps the same two fruits.
        var altered = Apply(AlterationKind.VariableSwap, EmmaAndOranges, "are the oranges in the garage?");
        Assert.Equal("Person 1: where did Emma go\nPerson 1: did you leave the watermelons in the garage\nPerson 2: I left the oranges there",
            altered.Conversation);
        Assert.Equal(("swapped between indexes 2 and 3", "oranges", "watermelons"), (altered.AlterationUtteranceIndex, altered.AlterationOldWord, altered.AlterationNewWord));
        AssertUnknown(altered, label: false);
    }

    [WordNetFact]
    public void FreeFormMentionsFindNamesAndNounPhrasesWithTheirWordNetCategory()
    {
        // WordNet 3.0: sweet_potato's first sense is the plant (lexicographer file 20), master_bedroom an artifact (06).
        var mentions = FreeFormLexicon.Default.Mentions("Bob: Owen said he put the sweet potatoes in the master_bedroom");
        Assert.Equal([("Owen", "person"), ("sweet potatoes", "noun.plant"), ("master_bedroom", "noun.artifact")],
            mentions.Where(m => m.Word != "Bob").Select(m => (m.Word, m.Category)));
    }

    [WordNetFact]
    public void InjectingInconsistentDataRewritesATurnAboutAThing()
    {
        const string conversation = "A: Doctor! Doctor! Help me, please!\nB: Take it easy, please!";
        var altered = Apply(AlterationKind.InjectingInconsistentData, "A: where is the ticket\nB: I have no idea", "is the ticket lost?", label: true);
        var expected = FreeFormRules.Implausible.Select(t => "A: where is the ticket. " + string.Format(System.Globalization.CultureInfo.InvariantCulture, t, "ticket") + "\nB: I have no idea");
        Assert.Contains(altered.Conversation, expected);
        Assert.Equal(("1", ""), (altered.AlterationUtteranceIndex, altered.AlterationOldWord));
        Assert.EndsWith(altered.AlterationNewWord, altered.Conversation.Split('\n')[0]);
        AssertUnknown(altered, label: true);
        // No noun phrase to say something impossible about: no edit, and the row says so.
        var none = Apply(AlterationKind.InjectingInconsistentData, conversation, "is B a doctor?");
        Assert.Equal(AlterationEffects.NotApplicable, none.AlterationEffect);
        Assert.EndsWith("No free-form edit site either.", none.AlterationNote);
    }

    [Fact]
    public void WhereTheInterpreterUnderstandsTheEffectIsComputedAndTheEditRecorded()
    {
        var altered = Apply(AlterationKind.Negation, "Alice: where are the keys?\nBob: I put them in the garage", "are the keys in the garage?", label: true);
        Assert.Equal(AlterationEffects.Flip, altered.AlterationEffect);
        Assert.False(altered.Label);
        Assert.Equal(("2", "put", "didn't put"), (altered.AlterationUtteranceIndex, altered.AlterationOldWord, altered.AlterationNewWord));
        Assert.Equal("no", altered.Answer);
    }

    [SharedPragWorldFact]
    public void TheTransformsKeepUnknownRowsAndTheEvaluatorLeavesThemOut()
    {
        var ml = new MLContext(seed: 0);
        var originals = PragWorldCsv.Load(PragWorldSharedData.ManualCsv).Rows.Where(r => r.Alteration == PragWorldQuestionRow.OriginalAlteration).ToList();
        var view = ml.Data.LoadFromEnumerable(originals);
        var negated = ml.Data.CreateEnumerable<PragWorldQuestionRow>(ml.PragWorld().Alterations.Negation().Fit(view).Transform(view), reuseRowObject: false).ToList();
        Assert.Equal(88, negated.Count); // every real original has a negation site
        Assert.All(negated, r => Assert.Equal(AlterationEffects.Unknown, r.AlterationEffect));
        Assert.All(negated.Zip(originals), p => Assert.Equal(p.Second.Label, p.First.Label));
        Assert.All(negated.Zip(originals), p => Assert.NotEqual(p.Second.Conversation, p.First.Conversation));
    }
}
