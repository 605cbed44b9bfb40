"""unrolled-ensemble's nets, the random deletion sets, and the measurement: single lesions and swaps through
`lesion_study`, the random deletions through `lesioned_features` on the sets this module draws, and the unrolled-sum
verification on random-weight pre-activation nets."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from skiplab.claims.core.contract import Context
from skiplab.claims.core.datasets import calibration_batch, heldout_batch
from skiplab.claims.core.engine import Done
from skiplab.claims.depth.ladder import scale_config, spec
from skiplab.guards import prepare
from skiplab.models import calibrate_batchnorm, create_model
from skiplab.probes import lesion_study
from skiplab.probes.lesions import _run_trie  # the probe's shared-prefix deletion trie, for sets drawn here
from skiplab.probes.unrolled import unrolled_check
from skiplab.train.loop import resolve_device

from .rule import CALIBRATION, DRAWS, HELD_OUT, K_MAX

CHUNK = 256  # examples per pass, as the probe: the stored block inputs of one chunk are what is held


def nets(ctx: Context) -> list[tuple[str, str, int]]:
    """(label, ladder family, depth) of every lesioned net."""
    d = scale_config(ctx).depths
    return [(f"resnet{d[-1]}", "resnet", d[-1]), (f"resnet{d[1]}", "resnet", d[1]), (f"plain{d[1]}", "plain", d[1])]


def runs(ctx: Context):
    return [spec(ctx, fam, depth, s) for _, fam, depth in nets(ctx) for s in ctx.seed_list]


def budget(ctx: Context) -> str:
    labels = ", ".join(label for label, _, _ in nets(ctx))
    return (f"{labels} (the depth ladder's runs, reused), lesioned on up to {HELD_OUT} test examples: every block "
            f"alone, and {DRAWS} distinct random sets of k non-downsampling blocks per k = 1..{K_MAX} (all sets where "
            f"there are fewer); " + scale_config(ctx).describe(ctx.seeds))


def eligible(study: dict[str, Any]) -> list[int]:
    """The blocks random deletions draw from: lesionable and not downsampling (the shape kept)."""
    return [i for i, (ok, ch) in enumerate(zip(study["lesionable"], study["shape_changing"])) if ok and not ch]


def draw_sets(blocks: Sequence[int], k: int, draws: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """`draws` distinct k-subsets of `blocks`, uniform without replacement (each sorted); every k-subset, in order,
    where there are at most `draws` of them (E(k) is then exact); none for k outside 1..len(blocks)."""
    pool = sorted(blocks)
    if not 1 <= k <= len(pool):
        return []
    if math.comb(len(pool), k) <= draws:
        return list(itertools.combinations(pool, k))
    seen: set[tuple[int, ...]] = set()
    out: list[tuple[int, ...]] = []
    while len(out) < draws:  # rejection of repeats: a uniform sample of distinct subsets
        s = tuple(sorted(pool[j] for j in rng.choice(len(pool), size=k, replace=False)))
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def set_errors(net: Any, x: torch.Tensor, y: torch.Tensor, sets: Sequence[Sequence[int]]) -> list[float]:
    """Held-out error of the net with each set of blocks (indices) deleted, in eval mode as the caller left it.

    One deletion trie per chunk of examples for all the sets (the probe's: sets sharing their first deletions share
    the blocks between them), each set scored as it comes out, so no set's features are held."""
    index = {tuple(sorted(s)): i for i, s in enumerate(sets)}
    if len(index) != len(sets) or () in index:
        raise ValueError("set_errors: deletion sets must be distinct and non-empty")
    blocks = [b for _, b in net.blocks()]
    wrong = [0] * len(sets)
    with torch.no_grad():
        for start in range(0, x.shape[0], CHUNK):
            xc = prepare(net, x[start:start + CHUNK])
            yc = y[start:start + CHUNK].to(xc.device)
            inter = list(net.block_outputs(xc).values())

            def emit(s: tuple[int, ...], feats: torch.Tensor, yc: torch.Tensor = yc) -> None:
                wrong[index[s]] += int((net.forward_head(feats).argmax(1) != yc).sum())

            _run_trie(blocks, inter[:-1], sorted(index), emit)
    return [w / x.shape[0] for w in wrong]


def random_lesions(net: Any, x: torch.Tensor, y: torch.Tensor, study: dict[str, Any], seed: int) -> dict[str, Any]:
    """The random deletions of one net: sets and errors per k = 1..K."""
    blocks = eligible(study)
    rng = np.random.default_rng(seed)
    ks = list(range(1, min(K_MAX, len(blocks)) + 1))
    rows = [draw_sets(blocks, k, DRAWS, rng) for k in ks]
    flat = set_errors(net, x, y, [s for row in rows for s in row])
    errors, at = [], 0
    for row in rows:
        errors.append(flat[at:at + len(row)])
        at += len(row)
    return {"k": ks, "sets": [[list(s) for s in row] for row in rows], "error": errors,
            "exhaustive": [len(row) == math.comb(len(blocks), k) for k, row in zip(ks, rows)]}


def _verification(ctx: Context, data: Any) -> dict[str, Any]:
    kwargs = data.model_kwargs()
    x = heldout_batch(data, 16)[0].double()
    out = {}
    for depth in sorted({scale_config(ctx).jacobian_depth, scale_config(ctx).depths[-1]}):
        with torch.random.fork_rng():  # seeded weights without touching the caller's RNG
            torch.manual_seed(depth)
            net = create_model("preresnet20", depth=depth, **kwargs).double()
        calibrate_batchnorm(net, calibration_batch(data, 256)[0].double())  # non-trivial BN statistics
        out[f"preresnet{depth}"] = unrolled_check(net, x)
    return out


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of small lesioned passes: a second thread mostly synchronises
    try:
        return _measure(ctx, done)
    finally:
        torch.set_num_threads(threads)


def _measure(ctx: Context, done: Done) -> dict[str, Any]:
    dev = resolve_device("auto")  # the full scale's 110-layer lesions want the GPU where there is one
    out: dict[str, Any] = {"seeds": ctx.seed_list, "nets": {}, "k_max": K_MAX, "draws": DRAWS}
    n_examples = []
    for label, fam, depth in nets(ctx):
        per_seed = []
        for s in ctx.seed_list:
            sp = spec(ctx, fam, depth, s)
            data = done.dataset(sp)
            net = done.model(sp, trained=True).to(dev)
            mode = calibrate_batchnorm(net, calibration_batch(data, CALIBRATION)[0].to(dev))
            x, y = heldout_batch(data, min(HELD_OUT, len(data.test_y)))
            x, y = x.to(dev), y.to(dev)
            n_examples.append(len(y))
            study = lesion_study(net, x, y, k_values=(), seed=s, bn_mode=mode)  # single lesions and swaps
            study["random"] = random_lesions(net, x, y, study, s)
            per_seed.append(study)
        out["nets"][label] = {"family": fam, "depth": depth, "seeds": per_seed}
    out["examples"] = min(n_examples)  # the held-out examples every error rate was read on (the same for every net)
    out["verification"] = _verification(ctx, done.dataset(spec(ctx, "resnet", scale_config(ctx).depths[1], 0)))
    return out
