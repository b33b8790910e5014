using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace MLNetExt;

/// <summary>A PragWorld CSV file is malformed; the message names the file, line, column and CSV column name.</summary>
public sealed class PragWorldCsvFormatException : InputFormatException
{
    /// <summary>Creates the exception.</summary>
    public PragWorldCsvFormatException(string fileName, int lineNumber, int columnNumber, string? columnName, string problem)
        : base(fileName, lineNumber, columnNumber, $"{(columnName is null ? "" : $"column '{columnName}': ")}{problem}")
    {
        FileName = fileName;
        LineNumber = lineNumber;
        ColumnNumber = columnNumber;
        ColumnName = columnName;
    }

    /// <summary>The file (or source name) being read.</summary>
    public string FileName { get; }

    /// <summary>1-based line number.</summary>
    public int LineNumber { get; }

    /// <summary>1-based character column on that line.</summary>
    public int ColumnNumber { get; }

    /// <summary>The CSV column (header name) involved, when there is one.</summary>
    public string? ColumnName { get; }
}

/// <summary>The two CSV layouts released by the PragWorld authors.</summary>
public enum PragWorldCsvLayout
{
    /// <summary>Chosen from the header: <see cref="Synthetic"/> when it has a "Seed Index" column, else <see cref="Manual"/>.</summary>
    Auto,

    /// <summary>The manual set: Local Context, Question, Answer, Perturbation?, Perturbation Target, Perturbation Category, Perturbation Effect.</summary>
    Manual,

    /// <summary>
    /// The synthetic set: Seed Index, Local Context (turns numbered "1: Alice: …"), Question, Answer (yes / no /
    /// cannot answer), Perturbation?, Perturbation Target, Perturbation Category, Perturbation Effect, Utterance Index,
    /// Old Word, New Word.
    /// </summary>
    Synthetic,
}

/// <summary>Options of <see cref="PragWorldCsv.Load(string, PragWorldCsvOptions?)"/>.</summary>
public sealed class PragWorldCsvOptions
{
    /// <summary>The file layout; <see cref="PragWorldCsvLayout.Auto"/> by default.</summary>
    public PragWorldCsvLayout Layout { get; init; }

    /// <summary>
    /// Refuse (throw <see cref="PragWorldCsvFormatException"/> at the first cell that would need it) instead of
    /// repairing. Default false: repair and report each repair in <see cref="PragWorldCsvReport"/>.
    /// </summary>
    public bool Strict { get; init; }
}

/// <summary>What the CSV loader repaired.</summary>
public enum PragWorldCsvRepairKind
{
    /// <summary>Leading or trailing whitespace removed from a cell ("TRUE ", "Variable Substitution ").</summary>
    TrimmedCell,

    /// <summary>A category spelling folded onto one of the seven alterations ("Quanity Change", "Injecting inconsistent \nData").</summary>
    CategorySpelling,

    /// <summary>An effect spelling folded onto Flip / Invariant ("Invarianat").</summary>
    EffectSpelling,

    /// <summary>A context line without a "Speaker:" prefix joined to the previous turn.</summary>
    WrappedLineJoined,

    /// <summary>A stray quote around the conversation removed.</summary>
    StrayQuoteRemoved,

    /// <summary>A doubled speaker colon ("A: : Excuse me") reduced to one.</summary>
    DoubledSpeakerColon,

    /// <summary>Whitespace at the ends of a turn removed.</summary>
    TrimmedTurn,
}

/// <summary>One repair, or one inconsistency left as it is.</summary>
/// <param name="Kind">What was done (null for a warning that changed nothing).</param>
/// <param name="Line">1-based line of the cell.</param>
/// <param name="Column">1-based column of the cell's first character.</param>
/// <param name="ColumnName">CSV column name.</param>
/// <param name="Description">What was found and done.</param>
public sealed record PragWorldCsvIssue(PragWorldCsvRepairKind? Kind, int Line, int Column, string ColumnName, string Description);

/// <summary>What <see cref="PragWorldCsv"/> read and repaired.</summary>
public sealed class PragWorldCsvReport
{
    /// <summary>The layout the file was read as.</summary>
    public required PragWorldCsvLayout Layout { get; init; }

    /// <summary>Rows read.</summary>
    public required int Rows { get; init; }

    /// <summary>Groups rebuilt (an original row and its altered variants).</summary>
    public required int Groups { get; init; }

    /// <summary>Every repair, in file order.</summary>
    public required IReadOnlyList<PragWorldCsvIssue> Repairs { get; init; }

