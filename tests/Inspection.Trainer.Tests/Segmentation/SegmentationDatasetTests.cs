using Inspection.TestSupport;
using Inspection.Trainer.Datasets;
using Inspection.Trainer.Datasets.Segmentation;
using OpenCvSharp;

namespace Inspection.Trainer.Tests.Segmentation;

public sealed class SegmentationDatasetTests
{
    // Writes an image (grey level 100, or colour) and a mask with a filled square whose value is `maskValue`.
    private static void WritePair(string image, string? mask, int size = 40, int maskValue = 255, bool colourImage = false, int maskSize = 0)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(image)!);
        using var pixels = colourImage ? new Mat(size, size, MatType.CV_8UC3, new Scalar(40, 100, 160)) : new Mat(size, size, MatType.CV_8UC1, Scalar.All(100));
        Cv2.ImWrite(image, pixels);
        if (mask is null)
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(mask)!);
        var side = maskSize == 0 ? size : maskSize;
        using var m = new Mat(side, side, MatType.CV_8UC1, Scalar.All(0));
        Cv2.Rectangle(m, new Rect(side / 4, side / 4, side / 2, side / 2), Scalar.All(maskValue), -1);
        Cv2.ImWrite(mask, m);
    }

    private static string Relative(SegmentationScan scan, string path) => Path.GetRelativePath(scan.Root, path);

    [Fact]
    public void Label_suffix_pairs_are_found_in_nested_site_folders_with_odd_names()
    {
        using var dir = new TempDirectory("seg-suffix");
        WritePair(dir.Combine("PV03", "Rooftop", "site 1.roof.a.bmp"), dir.Combine("PV03", "Rooftop", "site 1.roof.a_label.bmp"));
        WritePair(dir.Combine("PV08", "Ground", "my_label_x.BMP"), dir.Combine("PV08", "Ground", "my_label_x_Label.bmp"));
        WritePair(dir.Combine("PV08", "Ground", "000.bmp"), dir.Combine("PV08", "Ground", "000_mask.png"));
        WritePair(dir.Combine("PV08", "lonely.bmp"), null);
        WritePair(dir.Combine("PV08", "orphan_label.bmp"), null);

        var scan = SegmentationPairFinder.Find(dir.Path);

        Assert.Equal("label-suffix", scan.Layout);
        Assert.Equal(
            ["PV03/Rooftop/site 1.roof.a", "PV08/Ground/000", "PV08/Ground/my_label_x"],
            scan.Pairs.Select(p => p.Id));
        Assert.Equal("PV08/Ground/my_label_x_Label.bmp", Relative(scan, scan.Pairs[2].MaskPath));
        Assert.Equal(["PV08/lonely.bmp"], scan.ImagesWithoutMask.Select(f => Relative(scan, f)));
        Assert.Equal(["PV08/orphan_label.bmp"], scan.MasksWithoutImage.Select(f => Relative(scan, f)));
        Assert.Contains("image without a mask, left out: PV08/lonely.bmp", scan.Warnings());
    }

    [Fact]
    public void Images_and_annotations_folders_pair_by_stem_and_keep_the_datasets_own_split()
    {
        using var dir = new TempDirectory("seg-folders");
        WritePair(dir.Combine("images", "training", "000201.jpg"), dir.Combine("annotations", "training", "000201.png"));
        WritePair(dir.Combine("images", "training", "a b.c.jpg"), dir.Combine("annotations", "training", "a b.c.png"));
        WritePair(dir.Combine("images", "test", "000001.jpg"), dir.Combine("annotations", "test", "000001.png"));
        WritePair(dir.Combine("images", "test", "000002.jpg"), dir.Combine("annotations", "training", "000002.png"));
        WritePair(dir.Combine("README.png"), null);

        var scan = SegmentationPairFinder.Find(dir.Path);

        Assert.Equal("images-masks", scan.Layout);
        Assert.Equal(
            [("images/test/000001", "test"), ("images/training/000201", "train"), ("images/training/a b.c", "train")],
            scan.Pairs.Select(p => (p.Id, p.Split)));
        Assert.Equal(["images/test/000002.jpg"], scan.ImagesWithoutMask.Select(f => Relative(scan, f)));
        Assert.Equal(["annotations/training/000002.png"], scan.MasksWithoutImage.Select(f => Relative(scan, f)));
        Assert.Equal(["README.png"], scan.Ignored.Select(f => Relative(scan, f)));
    }

    [Fact]
    public void Images_and_masks_folders_without_splits_and_in_capitals_are_found()
    {
        using var dir = new TempDirectory("seg-masks");
        WritePair(dir.Combine("Images", "x-1.png"), dir.Combine("Masks", "x-1.bmp"));
        WritePair(dir.Combine("Images", "x-2.png"), dir.Combine("Masks", "x-2.png"));

        var scan = SegmentationPairFinder.Find(dir.Path);

        Assert.Equal(["Images/x-1", "Images/x-2"], scan.Pairs.Select(p => p.Id));
        Assert.All(scan.Pairs, p => Assert.Null(p.Split));
    }

    [Fact]
    public void Jpeg_and_png_with_the_same_stem_pair_up()
    {
        using var dir = new TempDirectory("seg-stem");
        WritePair(dir.Combine("a", "IMG 0001.jpg"), dir.Combine("a", "IMG 0001.png"));
        WritePair(dir.Combine("a", "IMG.0002.JPEG"), dir.Combine("a", "IMG.0002.PNG"));
        WritePair(dir.Combine("a", "no-mask.jpg"), null);

        var scan = SegmentationPairFinder.Find(dir.Path);

        Assert.Equal("same-stem", scan.Layout);
        Assert.Equal(["a/IMG 0001", "a/IMG.0002"], scan.Pairs.Select(p => p.Id));
        Assert.Equal(["a/no-mask.jpg"], scan.ImagesWithoutMask.Select(f => Relative(scan, f)));
    }

    [Fact]
    public void A_folder_without_pairs_is_an_error_naming_the_expected_layouts()
    {
        using var dir = new TempDirectory("seg-none");
        WritePair(dir.Combine("only.jpg"), null);

        var error = Assert.Throws<DatasetException>(() => SegmentationPairFinder.Find(dir.Path));

        Assert.Contains("1 image files but no image/mask pair", error.Message, StringComparison.Ordinal);
        Assert.Contains("X_label.bmp", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Class_coded_masks_are_binarised_resized_with_nearest_neighbour_and_split_by_the_dataset()
    {
        using var dir = new TempDirectory("seg-load");
        WritePair(dir.Combine("images", "train", "1.png"), dir.Combine("masks", "train", "1.png"), size: 40, maskValue: 2);
        WritePair(dir.Combine("images", "train", "2.png"), dir.Combine("masks", "train", "2.png"), size: 40, maskValue: 213);
        WritePair(dir.Combine("images", "test", "3.png"), dir.Combine("masks", "test", "3.png"), size: 40, maskValue: 1);

        using var data = SegmentationDataset.Load(dir.Path, new SegmentationLoadOptions { Width = 20, Height = 20, ValidationFraction = 0 });

        Assert.Equal(1, data.Channels);
        Assert.Equal("dataset", data.SplitSource);
        Assert.Equal(["train", "train", "test"], data.Samples.OrderBy(s => s.Id.Replace("test", "zz", StringComparison.Ordinal)).Select(s => s.Split));
        foreach (var sample in data.Samples)
        {
            Assert.Equal(new Size(20, 20), sample.Mask.Size());
            sample.Mask.GetArray(out byte[] values);
            Assert.Equal([0, 1], values.Distinct().Order().Select(v => (int)v));
            Assert.Equal(100, sample.ForegroundPixels); // the 20x20 square scaled by a half
        }
    }

    [Fact]
    public void The_mask_threshold_decides_what_counts_as_foreground()
    {
        using var dir = new TempDirectory("seg-threshold");
        WritePair(dir.Combine("a.jpg"), dir.Combine("a.png"), maskValue: 100);
        WritePair(dir.Combine("b.jpg"), dir.Combine("b.png"), maskValue: 200);

        using var data = SegmentationDataset.Load(dir.Path, new SegmentationLoadOptions { Width = 40, Height = 40, MaskThreshold = 150, ValidationFraction = 0, TestFraction = 0 });

        Assert.Equal([0, 400], data.Samples.Select(s => s.ForegroundPixels));
    }

    [Fact]
    public void Size_mismatched_and_colour_masks_are_errors_naming_every_file()
    {
        using var dir = new TempDirectory("seg-bad");
        WritePair(dir.Combine("good.bmp"), dir.Combine("good_label.bmp"));
        WritePair(dir.Combine("small.bmp"), dir.Combine("small_label.bmp"), size: 40, maskSize: 32);
        WritePair(dir.Combine("colour.bmp"), null);
        using (var colour = new Mat(40, 40, MatType.CV_8UC3, new Scalar(0, 0, 255)))
        {
            Cv2.ImWrite(dir.Combine("colour_label.bmp"), colour);
        }

        var error = Assert.Throws<DatasetException>(() => SegmentationDataset.Load(dir.Path, new SegmentationLoadOptions { Width = 16, Height = 16 }));

        Assert.Contains("2 of 3 pairs cannot be used", error.Message, StringComparison.Ordinal);
        Assert.Contains("small_label.bmp: mask is 32x32 but its image small.bmp is 40x40", error.Message, StringComparison.Ordinal);
        Assert.Contains("colour_label.bmp: colour mask", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Grey_masks_saved_as_rgb_and_colour_images_are_accepted()
    {
        using var dir = new TempDirectory("seg-rgbmask");
        WritePair(dir.Combine("a.bmp"), null, colourImage: true);
        using (var greyAsRgb = new Mat(40, 40, MatType.CV_8UC3, Scalar.All(0)))
        {
            Cv2.Rectangle(greyAsRgb, new Rect(0, 0, 10, 10), Scalar.All(211), -1);
            Cv2.ImWrite(dir.Combine("a_label.bmp"), greyAsRgb);
        }

        using var data = SegmentationDataset.Load(dir.Path, new SegmentationLoadOptions { Width = 40, Height = 40, ValidationFraction = 0, TestFraction = 0 });

        Assert.Equal(3, data.Channels);
        Assert.Equal(100, Assert.Single(data.Samples).ForegroundPixels);
    }

    [Fact]
    public void An_all_background_dataset_is_an_error()
    {
        using var dir = new TempDirectory("seg-empty");
        WritePair(dir.Combine("a.jpg"), dir.Combine("a.png"), maskValue: 0);
        WritePair(dir.Combine("b.jpg"), dir.Combine("b.png"), maskValue: 0);

        var error = Assert.Throws<DatasetException>(() => SegmentationDataset.Load(dir.Path, new SegmentationLoadOptions { Width = 16, Height = 16 }));

        Assert.Contains("all 2 masks are background only", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_hash_split_is_deterministic_seeded_recorded_and_stable_as_pairs_are_added()
    {
        using var dir = new TempDirectory("seg-split");
        for (var i = 0; i < 40; i++)
        {
            WritePair(dir.Combine($"{i:D2}.jpg"), dir.Combine($"{i:D2}.png"), size: 16, maskValue: i % 2 == 0 ? 255 : 0);
        }

        var options = new SegmentationLoadOptions { Width = 16, Height = 16, Seed = 7, ValidationFraction = 0.25, TestFraction = 0.25 };
        using var first = SegmentationDataset.Load(dir.Path, options);
        using var second = SegmentationDataset.Load(dir.Path, options);
        using var otherSeed = SegmentationDataset.Load(dir.Path, options with { Seed = 8 });

        Assert.Equal(first.Samples.Select(s => s.Split), second.Samples.Select(s => s.Split));
        Assert.NotEqual(first.Samples.Select(s => s.Split), otherSeed.Samples.Select(s => s.Split));
        Assert.Equal(first.Fingerprint, second.Fingerprint);
        Assert.Equal("seeded", first.SplitSource);
        foreach (var split in new[] { Splits.Validation, Splits.Test })
        {
            var members = first.In(split);
            Assert.Contains(members, s => s.ForegroundPixels > 0);
            Assert.Contains(members, s => s.ForegroundPixels == 0);
        }

        var summary = first.SplitSummary();
        Assert.Equal(1, summary[StableSplit.MethodKey]);
        Assert.Equal(40, summary["train"] + summary["validation"] + summary["test"]);

        // Ten more pairs: every old pair keeps its split.
        for (var i = 40; i < 50; i++)
        {
            WritePair(dir.Combine($"{i:D2}.jpg"), dir.Combine($"{i:D2}.png"), size: 16, maskValue: i % 2 == 0 ? 255 : 0);
        }

        using var grown = SegmentationDataset.Load(dir.Path, options);
        var old = first.Samples.ToDictionary(s => s.Id, s => s.Split);
        Assert.Equal(50, grown.Samples.Count);
        Assert.All(grown.Samples.Where(s => old.ContainsKey(s.Id)), s => Assert.Equal(old[s.Id], s.Split));
    }
}
