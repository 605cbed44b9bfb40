"""Width, depth and resolution at a fixed FLOPs budget: Inception vs deep stacks, compound scaling, MBConv blocks.
flops_matched.py holds what the three share: the scale, run specs, sizing to a FLOPs budget, accuracy."""
