"""`skiplab bench`: training throughput against plain PyTorch (`throughput`), and time-to-accuracy and the
large-batch check (`accuracy`). Speed goals live here and in benchmarks/, never in timed tests (DESIGN.md)."""
