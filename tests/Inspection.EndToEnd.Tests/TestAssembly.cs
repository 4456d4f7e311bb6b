// Test classes here train and export with TorchSharp while others run daemons in the same process. TorchSharp's
// temporary Scalars can be freed mid-call by a garbage collection another thread starts (docs/decisions/no-gc-training-regions.md), so the
// classes run in turn and each test does its TorchSharp work before its daemon starts.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
