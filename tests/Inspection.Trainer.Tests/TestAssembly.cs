// TorchSharp's random generator and thread pool belong to the process: test classes training in parallel draw from
// one generator in an order that changes from run to run, so seeded training stops being reproducible. Run them in turn.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
