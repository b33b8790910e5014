// TorchSharp keeps process-wide state (the global random generator that seeds model initialisation, the intra-op thread
// count, cached scalars), and several tests run their own worker threads (in-process distributed and federated training).
// Running test classes in parallel made initialisations depend on other tests' timing and produced rare native errors,
// so the suite runs one test at a time; each test still finishes in seconds.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
