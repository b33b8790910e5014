using Microsoft.ML;

namespace MLNetExt.Tests.PragWorld;

/// <summary>A fact that needs Debian's WordNet files; skipped with the reason when they are absent.</summary>
public sealed class WordNetFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when WordNet is not installed.</summary>
    public WordNetFactAttribute()
    {
        if (!WordNetDictionary.IsAvailable())
            Skip = $"WordNet not found in {WordNetDictionary.DefaultDirectory}: install the Debian 'wordnet' package (scripts/setup.sh).";
    }
}

public class WordNetTests
{
    private static readonly Lazy<WordNetDictionary> WordNet = new(() => WordNetDictionary.Open());

    [WordNetFact]
    public void AntonymsSynonymsAndHypernymsComeFromTheDatabase()
    {
        Assert.Contains("closed", WordNet.Value.Antonyms("open", WordNetPos.Adjective));
        Assert.Contains("empty", WordNet.Value.Antonyms("full", WordNetPos.Adjective));
        Assert.Contains("sofa", WordNet.Value.Synonyms("couch", WordNetPos.Noun));
        Assert.Contains("citrus", WordNet.Value.Hypernyms("orange", WordNetPos.Noun));
        Assert.Equal("orange", WordNet.Value.BaseForm("oranges", WordNetPos.Noun));
        Assert.Equal("mouse", WordNet.Value.BaseForm("mice", WordNetPos.Noun));
        Assert.Null(WordNet.Value.BaseForm("qwxzz", WordNetPos.Noun));
    }

    [WordNetFact]
    public void LexiconStatePairsAreWordNetAntonymsAndLargeObjectsAreFurniture()
    {
        var lexicon = PragWorldLexicon.Default.WithWordNet(WordNet.Value);

        Assert.Contains("wardrobe", lexicon.LargeObjects);
        Assert.Contains("sofa", lexicon.LargeObjects);
        Assert.Equal(lexicon.LargeObjects.Order(StringComparer.Ordinal), lexicon.LargeObjects);
    }

    [Fact]
    public void MissingWordNetDirectoryIsReportedWithTheFix()
    {
        var error = Assert.Throws<DirectoryNotFoundException>(() => WordNetDictionary.Open("/nonexistent/wordnet"));
        Assert.Equal("WordNet data files (index.noun, data.noun, …) not found in '/nonexistent/wordnet'. On Debian install the 'wordnet' package (scripts/setup.sh).", error.Message);
    }
}

public class PragWorldJsonlTests
{
    private const string Valid =
        """{"id":"c1","template":"moved-once","speakers":["Alice","Bob"],"turns":[{"speaker":"Alice","text":"where are the keys?"},{"speaker":"Bob","text":"I put them in the garage"}],"questions":[{"text":"are the keys in the garage?","answer":true,"type":"Reference","entity":"keys","state":"garage"}]}""";

    private static PragWorldFormatException Reject(params string[] lines) =>
        Assert.Throws<PragWorldFormatException>(() => PragWorldJsonl.Read(new StringReader(string.Join('\n', lines)), "bench.jsonl").ToList());

    [Fact]
    public void ValidLineRoundTripsThroughSaveAndLoad()
    {
        var conversation = PragWorldJsonl.Read(new StringReader(Valid), "bench.jsonl").Single();
        var writer = new StringWriter();
        PragWorldJsonl.Write(writer, [conversation]);
        var again = PragWorldJsonl.Read(new StringReader(writer.ToString()), "again.jsonl").Single();

        Assert.Equal("Alice: where are the keys?\nBob: I put them in the garage", again.Text);
        Assert.Equal(new WorldQuestion("q1", "are the keys in the garage?", true, QuestionType.Reference, "keys", "garage"), again.Questions.Single());
        var row = again.ToQuestionRows().Single();
        Assert.Equal(("c1/q1", "moved-once", "Reference", true), (row.QuestionId, row.TemplateId, row.QuestionType, row.Label));
    }

