"""reversible-memory: a RevNet (Gomez et al. 2017) reconstructs every block's input from its output, so it need not
store activations: memory constant in depth at a modest compute overhead.

Verification (float32 weights and compute with the default float64 residual stream, train mode, at init): one stage
of `verify_blocks` invertible coupling blocks (RevNet-38's first-stage width, 32 channels) -> the relative error
||x_rec - x|| / ||x|| of the run's input reconstructed from its output, and the relative error of all gradients
(every parameter and the input, as one vector) of the reconstructing backward against ordinary backprop through the
same weights. The same reconstruction with a float32 stream is reported beside it, not judged: it shows why the
stream is float64 (models/revnet.py).
Empirical: RevNet-38-width nets of growing depth (3 stages, n blocks each) against the same nets with ordinary
backprop ("ResNet"): bytes saved for backward (exact, saved_tensors_hooks, parameters excluded), peak memory of a
fresh process at two depths (reported, not judged: RSS at this scale is allocator noise), and the step-time ratio
from interleaved repeats. Trains nothing: no RunSpecs.
"""

from __future__ import annotations

import copy
import statistics
from dataclasses import dataclass
from typing import Any

import torch

from .. import config as C
from ._overrides import resolve_scale
from ..models.reversible import reconstruction_error
from ._revnet_measure import batch, make_net, peak_memory, saved_bytes, step_times
from .base import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict, two_part
from .stats import fmt, summary

RECON_TOL = 1e-5  # issue 7: fp32 relative reconstruction error after 100+ blocks
GRAD_TOL = 1e-5  # issue 7: gradients vs ordinary backprop, relative
FLAT = 1.3  # RevNet saved bytes at the deepest depth / at the shallowest (issue 7's goal)
GROWS = 2.0  # the ResNet's must at least double over the same range, or the comparison shows nothing
SLOWER = 1.6  # RevNet step time / ResNet's at the same depth (issue 7's goal)

CLAIM = Claim(
    id="reversible-memory",
    kind="verification + empirical",
    statement="A RevNet reconstructs every block's input from its output, so activation memory is constant in "
              "depth, at a modest compute overhead.",
    source="Gomez et al. 2017; MemCNN (van de Leemput et al. 2019)",
    rule=(f"Verification (float32 weights and compute, float64 residual stream, train mode, at init, one run of "
          f">= 100 coupling blocks): on every seed the "
          f"relative reconstruction error <= {RECON_TOL:g} and the relative gradient error vs ordinary backprop "
          f"(all parameters and the input as one vector) <= {GRAD_TOL:g}: supported; both above on every seed for "
          f"either measure: not supported; otherwise inconclusive. Empirical: saved bytes for backward, RevNet at the "
          f"deepest depth / shallowest <= {FLAT} while the ordinary-backprop twin's ratio >= {GROWS}, and at every "
          f"timed depth the median step-time ratio RevNet / twin <= {SLOWER}: supported; the RevNet's bytes ratio "
          f"> {FLAT}, or at some timed depth every repeat's time ratio > {SLOWER}: not supported; otherwise "
          f"inconclusive. The claim: not supported if either part is; supported if both are; else inconclusive."),
)


@dataclass(frozen=True)
class RevMemScale:
    verify_blocks: int = C.option(102, "invertible blocks in the verification's one run (>= 100, issue 7)")
    per_stage: tuple[int, ...] = C.option((7, 35, 167), "blocks per stage of the depth sweep (3 stages each)")
    timed: tuple[int, ...] = C.option((7, 35), "blocks per stage whose step time is measured")
    peaks: tuple[int, ...] = C.option((7, 35), "blocks per stage whose peak memory is measured (fresh processes)")
    batch: int = C.option(8, "examples per batch")
    size: int = C.option(8, "input size (size x size)")
    repeats: int = C.option(3, "interleaved timing repeats")


QUICK = RevMemScale()
FULL = RevMemScale(per_stage=(7, 14, 35, 70, 140, 167), timed=(7, 35, 167), peaks=(7, 35, 167), batch=32, size=16,
                   repeats=5)


def scale_config(ctx: Context) -> RevMemScale:
    return resolve_scale(ctx, QUICK, FULL)


def runs(ctx: Context) -> list:
    scale_config(ctx)
    return []  # everything is measured inside measure


