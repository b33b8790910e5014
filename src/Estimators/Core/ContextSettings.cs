using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace MLNetExt.Core;

/// <summary>The MLContext settings a TorchSharp trainer honours: its seed and its GPU choice.</summary>
internal static class ContextSettings
{
    /// <summary>
    /// <paramref name="seed"/> when set, else the context's seed (<c>new MLContext(seed: 7)</c>), else a draw from the
    /// context's generator (random for a context made without a seed, as in ML.NET's own trainers).
    /// </summary>
    public static int Seed(IHostEnvironment env, int? seed, string componentName)
        => seed ?? (env as IHostEnvironmentInternal)?.Seed ?? env.Register(componentName).Rand.Next();

    /// <summary>
    /// The device for <paramref name="kind"/> refined by the context: a set <c>GpuDeviceId</c> picks that CUDA device for
    /// Auto and Cuda; without CUDA, <c>FallbackToCpu</c> decides between CPU and an error.
    /// </summary>
    public static Device Device(IHostEnvironment env, TorchDeviceKind kind)
    {
        var context = env as IHostEnvironmentInternal;
        if (kind == TorchDeviceKind.Cpu || context?.GpuDeviceId is not int gpu) return TorchDevices.Resolve(kind);
        if (TorchDevices.CudaAvailable) return new Device(TorchSharp.DeviceType.CUDA, gpu);
        if (context.FallbackToCpu) return CPU;
        throw new InvalidOperationException($"The MLContext asks for GPU {gpu} (GpuDeviceId) without FallbackToCpu, but TorchSharp reports no CUDA device. " +
            "Reference a CUDA TorchSharp package, set FallbackToCpu = true, or clear GpuDeviceId.");
    }
}
