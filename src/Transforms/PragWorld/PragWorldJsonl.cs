using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetExt;

/// <summary>A PragWorld JSONL file is malformed; the message names the file, line and field.</summary>
public sealed class PragWorldFormatException : InputFormatException
{
    /// <summary>Creates the exception.</summary>
    public PragWorldFormatException(string fileName, int lineNumber, string field, string problem, Exception? inner = null)
        : base(fileName, lineNumber, 0, $"{field}: {problem}", inner: inner)
    {
        FileName = fileName;
        LineNumber = lineNumber;
        Field = field;
    }

    /// <summary>The file (or source name) being read.</summary>
    public string FileName { get; }

    /// <summary>1-based line number.</summary>
    public int LineNumber { get; }

    /// <summary>JSON path of the offending field, e.g. "questions[1].answer".</summary>
    public string Field { get; }
}

/// <summary>
/// Reads and writes PragWorld conversations as JSONL, one conversation per line:
/// <code>{"id":"c1","template":"move-once","speakers":["Alice","Bob"],
///  "turns":[{"speaker":"Alice","text":"where are the keys?"},{"speaker":"Bob","text":"I put them in the garage"}],
///  "questions":[{"id":"q1","text":"are the keys in the garage?","answer":true,"type":"Reference","entity":"keys","state":"garage"}]}</code>
/// A question's "type", "entity" and "state" are optional.
/// </summary>
public static class PragWorldJsonl
{
    /// <summary>Streams the conversations of a JSONL file, validating each line.</summary>
    /// <exception cref="PragWorldFormatException">A line is invalid (file, line and field are named).</exception>
    public static IEnumerable<PragWorldConversation> Load(string path)
    {
        using var reader = new StreamReader(path);
        foreach (var conversation in Read(reader, Path.GetFileName(path)))
            yield return conversation;
    }

    /// <summary>
    /// Streams conversations from a reader; <paramref name="sourceName"/> is used in error messages. Lines longer than
    /// <see cref="InputLimits.MaxJsonLineLength"/> characters are refused before they are held in memory; a conversation
    /// id used twice is refused with both lines; a file without any conversation (empty) is refused.
    /// </summary>
    /// <exception cref="PragWorldFormatException">A line is invalid (file, line and field are named).</exception>
    public static IEnumerable<PragWorldConversation> Read(TextReader reader, string sourceName)
    {
        var lines = new LineReader(reader, sourceName, InputLimits.MaxJsonLineLength, (file, at, message) => new PragWorldFormatException(file, at, "$", message));
        var seenIds = new Dictionary<string, int>(StringComparer.Ordinal);
        while (lines.ReadLine() is { } line)
        {
            int lineNumber = lines.LineNumber;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var conversation = ParseLine(line, sourceName, lineNumber);
            if (!seenIds.TryAdd(conversation.Id, lineNumber))
                throw new PragWorldFormatException(sourceName, lineNumber, "id", $"duplicate conversation id '{conversation.Id}' (first at line {seenIds[conversation.Id]})");
            yield return conversation;
        }
        if (seenIds.Count == 0) throw new PragWorldFormatException(sourceName, Math.Max(1, lines.LineNumber), "$", "the file holds no conversation (empty)");
    }

    /// <summary>Writes conversations, one JSON object per line.</summary>
    public static void Save(string path, IEnumerable<PragWorldConversation> conversations)
    {
        using var writer = new StreamWriter(path);
        Write(writer, conversations);
    }

    /// <summary>Writes conversations, one JSON object per line.</summary>
    public static void Write(TextWriter writer, IEnumerable<PragWorldConversation> conversations)
    {
        foreach (var c in conversations)
        {
            var json = new JsonObject
            {
                ["id"] = c.Id,
                ["template"] = c.TemplateId,
                ["speakers"] = new JsonArray(c.Speakers.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
                ["turns"] = new JsonArray(c.Turns.Select(t => (JsonNode?)new JsonObject { ["speaker"] = t.Speaker, ["text"] = t.Text }).ToArray()),
                ["questions"] = new JsonArray(c.Questions.Select(q => (JsonNode?)QuestionJson(q)).ToArray()),
            };
            writer.WriteLine(json.ToJsonString());
        }
    }

    // JsonObject builds its dictionary on first access, which is where a property name given twice throws: do it here,
    // inside the parse's error handling, for the whole tree.
    private static void Materialize(JsonNode root)
    {
        var pending = new Stack<JsonNode>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            switch (pending.Pop())
            {
                case JsonObject o:
                    foreach (var (_, child) in o) if (child is not null) pending.Push(child);
                    break;
                case JsonArray a:
                    foreach (var child in a) if (child is not null) pending.Push(child);
                    break;
            }
        }
    }