def budget(ctx: Context) -> str:
    s = scale_config(ctx)
    return (f"verification: {s.verify_blocks} coupling blocks, {ctx.seeds} seeds; sweep: "
            f"{'/'.join(str(3 * n) for n in s.per_stage)} blocks, batch {s.batch} of {s.size}x{s.size}, "
            f"{s.repeats} timing repeats, CPU")


def _stage_recon(net: Any, x: torch.Tensor) -> float:
    with torch.no_grad():
        h = net.stem(net.normalize(x))
    return reconstruction_error(net._runs[0], h)


def verify(blocks: int, seed: int, s: RevMemScale) -> dict[str, float]:
    """Reconstruction and gradient errors of one stage of `blocks` invertible blocks (float32 weights, train mode);
    `recon_fp32_stream`: the reconstruction error of the same weights with a float32 stream."""
    from ..models import create_model
    torch.manual_seed(seed)
    net = create_model("revnet38", widths=(32,), depth=12 * blocks + 2, input_size=(s.size, s.size)).train()
    narrow = create_model("revnet38", widths=(32,), depth=12 * blocks + 2, input_size=(s.size, s.size),
                          stream="float32").train()
    narrow.load_state_dict(net.state_dict())
    ref = copy.deepcopy(net)
    ref.reversible = False
    x, _ = batch(s.batch, s.size, seed)
    recon, recon32 = _stage_recon(net, x), _stage_recon(narrow, x)
    grads = []
    for m in (net, ref):
        xi = x.clone().requires_grad_(True)
        m(xi).logsumexp(1).sum().backward()
        grads.append(torch.cat([xi.grad.flatten()] + [p.grad.flatten() for p in m.parameters()]))
    return {"recon": recon, "recon_fp32_stream": recon32,
            "grad": float((grads[0] - grads[1]).norm() / grads[1].norm())}


def measure(ctx: Context, done: Any) -> dict[str, Any]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs: on a loaded 2-core machine a second thread made steps ~20x slower
    try:
        return _measure(ctx)
    finally:
        torch.set_num_threads(threads)


def _measure(ctx: Context) -> dict[str, Any]:
    s = scale_config(ctx)
    v = [verify(s.verify_blocks, seed, s) for seed in ctx.seed_list]
    x, y = batch(s.batch, s.size)
    out: dict[str, Any] = {"seeds": ctx.seed_list, "verify_blocks": s.verify_blocks,
                           "recon": [e["recon"] for e in v], "grad": [e["grad"] for e in v],
                           "recon_fp32_stream": [e["recon_fp32_stream"] for e in v],
                           "blocks": [3 * n for n in s.per_stage], "saved": {"revnet": [], "resnet": []},
                           "timed": [3 * n for n in s.timed], "time_ratio": [],
                           "peak_blocks": [3 * n for n in s.peaks], "peak": {"revnet": [], "resnet": []}}
    for n in s.per_stage:
        for k in ("revnet", "resnet"):
            out["saved"][k].append(saved_bytes(make_net(n, k == "revnet", s.size), x))
    for n in s.timed:
        t = step_times({k: make_net(n, k == "revnet", s.size) for k in ("revnet", "resnet")}, x, y, s.repeats)
        out["time_ratio"].append([a / b for a, b in zip(t["revnet"], t["resnet"])])
    for n in s.peaks:
        for k in ("revnet", "resnet"):
            p = peak_memory(n, k == "revnet", s.batch, s.size, threads=1)
            out["peak"][k].append(p["peak"] - p["before"] if "peak" in p else None)
    return out


def _verification(e: dict[str, Any]) -> tuple[str, str]:
    said = (f"{e['verify_blocks']} blocks: reconstruction error {fmt(summary(e['recon']))}, gradient error vs "
            f"ordinary backprop {fmt(summary(e['grad']))}")
    if "recon_fp32_stream" in e:
        said += f" (a float32 stream would give {fmt(summary(e['recon_fp32_stream']))}, not judged)"
    if all(r <= RECON_TOL for r in e["recon"]) and all(g <= GRAD_TOL for g in e["grad"]):
        return SUPPORTED, said
    if all(r > RECON_TOL for r in e["recon"]) or all(g > GRAD_TOL for g in e["grad"]):
        return NOT_SUPPORTED, f"{said} (tolerance {RECON_TOL:g} / {GRAD_TOL:g})"
    return INCONCLUSIVE, f"{said}; seeds disagree"


