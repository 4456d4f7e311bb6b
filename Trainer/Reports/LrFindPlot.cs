using System.Globalization;
using Inspection.Trainer.Training;
using ScottPlot;

namespace Inspection.Trainer.Reports;

/// <summary>The learning-rate sweep as a PNG: batch loss and smoothed loss against the learning rate (log scale), the suggestion marked.</summary>
internal static class LrFindPlot
{
    /// <summary>Writes the plot to <paramref name="path"/> and returns it.</summary>
    public static string Write(string path, LrFindResult result)
    {
        using var plot = new Plot();
        var xs = result.Points.Select(p => Math.Log10(p.LearningRate)).ToArray();
        var raw = plot.Add.Scatter(xs, result.Points.Select(p => p.Loss).ToArray());
        raw.LegendText = "batch loss";
        raw.MarkerSize = 2;
        raw.LineWidth = 0;
        raw.Color = Colors.Gray.WithAlpha(0.6);
        var smoothed = plot.Add.Scatter(xs, result.Points.Select(p => p.SmoothedLoss).ToArray());
        smoothed.LegendText = "smoothed loss";
        smoothed.MarkerSize = 0;
        smoothed.LineWidth = 2;
        var suggested = plot.Add.VerticalLine(Math.Log10(result.Suggested));
        suggested.LegendText = string.Create(CultureInfo.InvariantCulture, $"suggested {result.Suggested:G3}");
        suggested.Color = Colors.Red;

        // Ticks at whole decades, labelled as rates.
        var ticks = new ScottPlot.TickGenerators.NumericAutomatic
        {
            IntegerTicksOnly = true,
            LabelFormatter = x => Math.Pow(10, x).ToString("G1", CultureInfo.InvariantCulture),
        };
        plot.Axes.Bottom.TickGenerator = ticks;
        var lowest = result.Points.Min(p => p.SmoothedLoss);
        var first = result.Points[0].SmoothedLoss;
        plot.Axes.SetLimitsY(Math.Max(0, lowest - (0.1 * Math.Abs(first - lowest))), Math.Max(first, lowest) + (0.5 * Math.Abs(first - lowest)) + 1e-6);
        plot.Title("Learning-rate range test");
        plot.XLabel("learning rate (log scale)");
        plot.YLabel("training loss");
        plot.ShowLegend();
        plot.SavePng(path, 900, 500);
        return path;
    }
}
