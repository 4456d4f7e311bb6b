using System.Runtime;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Tests.Training;

public sealed class NoCollectionTests
{
    [Fact]
    public void A_step_runs_without_collections_and_nested_steps_leave_the_outer_region_alone()
    {
        var collectionsBefore = GC.CollectionCount(0);
        using (NoCollection.Enter())
        {
            var startedInside = GC.CollectionCount(0);
            Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
            using (NoCollection.Enter())
            {
                // Another thread allocating here can no longer start a collection under a TorchSharp call.
                var garbage = 0;
                var other = new Thread(() => garbage = Enumerable.Range(0, 1000).Select(i => new byte[1024]).Count());
                other.Start();
                other.Join();
                Assert.Equal(1000, garbage);
            }

            Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
            Assert.Equal(startedInside, GC.CollectionCount(0));
        }

        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
        Assert.True(GC.CollectionCount(0) >= collectionsBefore);
    }
}
