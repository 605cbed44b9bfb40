"""`skiplab probe gradients|jacobian|alignment|readout --run DIR`: dissect a trained run with a probe, print a
table per block and optionally save the numbers as JSON."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import typer
from rich import box
from rich.table import Table

from .._atomic import write_json
from ..data import Dataset, to_float
from ..data.dataset import spread
from ..errors import ConfigError
from ..models import calibrate_batchnorm, list_models
from ..probes import (alignment as alignment_probe, block_eigenvalues, end_to_end_singular_values, gradient_signal,
                      linear_readout, readout as readout_probe, spectrum_summary)
from ..probes.alignment import NEEDS, skip_reason
from ..train.experiment import check_seed
from ..train.load import load_run
from ..train.loop import resolve_device
from .common import out_console, user_errors
from .listing import show_table
from .outputs import check_output

probe_app = typer.Typer(help="Dissect a trained run: gradient signal per layer, block Jacobian spectra, residual/error "
                             "alignment, readout after every block, adversarial robustness, Lipschitz bounds.",
                        no_args_is_help=True)

_RUN = typer.Option(..., "--run", help="run folder (runs/<kind>/<name>-<hash>/seed-<n>)")
_JSON = typer.Option(None, "--json", help="also write the numbers to this JSON file")
_SEED = typer.Option(0, "--seed", help="seed of the choice of training examples")
_DEVICE = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto")


def _inputs(json_out: Optional[Path], seed: int) -> None:
    """What every probe checks before it loads or computes anything: the --json path can be written (a folder, or
    a file among its parents, would otherwise fail after the probe ran; missing folders are created, as for every
    output) and the seed is one torch takes (the range `skiplab train` accepts)."""
    check_seed(seed, "--seed")
    if json_out is not None:
        check_output(json_out, "--json", folder=False)


def _pick(data: Dataset, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n training examples chosen by a seeded permutation: the same batch on every call."""
    total = len(data.train_y)
    if n < 1:
        raise ConfigError(f"--examples must be >= 1, got {n}")
    idx = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:min(n, total)]
    return to_float(data.train_x[idx]), data.train_y[idx]


def _g(v: float) -> str:
    return f"{v:.4g}"


def _table(title: str, columns: list[str], left: tuple[str, ...] = ()) -> Table:
    """A probe's table: `left` columns (names) left-justified, numbers right. Every cell folds rather than ending
    in an ellipsis when the terminal is narrow, so no block or attack name is cut short; print it with `_show`,
    which keeps the names whole where the terminal has room."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for col in columns:
        table.add_column(col, justify="left" if col in left else "right", overflow="fold")
    return table


def _show(table: Table) -> None:
    """Prints a probe's table: its left-justified columns hold names (blocks, kinds, attacks), kept whole."""
    show_table(table, [col.header for col in table.columns if col.justify == "left"])


def _say(text: str) -> None:
    """A line in full (never cut, no markup: a path may hold brackets)."""
    out_console.print(text, markup=False)


def _instead(model: Any) -> str:
    """What to train for a probe that reads pre-activation residual blocks x + F(x): this run's own config with the
    flags that make its blocks so, where its family has them, and a preset."""
    cfg, name = getattr(model, "config", None), getattr(model, "name", "") or ""
    flags = (["--set model.preact=true"] if getattr(cfg, "preact", True) is False else []) + \
        (["--set model.skip=identity"] if getattr(cfg, "skip", None) == "none" else [])
    twin = re.fullmatch(r"(?:resnet|plain)(\d+)", name)
    preset = f"preresnet{twin.group(1)}" if twin and f"preresnet{twin.group(1)}" in list_models() else None
    if preset or (flags and hasattr(cfg, "preact") and getattr(cfg, "dims", 2) == 2):
        out = f"train a preresnet (e.g. --model {preset or 'preresnet20'})"
        return out + (f", or this run's config with {' '.join(flags)}" if flags else "")
    if flags:
        return f"train this run's config with {' '.join(flags)}"
    return "train a net of pre-activation residual blocks (e.g. --model preresnet20 on images, resmlp on vectors)"


def _save(path: Optional[Path], obj: dict[str, Any]) -> None:
    if path is not None:
        write_json(path, obj)
        _say(f"wrote {path}")


