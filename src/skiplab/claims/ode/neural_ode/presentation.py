"""neural-ode's numbers table and figures in the results.json schema (docs/results-schema.md)."""

from __future__ import annotations

from typing import Any

from skiplab.claims.core.stats import band, summary

from .rule import PLATEAU_WINDOW, loss_drop

LABELS = {"odenet": "ODE-Net (dopri5, adjoint)", "rknet": "RK-Net (RK4, backprop)", "resnet": "ResNet",
          "matched": "ResNet, parameter-matched"}


def _runs(ev: dict, name: str, net: str) -> list[dict]:
    return ev["datasets"][name]["nets"][net]["runs"]


def _nets(ev: dict, name: str) -> list[str]:
    """The nets trained on dataset `name`, in LABELS order (the RK-Net is optional)."""
    return [n for n in LABELS if n in ev["datasets"][name]["nets"]]


def _nfe(ev: dict, name: str, net: str, key: str, i: int) -> dict:
    return summary([r["nfe"][i][key] for r in _runs(ev, name, net) if r["nfe"]])


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ev = evidence
    rows = []
    for name, d in ev["datasets"].items():
        for net in _nets(ev, name):
            runs = _runs(ev, name, net)
            acc = summary([float("nan") if r["acc"] is None else r["acc"] for r in runs])
            has = bool(runs[0]["nfe"])
            rows.append([name, LABELS[net], d["nets"][net]["model"], runs[0]["params"], acc,
                         summary([loss_drop(r.get("train_loss", [])) for r in runs]),
                         _nfe(ev, name, net, "forward", 0) if has else None,
                         _nfe(ev, name, net, "forward", -1) if has else None,
                         _nfe(ev, name, net, "backward", -1) if has else None,
                         summary([r["seconds"] for r in runs])])
    fall = f"loss fall, last {PLATEAU_WINDOW:.0%} / allowed"
    cols = ["data", "net", "preset", "parameters", "test accuracy", fall, "fwd NFE/step, first epoch",
            "fwd NFE/step, last epoch", "bwd NFE/step, last epoch", "train seconds"]
    numbers = {"columns": cols, "rows": rows,
               "format": {"parameters": "int", "test accuracy": "percent", fall: "float",
                          "fwd NFE/step, first epoch": "float",
                          "fwd NFE/step, last epoch": "float", "bwd NFE/step, last epoch": "float",
                          "train seconds": "float"}}
    acc_panels, loss_panels, nfe_panels, mem_panels = [], [], [], []
    for name, d in ev["datasets"].items():
        series = []
        for g, net in enumerate(_nets(ev, name)):
            curves = [r.get("train_loss", []) for r in _runs(ev, name, net)]
            mean, std = band(curves)
            series.append({"label": LABELS[net], "x": list(range(1, len(mean) + 1)), "y": mean, "yerr": std,
                           "group": g})
        loss_panels.append({"title": name, "kind": "line", "xlabel": "epoch", "ylabel": "training loss",
                            "yscale": "log", "series": series})
        st = [summary([float("nan") if r["acc"] is None else r["acc"] for r in _runs(ev, name, n)])
              for n in _nets(ev, name)]
        acc_panels.append({"title": name, "kind": "bar", "xlabel": "net", "ylabel": "test accuracy",
                           "series": [{"label": "test accuracy", "x": [LABELS[n] for n in _nets(ev, name)],
                                       "y": [s["mean"] for s in st], "yerr": [s["std"] for s in st]}]})
        series = []
        for g, key in enumerate(("forward", "backward")):
            curves = [[row[key] for row in r["nfe"]] for r in _runs(ev, name, "odenet")]
            mean, std = band(curves)
            epochs = [row["epoch"] for row in _runs(ev, name, "odenet")[0]["nfe"]][:len(mean)]
            series.append({"label": f"{key} NFE per step", "x": epochs, "y": mean, "yerr": std, "group": g})
        nfe_panels.append({"title": f"ODE-Net on {name}", "kind": "line", "xlabel": "epoch",
                           "ylabel": "NFE per training step", "series": series})
        mem = d["memory"]
        mem_panels.append({"title": name, "kind": "line", "xlabel": "RK4 steps", "ylabel": "bytes saved for backward",
                           "xscale": "log", "yscale": "log",
                           "series": [{"label": "adjoint", "x": ev["mem_steps"], "y": mem["adjoint"], "group": 0},
                                      {"label": "backprop through the steps", "x": ev["mem_steps"],
                                       "y": mem["backprop"], "group": 1}]})
    figs = [
        {"id": "neural-ode-accuracy", "title": "Test accuracy: ODE-Net, ResNet, parameter-matched ResNet (RK-Net where trained)",
         "caption": f"Mean +- std over seeds, the same recipe for all; the verdict allows the ODE-Net to trail "
                    f"by {ev['margin']:.0%}.", "panels": acc_panels},
        {"id": "neural-ode-loss", "title": "Training loss per epoch: was every net trained to a plateau?",
         "caption": f"The epoch's mean training loss, band = +-1 std over seeds. A net has plateaued when its loss "
                    f"fell over the last {PLATEAU_WINDOW:.0%} of the epochs by less than the rule allows (the "
                    f"table's 'loss fall' below 1; the rule reads the 95% interval of its mean over seeds).",
         "panels": loss_panels},
        {"id": "neural-ode-nfe", "title": "Function evaluations per training step (Chen et al. Fig. 3)",
         "caption": "Forward: dopri5's evaluations per forward solve; backward: the adjoint's reverse solve. "
                    "Mean over the epoch's steps, band = +-1 std over seeds.", "panels": nfe_panels},
        {"id": "neural-ode-memory", "title": "Bytes saved for backward vs solver steps, adjoint vs backprop",
         "caption": "One training forward pass of the ODE-Net with its block solved by RK4; exact bytes of the "
                    "distinct tensors autograd saves (saved_tensors_hooks).", "panels": mem_panels},
    ]
    return numbers, figs
