"""Block kinds of the dissection interface (DESIGN.md): what each computes, what deleting it means, and how a
probe may gate its paths. A gate routes the gradient, never the value: with gate "skip" the gradient flows only
through the shortcut (the branch is detached), with "branch" only through the branch (Veit et al. 2016's path
measurement). Later families add kinds (gated, coupling, concat, continuous) by subclassing `Block`."""

from __future__ import annotations

from typing import ClassVar

import networkx as nx
import torch
from torch import nn

from .parts.integrators import Solver, get_integrator
from .parts.layers import ResidualScale

GATES = ("skip", "branch")


class NotLesionable(ValueError):
    """Deleting this block would leave the net ill-shaped (e.g. a plain layer that changes the shape)."""


class Block(nn.Module):
    """Abstract. Subclasses set `kind` and implement `forward(x, gate=None)` and `lesion(x)`."""

    kind: ClassVar[str] = "abstract"

    @property
    def lesionable(self) -> bool:
        return True

    def forward(self, x: torch.Tensor, gate: str | None = None) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def lesion(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The block's output when it is deleted from the net."""
        raise NotImplementedError

    def increment(self, x: torch.Tensor) -> torch.Tensor:
        """What the block adds to its (shortcut-mapped) input, where that is defined."""
        raise TypeError(f"a {self.kind!r} block has no additive increment")

    def add_to_graph(self, g: nx.DiGraph, name: str, src: str) -> str:
        """Add this block's nodes to the computation graph, fed by node `src`; return its output node."""
        g.add_node(name, kind=self.kind, block=name, op="block")
        g.add_edge(src, name, path="main")
        return name


class ResidualBlock(Block):
    """x -> shortcut(x) + h * branch(x): the pre-activation form ("additive"), or with a ReLU after the sum
    (He et al.'s original, "additive-post"). The shortcut is the identity unless the shape changes."""

    def __init__(self, branch: nn.Module, shortcut: nn.Module, scale: ResidualScale,
                 post_activation: nn.Module | None = None) -> None:
        super().__init__()
        self.branch, self.shortcut, self.scale = branch, shortcut, scale
        self.post = post_activation

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "additive" if self.post is None else "additive-post"

    def increment(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(self.branch(x))

    def forward(self, x: torch.Tensor, gate: str | None = None) -> torch.Tensor:
        s, f = self.shortcut(x), self.increment(x)
        if gate == "skip":
            f = f.detach()
        elif gate == "branch":
            s = s.detach()
        elif gate is not None:
            raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
        out = s + f
        return out if self.post is None else self.post(out)

    def lesion(self, x: torch.Tensor) -> torch.Tensor:
        s = self.shortcut(x)
        return s if self.post is None else self.post(s)

    def add_to_graph(self, g: nx.DiGraph, name: str, src: str) -> str:
        g.add_node(f"{name}.branch", kind=self.kind, block=name, op="branch")
        g.add_node(f"{name}.add", kind=self.kind, block=name, op="add")
        g.add_edge(src, f"{name}.branch", path="branch")
        g.add_edge(f"{name}.branch", f"{name}.add", path="branch")
        g.add_edge(src, f"{name}.add", path="skip")
        return f"{name}.add"


class PlainBlock(Block):
    """x -> post(branch(x)): the plain twin of a residual block (same layers, no shortcut), or a VGG layer.
    Deleting it passes x through, which only makes sense when it preserves the shape."""

    kind = "plain"

    def __init__(self, branch: nn.Module, post_activation: nn.Module | None = None,
                 shape_preserving: bool = True) -> None:
        super().__init__()
        self.branch, self.post = branch, post_activation
        self.shape_preserving = shape_preserving

    @property
    def lesionable(self) -> bool:
        return self.shape_preserving

    def forward(self, x: torch.Tensor, gate: str | None = None) -> torch.Tensor:
        if gate not in (None, "branch"):
            raise ValueError(f"a plain block has only its branch; gate {gate!r} is not possible")
        y = self.branch(x)
        return y if self.post is None else self.post(y)

    def lesion(self, x: torch.Tensor) -> torch.Tensor:
        if not self.shape_preserving:
            raise NotLesionable("this plain block changes the shape of its input; it cannot be deleted")
        return x


class StepBlock(Block):
    """Abstract. A block whose output is one step x -> step(x) of a flow (kind "continuous": an integrator step, an
    ODE solve). The increment is step(x) - x, so lesions and gates work as for an additive block."""

    kind = "continuous"

    def step(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def increment(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x) - x

    def forward(self, x: torch.Tensor, gate: str | None = None) -> torch.Tensor:
        y = self.step(x)
        # x - x.detach() is exactly 0 with the identity's gradient: the value stays y bit for bit, while "skip"
        # keeps only the shortcut's gradient and "branch" only the increment's (d step/dx - I)
        if gate == "skip":
            return y.detach() + (x - x.detach())
        if gate == "branch":
            return y - (x - x.detach())
        if gate is not None:
            raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
        return y

    def lesion(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def add_to_graph(self, g: nx.DiGraph, name: str, src: str) -> str:
        return ResidualBlock.add_to_graph(self, g, name, src)  # same topology: x + (step - x)


class IntegratorBlock(StepBlock):
    """x -> one step of an ODE integrator on x' = F(x) with step h (models/parts/integrators.py): heun, midpoint, rk4,
    leapfrog and implicit-euler evaluate the same branch F several times. ("euler" is the ordinary additive
    `ResidualBlock`.)"""

    def __init__(self, branch: nn.Module, scale: ResidualScale, integrator: str,
                 solver: Solver | None = None) -> None:
        super().__init__()
        self.rule = get_integrator(integrator)
        if integrator == "euler":
            raise ValueError("euler is the additive ResidualBlock; build that instead")
        self.branch, self.scale, self.integrator = branch, scale, integrator
        self.solver = (solver or Solver()) if self.rule.implicit else None

    def _h(self) -> torch.Tensor:
        return self.scale(torch.ones((), device=self.scale.h.device, dtype=self.scale.h.dtype))

    def step(self, x: torch.Tensor) -> torch.Tensor:
        h = self._h().to(x.dtype)
        if self.rule.implicit:
            return self.rule.step(self.branch, x, h, self.solver)
        return self.rule.step(self.branch, x, h)

    def extra_repr(self) -> str:
        return f"integrator={self.integrator}"


def residual_block(branch: nn.Module, shortcut: nn.Module, scale: ResidualScale, cfg: object,
                   post_activation: nn.Module | None = None) -> Block:
    """The residual block a family's config asks for: additive (integrator "euler", or any block whose shortcut
    changes the shape, where an ODE step is undefined) or an `IntegratorBlock` with the config's solver settings.
    `cfg` carries `integrator`, `solver`, `solver_tol` and `solver_max_iter`."""
    name = getattr(cfg, "integrator", "euler")
    if name == "euler" or not isinstance(shortcut, nn.Identity):
        return ResidualBlock(branch, shortcut, scale, post_activation)
    if post_activation is not None:
        raise ValueError("integrator blocks need pre-activation blocks (no activation after the sum)")
    solver = Solver(cfg.solver, cfg.solver_tol, cfg.solver_max_iter)  # type: ignore[attr-defined]
    return IntegratorBlock(branch, scale, name, solver)
