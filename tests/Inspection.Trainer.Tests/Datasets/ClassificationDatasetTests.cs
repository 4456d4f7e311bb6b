using Inspection.Config.Models;
using Inspection.TestSupport;
using Inspection.Trainer.Datasets;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Datasets.Segmentation;

namespace Inspection.Trainer.Tests.Datasets;

public sealed class ClassificationDatasetTests
{
    [Fact]
    public void Folder_per_class_split_is_seeded_repeatable_and_gives_each_split_both_classes()
    {
        using var dir = new TempDirectory("cls");
        SyntheticData.TextureFolders(dir.Path, perClass: 40, size: 32);

        var a = ClassificationDataset.Load(dir.Path, new ClassificationDataOptions { Seed = 5 });
        var b = ClassificationDataset.Load(dir.Path, new ClassificationDataOptions { Seed = 5 });
        var c = ClassificationDataset.Load(dir.Path, new ClassificationDataOptions { Seed = 6 });

        Assert.Equal(80, a.Images.Count);
        Assert.Equal(a.Images, b.Images);
        Assert.Equal(a.Fingerprint, b.Fingerprint);
        Assert.NotEqual(a.Fingerprint, c.Fingerprint);
        foreach (var split in new[] { Splits.Validation, Splits.Test })
        {
            // About 15% of each class (hash positions, not exact counts).
            Assert.InRange(a.In(split).Count(i => i.Defect), 1, 14);
            Assert.InRange(a.In(split).Count(i => !i.Defect), 1, 14);
        }

        Assert.Equal(1, a.SplitSummary()[StableSplit.MethodKey]);
        Assert.Equal(1, a.DetectChannels());
        Assert.Contains(a.BalanceLines(), l => l.StartsWith("train", StringComparison.Ordinal));
    }

    [Fact]
    public void Adding_files_never_moves_an_existing_file_between_splits()
    {
        using var dir = new TempDirectory("cls");
        SyntheticData.TextureFolders(dir.Path, perClass: 40, size: 16);
        var before = ClassificationDataset.Load(dir.Path, new ClassificationDataOptions()).Images.ToDictionary(i => i.Id, i => i.Split);

        // Twice as many images, new names in both classes (and one earlier in path order than every old one).
        SyntheticData.TextureFolders(dir.Combine("more"), perClass: 40, size: 16, seed: 2);
        foreach (var folder in new[] { "good", "defect" })
        {
            foreach (var file in Directory.GetFiles(dir.Combine("more", folder)))
            {
                File.Move(file, dir.Combine(folder, "new-" + Path.GetFileName(file)));
            }
        }

        File.Copy(dir.Combine("good", "good000.png"), dir.Combine("good", "aaa.png"));
        Directory.Delete(dir.Combine("more"), recursive: true);
        var grown = ClassificationDataset.Load(dir.Path, new ClassificationDataOptions());

        Assert.Equal(161, grown.Images.Count);
        Assert.Equal(0, grown.ForcedSplitMoves);
        Assert.All(before, kv => Assert.Equal(kv.Value, grown.Images.Single(i => i.Id == kv.Key).Split));
        Assert.Equal(before.Values.Count(s => s == Splits.Test) + grown.Images.Count(i => i.Id.Contains("new-", StringComparison.Ordinal) && i.Split == Splits.Test)
            + (grown.Images.Single(i => i.Id.EndsWith("aaa.png", StringComparison.Ordinal)).Split == Splits.Test ? 1 : 0), grown.In(Splits.Test).Count);
    }

    [Fact]
    public void A_tiny_class_still_gets_one_image_in_each_held_out_split()
    {
        var ids = Enumerable.Range(0, 4).Select(i => $"defect/{i}.png").Concat(Enumerable.Range(0, 40).Select(i => $"good/{i}.png")).ToList();
        var splits = StableSplit.Assign(ids, ids.Select(i => i.StartsWith("defect", StringComparison.Ordinal)).ToList(), 42, 0.15, 0.15, out _);

        foreach (var split in new[] { Splits.Train, Splits.Validation, Splits.Test })
        {
            Assert.Contains(split, splits.Take(4));
        }
    }

    [Fact]
    public void Labels_file_uses_the_cutoff_and_names_missing_files()
    {
        using var dir = new TempDirectory("cls");
        SyntheticData.TextureFolders(dir.Path, perClass: 10, size: 32, colour: true);
        var lines = Directory.GetFiles(dir.Combine("good")).Select(p => $"good/{Path.GetFileName(p)}  0.0  mono")
            .Concat(Directory.GetFiles(dir.Combine("defect")).Select((p, i) => $"defect/{Path.GetFileName(p)}  {(i < 5 ? "0.3333333" : "1.0")}  poly"));
        File.WriteAllLines(dir.Combine("labels.csv"), lines);

        var strict = ClassificationDataset.Load(dir.Combine("labels.csv"), new ClassificationDataOptions());
        var loose = ClassificationDataset.Load(dir.Combine("labels.csv"), new ClassificationDataOptions { DefectCutoff = 0.3 });

        Assert.Equal(5, strict.Images.Count(i => i.Defect));
        Assert.Equal(10, loose.Images.Count(i => i.Defect));
        Assert.Equal(3, strict.DetectChannels());

        File.AppendAllLines(dir.Combine("labels.csv"), ["defect/gone.png 1.0 mono"]);
        var error = Assert.Throws<DatasetException>(() => ClassificationDataset.Load(dir.Combine("labels.csv"), new ClassificationDataOptions()));
        Assert.Contains("defect/gone.png", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_and_one_class_datasets_are_refused_by_name()
    {
        using var dir = new TempDirectory("cls");
        Directory.CreateDirectory(dir.Combine("good"));
        Directory.CreateDirectory(dir.Combine("defect"));

        var empty = Assert.Throws<DatasetException>(() => ClassificationDataset.Load(dir.Path, new ClassificationDataOptions()));
        SyntheticData.TextureFolders(dir.Combine("x"), perClass: 5, size: 32);
        foreach (var f in Directory.GetFiles(dir.Combine("x", "good")))
        {
            File.Copy(f, dir.Combine("good", Path.GetFileName(f)));
        }

        var oneClass = Assert.Throws<DatasetException>(() => ClassificationDataset.Load(dir.Path, new ClassificationDataOptions()));

        Assert.Contains("empty", empty.Message, StringComparison.Ordinal);
        Assert.Contains("all 5 images are good", oneClass.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unreadable_image_is_named_when_building_tensors()
    {
        using var dir = new TempDirectory("cls");
        SyntheticData.TextureFolders(dir.Path, perClass: 10, size: 32);
        File.WriteAllText(dir.Combine("defect", "broken.png"), "not a png");
        var dataset = ClassificationDataset.Load(dir.Path, new ClassificationDataOptions());
        var spec = new InputSpec { Width = 32, Height = 32, Channels = 1, Mean = [0.5f], Std = [0.25f] };

        var error = Assert.Throws<DatasetException>(() => TensorSet.Build(dataset.Images, spec));

        Assert.Contains("broken.png", error.Message, StringComparison.Ordinal);
    }
}
