
namespace MLNetExt.Tests.PragWorld;

public class ConversationGeneratorTests
{
    [Fact]
    public void EveryGeneratedAnswerMatchesAnIndependentReadingOfTheText()
    {
        // The generator states answers from its own events; the interpreter re-derives them from the rendered text.
        var interpreter = new ConversationInterpreter();
        var conversations = new ConversationGenerator(new ConversationGeneratorOptions { Seed = 7 }).Generate(240).ToList();

        foreach (var conversation in conversations)
        {
            var reading = interpreter.Read(conversation.Turns);
            foreach (var question in conversation.Questions)
                Assert.True(reading.Answer(question.Text) == question.Answer,
                    $"{conversation.Id} ({conversation.TemplateId}) '{question.Text}' expected {question.Answer}\n{conversation.Text}");
        }
        Assert.Equal(ConversationGenerator.TemplateIds.Count, conversations.Select(c => c.TemplateId).Distinct().Count());
    }

    [Fact]
    public void AnswersAreBalancedAndEveryQuestionTypeOccurs()
    {
        var questions = new ConversationGenerator(new ConversationGeneratorOptions { Seed = 3 }).Generate(120)
            .SelectMany(c => c.Questions).ToList();
        double yesShare = questions.Count(q => q.Answer) / (double)questions.Count;
        Assert.InRange(yesShare, 0.4, 0.7);
        Assert.Equal(Enum.GetValues<QuestionType>().OrderBy(t => t), questions.Select(q => q.Type!.Value).Distinct().OrderBy(t => t));
    }

    [Fact]
    public void SameSeedGivesSameConversationsAndHeldOutTemplatesAreExcluded()
    {
        var options = new ConversationGeneratorOptions { Seed = 11, Templates = ConversationGenerator.DefaultTrainingTemplateIds };
        var first = new ConversationGenerator(options).Generate(30).Select(c => c.Text).ToList();
        var second = new ConversationGenerator(options).Generate(30).ToList();

        Assert.Equal(first, second.Select(c => c.Text));
        Assert.DoesNotContain(second, c => ConversationGenerator.DefaultHeldOutTemplateIds.Contains(c.TemplateId));
        Assert.Equal(["given-then-placed", "state-negated", "both-objects"], ConversationGenerator.DefaultHeldOutTemplateIds);
    }

    [Fact]
    public void UnknownTemplateIsRejectedWithTheKnownList()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            new ConversationGenerator(new ConversationGeneratorOptions { Templates = ["teleported"] }));
        Assert.StartsWith("Unknown PragWorld template 'teleported'; known templates: moved-once, moved-twice,", error.Message);
    }
}
