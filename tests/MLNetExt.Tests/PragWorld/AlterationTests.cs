using Microsoft.ML;

namespace MLNetExt.Tests.PragWorld;

public class AlterationTests
{
    private const string KeysAndCups =
        "Alice: where are the keys?\nBob: Noah put them in the garage\nAlice: did Emma put the cups in the kitchen?\nBob: no, she didn't";

    private const string OrangesAndLemons =
        "Alice: where are the oranges?\nBob: I left them in the garage\nAlice: what about the lemons?\nBob: Emma put the lemons in the cellar";

    internal static PragWorldQuestionRow Row(string conversation, string question, bool label, string type = "Location", string entity = "", string id = "c1/q1") => new()
    {
        ConversationId = id.Split('/')[0], TemplateId = "fixed", QuestionId = id, Conversation = conversation,
        Question = question, Label = label, QuestionType = type, Entity = entity,
    };

    private static PragWorldQuestionRow Apply(AlterationKind kind, PragWorldQuestionRow row, PragWorldAlterationOptions? options = null) =>
        PragWorldTransformsCatalog.Create(kind).Apply(row, options ?? new PragWorldAlterationOptions { KeepNotApplicable = true });

    private static void AssertAltered(PragWorldQuestionRow altered, string conversation, string question, bool label, string effect, string note)
    {
        Assert.Equal(conversation, altered.Conversation);
        Assert.Equal(question, altered.Question);
        Assert.Equal(label, altered.Label);
        Assert.Equal(effect, altered.AlterationEffect);
        Assert.Equal(note, altered.AlterationNote);
    }

    [Fact]
    public void NegationOfAnUnrelatedAnswerKeepsTheLabel()
    {
        var altered = Apply(AlterationKind.Negation, Row(KeysAndCups, "are the keys in the garage?", true, entity: "keys"),
            new PragWorldAlterationOptions { PreferredEffect = AlterationEffects.Invariant });

        AssertAltered(altered,
            "Alice: where are the keys?\nBob: Noah put them in the garage\nAlice: did Emma put the cups in the kitchen?\nBob: yes, she did",
            "are the keys in the garage?", true, AlterationEffects.Invariant, "turn 4: 'no, she didn't' → 'yes, she did'");
        Assert.Equal("Negation", altered.Alteration);
        Assert.Equal("Context", altered.AlterationTarget);
    }

    [Fact]
    public void NegatingThePlacementFlipsTheLabel()
    {
        var altered = Apply(AlterationKind.Negation, Row(KeysAndCups, "are the keys in the garage?", true, entity: "keys"),
            new PragWorldAlterationOptions { PreferredEffect = AlterationEffects.Flip });

        AssertAltered(altered,
            "Alice: where are the keys?\nBob: Noah didn't put them in the garage\nAlice: did Emma put the cups in the kitchen?\nBob: no, she didn't",
            "are the keys in the garage?", false, AlterationEffects.Flip, "turn 2: 'put' → 'didn't put'");
    }

    [Fact]
    public void NegationOfTheDecidingStatementFlipsTheLabel()
    {
        var altered = Apply(AlterationKind.Negation, Row("Alice: how is the door?\nBob: the door is open", "is the door open?", true, "State", "door"));

        AssertAltered(altered, "Alice: how is the door?\nBob: the door is not open", "is the door open?", false,
            AlterationEffects.Flip, "turn 2: 'the door is' → 'the door is not'");
    }

    [Fact]
    public void NegatedConfirmationBecomesPositiveAndFlips()
    {
        // "did Noah put the keys in the attic?" "he didn't": the hypothesis is rejected, the keys are not there.
        var altered = Apply(AlterationKind.Negation, Row("Alice: did Noah put the keys in the attic?\nBob: he didn't", "are the keys in the attic?", false, entity: "keys"));

        AssertAltered(altered, "Alice: did Noah put the keys in the attic?\nBob: he did", "are the keys in the attic?", true,
            AlterationEffects.Flip, "turn 2: 'he didn't' → 'he did'");
    }

