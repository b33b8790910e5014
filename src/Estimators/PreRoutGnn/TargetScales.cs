using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>
/// The scales PreRoutGNN learns its targets in, defined once for training targets, predictions, the NLDM lookup and the
/// ONNX export: slews and net delays span decades, so they are learned as logarithms shifted to be of order one;
/// arrival times and cell delays stay linear (in ns, or in the design's gate delay with design units).
/// </summary>
public static class TargetScales
{
    /// <summary>Floor added before taking a logarithm, so a zero slew or delay stays finite.</summary>
    public const float LogFloor = 1e-4f;
    /// <summary>Shift of ln(slew): the reference's ln(1e-4 + slew) + 3.</summary>
    public const float SlewShift = 3f;
    /// <summary>Shift of ln(net delay): the reference's ln(1e-4 + delay) + 7.6.</summary>
    public const float NetDelayShift = 7.6f;

    /// <summary>ln(floor + slew) + shift.</summary>
    public static float ToLnSlew(float slew) => MathF.Log(LogFloor + slew) + SlewShift;
    /// <summary>Inverse of <see cref="ToLnSlew(float)"/>.</summary>
    public static float FromLnSlew(float lnSlew) => MathF.Exp(lnSlew - SlewShift) - LogFloor;
    /// <summary>ln(floor + delay) + shift.</summary>
    public static float ToLnNetDelay(float delay) => MathF.Log(LogFloor + delay) + NetDelayShift;
    /// <summary>Inverse of <see cref="ToLnNetDelay(float)"/>.</summary>
    public static float FromLnNetDelay(float lnDelay) => MathF.Exp(lnDelay - NetDelayShift) - LogFloor;

    /// <summary>Element-wise <see cref="ToLnSlew(float)"/> of a slew tensor clamped at zero.</summary>
    internal static Tensor ToLnSlew(Tensor slew) => log(slew.clamp_min(0) + LogFloor) + SlewShift;
    /// <summary>Element-wise <see cref="FromLnSlew(float)"/>, clamped at zero.</summary>
    internal static Tensor FromLnSlew(Tensor lnSlew) => (exp(lnSlew - SlewShift) - LogFloor).clamp_min(0);
}
