// The distributed tests check the outer-update rules (penalty, clipping) on hand-computed numbers directly.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("MLNetExt.Tests")]
