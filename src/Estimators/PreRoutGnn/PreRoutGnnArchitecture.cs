using System.Text.Json;
using System.Text.Json.Serialization;

namespace MLNetExt;

/// <summary>What a cell step of the propagation adds its learned output to.</summary>
public enum CellStepKind
{
    /// <summary>Nothing: the cell MLP gives the output pin's state (the paper).</summary>
    Learned,
    /// <summary>The latest input state over the cell's arcs (arrival and ln-slew of the worst input), so cells learn a
    /// local delay instead of carrying absolute times through an MLP (ours).</summary>
    LatestInputResidual,
    /// <summary>
    /// What STA does with the arc's NLDM tables (ours): the delay and output-slew tables are read at the predicted input
    /// slew and the driven net's load (times a learned wire factor); the output state is the table-read state (early
    /// corners the minimum, late the maximum over arcs and input transitions) plus the learned correction, the arc delays
    /// are the read delays plus the head's output, and the cell MLP also sees the 16 read values.
    /// </summary>
    TableCorrection,
    /// <summary>
    /// As <see cref="TableCorrection"/>, but a cell output's arrivals are the tables' and only its ln-slews are corrected
    /// (ours): a pre-routing graph lacks the wire, not the cell, and a learned arrival correction per cell is what
    /// compounds over the levels of an unseen design.
    /// </summary>
    TableArrival,
}

/// <summary>The load a table-reading cell step (<see cref="CellStepKind.TableCorrection"/>, <see cref="CellStepKind.TableArrival"/>) reads its tables at.</summary>
public enum TableLoad
{
    /// <summary>The driven net's sink pin capacitances × one learned factor.</summary>
    PinCapacitance,
    /// <summary>
    /// Plus the net's wire capacitance estimated before routing (<see cref="TimingGraphTensors.WireCapacitance"/>:
    /// half-perimeter × a fanout factor × 0.1 fF/µm) × a second learned factor starting at 1.
    /// </summary>
    PinAndWireCapacitance,
}

/// <summary>How the learned parts of a table-reading network start.</summary>
public enum PreRoutGnnInitialization
{
    /// <summary>Random initialisation.</summary>
    Random,
    /// <summary>
    /// The last layers of the net step, of the cell step's reduction and of its delay correction start at zero, so the
    /// untrained network is the STA of the tables and training learns corrections to it. Needs a table-reading cell step.
    /// </summary>
    Tables,
}

/// <summary>
/// The components and widths of a PreRoutGNN network. The defaults are the paper's model (<see cref="Paper"/>);
/// <see cref="Recommended"/> adds the options that helped most on held-out designs (docs/preroutgnn.md). Saved models
/// store it by property name (JSON), so adding a property does not change how older models read.
/// </summary>
public sealed record PreRoutGnnArchitecture
{
    /// <summary>The paper's PreRoutGNN: pre-training, residual propagation, LUT attention, learned cell steps, ns/fF units.</summary>
    public static PreRoutGnnArchitecture Paper => new();

    /// <summary>
    /// The best configuration of the benchmark (held-out endpoint slack R² median 0.914 over 3 seeds): the paper's model
    /// plus design units, table-reading cell steps whose arrivals come from the tables, pin + wire load, started from the tables.
    /// </summary>
    public static PreRoutGnnArchitecture Recommended => new()
    {
        DesignUnits = true, CellStep = CellStepKind.TableArrival, TableLoad = TableLoad.PinAndWireCapacitance, Initialization = PreRoutGnnInitialization.Tables,
    };

