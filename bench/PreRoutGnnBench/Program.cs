// quick check (replaced by the benchmark below)
using MLNetExt.PreRoutGnn;
using MLNetExt.Transforms.Circuits;
using TorchSharp;

var cache = args[0];
var train = args[1].Split(',').Select(d => TimingGraphFile.Load(Path.Combine(cache, d + ".tgraph"))).ToList();
var test = args[2].Split(',').Select(d => TimingGraphFile.Load(Path.Combine(cache, d + ".tgraph"))).ToList();
int epochs = int.Parse(args[3]);
torch.set_num_threads(2);
var sw = System.Diagnostics.Stopwatch.StartNew();
var trainer = new PreRoutGnnTrainer(new PreRoutGnnOptions { Epochs = epochs, PretrainEpochs = int.Parse(args[4]),
    Progress = new Progress<MLNetExt.Core.TrainingProgress>(p => { if (p.Epoch % 10 == 0) Console.WriteLine($"epoch {p.Epoch} loss {p.TrainLoss:F4} {p.Elapsed.TotalSeconds:F0}s"); }) });
var model = trainer.Fit(train);
Console.WriteLine($"pretrain loss {trainer.PretrainLossHistory.FirstOrDefault():F4} -> {trainer.PretrainLossHistory.LastOrDefault():F4}; train {sw.Elapsed.TotalSeconds:F0}s");
foreach (var (name, set) in new[] { ("train", train), ("test", test) })
{
    var (per, mean) = model.Evaluate(set);
    foreach (var m in per) Console.WriteLine($"{name} {m}");
}