    [Fact]
    public void EmptyTemplateTheWriterEmitsRoundTrips()
    {
        // Conversations from no template (the authors' free-form dialogues) carry TemplateId "".
        var conversation = PragWorldJsonl.Read(new StringReader(Valid), "bench.jsonl").Single() with { TemplateId = "" };
        var writer = new StringWriter();
        PragWorldJsonl.Write(writer, [conversation]);
        Assert.Contains("\"template\":\"\"", writer.ToString());
        var again = PragWorldJsonl.Read(new StringReader(writer.ToString()), "again.jsonl").Single();
        Assert.Equal("", again.TemplateId);
        Assert.Equal(conversation.Text, again.Text);
        Assert.Equal(conversation.Questions, again.Questions);
        // Absent is the same as empty; another JSON type is still refused.
        Assert.Equal("", PragWorldJsonl.Read(new StringReader(Valid.Replace("\"template\":\"moved-once\",", "")), "bench.jsonl").Single().TemplateId);
        Assert.Equal("bench.jsonl:1: template: not a string", Reject(Valid.Replace("\"moved-once\"", "7")).Message);
    }

    [Fact]
    public void EmptyConversationIsRejectedWithFileLineAndField()
    {
        var error = Reject(Valid, Valid.Replace("\"id\":\"c1\"", "\"id\":\"c2\"").Replace(
            """[{"speaker":"Alice","text":"where are the keys?"},{"speaker":"Bob","text":"I put them in the garage"}]""", "[]"));
        Assert.Equal("bench.jsonl:2: turns: empty conversation: at least one turn is required", error.Message);
        Assert.Equal((2, "turns"), (error.LineNumber, error.Field));
    }

    [Fact]
    public void QuestionWithoutAnswerIsRejected()
    {
        var error = Reject(Valid.Replace("\"answer\":true,", ""));
        Assert.Equal("bench.jsonl:1: questions[0].answer: question without answer", error.Message);
    }

    [Fact]
    public void UnknownSpeakerIsRejected()
    {
        var error = Reject(Valid.Replace("{\"speaker\":\"Bob\"", "{\"speaker\":\"Carol\""));
        Assert.Equal("bench.jsonl:1: turns[1].speaker: unknown speaker 'Carol' (speakers are Alice and Bob)", error.Message);
    }

    [Fact]
    public void OtherMalformedLinesNameTheProblem()
    {
        Assert.Equal("bench.jsonl:1: $: invalid JSON ('x' is an invalid start of a value. LineNumber: 0 | BytePositionInLine: 0.)", Reject("x").Message);
        Assert.Equal("bench.jsonl:1: questions[0].type: unknown question type 'Colour' (expected one of Location, Possession, State, Quantity, Reference, Implicature)",
            Reject(Valid.Replace("\"Reference\"", "\"Colour\"")).Message);
        Assert.Equal("bench.jsonl:1: speakers: a PragWorld conversation has exactly two distinct speakers, found 1 (Alice)",
            Reject(Valid.Replace("[\"Alice\",\"Bob\"]", "[\"Alice\"]")).Message);
        Assert.Equal("bench.jsonl:2: id: duplicate conversation id 'c1' (first at line 1)", Reject(Valid, Valid).Message);
    }

    [Fact]
    public void FileLoadsIntoAnIDataViewOfQuestionRows()
    {
        var path = Path.Combine(Path.GetTempPath(), $"pragworld-{Guid.NewGuid():N}.jsonl");
        try
        {
            PragWorldJsonl.Save(path, new ConversationGenerator(new ConversationGeneratorOptions { Seed = 2 }).Generate(5));
            var mlContext = new MLContext(seed: 1);
            var data = mlContext.PragWorld().LoadJsonl(path);
            var rows = mlContext.Data.CreateEnumerable<PragWorldQuestionRow>(data, reuseRowObject: false).ToList();

            Assert.Equal(PragWorldJsonl.Load(path).Sum(c => c.Questions.Count), rows.Count);
            Assert.All(rows, r => Assert.Equal(PragWorldQuestionRow.OriginalAlteration, r.Alteration));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