@probe_app.command("gradients")
@user_errors
def gradients(run: Path = _RUN,
              examples: int = typer.Option(256, "--examples", "-n", help="training examples in the batch"),
              seed: int = _SEED, device: str = _DEVICE, json_out: Optional[Path] = _JSON) -> None:
    """Scale-invariant gradient signal g_l = ||dL/dx_l|| * ||x_l|| at the stem and every block, on a fixed
    batch of training examples in train mode (batch statistics, as training sees the net)."""
    _inputs(json_out, seed)
    model, data, cfg, dev = _load(run, device)
    x, y = _pick(data, examples, seed)
    model.train()
    r = gradient_signal(model, x.to(dev), y.to(dev))
    table = _table(f"gradient signal: {cfg.model.name} on {cfg.data.name}, {r['examples']} examples, {r['mode']}, "
                   f"loss {r['loss']:.4f}", ["layer", "g = |dL/dx| |x|", "|dL/dx|", "|x|"], left=("layer",))
    for name, g, gn, an in zip(r["names"], r["signal"], r["grad_norm"], r["act_norm"]):
        table.add_row(name, _g(g), _g(gn), _g(an))
    _show(table)
    _save(json_out, {"probe": "gradients", "run": str(run), "seed": seed, **r})


def _eig_json(mu: np.ndarray) -> list[list[float]]:
    return [[float(z.real), float(z.imag)] for z in mu]


@probe_app.command("jacobian")
@user_errors
def jacobian(run: Path = _RUN,
             method: str = typer.Option("auto", "--method",
                                        help="auto (exact when a block's dimension is <= 2048), exact or arnoldi"),
             k: int = typer.Option(20, "--k", help="arnoldi: eigenvalues per block (those of largest |mu - 1|)"),
             calibrate: int = typer.Option(2048, "--calibrate",
                                           help="training examples for the batch-norm statistics"),
             seed: int = _SEED, device: str = _DEVICE, json_out: Optional[Path] = _JSON) -> None:
    """Eigenvalues mu of every shape-preserving block's Jacobian at one training example (eval mode, batch norm
    calibrated on training data): how tightly they cluster around 1; plus the end-to-end singular values."""
    _inputs(json_out, seed)
    if method not in ("auto", "exact", "arnoldi"):
        raise ConfigError(f"--method must be auto, exact or arnoldi, got {method!r}")
    if k < 1 or calibrate < 1:
        raise ConfigError("--k and --calibrate must be >= 1")
    model, data, cfg, dev = _load(run, device)
    xs, _ = _pick(data, calibrate, seed)
    mode = calibrate_batchnorm(model, xs.to(dev))
    x = xs[:1].to(dev)
    spectra = block_eigenvalues(model, x, method=method, k=k, bn_mode=mode)  # type: ignore[arg-type]
    if not len(spectra):  # one line for the whole net, not a table of "skipped"
        first, why = next(iter(spectra.skipped.items()))
        raise ConfigError(f"jacobian: no block of {cfg.model.name} keeps its input's shape ({first} {why}; so do "
                          "all the others): block spectra need blocks that keep their shape; train a residual net "
                          "such as --model preresnet20, or follow the signal through this one with `skiplab probe "
                          "gradients`")
    e2e = end_to_end_singular_values(model, x, bn_mode=mode)
    used = {m.split(" ")[0] for m in spectra.methods.values()}
    one_method = len(used) <= 1  # name it once in the title, so the table fits 80 columns
    title = f"block Jacobians: {cfg.model.name} on {cfg.data.name}, one example, {mode}"
    cols = ["block", "kind", "D"] + ([] if one_method else ["method"]) + ["med |mu-1|", "p90 |mu-1|", "radius"]
    table = _table(title + (f", {used.pop()}" if used and one_method else ""), cols, left=("block", "kind", "method"))
    blocks: dict[str, Any] = {}
    for name, block in model.blocks():
        if name in spectra.skipped:
            table.add_row(name, block.kind, "", *([] if one_method else [""]), "skipped", "", "", style="dim")
            blocks[name] = {"kind": block.kind, "skipped": spectra.skipped[name]}
            continue
        s = spectrum_summary(spectra[name])
        how = [] if one_method else [spectra.methods[name].split(" ")[0]]
        table.add_row(name, block.kind, str(spectra.dims[name]), *how,
                      _g(s["median_dev"]), _g(s["p90_dev"]), _g(s["spectral_radius"]))
        blocks[name] = {"kind": block.kind, "dim": spectra.dims[name], "method": spectra.methods[name],
                        "summary": s, "eigenvalues": _eig_json(spectra[name])}
    _show(table)
    for name, why in spectra.skipped.items():
        _say(f"skipped {name}: it {why}; the end-to-end singular values below take in every block")
    sv = e2e.values
    _say(f"end-to-end d features / d input {e2e.shape}: largest singular value {_g(sv[0])}, smallest computed "
         f"{_g(sv[-1])} ({e2e.method})")
    _save(json_out, {"probe": "jacobian", "run": str(run), "seed": seed, "mode": mode, "blocks": blocks,
                     "end_to_end": {"method": e2e.method, "shape": list(e2e.shape),
                                    "singular_values": [float(v) for v in sv]}})


