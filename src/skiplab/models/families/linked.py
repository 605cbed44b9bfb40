"""A plain chain with a few long-range identity links: the plain CIFAR ResNet twin (`ResNetConfig`, skip="none",
built by `build_resnet` itself, so the layers and their init are exactly plain{depth}'s) plus sparse skips that
shorten the net's shortest input-output path without making every block residual.

Blocks are numbered 0..B-1 in forward order; a link (i, j) adds the tensor after block i (i = -1: the stem's
output) to the input of block j (j = B: the features before the head), with i + 2 <= j so it jumps at least one
block. Links may cross stages: when shapes differ, the carried tensor is mapped by He et al.'s option A
(subsample by the resolution ratio, zero-pad the new channels; no parameters), so links never add parameters.
A link lands after the block before j, and the sum is what later blocks, later links and `block_outputs`
see: h_b = block_{b-1}(h_{b-1}) + sum over links (i, b) of A(h_{i+1}), h_0 = stem output, features = h_B.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable, Literal, Mapping

import networkx as nx
import torch
from torch import nn

from ...config import option
from ...errors import ConfigError
from ..parts.layers import PadShortcut
from ..net import Net
from ..registry import register_presets
from .resnet_cifar import EXPANSION, ResNetConfig, build_resnet


@dataclass(frozen=True)
class LinkedConfig(ResNetConfig):
    skip: Literal["identity", "none"] = option("none", "block shortcuts: none (a plain chain, the point of this "
                                                       "family) or identity (a ResNet with extra links)")
    links: tuple[tuple[int, int], ...] = option((), "explicit links (i, j): the tensor after block i (-1: stem) "
                                                    "is added to the input of block j (B: the head)")
    count: int = option(0, "generated links: this many, each jumping `span` blocks, evenly spaced from the stem "
                           "to the head (added to `links`)")
    span: int = option(1, "blocks a generated link jumps over (j - i - 1)")

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.num_blocks
        if self.count < 0 or self.span < 1:
            raise ConfigError(f"count must be >= 0 and span >= 1, got count={self.count}, span={self.span}")
        if self.count and self.span > n:
            raise ConfigError(f"span {self.span} exceeds the {n} blocks of a depth-{self.depth} net")
        for i, j in self.links:
            if not (-1 <= i and i + 2 <= j <= n):
                raise ConfigError(f"link ({i}, {j}) is invalid: need -1 <= i, i + 2 <= j <= {n} (blocks are "
                                  f"0..{n - 1}, -1 is the stem, {n} the head)")
        gen = self.generated_links()
        if len(set(gen)) < len(gen):
            raise ConfigError(f"count={self.count} links of span {self.span} do not fit {n} blocks without repeats")
        if list(self.widths) != sorted(self.widths):
            raise ConfigError("links zero-pad channels (option A), so widths must not decrease")

    @property
    def num_blocks(self) -> int:
        return self.blocks_per_stage * len(self.widths)

    def generated_links(self) -> list[tuple[int, int]]:
        """`count` links (i, i + span + 1), starts evenly spaced over -1 .. B - span - 1."""
        last = self.num_blocks - self.span - 1
        if self.count == 0:
            return []
        if self.count == 1:
            starts = [(last - 1) // 2]
        else:
            starts = [-1 + round(k * (last + 1) / (self.count - 1)) for k in range(self.count)]
        return [(i, i + self.span + 1) for i in starts]

    def all_links(self) -> tuple[tuple[int, int], ...]:
        """Explicit and generated links, sorted and without repeats."""
        return tuple(sorted(set(self.links) | set(self.generated_links())))


class LinkedNet(Net):
    """A `Net` whose forward adds the long-range links of `config.all_links()`. Shapes as `Net`."""

    def __init__(self, base: Net, links: Iterable[tuple[int, int]]) -> None:
        super().__init__(base.config, base.normalize, base.stem, [list(s.blocks) for s in base.stages], base.head,
                         base.name)
        self.links = tuple(links)
        shapes = self._boundary_shapes()
        # one parameter-free map per link: option A from the source's (channels, stage) to the target's
        self.link_maps = nn.ModuleList(
            PadShortcut(shapes[i + 1][0], shapes[j][0], 2 ** (shapes[j][1] - shapes[i + 1][1]), base.config.dims)
            if shapes[i + 1] != shapes[j] else nn.Identity() for i, j in self.links)

    def _boundary_shapes(self) -> list[tuple[int, int]]:
        """(channels, stage) of h_0 .. h_B; stage s has resolution input / 2^s."""
        cfg = self.config
        widths = [max(1, round(w * cfg.width_mult)) for w in cfg.widths]
        out = [(widths[0], 0)]
        for s, w in enumerate(widths):
            out += [(w if cfg.block == "basic" else w * EXPANSION, s)] * cfg.blocks_per_stage
        return out

    def _run(self, x: torch.Tensor, skip: frozenset[str], gate: Mapping[str, str],
             record: "OrderedDict[str, torch.Tensor] | None") -> torch.Tensor:
        h = [self.stem(self.normalize(x))]
        if record is not None:
            record["stem"] = h[0]
        for b, (name, block) in enumerate(self.blocks()):
            y = block.lesion(h[b]) if name in skip else block(h[b], gate.get(name))
            for (i, j), f in zip(self.links, self.link_maps):
                if j == b + 1:
                    y = y + f(h[i + 1])
            h.append(y)
            if record is not None:
                record[name] = y
        return h[-1]

    def forward_features(self, x: torch.Tensor, skip: Iterable[str] = frozenset(),
                         gate: Mapping[str, str] | None = None) -> torch.Tensor:
        skip, gate = frozenset(skip), dict(gate or {})
        self._check_names(skip, "skip")
        self._check_names(gate, "gate")
        return self._run(x, skip, gate, None)

    def block_outputs(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """The stem's output and every block's output with the links landing after it already added."""
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._run(x, frozenset(), {}, out)
        return out

    def graph(self) -> nx.DiGraph:
        """`Net.graph` plus, per link (i, j), an edge (path="link") from h_{i+1}'s node into an add node
        `{block j-1}.link-add` that sums the block's output and every link landing there."""
        g = nx.DiGraph()
        g.add_node("input", op="input")
        g.add_node("stem", op="stem")
        g.add_edge("input", "stem", path="main")
        nodes = ["stem"]
        for b, (name, block) in enumerate(self.blocks()):
            src = block.add_to_graph(g, name, nodes[b])
            incoming = [i for i, j in self.links if j == b + 1]
            if incoming:
                add = f"{name}.link-add"
                g.add_node(add, kind="link", block=name, op="add")
                g.add_edge(src, add, path="main")
                for i in incoming:
                    g.add_edge(nodes[i + 1], add, path="link", link=(i, b + 1))
                src = add
            nodes.append(src)
        g.add_node("head", op="head")
        g.add_node("output", op="output")
        g.add_edge(nodes[-1], "head", path="main")
        g.add_edge("head", "output", path="main")
        return g


def build_linked(cfg: LinkedConfig, name: str = "") -> Net:
    """plain{depth} (same layers, same init, same RNG draws) wrapped with the links; with none it computes
    exactly what plain{depth} does."""
    return LinkedNet(build_resnet(cfg, name), cfg.all_links())


PRESETS = {
    "plain20-links": (LinkedConfig(depth=20, count=2, span=3),
                      "plain20 with 2 identity links, each jumping 3 blocks (stem->3, 5->head)"),
    "plain56-links": (LinkedConfig(depth=56, count=4, span=6),
                      "plain56 with 4 identity links, each jumping 6 blocks, chained stem->6->13->20->head"),
}

register_presets(PRESETS, build_linked)
