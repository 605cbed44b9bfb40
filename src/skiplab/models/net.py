"""`Net`: the one skeleton every model shares, `input normalization -> stem -> stages of blocks -> head`, and the
dissection interface of DESIGN.md (blocks, lesions, gates, intermediates, computation graph)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator, Mapping, Sequence

import networkx as nx
import torch
from torch import nn

from ..config import suggest
from ..errors import ConfigError
from .blocks import Block


def take_indices(count: int, indices: int | Sequence[int] | None) -> list[int]:
    """timm's `indices` over `count` blocks as sorted distinct absolute indices: None -> all, an int n -> the last
    n (1 <= n <= count), a sequence -> those indices (-count <= i < count; negative ones count from the end)."""
    if indices is None:
        return list(range(count))
    if isinstance(indices, int) and not isinstance(indices, bool):
        if not 1 <= indices <= count:
            raise ConfigError(f"forward_intermediates: indices={indices} asks for the last {indices} blocks; "
                              f"the net has {count}")
        return list(range(count - indices, count))
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Sequence) or not indices:
        raise ConfigError(f"forward_intermediates: indices must be None, an int or a non-empty list of ints, "
                          f"got {indices!r}")
    out = set()
    for i in indices:
        if not isinstance(i, int) or isinstance(i, bool) or not -count <= i < count:
            raise ConfigError(f"forward_intermediates: block index {i!r} is out of range for {count} blocks "
                              f"(-{count} to {count - 1})")
        out.add(i % count)
    return sorted(out)


class Stage(nn.Module):
    """A sequence of blocks at one resolution; a container only (its blocks are run by `Net`)."""

    def __init__(self, blocks: Iterable[Block]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)


class Net(nn.Module):
    """A network of the zoo. Shapes: x (N, C, *spatial) or (N, F) -> logits (N, num_classes).

    `config` is the frozen config it was built from and `name` its registry name.
    """

    def __init__(self, config: Any, normalize: nn.Module, stem: nn.Module, stages: Iterable[Iterable[Block]],
                 head: nn.Module, name: str = "") -> None:
        super().__init__()
        self.config, self.name = config, name
        self.normalize, self.stem = normalize, stem
        self.stages = nn.ModuleList(Stage(s) for s in stages)
        self.head = head
        self._names = [n for n, _ in self.blocks()]
        if not self._names:
            raise ValueError("a Net needs at least one block")

    def blocks(self) -> Iterator[tuple[str, Block]]:
        """(name, block) in forward order; names like `stages.1.blocks.3` are stable across runs."""
        for i, stage in enumerate(self.stages):
            for j, block in enumerate(stage.blocks):
                yield f"stages.{i}.blocks.{j}", block

    def block_names(self) -> list[str]:
        return list(self._names)

    def _check_names(self, names: Iterable[str], what: str) -> None:
        valid = set(self._names)
        for n in names:
            if n not in valid:
                raise KeyError(f"{what}: no block named {n!r}{suggest(n, self._names)}")

    def forward_features(self, x: torch.Tensor, skip: Iterable[str] = frozenset(),
                         gate: Mapping[str, str] | None = None) -> torch.Tensor:
        """Features before the head, with the blocks named in `skip` lesioned and the paths of the blocks in
        `gate` routed for the gradient ("skip" or "branch", see blocks.py)."""
        skip = frozenset(skip)
        gate = dict(gate or {})
        if skip:
            self._check_names(skip, "skip")
        if gate:
            self._check_names(gate, "gate")
        x = self.stem(self.normalize(x))
        for name, block in self.blocks():
            x = block.lesion(x) if name in skip else block(x, gate.get(name))
        return x

    def block_outputs(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """The stem's output ("stem") and every block's output, in forward order."""
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        x = self.stem(self.normalize(x))
        out["stem"] = x
        for name, block in self.blocks():
            x = block(x)
            out[name] = x
        return out

    def forward_intermediates(self, x: torch.Tensor, indices: int | Sequence[int] | None = None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW", intermediates_only: bool = False,
                              ) -> "list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]":
        """timm's signature and semantics, so features code written for timm runs on a Net: the outputs of the
        blocks picked by `indices` (None: all; an int n: the last n; a sequence: those block indices, negative
        counting from the end), in forward order, each once; with them the final features (`forward_features(x)`),
        as `(features, [intermediates])`, or only the list when `intermediates_only`.

        Block i is `block_names()[i]`; the stem's output is not an intermediate (`block_outputs` has it).
        `stop_early`: the features returned are the last picked block's output, as in timm (the blocks after it
        are still run). `norm` is accepted and changes nothing: no Net has a final norm outside its head (timm's
        ResNets ignore it likewise). `output_fmt`: only "NCHW" (channels first, as every block computes)."""
        if output_fmt != "NCHW":
            raise ConfigError(f"forward_intermediates: output_fmt must be 'NCHW' (channels first), got {output_fmt!r}")
        take = take_indices(len(self._names), indices)
        outs = list(self.block_outputs(x).values())[1:]  # drop the stem: intermediates are block outputs
        picked = [outs[i] for i in take]
        if intermediates_only:
            return picked
        return (outs[take[-1]] if stop_early else outs[-1]), picked

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    def graph(self) -> nx.DiGraph:
        """The computation graph as a DAG: input -> stem -> block nodes (branches, additions) -> head -> output."""
        g = nx.DiGraph()
        g.add_node("input", op="input")
        g.add_node("stem", op="stem")
        g.add_edge("input", "stem", path="main")
        src = "stem"
        for name, block in self.blocks():
            src = block.add_to_graph(g, name, src)
        g.add_node("head", op="head")
        g.add_node("output", op="output")
        g.add_edge(src, "head", path="main")
        g.add_edge("head", "output", path="main")
        return g

    def num_parameters(self, trainable_only: bool = True) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