def _load(run: Path, device: str) -> tuple[Any, Dataset, Any, torch.device]:
    """The run's trained model on `device`, its data and config (the device is checked before the run is read)."""
    dev = resolve_device(device)
    model, data, cfg = load_run(run)
    return model.to(dev), data, cfg, dev


def _held_out(data: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n test examples spread evenly over the split: a held-out batch, the same on every call."""
    if n < 2:
        raise ConfigError(f"--examples must be >= 2, got {n}")
    idx = spread(len(data.test_y), n)
    return to_float(data.test_x[idx]), data.test_y[idx]


def _opt(v: Optional[float]) -> str:
    return "n/a" if v is None else _g(v)


@probe_app.command("alignment")
@user_errors
def alignment(run: Path = _RUN,
              examples: int = typer.Option(256, "--examples", "-n", help="held-out (test) examples in the batch"),
              calibrate: int = typer.Option(1024, "--calibrate",
                                            help="training examples for the batch-norm statistics"),
              seed: int = _SEED, device: str = _DEVICE, json_out: Optional[Path] = _JSON) -> None:
    """cos(F_l(x_l), -dL/dx_{l+1}) per additive block on held-out examples (eval mode, batch norm calibrated on
    training data), against the same cosine with F and the gradient paired across different examples (null)."""
    _inputs(json_out, seed)
    if calibrate < 1:
        raise ConfigError("--calibrate must be >= 1")
    model, data, cfg, dev = _load(run, device)
    xs, _ = _pick(data, calibrate, seed)
    mode = calibrate_batchnorm(model, xs.to(dev))
    x, y = _held_out(data, examples)
    r = alignment_probe(model, x.to(dev), y.to(dev), null_seed=seed)
    by_kind: dict[str, list[str]] = defaultdict(list)
    for name, kind in r["skipped"].items():
        by_kind[kind].append(name)
    if not r["names"]:  # said once for the whole net, not once per block
        raise ConfigError(f"alignment: every block of {cfg.model.name} is "
                          + "; or ".join(skip_reason(kind) for kind in by_kind) + f"; {NEEDS}: {_instead(model)}")
    table = _table(f"residual/error alignment: {cfg.model.name} on {cfg.data.name}, {r['examples']} held-out "
                   f"examples, {mode}, loss {r['loss']:.4f}", ["block", "cos(F, -g)", "std", "null", "null std"],
                   left=("block",))
    for i, name in enumerate(r["names"]):
        table.add_row(name, _g(r["cos"][i]), _g(r["cos_std"][i]), _g(r["null"][i]), _g(r["null_std"][i]))
    for name, kind in r["skipped"].items():
        table.add_row(name, f"skipped ({kind})", "", "", "", style="dim")
    _show(table)
    for kind, names in by_kind.items():  # the why, once per kind
        _say(f"skipped {', '.join(names)}: {skip_reason(kind)}; {NEEDS}")
    _save(json_out, {"probe": "alignment", "run": str(run), "seed": seed, **r, "mode": mode})


@probe_app.command("readout")
@user_errors
def readout(run: Path = _RUN,
            examples: int = typer.Option(512, "--examples", "-n", help="held-out (test) examples scored"),
            calibrate: int = typer.Option(1024, "--calibrate",
                                          help="training examples: batch-norm statistics of every partial sum, "
                                               "and the linear probes' fit"),
            seed: int = _SEED, device: str = _DEVICE, json_out: Optional[Path] = _JSON) -> None:
    """The net's own head applied to the partial sum after every block (later blocks lesioned, batch norm
    recalibrated for each), and a logistic-regression probe on every pooled block output."""
    _inputs(json_out, seed)
    if calibrate < 2:
        raise ConfigError("--calibrate must be >= 2")
    model, data, cfg, dev = _load(run, device)
    model.eval()
    xs, ys = _pick(data, calibrate, seed)
    x, y = _held_out(data, examples)
    r = readout_probe(model, x.to(dev), y.to(dev), calibrate_x=xs.to(dev))
    calibrate_batchnorm(model, xs.to(dev))  # the linear probes read the whole net with calibrated statistics
    lin = linear_readout(model, xs.to(dev), ys, x.to(dev), y)
    table = _table(f"readout after each block: {cfg.model.name} on {cfg.data.name}, {r['examples']} held-out "
                   "examples", ["after", "kind", "head loss", "head error", "linear loss", "linear error"],
                   left=("after", "kind"))
    for i, name in enumerate(r["names"]):
        table.add_row(name, r["kinds"][i] or "", _opt(r["loss"][i]), _opt(r["error"][i]), _g(lin["loss"][i]),
                      _g(lin["error"][i]), style=None if r["available"][i] else "dim")
    _show(table)
    _say(f"head readout: {r['mode']}; n/a = a later block cannot be lesioned")
    _save(json_out, {"probe": "readout", "run": str(run), "seed": seed, "head": r, "linear": lin})
