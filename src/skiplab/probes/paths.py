"""Paths of a net's computation graph (`net.graph()`, networkx) and Veit et al.'s gradient-by-path-length probe
(the path-lengths claim reads them).

Two definitions of a path's length, both read off the same graph: Veit et al. count the residual branches a path
takes (k of n, so 2^n paths with binomial counts C(n, k)); the story's "every path passes all blocks" counts the
additions a path passes, and every stem-to-head path passes all n additions (it either enters a block's branch or
its skip edge, and both end at that block's addition)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import networkx as nx
import torch
from torch.nn import functional as F

from ..models import Net


def enumerate_paths(g: nx.DiGraph) -> dict[str, Any]:
    """Every stem -> head path listed by networkx (small nets only: 2^n paths): counts by branches taken and by
    additions passed."""
    branches, adds = Counter(), Counter()
    for path in nx.all_simple_paths(g, "stem", "head"):
        ops = [g.nodes[v].get("op") for v in path]
        branches[ops.count("branch")] += 1
        adds[ops.count("add")] += 1
    return {"paths": sum(branches.values()), "by_branches": dict(sorted(branches.items())),
            "by_additions": dict(sorted(adds.items()))}


def count_paths(g: nx.DiGraph) -> dict[int, int]:
    """Number of stem -> head paths by branches taken, by dynamic programming over a topological order (exact
    integers; fine for 54 blocks where listing 2^54 paths is not)."""
    counts: dict[Any, Counter] = {"stem": Counter({0: 1})}
    for v in nx.topological_sort(g):
        if v not in counts:
            continue
        for w in g.successors(v):
            c = counts.setdefault(w, Counter())
            for k, m in counts[v].items():
                c[k + (g.nodes[w].get("op") == "branch")] += m
    return dict(sorted(counts["head"].items()))


def binomial_check(g: nx.DiGraph, n: int) -> bool:
    """True if the graph's paths by branch count are exactly C(n, k), k = 0..n."""
    return count_paths(g) == {k: math.comb(n, k) for k in range(n + 1)}


def _layer_nodes(g: nx.DiGraph) -> list[tuple[str, str, str]]:
    """(block, stage, node where the block's new features are made): its branch node, else its only node."""
    out, seen = [], set()
    for v in nx.topological_sort(g):
        block = g.nodes[v].get("block")
        if block is None or block in seen:
            continue
        if g.nodes[v].get("op") in ("branch", "block"):
            seen.add(block)
            out.append((block, block.split(".")[1], v))
    return out


def graph_distances(g: nx.DiGraph) -> dict[str, Any]:
    """Shortest-path distances (edges) from each layer's output to every later layer's input node and to the
    output: mean and max within a stage (a dense block) and across stages."""
    layers = _layer_nodes(g)
    within, across, to_out = [], [], []
    for i, (_, si, vi) in enumerate(layers):
        dist = nx.single_source_shortest_path_length(g, vi)
        to_out.append(dist["output"])
        for _, sj, vj in layers[i + 1:]:
            (within if si == sj else across).append(dist[vj])

    def stats(v: list[int]) -> dict[str, float]:
        return {"mean": sum(v) / len(v), "max": max(v)} if v else {"mean": float("nan"), "max": float("nan")}

    return {"layers": len(layers), "within": stats(within), "across": stats(across), "to_output": stats(to_out)}


def gradient_by_length(net: Net, x: torch.Tensor, y: torch.Tensor, samples: int, seed: int) -> dict[str, Any]:
    """Veit et al. 2016 Sec. 5: for k = 0..n, sample k blocks whose branch carries the gradient (gate "branch":
    their skip is detached) while the other n - k pass it only through their skip (gate "skip": the branch is
    detached); the forward values are those of the intact net. The gradient of the summed cross-entropy with
    respect to the first block's input (the stem's output) is then exactly the one path through those k branches.
    Returns per k the mean over samples of the per-example gradient norm averaged over the batch.

    The net must be in eval mode (calibrated batch norm): examples are then independent, so per-example norms
    are well defined."""
    names = net.block_names()
    n = len(names)
    g = torch.Generator().manual_seed(seed)
    captured: list[torch.Tensor] = []

    def leaf(_module: Any, _inputs: Any, out: torch.Tensor) -> torch.Tensor:
        out = out.detach().requires_grad_(True)  # the stem's output becomes the leaf the gradient is taken at
        captured.append(out)
        return out

    params = list(net.parameters())
    flags = [p.requires_grad for p in params]
    handle = net.stem.register_forward_hook(leaf)
    try:
        for p in params:
            p.requires_grad_(False)
        per_k = []
        for k in range(n + 1):
            draws = 1 if k in (0, n) else samples
            norms = []
            for _ in range(draws):
                on = set(torch.randperm(n, generator=g)[:k].tolist())
                gate = {name: "branch" if i in on else "skip" for i, name in enumerate(names)}
                captured.clear()
                loss = F.cross_entropy(net.forward_head(net.forward_features(x, gate=gate)), y, reduction="sum")
                (grad,) = torch.autograd.grad(loss, captured[0])
                norms.append(float(grad.flatten(1).norm(dim=1).mean()))
            per_k.append(sum(norms) / len(norms))
    finally:
        handle.remove()
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
    return {"n": n, "per_path": per_k}


def effective_range(n: int, per_path: list[float], mass: float = 0.9) -> dict[str, Any]:
    """Total gradient per length T(k) = C(n, k) * per-path magnitude, normalized; the central `mass` of it
    (lengths between the (1-mass)/2 and (1+mass)/2 quantiles) and its weighted mean length."""
    total = [math.comb(n, k) * v for k, v in enumerate(per_path)]
    s = sum(total)
    w = [t / s for t in total]
    lo_q, hi_q = (1 - mass) / 2, (1 + mass) / 2
    cum, lo, hi = 0.0, None, None
    for k, v in enumerate(w):
        cum += v
        if lo is None and cum >= lo_q:
            lo = k
        if hi is None and cum >= hi_q:
            hi = k
    return {"weights": w, "low": lo, "high": hi, "mean": sum(k * v for k, v in enumerate(w))}


def binomial_range(n: int, mass: float = 0.95) -> tuple[int, int]:
    """Central `mass` of the path-length distribution C(n, k) / 2^n (Veit et al.: 19-35 of 54 at 95%)."""
    r = effective_range(n, [1.0] * (n + 1), mass)
    return r["low"], r["high"]
