using Inspection.Trainer.Cli;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Tests.Training;

public sealed class ConsoleProgressTests
{
    [Fact]
    public void On_a_terminal_the_bar_is_drawn_in_place_by_the_caller_and_cleared_before_each_line()
    {
        using var output = new StringWriter();
        var progress = new ConsoleProgress(output, interactive: true);

        progress.Run(p =>
        {
            p.Step(epoch: 1, epochs: 2, step: 1, steps: 4, loss: 0.6931);
            Assert.Contains("epoch 1/2 loss 0.6931", output.ToString(), StringComparison.Ordinal);
            Assert.StartsWith("\r[###", output.ToString(), StringComparison.Ordinal);
            p.Message("threshold chosen");
            p.Step(epoch: 2, epochs: 2, step: 4, steps: 4, loss: 0.1);
            return 0;
        });

        var text = output.ToString();
        Assert.Contains("\r\u001b[Kthreshold chosen" + Environment.NewLine, text, StringComparison.Ordinal);
        Assert.Contains("[########################] 100 %  epoch 2/2 loss 0.1000", text, StringComparison.Ordinal);
        Assert.EndsWith("\r\u001b[K", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Redirected_output_gets_plain_epoch_lines_and_no_bar()
    {
        using var output = new StringWriter();
        var progress = new ConsoleProgress(output, interactive: false);
        var record = new EpochRecord(Epoch: 1, LearningRate: 1e-3, TrainLoss: 0.5, ValidationLoss: 0.4, ValidationRecall: 0.9, ValidationPrecision: 0.8, ValidationMetrics: new Dictionary<string, double> { ["AUROC"] = 0.95, ["AP"] = 0.9 }, SkippedSteps: 0, Seconds: 3, ImagesPerSecond: 100);

        progress.Run(p =>
        {
            p.Step(1, 1, 1, 2, 0.7);
            p.Epoch(record, epochs: 1, best: true);
            return 0;
        });

        Assert.Equal(
            "epoch 1/1: train loss 0.5000, val loss 0.4000, val recall@0.5 90.0 %, precision@0.5 80.0 %, AUROC 0.9500, AP 0.9000, 100 img/s, 3 s (best)" + Environment.NewLine,
            output.ToString());
    }
}