    /// <summary>Inconsistencies kept as they are (e.g. a row tagged Flip whose answer equals its original's).</summary>
    public required IReadOnlyList<PragWorldCsvIssue> Warnings { get; init; }

    /// <summary>Number of repairs of each kind (kinds that did not occur are absent).</summary>
    public IReadOnlyDictionary<PragWorldCsvRepairKind, int> RepairCounts =>
        Repairs.GroupBy(r => r.Kind!.Value).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>One line: rows, groups and repair counts by kind.</summary>
    public override string ToString() =>
        $"{Rows} rows, {Groups} groups ({Layout} layout); repairs: " +
        (Repairs.Count == 0 ? "none" : string.Join(", ", RepairCounts.Select(p => $"{p.Key} {p.Value}"))) +
        (Warnings.Count == 0 ? "" : $"; warnings: {Warnings.Count}");
}

/// <summary>Rows read from a PragWorld CSV file, and the report of what was repaired.</summary>
/// <param name="Rows">One row per CSV record, in file order.</param>
/// <param name="Report">Counts and repairs.</param>
public sealed record PragWorldCsvData(IReadOnlyList<PragWorldQuestionRow> Rows, PragWorldCsvReport Report);

/// <summary>
/// Reads the PragWorld authors' benchmark CSV files (manual and synthetic layouts) into
/// <see cref="PragWorldQuestionRow"/>s: an RFC 4180 parser (quoted fields, doubled quotes, line breaks inside
/// quotes), then per row: cells trimmed, category and effect spellings folded onto the seven alterations,
/// context lines without a "Speaker:" prefix joined to the previous turn, groups rebuilt (a group starts at each
/// row whose trimmed "Perturbation?" is false; in the synthetic layout also at each new Seed Index). Each repair is
/// reported; <see cref="PragWorldCsvOptions.Strict"/> refuses instead.
/// </summary>
public static class PragWorldCsv
{
    private static readonly string[] ManualColumns =
        ["Local Context", "Question", "Answer", "Perturbation?", "Perturbation Target", "Perturbation Category", "Perturbation Effect"];

    private static readonly string[] SyntheticColumns =
        ["Seed Index", .. ManualColumns, "Utterance Index", "Old Word", "New Word"];

    private static readonly Regex Speaker = new(@"^(?<speaker>[A-Za-z][\w.']{0,20}(?: [\w.']{1,20}){0,2})\s*:(?<rest>.*)$", RegexOptions.CultureInvariant);
    private static readonly Regex TurnNumber = new(@"^\d+\s*:\s*", RegexOptions.CultureInvariant);

    /// <summary>Reads a PragWorld CSV file.</summary>
    /// <exception cref="PragWorldCsvFormatException">The file is malformed, or needs a repair in strict mode (file, line and column named).</exception>
    public static PragWorldCsvData Load(string path, PragWorldCsvOptions? options = null)
    {
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Read(reader, Path.GetFileName(path), options);
    }