def _empirical(e: dict[str, Any]) -> tuple[str, str]:
    rev, res = e["saved"]["revnet"], e["saved"]["resnet"]
    r_rev, r_res = rev[-1] / rev[0], res[-1] / res[0]
    med = [statistics.median(r) for r in e["time_ratio"]]
    said = (f"saved bytes {e['blocks'][-1]} / {e['blocks'][0]} blocks: RevNet x{r_rev:.2f}, ordinary backprop "
            f"x{r_res:.1f}; step-time ratio by depth " + ", ".join(
                f"{b}: {m:.2f} ({min(r):.2f}-{max(r):.2f})" for b, m, r in zip(e["timed"], med, e["time_ratio"])))
    if r_rev > FLAT or any(min(r) > SLOWER for r in e["time_ratio"]):
        return NOT_SUPPORTED, said
    if r_res >= GROWS and all(m <= SLOWER for m in med):
        return SUPPORTED, said
    return INCONCLUSIVE, said


def verdict(evidence: dict[str, Any]) -> Verdict:
    return two_part(_verification(evidence), _empirical(evidence), "Memory and time")


def present(e: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    mb = 2 ** 20
    rows: list[list[Any]] = [[f"reconstruction error, {e['verify_blocks']} blocks", summary(e["recon"])],
                             [f"gradient error vs ordinary backprop, {e['verify_blocks']} blocks", summary(e["grad"])]]
    if "recon_fp32_stream" in e:  # reported, not judged: why the stream is float64
        rows.append([f"reconstruction error with a float32 stream (not judged), {e['verify_blocks']} blocks",
                     summary(e["recon_fp32_stream"])])
    for i, b in enumerate(e["blocks"]):
        for k in ("revnet", "resnet"):
            rows.append([f"{k} saved MB, {b} blocks", summary([e["saved"][k][i] / mb])])
    for b, r in zip(e["timed"], e["time_ratio"]):
        rows.append([f"step time RevNet / ResNet, {b} blocks", summary(r)])
    for i, b in enumerate(e["peak_blocks"]):
        for k in ("revnet", "resnet"):
            p = e["peak"][k][i]
            rows.append([f"{k} peak MB above start (fresh process), {b} blocks",
                         summary([p / mb if p else float("nan")])])
    numbers = {"columns": ["quantity", "measured"], "rows": rows, "format": {"measured": "float"}}
    label = {"revnet": "RevNet (reconstructing backward)", "resnet": "ResNet (ordinary backprop, same net)"}
    saved = [{"label": label[k], "group": g, "x": e["blocks"], "y": [v / mb for v in e["saved"][k]]}
             for g, k in enumerate(label)]
    peak = [{"label": label[k], "group": g, "x": e["peak_blocks"],
             "y": [None if v is None else v / mb for v in e["peak"][k]]} for g, k in enumerate(label)]
    ratio = [{"label": "median (interleaved repeats)", "group": 0, "x": e["timed"],
              "y": [statistics.median(r) for r in e["time_ratio"]],
              "yerr": [(max(r) - min(r)) / 2 for r in e["time_ratio"]]}]
    fig = {"id": "revnet-memory", "title": "RevNet memory is flat in depth; the ResNet's grows",
           "caption": "Left: bytes saved for backward (exact, saved_tensors_hooks, parameters excluded). Middle: peak "
                      "RSS of two SGD steps above the RSS before them, fresh process per point. Right: step time "
                      "RevNet / ResNet (the same net with ordinary backprop), band: half the min-max spread.",
           "panels": [{"title": "saved for backward", "kind": "line", "xlabel": "coupling blocks",
                       "ylabel": "MB", "xscale": "log", "yscale": "log", "series": saved},
                      {"title": "peak memory", "kind": "line", "xlabel": "coupling blocks", "ylabel": "MB",
                       "xscale": "log", "yscale": "linear", "series": peak},
                      {"title": "step time ratio", "kind": "line", "xlabel": "coupling blocks",
                       "ylabel": "RevNet / ResNet", "xscale": "log", "series": ratio,
                       "hlines": [{"y": SLOWER, "label": f"goal {SLOWER}"}]}]}
    return numbers, [fig]
