using System.Runtime.InteropServices;
using Microsoft.ML.Model.OnnxConverter;
using Onnx;

namespace MLNetExt;

/// <summary>
/// Copies a graph made with <see cref="OnnxGraphBuilder"/> into the ONNX model ML.NET's
/// <c>mlContext.Model.ConvertToOnnx</c> is writing, so our transformers take part in a whole-pipeline export.
/// </summary>
internal static class MLNetOnnxContext
{
    /// <summary>ML.NET's ConvertToOnnx writes this ai.onnx opset (its default and its maximum).</summary>
    public const int Opset = 12;

    /// <summary>
    /// Adds <paramref name="graph"/>'s initializers and nodes to <paramref name="ctx"/>. <paramref name="names"/> maps the
    /// graph's inputs and outputs to the context's variables; every other value gets a fresh variable prefixed with
    /// <paramref name="owner"/>, so two exported transformers never collide.
    /// </summary>
    public static void Copy(OnnxContext ctx, GraphProto graph, string owner, IReadOnlyDictionary<string, string> names)
    {
        var map = new Dictionary<string, string>(names, StringComparer.Ordinal);
        string Input(string value) => value.Length == 0 ? "" : map.TryGetValue(value, out var name) ? name
            : throw new InvalidOperationException($"{owner}: the ONNX graph reads '{value}' before any node writes it.");

        foreach (var t in graph.Initializer)
        {
            // ML.NET's context cannot hold rank-0 tensors; [1] broadcasts the same way in elementwise operators.
            var dims = t.Dims.Count == 0 ? new long[] { 1 } : t.Dims.ToArray();
            string name = owner + "." + t.Name;
            map[t.Name] = (OnnxElementType)t.DataType switch
            {
                OnnxElementType.Float => ctx.AddInitializer(MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray(), dims, name, true),
                OnnxElementType.Int64 => ctx.AddInitializer(MemoryMarshal.Cast<byte, long>(t.RawData.Span).ToArray(), dims, name, true),
                _ => throw new NotSupportedException($"{owner}: ONNX initializer '{t.Name}' has element type {t.DataType}, which the ML.NET export does not copy."),
            };
        }

        foreach (var node in graph.Node)
        {
            var inputs = node.Input.Select(Input).ToArray();
            var outputs = node.Output.Select(o => map.TryGetValue(o, out var name) ? name
                : map[o] = ctx.AddIntermediateVariable(null, owner + "." + o, true)).ToArray();
            var copy = ctx.CreateNode(node.OpType, inputs, outputs, ctx.GetNodeName(owner + "." + node.OpType), node.Domain);
            foreach (var a in node.Attribute)
            {
                switch (a.Type)
                {
                    case AttributeProto.Types.AttributeType.Int: copy.AddAttribute(a.Name, a.I); break;
                    case AttributeProto.Types.AttributeType.Float: copy.AddAttribute(a.Name, (double)a.F); break;
                    case AttributeProto.Types.AttributeType.String: copy.AddAttribute(a.Name, a.S.ToStringUtf8()); break;
                    case AttributeProto.Types.AttributeType.Ints: copy.AddAttribute(a.Name, (IEnumerable<long>)a.Ints.ToArray()); break;
                    case AttributeProto.Types.AttributeType.Floats: copy.AddAttribute(a.Name, (IEnumerable<float>)a.Floats.ToArray()); break;
                    default:
                        throw new NotSupportedException($"{owner}: ONNX node {node.OpType} has a {a.Type} attribute '{a.Name}', which ML.NET's ONNX export cannot hold.");
                }
            }
        }
    }
}
