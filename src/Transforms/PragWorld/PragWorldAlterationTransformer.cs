using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt;

/// <summary>
/// Applies one <see cref="PragWorldAlteration"/> to every row of an IDataView of <see cref="PragWorldQuestionRow"/>
/// columns, producing the altered rows (conversation, question, updated label, alteration name, target, effect, note).
/// Rows the alteration cannot alter are dropped unless <see cref="PragWorldAlterationOptions.KeepNotApplicable"/>.
/// The output is computed lazily, each time a cursor is opened.
/// </summary>
/// <remarks>
/// This is a benchmark-construction step, not part of a scoring model, so it cannot be saved inside an ML.NET model
/// zip (<see cref="ICanSaveModel.Save"/> throws): save the generated benchmark (e.g. with
/// <see cref="PragWorldData.SaveQuestionRows"/>) instead.
/// </remarks>
public sealed class PragWorldAlterationTransformer : ITransformer
{
    private readonly MLContext _context;

    internal PragWorldAlterationTransformer(MLContext context, PragWorldAlteration alteration, PragWorldAlterationOptions options)
    {
        _context = context;
        Alteration = alteration;
        Options = options;
    }

    /// <summary>The alteration applied.</summary>
    public PragWorldAlteration Alteration { get; }

    /// <summary>The options used.</summary>
    public PragWorldAlterationOptions Options { get; }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => false;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        PragWorldData.CheckQuestionRowSchema(inputSchema);
        return PragWorldData.QuestionRowSchema;
    }

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) =>
        throw new NotSupportedException($"{nameof(PragWorldAlterationTransformer)} may drop rows, so it is not a row-to-row mapper.");

    /// <inheritdoc/>
    public IDataView Transform(IDataView input)
    {
        PragWorldData.CheckQuestionRowSchema(input.Schema);
        var rows = _context.Data.CreateEnumerable<PragWorldQuestionRow>(input, reuseRowObject: false)
            .Select(row => Alteration.Apply(row, Options))
            .Where(row => Options.KeepNotApplicable || row.AlterationEffect != AlterationEffects.NotApplicable);
        return _context.Data.LoadFromEnumerable(rows);
    }

    void ICanSaveModel.Save(ModelSaveContext ctx) => throw new NotSupportedException(
        $"The PragWorld {Alteration.Kind} alteration builds benchmark data and is not saved inside an ML.NET model; " +
        "save the altered rows with PragWorldData.SaveQuestionRows instead.");
}

/// <summary>Estimator of <see cref="PragWorldAlterationTransformer"/> (nothing to learn: Fit only checks the schema).</summary>
public sealed class PragWorldAlterationEstimator : IEstimator<PragWorldAlterationTransformer>
{
    private readonly MLContext _context;
    private readonly PragWorldAlteration _alteration;
    private readonly PragWorldAlterationOptions _options;

    internal PragWorldAlterationEstimator(MLContext context, PragWorldAlteration alteration, PragWorldAlterationOptions? options)
    {
        _context = context;
        _alteration = alteration;
        _options = options ?? new PragWorldAlterationOptions();
    }

    /// <inheritdoc/>
    public PragWorldAlterationTransformer Fit(IDataView input)
    {
        PragWorldData.CheckQuestionRowSchema(input.Schema);
        return new PragWorldAlterationTransformer(_context, _alteration, _options);
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        foreach (var (name, type) in PragWorldData.RequiredColumns)
        {
            var column = inputSchema.FirstOrDefault(c => c.Name == name);
            if (column.Name is null || !column.ItemType.Equals(type) || column.Kind != SchemaShape.Column.VectorKind.Scalar)
                throw new ArgumentOutOfRangeException(nameof(inputSchema), $"PragWorld alteration input needs a scalar {type} column '{name}'.");
        }
        // SchemaShape's own constructors are internal; a pass-through mapping of the row type followed by a column
        // selection yields exactly the output shape (the row columns, other input columns dropped).
        var context = _context;
        return context.Transforms.CustomMapping<PragWorldQuestionRow, PragWorldQuestionRow>((_, _) => { }, contractName: null)
            .Append(context.Transforms.SelectColumns(PragWorldData.RequiredColumns.Select(c => c.Name).ToArray()))
            .GetOutputSchema(inputSchema);
    }
}

