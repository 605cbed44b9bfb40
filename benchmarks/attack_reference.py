"""skiplab's attacks against torchattacks (the reference) on one small trained net: a 64-128-10 MLP trained for a few
seconds on sklearn's 8x8 digits (pixels / 16, in [0, 1]), attacked on held-out digits. Prints robust accuracy (right
under the attack) for L-inf and L2 of: PGD (same steps and step size; skiplab's L2 start is the fixed one, the old
start, uniform in the ball's volume, shown too), APGD-CE and APGD-T (9 targets), skiplab's three-attack worst-of
(`standard_attacks`) with the old and the new L2 start, and the strong evaluation (`strong_curve`).

torchattacks is not a dependency (its metadata pulls torchvision); install it aside, without dependencies:

    pip install --no-deps --target /tmp/ta_lib torchattacks
    PYTHONPATH=/tmp/ta_lib python benchmarks/attack_reference.py [--examples 300] [--seed 0] [--autoattack]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn


def digits(seed: int, examples: int) -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]  # (N, 1, 8, 8): torchattacks wants 4-d input
    y = torch.tensor(d.target)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=examples, random_state=seed, stratify=y)
    return xtr, ytr, xte, yte


def train(xtr: torch.Tensor, ytr: torch.Tensor, seed: int, epochs: int = 60) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(xtr), generator=g).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
    return net.eval()


def old_random_start(x, eps, norm, g):
    """The L2 start before issue 21: radius eps * U^(1/d), uniform in the ball's volume (mean d/(d+1) eps)."""
    from skiplab.attacks._common import _flat_norm
    if norm == "linf":
        return ((2 * torch.rand(x.shape, generator=g, dtype=x.dtype) - 1) * eps).to(x.device)
    z = torch.randn(x.shape, generator=g, dtype=x.dtype)
    r = torch.rand((x.shape[0],), generator=g, dtype=x.dtype) ** (1.0 / x[0].numel())
    return (z / _flat_norm(z) * (eps * r).view(-1, *([1] * (x.dim() - 1)))).to(x.device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--autoattack", action="store_true", help="also torchattacks' AutoAttack (adds FAB-T and Square)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    import torchattacks as ta

    import skiplab.attacks.gradient as grad_mod
    from skiplab.attacks import apgd, apgd_targeted, pgd, standard_attacks, strong_curve, worst_of

    xtr, ytr, x, y = digits(a.seed, a.examples)
    t0 = time.time()
    net = train(xtr, ytr, a.seed)
    with torch.no_grad():
        clean = (net(x).argmax(1) == y).float().mean().item()
    print(f"torchattacks {ta.__version__}; MLP trained in {time.time() - t0:.1f} s; clean accuracy {clean:.3f} "
          f"on {len(y)} held-out digits")

    def acc(xa: torch.Tensor) -> float:
        with torch.no_grad():
            return (net(xa).argmax(1) == y).float().mean().item()

    for norm, eps, ta_norm in (("linf", 0.1, "Linf"), ("l2", 0.75, "L2")):
        rows = []
        alpha = 2.5 * eps / 10
        if norm == "linf":
            ref = ta.PGD(net, eps=eps, alpha=alpha, steps=10, random_start=True)
        else:
            ref = ta.PGDL2(net, eps=eps, alpha=alpha, steps=10, random_start=True)
        torch.manual_seed(a.seed)
        rows.append(("PGD-10 random start, CE", acc(pgd(net, x, y, eps, norm, 10, seed=a.seed)), acc(ref(x, y))))
        rows.append(("PGD-10 zero start, CE", acc(pgd(net, x, y, eps, norm, 10, random_init=False)), None))
        new_std = worst_of(net, x, y, eps, standard_attacks(norm), seed=a.seed)["accuracy"]
        new = grad_mod.random_start
        grad_mod.random_start = old_random_start
        try:
            rows.append(("PGD-10 old L2 start (volume)", acc(pgd(net, x, y, eps, norm, 10, seed=a.seed)), None))
            old_std = worst_of(net, x, y, eps, standard_attacks(norm), seed=a.seed)["accuracy"]
        finally:
            grad_mod.random_start = new
        rows.append(("worst-of standard_attacks, old start", old_std, None))
        rows.append(("worst-of standard_attacks, new start", new_std, None))
        t = time.time()
        mine = acc(apgd(net, x, y, eps, norm, 100, seed=a.seed))
        t_mine = time.time() - t
        t = time.time()
        theirs = acc(ta.APGD(net, norm=ta_norm, eps=eps, steps=100, n_restarts=1, loss="ce", seed=a.seed)(x, y))
        rows.append((f"APGD-CE 100 steps (s: {t_mine:.1f} vs {time.time() - t:.1f})", mine, theirs))
        t = time.time()
        mine = acc(apgd_targeted(net, x, y, eps, norm, 100, targets=9, seed=a.seed))
        t_mine = time.time() - t
        t = time.time()
        ref_t = ta.APGDT(net, norm=ta_norm, eps=eps, steps=100, n_restarts=1, n_classes=10, seed=a.seed)
        theirs = acc(ref_t(x, y))
        rows.append((f"APGD-T 100 steps x 9 targets (s: {t_mine:.1f} vs {time.time() - t:.1f})", mine, theirs))
        mine = acc(apgd(net, x, y, eps, norm, 100, loss="dlr", seed=a.seed))
        theirs = acc(ta.APGD(net, norm=ta_norm, eps=eps, steps=100, n_restarts=1, loss="dlr", seed=a.seed)(x, y))
        rows.append(("APGD-DLR 100 steps", mine, theirs))
        t = time.time()
        s = strong_curve(net, x, y, [eps], norm, seed=a.seed)
        rows.append((f"strong evaluation (s: {time.time() - t:.1f})", s["accuracy"][0], None))
        if a.autoattack:
            ref_aa = ta.AutoAttack(net, norm=ta_norm, eps=eps, version="standard", n_classes=10, seed=a.seed)
            t = time.time()
            theirs = acc(ref_aa(x, y))
            rows.append((f"AutoAttack standard (s: {time.time() - t:.1f})", None, theirs))
        print(f"\n{norm} eps {eps}: robust accuracy          skiplab  torchattacks")
        for name, m, r in rows:
            fm = f"{m:.3f}" if m is not None else "  -  "
            fr = f"{r:.3f}" if r is not None else "  -  "
            print(f"  {name:<52} {fm:>7}  {fr:>7}")
        print("  strong cascade: " + ", ".join(f"{k} {v[0]:.3f}" for k, v in s["cascade"].items()))
        assert s["accuracy"][0] <= min(new_std, *(v[0] for v in s["per_attack"].values())) + 1e-12


if __name__ == "__main__":
    main()