    /// <summary>A question as JSON; the optional type, entity and state are written only when known.</summary>
    private static JsonObject QuestionJson(WorldQuestion q)
    {
        var json = new JsonObject { ["id"] = q.Id, ["text"] = q.Text, ["answer"] = q.Answer };
        if (q.Type is { } type) json["type"] = type.ToString();
        if (q.Entity.Length > 0) json["entity"] = q.Entity;
        if (q.State.Length > 0) json["state"] = q.State;
        return json;
    }

    private static PragWorldConversation ParseLine(string line, string source, int lineNumber)
    {
        PragWorldFormatException Error(string field, string problem, Exception? inner = null) =>
            new(source, lineNumber, field, problem, inner);

        JsonObject root;
        try
        {
            root = JsonNode.Parse(line) as JsonObject ?? throw Error("$", "the line is not a JSON object");
            Materialize(root);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            // ArgumentException: a property name given twice in one object.
            throw Error("$", $"invalid JSON ({e.Message})", e);
        }

        string RequiredString(JsonObject obj, string name, string path)
        {
            if (obj[name] is not JsonValue value || !value.TryGetValue(out string? s))
                throw Error(path, "missing or not a string");
            if (string.IsNullOrWhiteSpace(s)) throw Error(path, "is empty");
            return s;
        }

        JsonArray RequiredArray(string name)
        {
            if (root[name] is not JsonArray array) throw Error(name, "missing or not an array");
            return array;
        }

        var id = RequiredString(root, "id", "id");
        // Optional and may be empty: conversations that come from no template (the authors' free-form dialogues) are
        // written with "template":"".
        var template = root["template"] switch
        {
            null => "",
            JsonValue v when v.TryGetValue(out string? t) => t,
            _ => throw Error("template", "not a string"),
        };

        var speakersJson = RequiredArray("speakers");
        var speakers = new List<string>();
        for (int i = 0; i < speakersJson.Count; i++)
        {
            if (speakersJson[i] is not JsonValue v || !v.TryGetValue(out string? name) || string.IsNullOrWhiteSpace(name))
                throw Error($"speakers[{i}]", "is not a non-empty string");
            speakers.Add(name);
        }
        if (speakers.Count != 2 || speakers[0] == speakers[1])
            throw Error("speakers", $"a PragWorld conversation has exactly two distinct speakers, found {speakers.Count} ({string.Join(", ", speakers)})");

        var turnsJson = RequiredArray("turns");
        if (turnsJson.Count == 0) throw Error("turns", "empty conversation: at least one turn is required");
        var turns = new List<ConversationTurn>();
        for (int i = 0; i < turnsJson.Count; i++)
        {
            if (turnsJson[i] is not JsonObject turn) throw Error($"turns[{i}]", "is not an object");
            var speaker = RequiredString(turn, "speaker", $"turns[{i}].speaker");
            if (!speakers.Contains(speaker))
                throw Error($"turns[{i}].speaker", $"unknown speaker '{speaker}' (speakers are {speakers[0]} and {speakers[1]})");
            turns.Add(new ConversationTurn(speaker, RequiredString(turn, "text", $"turns[{i}].text")));
        }

        var questionsJson = RequiredArray("questions");
        var questions = new List<WorldQuestion>();
        for (int i = 0; i < questionsJson.Count; i++)
        {
            string path = $"questions[{i}]";
            if (questionsJson[i] is not JsonObject q) throw Error(path, "is not an object");
            var text = RequiredString(q, "text", $"{path}.text");
            var answer = q["answer"] switch
            {
                null => throw Error($"{path}.answer", "question without answer"),
                JsonValue v when v.TryGetValue(out bool b) => b,
                JsonValue v when v.TryGetValue(out string? s) && s.Equals("yes", StringComparison.OrdinalIgnoreCase) => true,
                JsonValue v when v.TryGetValue(out string? s) && s.Equals("no", StringComparison.OrdinalIgnoreCase) => false,
                _ => throw Error($"{path}.answer", "must be true/false or \"yes\"/\"no\""),
            };
            QuestionType? type = null; // optional: real benchmarks do not classify their questions
            if (q["type"] is not null)
            {
                var typeName = RequiredString(q, "type", $"{path}.type");
                if (!Enum.TryParse<QuestionType>(typeName, ignoreCase: true, out var parsedType))
                    throw Error($"{path}.type", $"unknown question type '{typeName}' (expected one of {string.Join(", ", Enum.GetNames<QuestionType>())})");
                type = parsedType;
            }
            var qid = q["id"] is null ? $"q{i + 1}" : RequiredString(q, "id", $"{path}.id");
            if (questions.Any(existing => existing.Id == qid)) throw Error($"{path}.id", $"duplicate question id '{qid}'");
            questions.Add(new WorldQuestion(qid, text, answer, type,
                q["entity"] is null ? "" : RequiredString(q, "entity", $"{path}.entity"), q["state"] is null ? "" : RequiredString(q, "state", $"{path}.state")));
        }
        if (questions.Count == 0) throw Error("questions", "a conversation needs at least one question");

        return new PragWorldConversation(id, template, speakers, turns, questions);
    }
}