    [Fact]
    public void VariableSubstitutionReplacesTheQuestionEntityAndFlips()
    {
        var altered = Apply(AlterationKind.VariableSubstitution, Row(OrangesAndLemons, "are the oranges in the garage?", true, entity: "oranges"));

        AssertAltered(altered, OrangesAndLemons, "are the lemons in the garage?", false, AlterationEffects.Flip, "question: 'oranges' → 'lemons'");
        Assert.Equal("Question", altered.AlterationTarget);
        Assert.Equal("lemons", altered.Entity);
    }

    [Fact]
    public void QuantityChangeOfTheAskedCountFlipsAndOfAnotherCountDoesNot()
    {
        var asked = Apply(AlterationKind.QuantityChange, Row(
            "Alice: how many apples are in the pantry?\nBob: one of them is in the pantry", "are there one apples in the pantry?", true, "Quantity", "apples"));
        AssertAltered(asked, "Alice: how many apples are in the pantry?\nBob: two of them is in the pantry",
            "are there one apples in the pantry?", false, AlterationEffects.Flip, "turn 2: 'one' → 'two'");

        var other = Apply(AlterationKind.QuantityChange, Row(
            "Alice: where are the keys?\nBob: they are in the hallway\nAlice: how many apples are in the pantry?\nBob: one of them is in the pantry",
            "are the keys in the hallway?", true, entity: "keys"));
        Assert.Equal(AlterationEffects.Invariant, other.AlterationEffect);
        Assert.True(other.Label);
        Assert.Equal("turn 4: 'one' → 'two'", other.AlterationNote);
    }

    [Fact]
    public void VariableSwapExchangesTwoMentionsAndRecomputesTheLabel()
    {
        var altered = Apply(AlterationKind.VariableSwap, Row(OrangesAndLemons, "are the oranges in the garage?", true, entity: "oranges"));

        // Two swaps keep the question answerable (oranges↔lemons across turns 1 and 4, or garage↔cellar); both flip.
        var expected = new Dictionary<string, string>
        {
            ["swapped 'oranges' (turn 1) and 'lemons' (turn 4)"] =
                "Alice: where are the lemons?\nBob: I left them in the garage\nAlice: what about the lemons?\nBob: Emma put the oranges in the cellar",
            ["swapped 'garage' (turn 2) and 'cellar' (turn 4)"] =
                "Alice: where are the oranges?\nBob: I left them in the cellar\nAlice: what about the lemons?\nBob: Emma put the lemons in the garage",
        };
        Assert.Contains(altered.AlterationNote, expected.Keys);
        AssertAltered(altered, expected[altered.AlterationNote], "are the oranges in the garage?", false, AlterationEffects.Flip, altered.AlterationNote);
    }

    [Fact]
    public void QuantifierChangeFromSomeToAllFlipsTheScalarImplicature()
    {
        var altered = Apply(AlterationKind.QuantifierChange, Row(
            "Alice: are all the peaches in the pantry?\nBob: some of them are in the pantry", "are all the peaches in the pantry?", false, "Implicature", "peaches"));

        AssertAltered(altered, "Alice: are all the peaches in the pantry?\nBob: all of them are in the pantry",
            "are all the peaches in the pantry?", true, AlterationEffects.Flip, "turn 2: 'some' → 'all'");
    }

    [Fact]
    public void ConnectiveChangeFromOrToAndMakesTheSpeakerSure()
    {
        var altered = Apply(AlterationKind.LogicalConnectiveChange, Row(
            "Alice: where did you leave the keys?\nBob: I left them in the attic or the shed", "does Bob know for sure where the keys are?", false, "Implicature", "keys"));

        AssertAltered(altered, "Alice: where did you leave the keys?\nBob: I left them in the attic and the shed",
            "does Bob know for sure where the keys are?", true, AlterationEffects.Flip, "turn 2: 'or' → 'and'");
    }

    [Fact]
    public void InjectedInconsistentExchangeIsAppendedAndKeepsTheLabel()
    {
        var lexicon = new PragWorldLexicon { LargeObjects = ["piano"], SmallContainers = ["envelope"] };
        var altered = Apply(AlterationKind.InjectingInconsistentData, Row(OrangesAndLemons, "are the oranges in the garage?", true, entity: "oranges"),
            new PragWorldAlterationOptions { Lexicon = lexicon });

        AssertAltered(altered, OrangesAndLemons + "\nAlice: what about the piano?\nBob: I put the piano in the envelope",
            "are the oranges in the garage?", true, AlterationEffects.Invariant, "appended: 'Bob: I put the piano in the envelope'");
    }

