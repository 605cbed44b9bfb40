"""The runs and measurements of highway-gates. The highway nets are the plain/residual ladder's twins (same
skeleton, same recipe); the ladder's plain and residual runs are reused, and the highway twins at the default gate
bias are the ladder's own highway specs (so their hashes, and finished runs, are unchanged). The other two inits
run at one depth, the ladder's middle one: that is where the gate rule is judged."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch

from skiplab.claims.core.contract import Context
from skiplab.claims.core.datasets import probe_batch
from skiplab.claims.core.engine import Done, RunSpec
from skiplab.claims.depth import degradation
from skiplab.claims.depth.ladder import scale_config, spec
from skiplab.guards import buffers_kept, prepare
from skiplab.train.experiment import ModelConfig

from .rule import BIASES, DEFAULT_BIAS, err_key, gate_key


def gate_depth(ctx: Context) -> int:
    """The ladder's middle depth (20 quick, 56 full): deep enough for several gated blocks (highway-8 has one),
    cheap enough to train under three inits."""
    depths = sorted(scale_config(ctx).depths)
    return depths[len(depths) // 2]


def highway_depths(ctx: Context) -> dict[float, list[int]]:
    """Depths of the highway twins per gate-bias init. Default bias: every ladder depth at full scale; at quick
    scale the middle (where the gates are judged) and the deepest (trainability), the shallowest left out for the
    6-seed CPU budget (highway-8 has a single gated block). The other inits: the middle depth only."""
    depths, mid = scale_config(ctx).depths, gate_depth(ctx)
    base = sorted({mid, max(depths)}) if ctx.scale == "quick" else sorted(depths)
    return {b: base if b == DEFAULT_BIAS else [mid] for b in BIASES}


def highway_spec(ctx: Context, depth: int, bias: float, seed: int) -> RunSpec:
    sp = spec(ctx, "highway", depth, seed)
    if bias == DEFAULT_BIAS:
        return sp  # no override, so the ladder's hash
    m = sp.run.model
    # The gradient probe is read by no claim for these nets and does not change training (it keeps the
    # batch-norm buffers and the RNG); gate statistics come from the checkpoints.
    return replace(sp, run=replace(sp.run, model=ModelConfig(m.name, {**m.overrides, "gate_bias": bias})),
                   probes=None)


def runs(ctx: Context) -> list[RunSpec]:
    depths = scale_config(ctx).depths
    out = [spec(ctx, fam, d, s) for fam in ("plain", "resnet") for d in depths for s in ctx.seed_list]
    return out + [highway_spec(ctx, d, b, s) for b, ds in highway_depths(ctx).items() for d in ds
                  for s in ctx.seed_list]


def gate_stats(net: Any, x: torch.Tensor) -> list[dict[str, Any]]:
    """Per gated block: mean, std, 10% and 90% quantiles of T(x_in) over all elements (examples x channels x
    positions) of the batch x, and the std over examples of each example's mean T (how much the gate's choice
    depends on the input). Train-mode batch norm (the gradient probe's mode; at init the running statistics are
    still the defaults), running statistics and the model's mode restored."""
    was = net.training
    net.train()
    try:
        with torch.no_grad(), buffers_kept(net):
            inter = net.block_outputs(prepare(net, x))
            names, blocks, out = list(inter), dict(net.blocks()), []
            for k, name in enumerate(names[1:]):  # names[k] is block k's input
                if blocks[name].kind != "gated":
                    continue
                t = blocks[name].gate(inter[names[k]]).double()
                per_example = t.flatten(1).mean(1)
                t = t.flatten()
                q = torch.quantile(t, torch.tensor([0.1, 0.9], dtype=t.dtype)) if t.numel() <= 2 ** 24 else None
                out.append({"block": name, "index": k, "mean": float(t.mean()), "std": float(t.std()),
                            "example_std": float(per_example.std()) if len(per_example) > 1 else 0.0,
                            "q10": float(q[0]) if q is not None else math.nan,
                            "q90": float(q[1]) if q is not None else math.nan})
    finally:
        net.train(was)
    return out


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    scale = scale_config(ctx)
    hw = highway_depths(ctx)
    errors: dict[str, Any] = {}
    gates: dict[str, Any] = {}
    for fam in ("plain", "resnet"):
        for d in scale.depths:
            errors[err_key(fam, d)] = [degradation._train_err(done.metrics(spec(ctx, fam, d, s))[-1])
                                       for s in ctx.seed_list]
    for b, ds in hw.items():
        for d in ds:
            specs = [highway_spec(ctx, d, b, s) for s in ctx.seed_list]
            errors[err_key("highway", d, b)] = [degradation._train_err(done.metrics(sp)[-1]) for sp in specs]
            x, _ = probe_batch(done.dataset(specs[0]), scale.probe_examples)
            gates[gate_key(d, b)] = [{"init": gate_stats(done.model(sp, trained=False), x),
                                      "trained": gate_stats(done.model(sp, trained=True), x)} for sp in specs]
    # train error is a full pass over the training split (at most max_eval_examples of it): the n of its noise
    data = done.dataset(spec(ctx, "plain", scale.depths[0], ctx.seed_list[0]))
    cap = scale.train.max_eval_examples
    n = len(data.train_y) if cap is None else min(cap, len(data.train_y))
    return {"depths": list(scale.depths), "highway": [[d, b] for b, ds in hw.items() for d in ds],
            "gate_depth": gate_depth(ctx), "gate_biases": list(BIASES), "seeds": ctx.seed_list,
            "train_examples": n, "errors": errors, "gates": gates}


def budget(ctx: Context) -> str:
    hw = highway_depths(ctx)
    said = "; ".join(f"gate bias {b:g} at depth{'s' * (len(ds) > 1)} {'/'.join(map(str, ds))}" for b, ds in hw.items())
    return (f"plain/residual twins; highway twins: {said} (the extra inits at the middle depth only, where the gate "
            f"rule is judged: three inits at every depth would triple the highway cost); "
            + scale_config(ctx).describe(ctx.seeds))
