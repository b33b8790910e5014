// Lets this assembly's IL call ML.NET's internal model save/load API (see the csproj's PublicizeMLNetReferences).
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Data")]

namespace System.Runtime.CompilerServices
{
    /// <summary>Honoured by the .NET runtime: the named assembly's non-public members are accessible to this one.</summary>
    [AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
    internal sealed class IgnoresAccessChecksToAttribute : Attribute
    {
        /// <summary>Creates the attribute for <paramref name="assemblyName"/>.</summary>
        public IgnoresAccessChecksToAttribute(string assemblyName) => AssemblyName = assemblyName;

        /// <summary>The assembly whose internals this assembly may use.</summary>
        public string AssemblyName { get; }
    }
}
