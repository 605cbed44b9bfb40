"""residual-aligns-with-error: each block's F_l(x_l) points along the loss-reducing direction (error correction,
Jastrzebski et al. 2018). Measured on the pre-activation runs the Jacobian claim already trains (x_{l+1} =
x_l + F_l(x_l) holds exactly there), at initialization and trained, on held-out examples, against a null of
shuffled pairings; plus, on an identity-regression toy, the literal cos(F_l(x_l), y - x_l)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from skiplab.models import calibrate_batchnorm
from skiplab.models.blocks import ResidualBlock
from skiplab.models.parts.layers import ResidualScale
from skiplab.models.net import Net
from skiplab.probes import alignment, identity_alignment
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.depth.ladder import jacobian_runs, scale_config, spec
from skiplab.claims.core.engine import ALIGNMENT, Done, FunctionRun, Job
from skiplab.claims.core.datasets import calibration_batch, heldout_batch
from skiplab.claims.core.stats import band, chosen, effect, fmt, summary

# Written before any result was seen. Per-example cosines of unrelated directions in D >= 1024 dimensions are
# ~1/sqrt(D) <= 0.03 and their batch mean over 256 examples ~0.002, so a 0.05 lead over the null is far outside
# chance yet small enough that a weak but systematic alignment counts.
MARGIN = 0.05
COS_MARGIN = 0.0  # and A itself must be positive: its own threshold is 0, so the margin used is 2 SE of seed noise
MAX_ERROR = 0.25  # fair test: the trained net must have learned (held-out error on the probed batch <= 25%)
CALIBRATION = 1024  # training examples for the batch-norm statistics (eval mode, as the Jacobian claim)
HELD_OUT = 256  # test examples probed
# The toy: y = x + TOY_SMALL * tanh(A x), x ~ N(0, I_d), a residual MLP with identity stem and head (so x_0 = x
# and the output is x_L: y - x_l is literally the error left before block l), trained by full-batch Adam.
TOY_DIM, TOY_HIDDEN, TOY_DEPTH, TOY_SMALL, TOY_STEPS, TOY_N = 16, 32, 4, 0.5, 400, 1024

CLAIM = Claim(
    id="residual-aligns-with-error",
    kind="empirical",
    statement="Each block's F_l(x_l) points along the loss-reducing direction (error correction).",
    source="Jastrzebski et al. 2018",
    rule=(f"Pre-activation nets (the Jacobian claim's runs), eval-mode batch norm calibrated on {CALIBRATION} "
          f"training examples, {HELD_OUT} held-out test examples. Per additive block, c_l = batch mean of the "
          f"per-example cos(F_l(x_l), -dL/dx_{{l+1}}) (g at the block's output; cross-entropy); the null n_l is "
          f"the same with F and g paired across different examples (a fixed derangement). Per seed, on the "
          f"trained net, A = mean_l c_l and N = mean_l n_l. Precondition: the trained net's error on the probed "
          f"batch <= {MAX_ERROR:.0%} on every seed, else inconclusive. Two effects, each a mean over seeds on its "
          f"95% t-interval, margins raised to 2 seed-to-seed standard errors where larger: the paired lead A - N "
          f"against {MARGIN}, and A against {COS_MARGIN:g}. Supported if both intervals lie above their margins. "
          f"Not supported if either lies below its margin (within the margin of the null, below it, or not "
          f"positive). Otherwise inconclusive. Reported alongside: "
          f"the nets at initialization, per-block values, and on a y = x + {TOY_SMALL} tanh(Ax) regression toy "
          f"(d = {TOY_DIM}, {TOY_DEPTH} blocks) the literal cos(F_l(x_l), y - x_l)."),
    fair_test=("Pre-activation nets, where x_{l+1} = x_l + F_l(x_l) holds exactly, trained until they have learned "
               "(held-out error bounded); cos(F_l(x_l), -dL/dx) per block on held-out examples against a null of "
               "the same cosines with F and the gradient paired across different examples; on an "
               "identity-regression toy also cos(F, y - x) literally; the probe's known answer (a branch set to "
               "-eta * grad gives cos 1) is tested."),
)


@dataclass(frozen=True)
class ToyRun:
    seed: int
    steps: int


def toy_jobs(ctx: Context) -> list[FunctionRun]:
    steps = TOY_STEPS if ctx.max_steps is None else min(TOY_STEPS, ctx.max_steps)
    return [FunctionRun(toy, ToyRun(s, steps), name="alignment-toy", seed=s) for s in ctx.seed_list]


def runs(ctx: Context) -> list[Job]:
    return [*jacobian_runs(ctx), *toy_jobs(ctx)]


def budget(ctx: Context) -> str:
    scale = scale_config(ctx)
    return (f"preresnet{scale.jacobian_depth} (the Jacobian claim's runs, reused): {scale.describe(ctx.seeds)}; "
            f"toy: {TOY_STEPS} full-batch Adam steps on {TOY_N} examples per seed")


def _probe(net: Net, data: Any) -> dict[str, Any]:
    calibrate_batchnorm(net, calibration_batch(data, CALIBRATION)[0])
    x, y = heldout_batch(data, HELD_OUT)
    r = alignment(net, x, y)
    with torch.no_grad():
        r["error"] = float((net(x).argmax(1) != y).double().mean())
    r["mean_cos"] = sum(r["cos"]) / len(r["cos"]) if r["cos"] else float("nan")
    r["mean_null"] = sum(r["null"]) / len(r["null"]) if r["null"] else float("nan")
    return r


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def toy_net(seed: int) -> Net:
    """x -> x + sum of TOY_DEPTH branches Linear-tanh-Linear, no stem or head. x: (N, TOY_DIM) -> (N, TOY_DIM)."""
    torch.manual_seed(seed)
    blocks = [ResidualBlock(nn.Sequential(nn.Linear(TOY_DIM, TOY_HIDDEN), nn.Tanh(), nn.Linear(TOY_HIDDEN, TOY_DIM)),
                            nn.Identity(), ResidualScale(1.0, False)) for _ in range(TOY_DEPTH)]
    return Net(None, nn.Identity(), nn.Identity(), [blocks], nn.Identity(), name="identity-toy")


def toy(run: ToyRun) -> dict[str, Any]:
    """Train the toy on y = x + small(x) and return identity_alignment at init and trained, on held-out x (a
    FunctionRun of the run engine)."""
    seed, steps = run.seed, run.steps
    g = torch.Generator().manual_seed(1000 + seed)
    a = torch.randn(TOY_DIM, TOY_DIM, generator=g) / math.sqrt(TOY_DIM)

    def target(x: torch.Tensor) -> torch.Tensor:
        return x + TOY_SMALL * torch.tanh(x @ a)
    xtr, xte = torch.randn(TOY_N, TOY_DIM, generator=g), torch.randn(TOY_N // 2, TOY_DIM, generator=g)
    ytr, yte = target(xtr), target(xte)
    net = toy_net(seed)
    out = {"init": identity_alignment(net, xte, yte)}
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(xtr) - ytr) ** 2).sum(1).mean()
        loss.backward()
        opt.step()
    out["trained"] = identity_alignment(net, xte, yte)
    with torch.no_grad():
        out["mse_over_small"] = float(((net(xte) - yte) ** 2).sum(1).mean() / ((yte - xte) ** 2).sum(1).mean())
    for r in (out["init"], out["trained"]):
        r["mean_cos"], r["mean_null"] = sum(r["cos"]) / len(r["cos"]), sum(r["null"]) / len(r["null"])
    return out


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    depth = scale_config(ctx).jacobian_depth
    toys = toy_jobs(ctx)
    out: dict[str, Any] = {"depth": depth, "seeds": ctx.seed_list, "residual": [], "toy": [],
                           "toy_steps": toys[0].config.steps}
    for s, toy_job in zip(ctx.seed_list, toys):
        sp = spec(ctx, "preresnet", depth, s)
        data = done.dataset(sp)
        out["residual"].append({state: _probe(done.model(sp, trained=state == "trained"), data)
                                for state in ("init", "trained")})
        out.setdefault("through_training", []).append(
            [{"epoch": r["epoch"], "mean_cos": _mean(r["alignment"]["cos"]), "mean_null": _mean(r["alignment"]["null"])}
             for r in done.records(sp, ALIGNMENT)])
        out["toy"].append(done.value(toy_job))
    return out


def leads(evidence: dict[str, Any], state: str = "trained") -> tuple[list[float], list[float]]:
    """Per seed: (A, A - N)."""
    a = [s[state]["mean_cos"] for s in evidence["residual"]]
    return a, [s[state]["mean_cos"] - s[state]["mean_null"] for s in evidence["residual"]]


def verdict(evidence: dict[str, Any]) -> Verdict:
    a, d = leads(evidence)
    errors = chosen([s["trained"]["error"] for s in evidence["residual"]])
    if not a or not all(math.isfinite(v) for v in chosen(a) + chosen(d) + errors):
        return Verdict(INCONCLUSIVE, "precondition failed: no finite alignment was measured")
    if any(e > MAX_ERROR for e in errors):
        return Verdict(INCONCLUSIVE, f"precondition failed: held-out error {fmt(summary(errors))} exceeds "
                                     f"{MAX_ERROR:.0%} on some seed")
    lead = effect("lead of mean cos(F, -g) over the shuffled null", d, MARGIN)
    cos = effect("trained mean cos(F, -g)", a, COS_MARGIN)
    said = f"{lead.text()}; {cos.text()}"
    if lead.call == "above" and cos.call == "above":
        return Verdict(SUPPORTED, f"blocks' increments point along -dL/dx beyond chance: {said}")
    if lead.call == "below" or cos.call == "below":
        return Verdict(NOT_SUPPORTED, f"no alignment beyond the null by {MARGIN}, or no positive alignment: {said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles its margin: {said}")


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = []
    for state in ("init", "trained"):
        a, d = leads(evidence, state)
        rows.append([f"preresnet{evidence['depth']}", state, "cos(F, -dL/dx_out)", summary(a),
                     summary([s[state]["mean_null"] for s in evidence["residual"]]), summary(d)])
    for state in ("init", "trained"):
        t = [s[state] for s in evidence["toy"]]
        rows.append(["identity toy", state, "cos(F, y - x_l)", summary([r["mean_cos"] for r in t]),
                     summary([r["mean_null"] for r in t]), summary([r["mean_cos"] - r["mean_null"] for r in t])])
    numbers = {"columns": ["net", "when", "cosine", "mean over blocks", "null", "lead over null"], "rows": rows,
               "format": {"mean over blocks": "float", "null": "float", "lead over null": "float"}}
    panels = []
    for title, key, what in ((f"preresnet{evidence['depth']}", "residual", "cos(F_l, -dL/dx_{l+1})"),
                             ("identity toy", "toy", "cos(F_l, y - x_l)")):
        series = []
        for g, state in enumerate(("init", "trained")):
            for kind, style in (("cos", "solid"), ("null", "dashed")):
                mean, std = band([s[state][kind] for s in evidence[key]])
                series.append({"label": f"{state} {'null' if kind == 'null' else 'measured'}", "group": g,
                               "style": style, "x": list(range(1, len(mean) + 1)), "y": mean, "yerr": std})
        panels.append({"title": title, "kind": "line", "xlabel": "block", "ylabel": what, "series": series,
                       "hlines": [{"y": 0.0, "label": "orthogonal"}]})
    figs = [{"id": "alignment-per-block", "title": "Does each block's increment point along the error?",
             "caption": "Mean over seeds, band = +-1 std over seeds. Dashed: the same cosine with F and the error "
                        "paired across different examples (null). Held-out examples; trained toy's MSE / "
                        f"E||small||^2 = {fmt(summary([t['mse_over_small'] for t in evidence['toy']]))}.",
             "panels": panels}]
    curves = evidence.get("through_training") or []
    if curves and all(curves):
        epochs = [p["epoch"] for p in curves[0]]
        series = []
        for g, (kind, label) in enumerate((("mean_cos", "measured"), ("mean_null", "null"))):
            mean, std = band([[p[kind] for p in c] for c in curves])
            series.append({"label": label, "group": g, "style": "solid" if g == 0 else "dashed",
                           "x": epochs[:len(mean)], "y": mean, "yerr": std})
        figs.append({"id": "alignment-through-training", "title": "Alignment through training",
                     "caption": "Mean over blocks of cos(F_l, -dL/dx_{l+1}) on the held-out batch, recorded while "
                                "training (train-mode batch norm; epoch 0 = initialization); mean over seeds, "
                                "band = +-1 std. The verdict uses the trained checkpoint with calibrated batch "
                                "norm (the table above).",
                     "panels": [{"title": f"preresnet{evidence['depth']}", "kind": "line", "xlabel": "epoch",
                                 "ylabel": "mean cos over blocks", "series": series,
                                 "hlines": [{"y": 0.0, "label": "orthogonal"}]}]})
    return numbers, figs
