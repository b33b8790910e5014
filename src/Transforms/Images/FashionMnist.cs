using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt;

/// <summary>An image row: pixels scaled to [0, 1] (channel-major C×H×W) and the class index.</summary>
public sealed class ImageRow
{
    /// <summary>Pixels in [0, 1], C×H×W.</summary>
    public float[] Features { get; set; } = Array.Empty<float>();
    /// <summary>0-based class index.</summary>
    public uint Label { get; set; }
}

/// <summary>
/// Loads Fashion-MNIST (or any IDX image/label pair) as an ML.NET <see cref="IDataView"/> with a
/// <c>Features</c> column (Vector&lt;Single, H·W&gt;, pixels / 255) and a key-typed <c>Label</c> column whose key values are
/// the class names, ready for <c>mlContext.MulticlassClassification</c> trainers.
/// </summary>
public static class FashionMnist
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package installs the files.</summary>
    public const string DebianDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The ten Fashion-MNIST class names, in label order.</summary>
    public static readonly IReadOnlyList<string> ClassNames = new[]
    {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    };

    /// <summary>True when the Debian package's files are present.</summary>
    public static bool IsInstalled(string directory = DebianDirectory)
        => File.Exists(Path.Combine(directory, "train-images-idx3-ubyte.gz")) && File.Exists(Path.Combine(directory, "t10k-images-idx3-ubyte.gz"));

    /// <summary>The training split (60,000 images) or its first <paramref name="maxRows"/>.</summary>
    public static IDataView LoadTrain(MLContext ml, int? maxRows = null, string directory = DebianDirectory)
        => Load(ml, Path.Combine(directory, "train-images-idx3-ubyte.gz"), Path.Combine(directory, "train-labels-idx1-ubyte.gz"), maxRows);

    /// <summary>The test split (10,000 images) or its first <paramref name="maxRows"/>.</summary>
    public static IDataView LoadTest(MLContext ml, int? maxRows = null, string directory = DebianDirectory)
        => Load(ml, Path.Combine(directory, "t10k-images-idx3-ubyte.gz"), Path.Combine(directory, "t10k-labels-idx1-ubyte.gz"), maxRows);

    /// <summary>Loads an IDX image/label pair. <paramref name="classNames"/> defaults to the Fashion-MNIST names.</summary>
    public static IDataView Load(MLContext ml, string imagesPath, string labelsPath, int? maxRows = null, IReadOnlyList<string>? classNames = null)
    {
        var images = IdxReader.ReadImages(imagesPath, maxRows);
        var labels = IdxReader.ReadLabels(labelsPath, maxRows);
        if (labels.Length != images.Count)
            throw new IdxFormatException(labelsPath, -1, $"{labels.Length} labels, but '{imagesPath}' has {images.Count} images");
        classNames ??= ClassNames;
        int size = images.Rows * images.Columns;
        var rows = new ImageRow[images.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            if (labels[i] >= classNames.Count)
                throw new IdxFormatException(labelsPath, 8 + i, $"label {i}: class {labels[i]} is outside the {classNames.Count} known classes");
            var f = new float[size];
            for (int j = 0; j < size; j++) f[j] = images.Pixels[(long)i * size + j] / 255f;
            rows[i] = new ImageRow { Features = f, Label = labels[i] };   // LoadFromEnumerable stores key fields 0-based
        }
        var schema = SchemaDefinition.Create(typeof(ImageRow));
        schema[nameof(ImageRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
        schema[nameof(ImageRow.Label)].ColumnType = new KeyDataViewType(typeof(uint), classNames.Count);
        var names = new VBuffer<ReadOnlyMemory<char>>(classNames.Count, classNames.Select(n => n.AsMemory()).ToArray());
        schema[nameof(ImageRow.Label)].AddAnnotation("KeyValues", names, new VectorDataViewType(TextDataViewType.Instance, classNames.Count));
        return ml.Data.LoadFromEnumerable(rows, schema);
    }
}