    /// <summary>Reads PragWorld CSV text; <paramref name="sourceName"/> is used in error messages and row ids.</summary>
    public static PragWorldCsvData Read(TextReader reader, string sourceName, PragWorldCsvOptions? options = null)
    {
        options ??= new PragWorldCsvOptions();
        var records = CsvRecords(reader, sourceName).GetEnumerator();
        if (!records.MoveNext()) throw new PragWorldCsvFormatException(sourceName, 1, 1, null, "the file is empty (no header line)");
        var header = records.Current;
        var names = header.Select(c => c.Text.Trim()).ToList();
        var layout = options.Layout != PragWorldCsvLayout.Auto ? options.Layout
            : names.Contains("Seed Index") ? PragWorldCsvLayout.Synthetic : PragWorldCsvLayout.Manual;
        var expected = layout == PragWorldCsvLayout.Synthetic ? SyntheticColumns : ManualColumns;
        var index = new Dictionary<string, int>();
        foreach (var name in expected)
        {
            int i = names.IndexOf(name);
            if (i < 0)
                throw new PragWorldCsvFormatException(sourceName, header[0].Line, 1, name,
                    $"the header has no such column ({layout} layout needs {string.Join(", ", expected)}; found {string.Join(", ", names)})");
            index[name] = i;
        }

        var state = new LoadState(sourceName, options.Strict);
        var rows = new List<PragWorldQuestionRow>();
        string? lastSeed = null;
        PragWorldQuestionRow? groupOriginal = null;
        int groups = 0;
        while (records.MoveNext())
        {
            var record = records.Current;
            if (record.Count == 1 && record[0].Text.Length == 0) continue; // blank line
            if (record.Count != header.Count)
                throw new PragWorldCsvFormatException(sourceName, record[0].Line, 1, null,
                    $"the record has {record.Count} fields, the header has {header.Count}");
            CsvField Cell(string name) => record[index[name]];

            var row = new PragWorldQuestionRow { SourceLine = record[0].Line };
            string seed = "";
            if (layout == PragWorldCsvLayout.Synthetic)
            {
                seed = state.Trimmed(Cell("Seed Index"), "Seed Index");
                if (!int.TryParse(seed, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    throw state.Error(Cell("Seed Index"), "Seed Index", $"'{seed}' is not a non-negative integer");
            }

            var flagCell = Cell("Perturbation?");
            row.SourcePerturbationCell = flagCell.Text;
            var flag = state.Trimmed(flagCell, "Perturbation?").ToLowerInvariant();
            bool perturbed = flag switch
            {
                "true" => true,
                "false" => false,
                _ => throw state.Error(flagCell, "Perturbation?", $"'{flagCell.Text}' is neither TRUE nor FALSE"),
            };

            var question = Cell("Question");
            row.Question = state.Trimmed(question, "Question");
            if (row.Question.Length == 0) throw state.Error(question, "Question", "the question is empty");
            var answerCell = Cell("Answer");
            var answer = PragWorldAnswers.ParseGold(answerCell.Text)
                ?? throw state.Error(answerCell, "Answer", $"'{answerCell.Text}' is not yes, no or cannot answer");
            state.Trimmed(answerCell, "Answer");
            row.Answer = PragWorldAnswers.ToText(answer);
            row.Label = answer == PragWorldAnswer.Yes;
            row.Conversation = state.Conversation(Cell("Local Context"), layout == PragWorldCsvLayout.Synthetic);

            var target = state.Trimmed(Cell("Perturbation Target"), "Perturbation Target");
            var category = Cell("Perturbation Category");
            var effect = Cell("Perturbation Effect");
            if (!perturbed)
            {
                row.Alteration = PragWorldQuestionRow.OriginalAlteration;
                row.AlterationTarget = "None";
                row.AlterationEffect = AlterationEffects.None;
                state.Trimmed(category, "Perturbation Category");
                state.Trimmed(effect, "Perturbation Effect");
            }
            else
            {
                row.AlterationTarget = target switch
                {
                    _ when target.Equals("Context", StringComparison.OrdinalIgnoreCase) => "Context",
                    _ when target.Equals("Question", StringComparison.OrdinalIgnoreCase) => "Question",
                    _ => throw state.Error(Cell("Perturbation Target"), "Perturbation Target", $"an altered row's target must be Context or Question, not '{target}'"),
                };
                var (kind, detail) = state.Category(category);
                row.Alteration = kind.ToString();
                row.AlterationDetail = detail;
                row.AlterationEffect = state.Effect(effect);
            }
            if (layout == PragWorldCsvLayout.Synthetic && perturbed)
            {
                row.AlterationUtteranceIndex = NotApplicableToEmpty(state.Trimmed(Cell("Utterance Index"), "Utterance Index"));
                row.AlterationOldWord = NotApplicableToEmpty(state.Trimmed(Cell("Old Word"), "Old Word"));
                row.AlterationNewWord = NotApplicableToEmpty(state.Trimmed(Cell("New Word"), "New Word"));
            }

            if (!perturbed || (layout == PragWorldCsvLayout.Synthetic && seed != lastSeed))
            {
                if (perturbed)
                    throw state.Error(flagCell, "Perturbation?", $"seed {seed} starts with an altered row; each group must start with its original (Perturbation? = FALSE)");
                groups++;
                groupOriginal = row;
            }
            else if (groupOriginal is null)
            {
                throw state.Error(flagCell, "Perturbation?", "the first data row is altered; each group must start with its original (Perturbation? = FALSE)");
            }
            lastSeed = seed;
            string groupId = layout == PragWorldCsvLayout.Synthetic ? $"seed{seed}/g{groups:D4}" : $"g{groups:D3}";
            row.ConversationId = groupId;
            row.QuestionId = groupId;
            row.TemplateId = layout.ToString().ToLowerInvariant();
            if (perturbed && row.AlterationEffect == AlterationEffects.Flip && row.Answer == groupOriginal!.Answer)
                state.Warn(effect, "Perturbation Effect", $"tagged Flip but the answer ('{row.Answer}') equals the original's (line {groupOriginal.SourceLine}); kept as tagged");
            rows.Add(row);
        }
        return new PragWorldCsvData(rows, new PragWorldCsvReport
        {
            Layout = layout, Rows = rows.Count, Groups = groups, Repairs = state.Repairs, Warnings = state.Warnings,
        });
    }

    private static string NotApplicableToEmpty(string cell) =>
        cell.Equals("Not applicable", StringComparison.OrdinalIgnoreCase) || cell == "-" ? "" : cell;

    /// <summary>The seven alterations from an authors' category cell: sub-kind after ':' split off, spelling folded.</summary>
    /// <returns>The alteration and the sub-kind (empty when none), or null when the cell names none of the seven.</returns>
    public static (AlterationKind Kind, string Detail)? ParseCategory(string cell)
    {
        int colon = cell.IndexOf(':');
        var detail = colon < 0 ? "" : cell[(colon + 1)..].Trim();
        var name = string.Join(' ', (colon < 0 ? cell : cell[..colon]).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
            .ToLowerInvariant()
            .Replace("variablle", "variable", StringComparison.Ordinal)
            .Replace("substituion", "substitution", StringComparison.Ordinal)
            .Replace("quanity", "quantity", StringComparison.Ordinal)
            .Replace("quanifier", "quantifier", StringComparison.Ordinal)
            .Replace(" ", "", StringComparison.Ordinal);
        foreach (var kind in Enum.GetValues<AlterationKind>())
        {
            if (kind.ToString().Equals(name, StringComparison.OrdinalIgnoreCase)) return (kind, detail);
        }
        return null;
    }

    /// <summary>The authors' name of an alteration: "Variable Substitution", "Logical Connective Change", ….</summary>
    public static string AuthorsName(AlterationKind kind) =>
        Regex.Replace(kind.ToString(), "(?<=[a-z])(?=[A-Z])", " ");

    private sealed class LoadState(string source, bool strict)
    {
        public List<PragWorldCsvIssue> Repairs { get; } = [];
        public List<PragWorldCsvIssue> Warnings { get; } = [];

        public PragWorldCsvFormatException Error(CsvField cell, string column, string problem) =>
            new(source, cell.Line, cell.Column, column, problem);

        private void Repair(PragWorldCsvRepairKind kind, CsvField cell, string column, string description)
        {
            if (strict) throw Error(cell, column, $"{description} (strict mode refuses to repair: {kind})");
            Repairs.Add(new PragWorldCsvIssue(kind, cell.Line, cell.Column, column, description));
        }

        public void Warn(CsvField cell, string column, string description) =>
            Warnings.Add(new PragWorldCsvIssue(null, cell.Line, cell.Column, column, description));

        public string Trimmed(CsvField cell, string column)
        {
            var trimmed = cell.Text.Trim();
            if (trimmed.Length != cell.Text.Length) Repair(PragWorldCsvRepairKind.TrimmedCell, cell, column, $"whitespace around '{Escape(trimmed)}' removed");
            return trimmed;
        }

        public (AlterationKind, string) Category(CsvField cell)
        {
            var parsed = ParseCategory(cell.Text)
                ?? throw Error(cell, "Perturbation Category", $"'{Escape(cell.Text)}' is none of the seven alterations ({string.Join(", ", Enum.GetValues<AlterationKind>().Select(AuthorsName))})");
            var text = cell.Text.Trim();
            var head = (text.IndexOf(':') is var colon && colon >= 0 ? text[..colon] : text).TrimEnd();
            if (head != AuthorsName(parsed.Kind))
                Repair(PragWorldCsvRepairKind.CategorySpelling, cell, "Perturbation Category", $"'{Escape(head)}' read as '{AuthorsName(parsed.Kind)}'");
            else if (text.Length != cell.Text.Length)
                Repair(PragWorldCsvRepairKind.TrimmedCell, cell, "Perturbation Category", $"whitespace around '{Escape(text)}' removed");
            return parsed;
        }

        public string Effect(CsvField cell)
        {
            var text = Trimmed(cell, "Perturbation Effect");
            switch (text.ToLowerInvariant())
            {
                case "flip": return AlterationEffects.Flip;
                case "invariant": return AlterationEffects.Invariant;
                case "invarianat" or "invarient":
                    Repair(PragWorldCsvRepairKind.EffectSpelling, cell, "Perturbation Effect", $"'{text}' read as 'Invariant'");
                    return AlterationEffects.Invariant;
                case "" or "-":
                    throw Error(cell, "Perturbation Effect", "an altered row needs an effect");
                default:
                    return text; // the synthetic layout's own effects ("Possible", ...) are kept as written
            }
        }

        /// <summary>The context cell as "Speaker: text" lines, repaired.</summary>
        public string Conversation(CsvField cell, bool numbered)
        {
            const string column = "Local Context";
            var text = cell.Text.Trim();
            if (text.Length != cell.Text.Length) Repair(PragWorldCsvRepairKind.TrimmedCell, cell, column, "whitespace around the conversation removed");
            if (text.StartsWith('"'))
            {
                text = text.EndsWith('"') && text.Length > 1 ? text[1..^1] : text[1..];
                Repair(PragWorldCsvRepairKind.StrayQuoteRemoved, cell, column, "stray quote around the conversation removed");
            }
            var turns = new List<ConversationTurn>();
            var lines = text.Split('\n');
            for (int i = 0; i < lines.Length; i++)
            {
                var line = lines[i].TrimEnd('\r');
                var at = cell with { Line = cell.Line + i, Column = i == 0 ? cell.Column : 1 };
                if (line.Trim().Length == 0) continue;
                if (numbered)
                {
                    var number = TurnNumber.Match(line);
                    if (number.Success) line = line[number.Length..];
                }
                var match = Speaker.Match(line.TrimStart());
                if (!match.Success)
                {
                    if (turns.Count == 0) throw Error(at, column, $"the conversation's first line has no 'Speaker:' prefix: '{Escape(line)}'");
                    Repair(PragWorldCsvRepairKind.WrappedLineJoined, at, column, $"line without a 'Speaker:' prefix joined to the previous turn: '{Escape(line.Trim())}'");
                    var previous = turns[^1];
                    turns[^1] = previous with { Text = previous.Text.TrimEnd() + " " + line.Trim() };
                    continue;
                }
                var rest = match.Groups["rest"].Value;
                if (rest.TrimStart().StartsWith(':'))
                {
                    rest = rest.TrimStart()[1..];
                    Repair(PragWorldCsvRepairKind.DoubledSpeakerColon, at, column, $"doubled colon after '{match.Groups["speaker"].Value}:' removed");
                }
                var spoken = rest.Trim();
                if (rest.TrimEnd().Length != rest.Length)
                    Repair(PragWorldCsvRepairKind.TrimmedTurn, at, column, "whitespace at the end of a turn removed");
                turns.Add(new ConversationTurn(match.Groups["speaker"].Value.Trim(), spoken));
            }
            if (turns.Count == 0) throw Error(cell, column, "the conversation is empty");
            return ConversationText.Render(turns);
        }

        private static string Escape(string s) => s.Replace("\n", "\\n", StringComparison.Ordinal);
    }

    /// <summary>One CSV field with the position of its first character.</summary>
    private readonly record struct CsvField(string Text, int Line, int Column);

    /// <summary>RFC 4180 records: ',' separates fields, '"' quotes them ('""' is a quote), line breaks may be quoted.</summary>
    private static IEnumerable<List<CsvField>> CsvRecords(TextReader reader, string source)
    {
        int line = 1, column = 0;
        int Read()
        {
            int c = reader.Read();
            if (c == '\n') { line++; column = 0; }
            else if (c >= 0) column++;
            return c;
        }

        var record = new List<CsvField>();
        var field = new StringBuilder();
        int c = Read();
        if (c == 0xFEFF) c = Read();
        if (c < 0) yield break;
        while (true)
        {
            int fieldLine = line, fieldColumn = Math.Max(column, 1);
            field.Clear();
            if (c == '"')
            {
                while (true)
                {
                    c = Read();
                    if (c < 0) throw new PragWorldCsvFormatException(source, fieldLine, fieldColumn, null, "quoted field is never closed (missing '\"')");
                    if (c == '"')
                    {
                        c = Read();
                        if (c == '"') { field.Append('"'); continue; }
                        break;
                    }
                    field.Append((char)c);
                }
                if (c == '\r') c = Read();
                if (c >= 0 && c != ',' && c != '\n')
                    throw new PragWorldCsvFormatException(source, line, column, null, $"unexpected '{(char)c}' after the closing quote of a field (a quote inside a field must be doubled)");
            }
            else
            {
                while (c >= 0 && c != ',' && c != '\n')
                {
                    if (c == '"')
                        throw new PragWorldCsvFormatException(source, line, column, null, "quote inside an unquoted field (quote the field and double the quote)");
                    if (c != '\r') field.Append((char)c);
                    c = Read();
                }
            }
            record.Add(new CsvField(field.ToString(), fieldLine, fieldColumn));
            if (c == ',') { c = Read(); continue; }
            yield return record;
            record = [];
            if (c < 0) yield break;
            c = Read(); // after '\n'
            if (c < 0) yield break;
        }
    }
}