    [Fact]
    public void RowsOutsideTheControlledLanguageOrWithAWrongLabelAreNotApplicable()
    {
        var unknown = Apply(AlterationKind.Negation, Row("Alice: lovely weather\nBob: indeed", "are the keys in the garage?", true),
            new PragWorldAlterationOptions { FreeForm = false });
        Assert.Equal(AlterationEffects.NotApplicable, unknown.AlterationEffect);
        Assert.Equal("Turn 1 is not in the PragWorld conversation language: 'lovely weather'.", unknown.AlterationNote);
        // Free-form editing (the default) finds no auxiliary, yes/no answer or "not" to negate either.
        var noSite = Apply(AlterationKind.Negation, Row("Alice: lovely weather\nBob: indeed", "are the keys in the garage?", true));
        Assert.Equal(AlterationEffects.NotApplicable, noSite.AlterationEffect);
        Assert.Equal("Turn 1 is not in the PragWorld conversation language: 'lovely weather'. No free-form edit site either.", noSite.AlterationNote);

        var wrong = Apply(AlterationKind.Negation, Row(OrangesAndLemons, "are the oranges in the garage?", false));
        Assert.Equal("The gold label (no) disagrees with the conversation (yes).", wrong.AlterationNote);
    }

    [Fact]
    public void AlterationEstimatorsAreReachableFromTheTransformsCatalogAndDropInapplicableRows()
    {
        var mlContext = new MLContext(seed: 1);
        var data = mlContext.Data.LoadFromEnumerable(new[]
        {
            Row(OrangesAndLemons, "are the oranges in the garage?", true, entity: "oranges", id: "c1/q1"),
            Row("Alice: lovely weather\nBob: indeed", "are the keys in the garage?", true, id: "c2/q1"),
        });

        var transformer = mlContext.PragWorld().Alterations.VariableSubstitution().Fit(data);
        var rows = mlContext.Data.CreateEnumerable<PragWorldQuestionRow>(transformer.Transform(data), reuseRowObject: false).ToList();

        var only = Assert.Single(rows);
        Assert.Equal(("c1/q1", "are the lemons in the garage?", false, "VariableSubstitution"), (only.QuestionId, only.Question, only.Label, only.Alteration));
        Assert.Throws<NotSupportedException>(() => mlContext.Model.Save(transformer, data.Schema, new MemoryStream()));
    }

    [Fact]
    public void MissingColumnIsNamedWhenFitting()
    {
        var mlContext = new MLContext(seed: 1);
        var data = mlContext.Data.LoadFromEnumerable(new[] { new { Conversation = "Alice: hi", Question = "?" } });

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => mlContext.PragWorld().Alterations.Negation().Fit(data));
        Assert.StartsWith("PragWorld rows need a 'ConversationId' column of type String; the data has none.", error.Message);
    }

    [Fact]
    public void BenchmarkOfGeneratedConversationsHasEveryAlterationAndLabelsAgreeWithTheInterpreter()
    {
        var mlContext = new MLContext(seed: 1);
        var originals = new ConversationGenerator(new ConversationGeneratorOptions { Seed = 5 }).Generate(48).SelectMany(c => c.ToQuestionRows()).ToList();
        var benchmark = mlContext.PragWorld().Alterations.BuildBenchmark(mlContext.Data.LoadFromEnumerable(originals));
        var rows = mlContext.Data.CreateEnumerable<PragWorldQuestionRow>(benchmark, reuseRowObject: false).ToList();

        Assert.Equal(originals.Count, rows.Count(r => r.Alteration == PragWorldQuestionRow.OriginalAlteration));
        Assert.Equal(Enum.GetNames<AlterationKind>().Order(), rows.Select(r => r.Alteration).Where(a => a != "Original").Distinct().Order());
        Assert.Contains(rows, r => r.AlterationEffect == AlterationEffects.Flip);
        Assert.Contains(rows, r => r.AlterationEffect == AlterationEffects.Invariant);
        var interpreter = new ConversationInterpreter();
        foreach (var row in rows)
            Assert.Equal(row.Label, interpreter.Read(ConversationText.Parse(row.Conversation)).Answer(row.Question));
    }
}
