"""RevNet memory and step time against ordinary backprop through the same net ("ResNet": the same RevNet with
`reversible = False`, identical weights and forward FLOPs), by depth, in one run.

Per depth (coupling blocks, 3 stages of RevNet-38 widths 32-64-112):
- bytes saved for backward (exact, saved_tensors_hooks; parameters excluded), in process;
- peak memory of two SGD steps in a fresh process per (model, depth): peak RSS on the CPU (VmHWM reset after the
  net is built), torch.cuda.max_memory_allocated on a GPU;
- step time, interleaved repeats (median ratio RevNet / ResNet, min-max spread) at a few depths.
The ResNet stops where its estimated peak (its saved bytes x 1.5 plus the RSS of the last fresh process) would
exceed 70% of the free memory. Goals (issue 7): RevNet saved bytes at the deepest depth <= 1.3x those at ~20
blocks; RevNet step time <= 1.6x the ResNet's at the same depth.

    python benchmarks/revnet_memory.py [--quick] [--device cpu|cuda] [--batch 32] [--size 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from skiplab.claims.memory.reversible_memory.revnet import batch, make_net, peak_memory, saved_bytes, step_times

MB = 2 ** 20


def free_bytes(device: str) -> int:
    if device.startswith("cuda"):
        return torch.cuda.mem_get_info()[0]
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="depths 21..105 blocks, 2 timing repeats")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=16, help="input size (CPU: 16x16 keeps 500 blocks affordable)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads here and in each child (0: torch's "
                    "default; 1 avoids thread oversubscription on a loaded machine)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    per_stage = [7, 14, 35] if args.quick else [7, 14, 35, 70, 140, 167]  # 21 ... 501 blocks
    timed = [7, 35] if args.quick else [7, 35, 167]
    repeats = 2 if args.quick else args.repeats
    x, y = batch(args.batch, args.size, device=args.device)
    rows, resnet_on = [], True
    for n in per_stage:
        row = {"blocks": 3 * n, "saved": {}, "peak": {}}
        for rev in (True, False):
            key = "revnet" if rev else "resnet"
            if not rev and not resnet_on:
                continue
            row["saved"][key] = saved_bytes(make_net(n, rev, args.size).to(args.device), x)
            p = peak_memory(n, rev, args.batch, args.size, args.device, args.threads)
            row["peak"][key] = p
            if not rev and "peak" in p and 1.5 * row["saved"][key] * 2 + p["peak"] > 0.7 * free_bytes(args.device):
                resnet_on = False  # the next depth (about double) would not fit
        if n in timed:
            nets = {k: make_net(n, k == "revnet", args.size).to(args.device) for k in ("revnet", "resnet")
                    if k == "revnet" or resnet_on or "resnet" in row["saved"]}
            t = step_times(nets, x, y, repeats)
            row["time"] = {k: statistics.median(v) for k, v in t.items()}
            if "resnet" in t:
                ratios = sorted(a / b for a, b in zip(t["revnet"], t["resnet"]))
                row["time_ratio"] = {"median": statistics.median(ratios), "min": ratios[0], "max": ratios[-1]}
        rows.append(row)
        peak = {k: (v.get("peak", 0) - v.get("before", 0)) / MB for k, v in row["peak"].items()}
        print(f"{row['blocks']:4d} blocks | saved MB: " + ", ".join(f"{k} {v / MB:8.1f}" for k, v in
                                                                 row["saved"].items())
              + " | peak-above-start MB: " + ", ".join(f"{k} {v:7.1f}" for k, v in peak.items())
              + (" | step s: " + ", ".join(f"{k} {v:.2f}" for k, v in row["time"].items()) if "time" in row else "")
              + (f" | ratio {row['time_ratio']['median']:.2f} ({row['time_ratio']['min']:.2f}-"
                 f"{row['time_ratio']['max']:.2f})" if "time_ratio" in row else ""), flush=True)
    mem_ratio = rows[-1]["saved"]["revnet"] / rows[0]["saved"]["revnet"]
    t_ratio = [r["time_ratio"]["median"] for r in rows if "time_ratio" in r]
    print(f"goal 1: RevNet saved bytes at {rows[-1]['blocks']} blocks / at {rows[0]['blocks']}: {mem_ratio:.3f} "
          f"(goal <= 1.3) {'met' if mem_ratio <= 1.3 else 'MISSED'}")
    print(f"goal 2: RevNet / ResNet step time, worst median over depths: {max(t_ratio):.2f} (goal <= 1.6) "
          f"{'met' if max(t_ratio) <= 1.6 else 'MISSED'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "batch": args.batch, "size": args.size, "rows": rows,
                       "saved_ratio": mem_ratio, "time_ratios": t_ratio}, f, indent=1)


if __name__ == "__main__":
    main()
