"""Lesion studies (Veit et al. 2016): delete blocks of a trained net, or swap neighbours, and score it on held-out
data. Only the dissection interface is used: `block_outputs`, `blocks()`, `block.lesion`, `forward_head`.

Reuse. A lesion at block l leaves the prefix x_0 .. x_l untouched, so the net is run once per chunk of examples,
the input of every block is kept (the stem's output is the first block's input, block l-1's output is block l's),
and a lesion at l starts from the stored input of block l. All single-block lesions of an n-block net then cost
about n^2/2 block evaluations instead of n^2. Deletion sets share prefixes through a trie: sets are grouped by
their first deleted block (started from its stored input), then by the next one, and one running state is
advanced block by block and forked at each deletion, so two sets pay for a common prefix once.

Batch norm: lesions are judged in eval mode with running statistics the caller calibrated on training data
(`skiplab.models.calibrate_batchnorm`), as DESIGN.md asks of every single-example probe; the statistics are not
re-estimated per lesion (Veit et al. lesion the trained net as it is). The probe refuses a net in train mode.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch.nn import functional as F

from ..guards import buffers_kept, check_net, eval_mode_note, frozen, prepare
from ..models import Net

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Deletion = Sequence[str]


def _finish(blocks: list, state: torch.Tensor, start: int, dele: frozenset[int]) -> torch.Tensor:
    for i in range(start, len(blocks)):
        state = blocks[i].lesion(state) if i in dele else blocks[i](state)
    return state


def _run_trie(blocks: list, inputs: list[torch.Tensor], sets: list[tuple[int, ...]],
              emit: Callable[[tuple[int, ...], torch.Tensor], None]) -> None:
    """Features for every (sorted, non-empty) deletion set, sharing prefixes; `emit(set, features)` per set."""

    def branch(state: torch.Tensor, pos: int, group: list[tuple[int, ...]], depth: int) -> None:
        # every set in `group` has the same first `depth` deletions, all before `pos`; `state` is block pos's input
        done = [s for s in group if len(s) == depth]
        if done:  # no deletion left: run the rest of the net once for all of them
            feats = _finish(blocks, state, pos, frozenset())
            for s in done:
                emit(s, feats)
        nxt: dict[int, list[tuple[int, ...]]] = {}
        for s in group:
            if len(s) > depth:
                nxt.setdefault(s[depth], []).append(s)
        for d in sorted(nxt):  # advance one state through the shared blocks, fork at each next deletion
            while pos < d:
                state = blocks[pos](state)
                pos += 1
            branch(blocks[d].lesion(state), d + 1, nxt[d], depth + 1)

    first: dict[int, list[tuple[int, ...]]] = {}
    for s in sets:
        first.setdefault(s[0], []).append(s)
    for d, group in first.items():  # the intact prefix is stored: start right at the first deleted block
        branch(blocks[d].lesion(inputs[d]), d + 1, group, 1)


def _indices(net: Net, deletion: Deletion) -> tuple[int, ...]:
    index = {name: i for i, name in enumerate(net.block_names())}
    unknown = [d for d in deletion if d not in index]
    if unknown:
        raise KeyError(f"lesion: no block named {unknown[0]!r}; blocks are {', '.join(index)}")
    return tuple(sorted({index[d] for d in deletion}))


def lesioned_features(model: Net, x: torch.Tensor, deletions: Sequence[Deletion]) -> list[torch.Tensor]:
    """Features (before the head) of the net with each deletion set's blocks lesioned, the reuse way.

    x: (N, *example_shape) in one piece (no chunking: tests and the benchmark use it). Equals
    `[model.forward_features(x, skip=d) for d in deletions]` in the model's current mode; an empty set is the
    intact net. No gradient is recorded."""
    net = check_net(model, "lesioned_features")
    x = prepare(net, x)
    blocks = [b for _, b in net.blocks()]
    sets = [_indices(net, d) for d in deletions]
    with torch.no_grad():
        inter = list(net.block_outputs(x).values())
        out: dict[tuple[int, ...], torch.Tensor] = {(): inter[-1]}
        _run_trie(blocks, inter[:-1], sorted({s for s in sets if s}), out.__setitem__)
    return [out[s] for s in sets]


def naive_lesioned_features(model: Net, x: torch.Tensor, deletions: Sequence[Deletion]) -> list[torch.Tensor]:
    """The baseline `lesioned_features` is checked and timed against: the whole net from the input each time."""
    net = check_net(model, "naive_lesioned_features")
    x = prepare(net, x)
    with torch.no_grad():
        return [net.forward_features(x, skip=frozenset(d)) for d in deletions]


def lesion_study(model: Net, x: torch.Tensor, y: torch.Tensor, k_values: Sequence[int] = (), draws: int = 5,
                 seed: int = 0, swaps: bool = True, chunk: int = 256, loss: Loss = F.cross_entropy,
                 bn_mode: str | None = None) -> dict[str, Any]:
    """Held-out error and loss of a net (eval mode, batch norm calibrated by the caller) under lesions.

    x: (N, *example_shape) held-out inputs, y: (N,) labels; scored in chunks of `chunk` examples (the stored block
    inputs of one chunk are all that is held). Returns (lists indexed by block unless said otherwise):

        mode            the batch-norm mode used
        names, kinds    block names and kinds in forward order
        shape_changing  True where a block's output shape differs from its input's (downsampling blocks)
        lesionable      False where deleting the block is impossible (a shape-changing plain layer)
        base            {"error", "loss"} of the intact net
        single          {"error", "loss"}: block l deleted alone (None where not lesionable)
        swap            {"pairs": [[l, l+1]], "error", "loss"}: blocks l and l+1 run in swapped order, for every
                        neighbour pair that both keep the shape
        random          {"k", "sets" (per k, per draw: block indices), "error", "loss" (per k, per draw)}: k
                        blocks deleted at random among the lesionable shape-preserving blocks (downsampling
                        blocks are excluded: the claim sets them aside), `draws` draws per k (seeded by `seed`)
    """
    net = check_net(model, "lesion_study")
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor) or x.shape[0] != y.shape[0]:
        raise ValueError("lesion_study needs x of shape (N, *example_shape) and y of shape (N,)")
    mode = eval_mode_note(net, "lesion_study", bn_mode)
    named = list(net.blocks())
    blocks = [b for _, b in named]
    n = len(blocks)
    with frozen(net), buffers_kept(net), torch.no_grad():
        shapes = [t.shape[1:] for t in net.block_outputs(prepare(net, x[:1])).values()]
    changing = [shapes[i] != shapes[i + 1] for i in range(n)]
    lesionable = [b.lesionable for b in blocks]
    eligible = [i for i in range(n) if lesionable[i] and not changing[i]]
    g = torch.Generator().manual_seed(seed)
    ks = [k for k in k_values if 1 <= k <= len(eligible)]
    rand_sets = [[tuple(sorted(eligible[j] for j in torch.randperm(len(eligible), generator=g)[:k].tolist()))
                  for _ in range(draws)] for k in ks]
    pairs = [(l, l + 1) for l in range(n - 1) if swaps and not changing[l] and not changing[l + 1]]
    sets = sorted({(i,) for i in range(n) if lesionable[i]} | {s for row in rand_sets for s in row})
    keys: list[Any] = [()] + sets + [("swap", p) for p in pairs]
    wrong = {key: 0.0 for key in keys}
    total = {key: 0.0 for key in keys}

    def score(key: Any, feats: torch.Tensor, yc: torch.Tensor) -> None:
        logits = net.forward_head(feats)
        wrong[key] += float((logits.argmax(1) != yc).sum())
        total[key] += float(loss(logits, yc)) * yc.shape[0]

    with frozen(net), buffers_kept(net), torch.no_grad():
        for start in range(0, x.shape[0], chunk):
            xc = prepare(net, x[start:start + chunk])
            yc = y[start:start + chunk].to(xc.device)
            inter = list(net.block_outputs(xc).values())
            score((), inter[-1], yc)
            _run_trie(blocks, inter[:-1], sets, lambda s, f: score(s, f, yc))
            for l, m in pairs:  # swapped order: block l+1 sees block l's input, block l sees its output
                score(("swap", (l, m)), _finish(blocks, blocks[l](blocks[m](inter[l])), m + 1, frozenset()), yc)
    count = x.shape[0]

    def err(key: Any) -> float:
        return wrong[key] / count

    def lss(key: Any) -> float:
        return total[key] / count

    return {
        "mode": mode, "examples": int(count), "names": [nm for nm, _ in named], "kinds": [b.kind for b in blocks],
        "shape_changing": changing, "lesionable": lesionable, "base": {"error": err(()), "loss": lss(())},
        "single": {"error": [err((i,)) if lesionable[i] else None for i in range(n)],
                   "loss": [lss((i,)) if lesionable[i] else None for i in range(n)]},
        "swap": {"pairs": [list(p) for p in pairs], "error": [err(("swap", p)) for p in pairs],
                 "loss": [lss(("swap", p)) for p in pairs]},
        "random": {"k": ks, "sets": [[list(s) for s in row] for row in rand_sets],
                   "error": [[err(s) for s in row] for row in rand_sets],
                   "loss": [[lss(s) for s in row] for row in rand_sets]},
    }
