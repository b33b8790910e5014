using Microsoft.ML.OnnxRuntime;

namespace MLNetExt;

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
        if (device != OnnxExecutionDevice.Cpu && !CudaLibrariesPresent())
        {
            // Asking ONNX Runtime anyway would only print a native error; say plainly what is missing.
            warn?.Invoke("CUDA execution provider unavailable (CUDA 13 / cuBLAS libraries not found); running the ONNX model on CPU.");
        }
        else if (device != OnnxExecutionDevice.Cpu)
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

    /// <summary>True when the CUDA libraries ONNX Runtime 1.31's CUDA provider links against can be loaded.</summary>
    public static bool CudaLibrariesPresent()
    {
        string name = OperatingSystem.IsWindows() ? "cublasLt64_13.dll" : "libcublasLt.so.13";
        if (!System.Runtime.InteropServices.NativeLibrary.TryLoad(name, out var handle)) return false;
        System.Runtime.InteropServices.NativeLibrary.Free(handle);
        return true;
    }

    private static string FirstLine(string s)
    {
        var i = s.IndexOf('\n');
        return i < 0 ? s : s[..i];
    }
}
