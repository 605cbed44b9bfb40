"""All single-block lesions of a ResNet, the reuse way (`skiplab.probes.lesioned_features`: one intact pass keeps
every block's input, a lesion at block l starts there) against the naive way (`forward_features(x, skip={l})` from
the input each time), interleaved in one process on the same random batch and random weights (eval mode).

For n blocks the naive way evaluates about n^2 blocks and the reuse way n + n(n+1)/2, so the ideal ratio is about
0.5 + 1.5/n (0.56 for resnet56's 27 blocks); the issue's aim is <= 0.6. Prints the median ratio reuse / naive and
its spread (min-max over repeats); < 1 means reuse is faster.

    python benchmarks/lesion_speed.py [--model resnet56] [--batch 64] [--size 32] [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from skiplab.models import create_model
from skiplab.probes import lesioned_features, naive_lesioned_features


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet56")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=32, help="image side (3 channels)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = create_model(args.model).eval()
    x = torch.rand(args.batch, 3, args.size, args.size)
    deletions = [[name] for name, block in net.blocks() if block.lesionable]
    ways = {"reuse": lesioned_features, "naive": naive_lesioned_features}
    # one untimed call each (allocator warm-up), and a check that both ways agree
    outs = {k: f(net, x, deletions) for k, f in ways.items()}
    diff = max(float((a - b).abs().max()) for a, b in zip(outs["reuse"], outs["naive"]))
    times: dict[str, list[float]] = {k: [] for k in ways}
    for r in range(args.repeats):
        order = list(ways) if r % 2 == 0 else list(reversed(ways))  # alternate who goes first
        for k in order:
            t0 = time.perf_counter()
            ways[k](net, x, deletions)
            times[k].append(time.perf_counter() - t0)
    ratios = [a / b for a, b in zip(times["reuse"], times["naive"])]
    n = len(net.block_names())
    print(f"{args.model}: {len(deletions)} single-block lesions of {n} blocks, batch {args.batch} at "
          f"{args.size}x{args.size}, {torch.get_num_threads()} thread(s), max |reuse - naive| = {diff:.2e}")
    for k in ways:
        print(f"  {k:5s} median {statistics.median(times[k]):.3f} s  (min {min(times[k]):.3f}, "
              f"max {max(times[k]):.3f}) over {args.repeats} repeats")
    print(f"  ratio reuse/naive median {statistics.median(ratios):.3f} (spread {min(ratios):.3f}-"
          f"{max(ratios):.3f}); ideal {(n + n * (n + 1) / 2) / (n * n):.3f}; aim <= 0.6")


if __name__ == "__main__":
    main()