/// <summary>
/// The seven PragWorld alterations as ML.NET estimators: <c>mlContext.PragWorld().Alterations.Negation()</c>, …
/// </summary>
public sealed class PragWorldTransformsCatalog
{
    private readonly MLContext _context;

    /// <summary>Alterations whose data views belong to <paramref name="context"/>; reached as <c>mlContext.PragWorld().Alterations</c>.</summary>
    internal PragWorldTransformsCatalog(MLContext context) => _context = context ?? throw new ArgumentNullException(nameof(context));

    /// <summary>The alteration object for <paramref name="kind"/>.</summary>
    public static PragWorldAlteration Create(AlterationKind kind) => kind switch
    {
        AlterationKind.Negation => new NegationAlteration(),
        AlterationKind.VariableSubstitution => new VariableSubstitutionAlteration(),
        AlterationKind.QuantityChange => new QuantityChangeAlteration(),
        AlterationKind.VariableSwap => new VariableSwapAlteration(),
        AlterationKind.QuantifierChange => new QuantifierChangeAlteration(),
        AlterationKind.LogicalConnectiveChange => new LogicalConnectiveChangeAlteration(),
        AlterationKind.InjectingInconsistentData => new InjectingInconsistentDataAlteration(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown PragWorld alteration."),
    };

    /// <summary>An estimator applying the alteration <paramref name="kind"/>.</summary>
    public PragWorldAlterationEstimator Alter(AlterationKind kind, PragWorldAlterationOptions? options = null) => new(_context, Create(kind), options);

    /// <summary>Negation: toggles the polarity of one statement.</summary>
    public PragWorldAlterationEstimator Negation(PragWorldAlterationOptions? options = null) => Alter(AlterationKind.Negation, options);

    /// <summary>Variable substitution: the question's entity is replaced by another entity of the conversation.</summary>
    public PragWorldAlterationEstimator VariableSubstitution(PragWorldAlterationOptions? options = null) => Alter(AlterationKind.VariableSubstitution, options);

    /// <summary>Quantity change: one number word ± 1.</summary>
    public PragWorldAlterationEstimator QuantityChange(PragWorldAlterationOptions? options = null) => Alter(AlterationKind.QuantityChange, options);

    /// <summary>Variable swap: two entity mentions in two turns trade places.</summary>
    public PragWorldAlterationEstimator VariableSwap(PragWorldAlterationOptions? options = null) => Alter(AlterationKind.VariableSwap, options);

    /// <summary>Quantifier change: "all of" ↔ "some of".</summary>
    public PragWorldAlterationEstimator QuantifierChange(PragWorldAlterationOptions? options = null) => Alter(AlterationKind.QuantifierChange, options);

    /// <summary>Logical connective change: "and" ↔ "or".</summary>
    public PragWorldAlterationEstimator LogicalConnectiveChange(PragWorldAlterationOptions? options = null) => Alter(AlterationKind.LogicalConnectiveChange, options);

    /// <summary>Injecting inconsistent data: appends a common-sense-inconsistent exchange about a new entity.</summary>
    public PragWorldAlterationEstimator InjectingInconsistentData(PragWorldAlterationOptions? options = null) => Alter(AlterationKind.InjectingInconsistentData, options);

    /// <summary>
    /// The benchmark: the original rows followed by every applicable altered row of each alteration in
    /// <paramref name="kinds"/> (all seven when empty). Free-form edits of conversations the interpreter does not
    /// understand have effect <see cref="AlterationEffects.Unknown"/> and keep the original's label: evaluation
    /// leaves them out, and training data should too.
    /// </summary>
    public IDataView BuildBenchmark(IDataView originals, PragWorldAlterationOptions? options = null, params AlterationKind[] kinds)
    {
        PragWorldData.CheckQuestionRowSchema(originals.Schema);
        options ??= new PragWorldAlterationOptions();
        var alterations = (kinds.Length == 0 ? Enum.GetValues<AlterationKind>() : kinds).Select(Create).ToList();
        var context = _context;
        var rows = context.Data.CreateEnumerable<PragWorldQuestionRow>(originals, reuseRowObject: false).ToList();
        var benchmark = rows.Concat(alterations.SelectMany(a => rows.Select(r => a.Apply(r, options))
            .Where(r => options.KeepNotApplicable || r.AlterationEffect != AlterationEffects.NotApplicable)));
        return context.Data.LoadFromEnumerable(benchmark.ToList());
    }
}
