namespace MLNetExt;

/// <summary>What a PragWorld yes/no question probes in the conversation's local world model.</summary>
public enum QuestionType
{
    /// <summary>Where an entity is ("are the keys in the garage?").</summary>
    Location,

    /// <summary>Who holds an entity after it was given ("does Emma have the keys?").</summary>
    Possession,

    /// <summary>An entity's state and how it changed ("is the door open?").</summary>
    State,

    /// <summary>How many of an entity are somewhere ("are there three apples in the pantry?").</summary>
    Quantity,

    /// <summary>A location question whose deciding fact was stated with a pronoun ("I left them in the attic").</summary>
    Reference,

    /// <summary>What is implied rather than said: "some" implies "not all", "A or B" implies "not sure".</summary>
    Implicature,
}

/// <summary>One turn of a two-party conversation.</summary>
/// <param name="Speaker">Name of the speaker; must be one of the conversation's two speakers.</param>
/// <param name="Text">What the speaker says.</param>
public sealed record ConversationTurn(string Speaker, string Text);

/// <summary>A yes/no question about the conversation's local world state, with its gold answer.</summary>
/// <param name="Id">Identifier unique within the conversation (e.g. "q1").</param>
/// <param name="Text">The question as asked to the model.</param>
/// <param name="Answer">The gold answer: <c>true</c> = yes.</param>
/// <param name="Type">What the question probes; null when the source does not say (real benchmarks).</param>
/// <param name="Entity">The probed entity (e.g. "keys"); empty when the source does not say.</param>
/// <param name="State">The probed state, location, holder or quantity (e.g. "garage", "open", "Emma", "three").</param>
public sealed record WorldQuestion(string Id, string Text, bool Answer, QuestionType? Type, string Entity, string State);

/// <summary>A two-party conversation with yes/no questions about its local world model.</summary>
/// <param name="Id">Conversation identifier, unique within a data set.</param>
/// <param name="TemplateId">The scenario template that produced it (used to hold out whole templates).</param>
/// <param name="Speakers">The two speakers' names.</param>
/// <param name="Turns">The turns, in order.</param>
/// <param name="Questions">Questions about the conversation with their gold answers.</param>
public sealed record PragWorldConversation(
    string Id,
    string TemplateId,
    IReadOnlyList<string> Speakers,
    IReadOnlyList<ConversationTurn> Turns,
    IReadOnlyList<WorldQuestion> Questions)
{
    /// <summary>The conversation as one text, one "Speaker: text" line per turn (the model's input).</summary>
    public string Text => ConversationText.Render(Turns);

    /// <summary>One flattened <see cref="PragWorldQuestionRow"/> per question (unaltered).</summary>
    public IEnumerable<PragWorldQuestionRow> ToQuestionRows()
    {
        var text = Text;
        foreach (var question in Questions)
        {
            yield return new PragWorldQuestionRow
            {
                ConversationId = Id,
                TemplateId = TemplateId,
                QuestionId = $"{Id}/{question.Id}",
                Conversation = text,
                Question = question.Text,
                Label = question.Answer,
                QuestionType = question.Type?.ToString() ?? "",
                Entity = question.Entity,
                State = question.State,
            };
        }
    }
}

/// <summary>Renders turns as "Speaker: text" lines and parses them back.</summary>
public static class ConversationText
{
    /// <summary>Joins turns as "Speaker: text" lines separated by '\n'.</summary>
    public static string Render(IEnumerable<ConversationTurn> turns) =>
        string.Join('\n', turns.Select(t => $"{t.Speaker}: {t.Text}"));

    /// <summary>Splits "Speaker: text" lines back into turns.</summary>
    /// <exception cref="FormatException">A non-empty line has no "Speaker:" prefix.</exception>
    public static IReadOnlyList<ConversationTurn> Parse(string conversation)
    {
        var turns = new List<ConversationTurn>();
        var lines = conversation.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0) continue;
            int colon = line.IndexOf(':');
            if (colon <= 0)
                throw new FormatException($"Conversation line {i + 1} has no 'Speaker:' prefix: '{line}'.");
            turns.Add(new ConversationTurn(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }
        return turns;
    }
}
