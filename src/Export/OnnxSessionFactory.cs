using Microsoft.ML.OnnxRuntime;

namespace MLNetExt.Export;

/// <summary>Where an ONNX Runtime session should run.</summary>
public enum OnnxExecutionDevice
{
    /// <summary>CUDA when it can be initialised, otherwise CPU (with a warning).</summary>
    Auto,
    /// <summary>CPU execution provider.</summary>
    Cpu,
    /// <summary>CUDA execution provider; falls back to CPU with a warning when CUDA cannot be loaded.</summary>
    Cuda,
}

/// <summary>Creates ONNX Runtime sessions with GPU-or-CPU fallback.</summary>
public static class OnnxSessionFactory
{
    /// <summary>
    /// Opens <paramref name="modelPath"/>. When a GPU is requested and the CUDA provider cannot be loaded
    /// (no GPU, no CUDA 13 / cuDNN 9 libraries), the session is created on CPU and <paramref name="warn"/> is told why.
    /// </summary>
    public static InferenceSession Create(string modelPath, OnnxExecutionDevice device = OnnxExecutionDevice.Cpu, Action<string>? warn = null, int gpuDeviceId = 0)
    {
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"ONNX model '{modelPath}' does not exist.", modelPath);
        if (device != OnnxExecutionDevice.Cpu)
        {
            SessionOptions? gpuOptions = null;
            try
            {
                gpuOptions = new SessionOptions();
                // The typed method is the one that works; the generic provider-name API rejects "CUDAExecutionProvider".
                gpuOptions.AppendExecutionProvider_CUDA(gpuDeviceId);
                return new InferenceSession(modelPath, gpuOptions);
            }
            catch (Exception e) when (e is OnnxRuntimeException or DllNotFoundException or EntryPointNotFoundException)
            {
                gpuOptions?.Dispose();
                warn?.Invoke($"CUDA execution provider unavailable ({FirstLine(e.Message)}); running the ONNX model on CPU.");
            }
        }
        return new InferenceSession(modelPath, new SessionOptions());
    }

    private static string FirstLine(string s)
    {
        var i = s.IndexOf('\n');
        return i < 0 ? s : s[..i];
    }
}
