using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt.Tests.Images;

/// <summary>A Fact that is skipped with a clear reason when Debian's dataset-fashion-mnist is not installed.</summary>
public sealed class FashionMnistFactAttribute : FactAttribute
{
    public FashionMnistFactAttribute()
    {
        if (!FashionMnist.IsInstalled()) Skip = $"Fashion-MNIST not found in {FashionMnist.DebianDirectory}: run scripts/setup.sh (installs dataset-fashion-mnist).";
    }
}

public class IdxReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnx-idx").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (string Images, string Labels) WriteSample(bool gzip, byte[]? labels = null)
    {
        var pixels = Enumerable.Range(0, 3 * 2 * 2).Select(i => (byte)(i * 20)).ToArray();
        string ext = gzip ? ".gz" : "";
        var paths = (Path.Combine(_dir, "img" + ext), Path.Combine(_dir, "lbl" + ext));
        IdxReader.Write(paths.Item1, new IdxImages(pixels, 3, 2, 2), paths.Item2, labels ?? new byte[] { 2, 0, 1 });
        return paths;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoundTripsPlainAndGzipFiles(bool gzip)
    {
        var (images, labels) = WriteSample(gzip);
        var read = IdxReader.ReadImages(images);
        Assert.Equal((3, 2, 2), (read.Count, read.Rows, read.Columns));
        Assert.Equal(new byte[] { 0, 20, 40, 60 }, read.Pixels[..4]);
        Assert.Equal(new byte[] { 2, 0, 1 }, IdxReader.ReadLabels(labels));
        Assert.Equal(2, IdxReader.ReadImages(images, maxCount: 2).Count);
    }

    [Fact]
    public void LoadsAsDataViewWithScaledPixelsAndNamedKeyLabels()
    {
        var (images, labels) = WriteSample(gzip: true);
        var ml = new MLContext();
        var view = FashionMnist.Load(ml, images, labels, classNames: new[] { "a", "b", "c" });
        Assert.Equal(4, ((VectorDataViewType)view.Schema["Features"].Type).Size);
        var keys = view.GetColumn<uint>("Label").ToArray();
        Assert.Equal(new uint[] { 3, 1, 2 }, keys);
        var first = view.GetColumn<VBuffer<float>>("Features").First().DenseValues().ToArray();
        Assert.Equal(new[] { 0f, 20 / 255f, 40 / 255f, 60 / 255f }, first);
        var names = ml.Transforms.Conversion.MapKeyToValue("Name", "Label").Fit(view).Transform(view).GetColumn<ReadOnlyMemory<char>>("Name").Select(m => m.ToString());
        Assert.Equal(new[] { "c", "a", "b" }, names);
    }

    [Fact]
    public void SwappedFilesAndTruncationGiveClearErrors()
    {
        var (images, labels) = WriteSample(gzip: false);
        Assert.Contains("this is a labels file", Assert.Throws<IdxFormatException>(() => IdxReader.ReadImages(labels)).Message);
        Assert.Contains("this is an images file", Assert.Throws<IdxFormatException>(() => IdxReader.ReadLabels(images)).Message);
        var bytes = File.ReadAllBytes(images);
        File.WriteAllBytes(images, bytes[..^3]);
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.ReadImages(images));
        Assert.Contains("truncated", e.Message);
        Assert.Contains(images, e.Message);
        Assert.Contains("dataset-fashion-mnist", Assert.Throws<FileNotFoundException>(() => IdxReader.ReadImages("/usr/share/datasets/fashion-mnist/nope.gz")).Message);
    }

    [Fact]
    public void LabelOutsideClassListNamesFileAndIndex()
    {
        var (images, labels) = WriteSample(gzip: false, labels: new byte[] { 0, 7, 1 });
        var e = Assert.Throws<IdxFormatException>(() => FashionMnist.Load(new MLContext(), images, labels, classNames: new[] { "a", "b" }));
        Assert.Contains("label 1", e.Message);
        Assert.Contains("class 7", e.Message);
    }

    [FashionMnistFact]
    public void ReadsTheRealDebianFashionMnist()
    {
        var ml = new MLContext();
        var test = FashionMnist.LoadTest(ml, maxRows: 500);
        Assert.Equal(784, ((VectorDataViewType)test.Schema["Features"].Type).Size);
        var labels = test.GetColumn<uint>("Label").ToArray();
        Assert.Equal(500, labels.Length);
        Assert.Equal(10, labels.Distinct().Count());   // the test split is shuffled: 500 rows hold every class
        var pixels = test.GetColumn<VBuffer<float>>("Features").Take(50).SelectMany(v => v.DenseValues()).ToArray();
        Assert.InRange(pixels.Average(), 0.15, 0.45);   // Fashion-MNIST's mean pixel is about 0.29
        Assert.Equal(1f, pixels.Max());
    }
}