    /// <summary>Global circuit pre-training: the encoder's latent and its graph mean are appended to the node features.</summary>
    public bool Pretraining { get; init; } = true;
    /// <summary>Residual NetConv stack and residual local-delay net steps.</summary>
    public bool Residual { get; init; } = true;
    /// <summary>LUT attention (PreRoutGNN) or LUT query mask (TimingGCN).</summary>
    public LutReadout Readout { get; init; } = LutReadout.Attention;
    /// <summary>Embedding width of the NetConv stack.</summary>
    public int Hidden { get; init; } = 64;
    /// <summary>MLP width of the propagation steps.</summary>
    public int PropagationHidden { get; init; } = 128;
    /// <summary>Number of NetConv layers.</summary>
    public int NetConvLayers { get; init; } = 4;
    /// <summary>Ours, off in the paper: times in the design's typical gate delay, capacitances in its mean pin
    /// capacitance (see <see cref="TimingGraphTensors.From"/>), so technologies whose delays differ tenfold share one scale.</summary>
    public bool DesignUnits { get; init; }
    /// <summary>What a cell step adds its learned output to (the paper: nothing).</summary>
    public CellStepKind CellStep { get; init; } = CellStepKind.Learned;
    /// <summary>The load the tables are read at; only with a table-reading <see cref="CellStep"/>.</summary>
    public TableLoad TableLoad { get; init; } = TableLoad.PinCapacitance;
    /// <summary>How training starts; <see cref="PreRoutGnnInitialization.Tables"/> only with a table-reading <see cref="CellStep"/>.
    /// Only initialisation changes: a saved model does not depend on it.</summary>
    public PreRoutGnnInitialization Initialization { get; init; } = PreRoutGnnInitialization.Random;

    internal bool LutLookup => CellStep is CellStepKind.TableCorrection or CellStepKind.TableArrival;
    internal bool CellResidual => CellStep == CellStepKind.LatestInputResidual;
    internal bool CellArrivalFromTables => CellStep == CellStepKind.TableArrival;
    internal bool WireLoad => TableLoad == TableLoad.PinAndWireCapacitance;
    internal bool StartFromTables => Initialization == PreRoutGnnInitialization.Tables;

    /// <summary>Node features the propagation sees: base (+ latent + graph mean) + NetConv embedding.</summary>
    [JsonIgnore] public int InputFeatures => TimingGraphTensors.BaseFeatureCount + (Pretraining ? 2 * GraphAutoEncoder.Latent : 0);

    /// <summary>Columns of the propagation's node features: inputs + NetConv embedding (+ 4 pin loads with the lookup).</summary>
    [JsonIgnore] public int PropagationFeatures => InputFeatures + Hidden + (LutLookup ? 4 : 0);

    /// <summary>Node feature columns 6..9 (pin capacitances) × this = the NLDM tables' load axis unit
    /// (<see cref="TimingGraphTensors.From"/>: fF vs pF × 10 in the reference's units; both the design's unit otherwise).</summary>
    internal float CapacitanceToLoadAxis => DesignUnits ? 1f : 0.01f;

    /// <summary>Throws <see cref="ArgumentException"/> naming settings that do not go together or a width below 1.</summary>
    public void Validate()
    {
        if (Hidden < 1 || PropagationHidden < 1 || NetConvLayers < 0)
            throw new ArgumentException($"Hidden ({Hidden}) and PropagationHidden ({PropagationHidden}) must be at least 1, NetConvLayers ({NetConvLayers}) not negative.");
        if (!LutLookup && TableLoad != TableLoad.PinCapacitance)
            throw new ArgumentException($"TableLoad = {TableLoad} sets the load the NLDM tables are read at: it needs CellStep = TableCorrection or TableArrival (is {CellStep}).");
        if (!LutLookup && StartFromTables)
            throw new ArgumentException($"Initialization = Tables starts the network at the STA of the NLDM tables: it needs CellStep = TableCorrection or TableArrival (is {CellStep}).");
    }

    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>The architecture as JSON, properties and enum values by name.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads <see cref="ToJson"/>'s output; properties it lacks keep their defaults (the paper's setting).</summary>
    /// <exception cref="InvalidDataException">Not an architecture, or an unknown value.</exception>
    public static PreRoutGnnArchitecture FromJson(string json)
    {
        try
        {
            var a = JsonSerializer.Deserialize<PreRoutGnnArchitecture>(json, Json) ?? throw new InvalidDataException("The stored PreRoutGNN architecture is empty.");
            a.Validate();
            return a;
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new InvalidDataException($"The stored PreRoutGNN architecture cannot be read ({e.Message}): {json}", e);
        }
    }
}
