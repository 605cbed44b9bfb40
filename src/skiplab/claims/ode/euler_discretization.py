"""euler-discretization: x_{l+1} = x_l + h F(x_l) is a forward-Euler step, so with h = T/L a net of L blocks
sharing one F converges to the flow of x' = F(x) on [0, T], error O(h); Heun O(h^2), RK4 O(h^4). Do *trained*
ResNets discretize an ODE?

Verification (float64): residual MLPs with one shared branch F (tanh, no norm) and h = T/L, built for several L
with the same F; their features against torchdiffeq's dopri5 solve of the same vector field (rtol = atol =
1e-12) from the same stem output. The fitted slope of log error against log L is the order. Leapfrog is checked
against its own (partitioned) field; see models/parts/integrators.py.

Empirical (Sander et al. 2022): if a trained ResNet discretized an ODE, the weights of neighbouring blocks would
be close, ||W_{l+1} - W_l|| = O(1/L). Statistic S = sum_l ||W_{l+1} - W_l|| / sum_l ||W_l|| over every pair of
neighbouring shape-preserving blocks (each conv of the branch compared with the same conv of the next block),
against the same weights in shuffled block order (the null: no order at all), and the same nets at init (i.i.d.
He weights, S ~ sqrt 2). It reads the depth ladder's trained ResNets, so it trains nothing of its own when run
with the ladder claims. Sander et al. found smoothness only from a smooth initialization with small steps; the
ResNets here start i.i.d., as He et al.'s do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from skiplab import config as C
from skiplab.claims.core.scale import resolve_scale
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict, two_part
from skiplab.claims.depth.ladder import LADDER_SCALES, scale_config as ladder_scale, spec
from skiplab.claims.core.engine import Done
from skiplab.claims.core.stats import chosen, effect, fmt, slope, summary

SCALES = LADDER_SCALES  # reads only the depth ladder's runs: --scale cifar runs it

ORDER_TOL = 0.25  # a fitted slope within 0.25 of the rule's order verifies it
SMOOTH = 0.5  # "smooth": S at the deepest depth at most half of the shuffled-order S ...
NOT_SMOOTH = 0.8  # "not smooth": at least 0.8 of it (no more order than a random arrangement of the same weights)
FALL = 0.0  # "S falls with depth": S(shallowest) - S(deepest) above 0 (raised to 2 SE of the seed noise)
PERMUTATIONS = 50
RULES = ("euler", "heun", "midpoint", "rk4", "leapfrog")

CLAIM = Claim(
    id="euler-discretization",
    kind="verification + empirical",
    statement="x_{l+1} = x_l + h F(x_l) is forward Euler: with h = T/L the net converges to an ODE flow, error "
              "O(h); Heun O(h^2), RK4 O(h^4). Do trained ResNets discretize an ODE?",
    source="Chen et al. 2018; Sander et al. 2022",
    rule=(f"Verification: float64 residual MLPs with one shared tanh branch and h = T/L against dopri5 (rtol = "
          f"atol = 1e-12); the slope of log relative error vs log L, fitted over the stated L, must lie within "
          f"{ORDER_TOL} of the order (euler 1, heun 2, midpoint 2, rk4 4, leapfrog 2 on its partitioned field) on "
          f"every seed, else not supported (a bug). Empirical: the ladder's trained ResNets, depths with >= 2 "
          f"shape-preserving blocks per stage; S = sum ||W_(l+1) - W_l|| / sum ||W_l|| over neighbouring blocks, "
          f"r = S / S_shuffled (block order permuted within each stage, mean of {PERMUTATIONS} permutations). "
          f"Two effects, each a mean over seeds judged on its 95% t-interval against a margin raised to 2 "
          f"seed-to-seed standard errors where larger: the order gained over a random arrangement, 1 - r at the "
          f"deepest depth, against {1 - SMOOTH:g} (r <= {SMOOTH}) and against {1 - NOT_SMOOTH:g} (r >= "
          f"{NOT_SMOOTH}); and the fall of S with depth, S(shallowest) - S(deepest) paired per seed, against "
          f"{FALL:g}. Supported if 1 - r lies above {1 - SMOOTH:g} and the fall above its margin; not supported if "
          f"1 - r lies below {1 - NOT_SMOOTH:g}; otherwise inconclusive. The claim's verdict: not supported if "
          f"either part is; supported if both are; else inconclusive."),
    fair_test=("Verification: the nets share one branch F across L so only h = T/L changes, in float64 against a "
               "much tighter dopri5 solve of the same field from the same start, so the fitted slope is the rule's "
               "order and not the reference's error. Empirical: trained ResNets of growing depth compared with "
               "the same weights in shuffled block order (no order at all) and at init, so smoothness in depth is "
               "measured against what chance arrangement and training give."),
)


@dataclass(frozen=True)
class DiscretizationScale:
    steps: tuple[int, ...] = C.option((4, 8, 16, 32, 64), "numbers of blocks L (h = T/L) the slope is fitted on")
    horizon: float = C.option(1.0, "T: the integration time")
    width: int = C.option(16, "width of the shared branch (even: leapfrog splits it)")
    features: int = C.option(8, "input features of the Gaussian batch")
    batch: int = C.option(32, "examples in that batch")


QUICK = DiscretizationScale()
FULL = DiscretizationScale(steps=(4, 8, 16, 32, 64, 128), width=64, batch=128)


def scale_config(ctx: Context) -> DiscretizationScale:
    # cifar: the verification half is synthetic (Gaussian inputs, random vector fields), so the quick setting
    return resolve_scale(ctx, QUICK, FULL, cifar=QUICK)


def _depths(ctx: Context) -> list[int]:
    """Ladder depths whose stages hold at least two shape-preserving blocks (6n+2 with n >= 3)."""
    return [d for d in ladder_scale(ctx).depths if (d - 2) // 6 >= 3]


def runs(ctx: Context):
    scale_config(ctx)
    return [spec(ctx, "resnet", d, s) for d in _depths(ctx) for s in ctx.seed_list]


def budget(ctx: Context) -> str:
    s = scale_config(ctx)
    return (f"verification: float64 MLPs of width {s.width}, L = {'/'.join(map(str, s.steps))}, T = {s.horizon:g}, "
            f"{s.batch} Gaussian inputs, {ctx.seeds} random vector fields; empirical: the ladder's trained "
            f"resnet{'/'.join(map(str, _depths(ctx)))} ({ladder_scale(ctx).describe(ctx.seeds)})")


# --- verification --------------------------------------------------------------------------------------------------

def flow_errors(rule: str, s: DiscretizationScale, seed: int) -> list[float]:
    """Relative error ||net(x) - phi_T(x0)|| / ||phi_T(x0)|| of the L-block net per L in `s.steps`."""
    from torchdiffeq import odeint

    from skiplab.models import create_model
    from skiplab.models.parts.integrators import get_integrator

    def net(depth: int) -> Any:
        torch.manual_seed(seed)
        n = create_model("resmlp", depth=depth, width=s.width, in_channels=s.features, num_classes=2,
                         activation="tanh", norm="none", integrator=rule, share_weights=True,
                         h=s.horizon / depth).double().eval()
        with torch.no_grad():  # a field with O(1) Lipschitz constant, so T = 1 is a real trajectory
            for m in n.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, std=1.5 / m.in_features ** 0.5)
                    nn.init.normal_(m.bias, std=0.5)
        return n

    x = torch.randn(s.batch, s.features, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    ref_net = net(1)
    branch = ref_net.stages[0].blocks[0].branch
    field = get_integrator(rule).field(branch)
    with torch.no_grad():
        x0 = ref_net.stem(ref_net.normalize(x))
        exact = odeint(lambda t, z: field(z), x0, torch.tensor([0.0, s.horizon], dtype=torch.float64),
                       method="dopri5", rtol=1e-12, atol=1e-12)[-1]
        errs = []
        for depth in s.steps:
            n = net(depth)
            n.load_state_dict(ref_net.state_dict(), strict=False)  # the same F for every L
            errs.append(float((n.forward_features(x) - exact).norm() / exact.norm()))
    return errs


# --- empirical: weight smoothness across depth ---------------------------------------------------------------------

def _chains(net: Any) -> list[list[list[torch.Tensor]]]:
    """Per stage, the runs of consecutive shape-preserving blocks, each block as its list of conv weights."""
    chains: list[list[list[torch.Tensor]]] = []
    for stage in net.stages:
        run: list[list[torch.Tensor]] = []
        for block in stage.blocks:
            if not isinstance(getattr(block, "shortcut", None), nn.Identity):
                if len(run) > 1:
                    chains.append(run)
                run = []
                continue
            run.append([m.weight.detach().double() for m in block.branch.modules()
                        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))])
        if len(run) > 1:
            chains.append(run)
    return chains


def _roughness(chains: list[list[list[torch.Tensor]]]) -> float:
    diff = sum(float((b[k] - a[k]).norm()) for ch in chains for a, b in zip(ch, ch[1:]) for k in range(len(a)))
    size = sum(float(a[k].norm()) for ch in chains for a in ch[:-1] for k in range(len(a)))
    return diff / size


def smoothness(net: Any, seed: int) -> dict[str, Any]:
    chains = _chains(net)
    rng = np.random.default_rng(seed)
    shuffled = [_roughness([[ch[i] for i in rng.permutation(len(ch))] for ch in chains])
                for _ in range(PERMUTATIONS)]
    per_pair = [float(sum((b[k] - a[k]).norm() for k in range(len(a))) / sum(a[k].norm() for k in range(len(a))))
                for ch in chains for a, b in zip(ch, ch[1:])]
    s = _roughness(chains)
    return {"S": s, "S_shuffled": float(np.mean(shuffled)), "r": s / float(np.mean(shuffled)), "pairs": per_pair}


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of tiny float64 matmuls: a second thread only adds synchronisation
    try:
        return _measure(ctx, done)
    finally:
        torch.set_num_threads(threads)


def _measure(ctx: Context, done: Done) -> dict[str, Any]:
    s = scale_config(ctx)
    out: dict[str, Any] = {"seeds": ctx.seed_list, "steps": list(s.steps), "horizon": s.horizon,
                           "errors": {r: [flow_errors(r, s, seed) for seed in ctx.seed_list] for r in RULES},
                           "depths": _depths(ctx), "trained": {}, "init": {}}
    out["moved"] = {}
    for d in out["depths"]:
        nets = {state: [done.model(spec(ctx, "resnet", d, seed), trained=state == "trained")
                        for seed in ctx.seed_list] for state in ("trained", "init")}
        for state, per_seed in nets.items():
            out[state][str(d)] = [smoothness(n, seed) for n, seed in zip(per_seed, ctx.seed_list)]
        out["moved"][str(d)] = [moved(a, b) for a, b in zip(nets["trained"], nets["init"])]
    return out


def moved(trained: Any, init: Any) -> float:
    """sum ||W_trained - W_init|| / sum ||W_init|| over the chained blocks' weights: how far training went from
    the i.i.d. start (smoothness cannot appear if the weights barely move)."""
    pairs = [(a, b) for ca, cb in zip(_chains(trained), _chains(init)) for ba, bb in zip(ca, cb)
             for a, b in zip(ba, bb)]
    return sum(float((a - b).norm()) for a, b in pairs) / sum(float(b.norm()) for _, b in pairs)


# --- verdict and presentation --------------------------------------------------------------------------------------

def slopes(evidence: dict[str, Any], rule: str) -> list[float]:
    return [-slope(np.log(evidence["steps"]).tolist(), np.log(e).tolist()) for e in evidence["errors"][rule]]


def _verification(evidence: dict[str, Any]) -> tuple[str, str]:
    from skiplab.models.parts.integrators import INTEGRATORS
    fitted = {r: slopes(evidence, r) for r in RULES}
    said = "fitted orders " + ", ".join(f"{r} {fmt(summary(v))}" for r, v in fitted.items())
    bad = [r for r, v in fitted.items() if not all(abs(x - INTEGRATORS[r].order) <= ORDER_TOL for x in v)]
    if not all(np.isfinite(v).all() for v in fitted.values()) or bad:
        return NOT_SUPPORTED, f"{said}; off by more than {ORDER_TOL}: {', '.join(bad) or 'non-finite'}"
    return SUPPORTED, said


def _empirical(evidence: dict[str, Any]) -> tuple[str, str]:
    depths = evidence["depths"]
    if len(depths) < 1:
        return INCONCLUSIVE, "no ladder depth has two shape-preserving blocks per stage"
    deep, shallow = evidence["trained"][str(depths[-1])], evidence["trained"][str(depths[0])]
    gained = [1 - e["r"] for e in deep]  # order gained over a random arrangement of the same weights
    smooth = effect(f"1 - S/S_shuffled at depth {depths[-1]}", gained, 1 - SMOOTH)
    rough = effect(f"1 - S/S_shuffled at depth {depths[-1]}", gained, 1 - NOT_SMOOTH)
    said = (f"{smooth.text()}; against the not-smooth margin: {rough.text()}; S by depth "
            + ", ".join(f"{d}: {fmt(summary(chosen([e['S'] for e in evidence['trained'][str(d)]])))}"
                        for d in depths)
            + f"; at init {fmt(summary(chosen([e['S'] for e in evidence['init'][str(depths[-1])]])))}"
            + (f"; training moved the weights by {fmt(summary(chosen(evidence['moved'][str(depths[-1])])))} of "
               f"their norm" if "moved" in evidence else ""))
    fall = None
    if len(depths) > 1:
        fall = effect(f"S(depth {depths[0]}) - S(depth {depths[-1]})",
                      [a["S"] - b["S"] for a, b in zip(shallow, deep)], FALL)
        said += f"; {fall.text()}"
    if smooth.call == "above" and fall is not None and fall.call == "above":
        return SUPPORTED, f"neighbouring blocks' weights are close and get closer with depth: {said}"
    if rough.call == "below":
        return NOT_SUPPORTED, f"trained weights are no smoother in depth than a random order of them: {said}"
    return INCONCLUSIVE, f"an interval straddles its margin: {said}"


def verdict(evidence: dict[str, Any]) -> Verdict:
    return two_part(_verification(evidence), _empirical(evidence), "Trained ResNets")


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from skiplab.models.parts.integrators import INTEGRATORS
    depths = evidence["depths"]
    rows: list[list[Any]] = [[f"order of {r}", INTEGRATORS[r].order, summary(slopes(evidence, r))] for r in RULES]
    for d in depths:
        for state in ("init", "trained"):
            rows.append([f"resnet{d} {state}: S / S_shuffled", None,
                         summary([e["r"] for e in evidence[state][str(d)]])])
        if "moved" in evidence:
            rows.append([f"resnet{d}: ||W - W_init|| / ||W_init||", None, summary(evidence["moved"][str(d)])])
    numbers = {"columns": ["quantity", "theory", "measured"], "rows": rows,
               "format": {"theory": "int", "measured": "float"}}
    err = []
    for g, r in enumerate(RULES):
        logs = np.log10(np.asarray(evidence["errors"][r], dtype=float))
        err.append({"label": f"{r} (slope {np.mean(slopes(evidence, r)):.2f})", "group": g, "x": evidence["steps"],
                    "y": (10 ** logs.mean(0)).tolist()})
    smooth = [{"label": f"{state}: S", "group": g, "x": depths,
               "y": [float(np.mean([e["S"] for e in evidence[state][str(d)]])) for d in depths],
               "yerr": [float(np.std([e["S"] for e in evidence[state][str(d)]])) for d in depths]}
              for g, state in enumerate(("trained", "init"))]
    smooth.append({"label": "trained, shuffled order", "group": 2, "style": "dashed", "x": depths,
                   "y": [float(np.mean([e["S_shuffled"] for e in evidence["trained"][str(d)]])) for d in depths]})
    deepest = evidence["trained"][str(depths[-1])] if depths else []
    pairs = [{"label": f"seed {evidence['seeds'][i]}", "group": i, "x": list(range(1, len(e["pairs"]) + 1)),
              "y": e["pairs"]} for i, e in enumerate(deepest)]
    figs = [
        {"id": "discretization-error", "title": "Shared-weight residual nets converge to the ODE flow",
         "caption": f"Relative error against dopri5 at T = {evidence['horizon']:g}, float64, geometric mean over "
                    f"{len(evidence['seeds'])} random vector fields; slope = fitted order.",
         "panels": [{"title": "error vs L", "kind": "line", "xlabel": "blocks L (h = T/L)",
                     "ylabel": "relative error", "xscale": "log", "yscale": "log", "series": err}]},
        {"id": "weight-smoothness", "title": "Do trained ResNets' weights vary smoothly with depth?",
         "caption": "S = sum ||W_(l+1) - W_l|| / sum ||W_l|| over neighbouring shape-preserving blocks (mean +- std "
                    "over seeds); an ODE discretization would give S -> 0 as depth grows. Right: each neighbouring "
                    "pair of the deepest net, in forward order.",
         "panels": [{"title": "S by depth", "kind": "line", "xlabel": "depth", "ylabel": "S", "series": smooth},
                    {"title": f"pairs, depth {depths[-1] if depths else '-'}", "kind": "line",
                     "xlabel": "pair (forward order)", "ylabel": "||W_(l+1) - W_l|| / ||W_l||", "series": pairs}]},
    ]
    return numbers, figs
