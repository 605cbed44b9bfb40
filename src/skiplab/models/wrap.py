"""`wrap(model, blocks=[...])`: a researcher's own PyTorch model as a `Net`, so lesions, gradient signal,
Jacobians, readouts and attacks run on it through the one dissection interface.

The user names the residual blocks (module paths such as "layer1.0", or the modules); everything else is inferred
from the torchvision/timm layout: the stem is every module registered before the first block, the head every module
after the last (a pooled map is flattened before a `Linear`, as torchvision's `forward` does with
`torch.flatten`). Nothing is copied: the `Net` holds the user's own modules, so it shares their parameters and
buffers, and training either trains both.

A block's own `forward` computes its output, so the wrapped net's output is the model's own. What the interface
needs beyond that comes from how the block splits: kind "additive-post" (torchvision's and timm's BasicBlock and
Bottleneck: post(branch(x) + shortcut(x))) or "additive" (pre-activation: branch(x) + shortcut(x)). `shortcut` names
the block's shortcut module (an identity where the block's attribute is None or absent, as torchvision's
`downsample` is); `post` names the module applied last, to the sum (torchvision: `relu`, timm: `act2`). Deleting a
block leaves post(shortcut(x)). The sum itself, which gates and `increment` need, is read from the input of the
block's last call of `post` during the block's own forward (a hook held only for that call).

`example=x` (recommended) checks the inference once: the wrapped net's output must equal the model's own forward on
x, and every block's output must be post(its captured sum) with the shortcut's shape; a mismatch is a `ConfigError`
saying what to name explicitly (`stem=`, `head=`, `shortcut=`, `post=`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import networkx as nx
import torch
from torch import nn

from ..config import suggest
from ..errors import ConfigError
from .blocks import GATES, Block, ResidualBlock
from .net import Net
from .parts.layers import Normalize

KINDS = ("additive", "additive-post")


@dataclass(frozen=True)
class WrapConfig:
    """How a model was wrapped. `blocks` are the user's module paths in forward order; `in_channels`, `input_size`
    and `num_classes` are read from `example` (None without one)."""

    blocks: tuple[str, ...]
    kind: str
    shortcut: str | None
    post: str | None
    input_mean: tuple[float, ...] | None = None
    input_std: tuple[float, ...] | None = None
    in_channels: int | None = None
    input_size: tuple[int, ...] | None = None
    num_classes: int | None = None


class Chain(nn.Module):
    """The user's modules run in order (a stem or a head). A globally pooled map (N, C, 1, ..., 1) meeting a
    `Linear` is flattened to (N, C) first: torchvision does that with `torch.flatten` in `forward`, not a module."""

    def __init__(self, parts: Sequence[nn.Module]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for m in self.parts:
            if isinstance(m, nn.Linear) and x.dim() > 2 and all(s == 1 for s in x.shape[2:]):
                x = x.flatten(1)
            x = m(x)
        return x


def _attr(module: nn.Module, dotted: str) -> object:
    """module.a.b for "a.b"; None where an attribute is None or absent."""
    obj: object = module
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


class WrappedBlock(Block):
    """A user's residual block. forward(x) is the block's own forward; with a gate, and for `increment`, it is run
    once with hooks that catch the shortcut's output s and the sum `pre` that `post` receives, and the output is
    rebuilt from them exactly as the block computed it (see `forward`)."""

    def __init__(self, module: nn.Module, path: str, kind: str, shortcut: str | None, post: str | None) -> None:
        super().__init__()
        self.module = module  # the user's block itself: parameters shared, nothing copied
        self.path, self._kind = path, kind
        # names, resolved at call time: registering the user's submodules twice would list them twice in
        # state_dict, and a reassigned block.downsample is then seen
        self.shortcut_name, self.post_name = shortcut, post

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self._kind

    def extra_repr(self) -> str:
        return f"path={self.path!r}, kind={self._kind!r}, shortcut={self.shortcut_name!r}, post={self.post_name!r}"

    def _shortcut(self) -> nn.Module | None:
        sc = _attr(self.module, self.shortcut_name) if self.shortcut_name else None
        return sc if isinstance(sc, nn.Module) else None

    def _post(self) -> nn.Module | None:
        return self.module.get_submodule(self.post_name) if self.post_name else None

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(s, pre, out) from one run of the block's own forward: the shortcut's output, the sum that `post`
        received on its last call (the block's output itself for an additive block) and the block's output."""
        caught: dict[str, torch.Tensor] = {}
        sc, post = self._shortcut(), self._post()
        handles = []
        if sc is not None:
            handles.append(sc.register_forward_hook(lambda m, args, out: caught.__setitem__("s", out)))
        if post is not None:
            # a clone: torchvision's ReLU(inplace=True) overwrites its input; the last call wins, because a post
            # module may also serve inside the branch (torchvision's BasicBlock calls `relu` twice)
            handles.append(post.register_forward_pre_hook(lambda m, a: caught.__setitem__("pre", a[0].clone())))
        try:
            out = self.module(x)
        finally:
            for h in handles:
                h.remove()
        for key, name in (("s", self.shortcut_name if sc is not None else None), ("pre", self.post_name)):
            if name is not None and key not in caught:
                raise ConfigError(f"wrap: block {self.path!r} never called its {name!r} module in forward")
        s = caught.get("s", x)
        pre = caught.get("pre", out)
        if s.shape != pre.shape:
            raise ConfigError(f"wrap: block {self.path!r} sums a shortcut of shape {tuple(s.shape)} and a branch of "
                              f"shape {tuple(pre.shape)}; name its shortcut module with shortcut=")
        return s, pre, out

    def forward(self, x: torch.Tensor, gate: str | None = None) -> torch.Tensor:
        if gate is None:
            return self.module(x)
        if gate not in GATES:
            raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
        s, pre, _ = self.parts(x)
        # s - s.detach() is exactly 0 with the shortcut's gradient: the value stays the block's own sum bit for bit
        # (so post(sum) is the block's output), while "skip" keeps only the shortcut's gradient and "branch" only
        # the branch's (the gradient of pre = branch + shortcut, less the shortcut's)
        zero = s - s.detach()
        z = pre.detach() + zero if gate == "skip" else pre - zero
        post = self._post()
        return z if post is None else post(z)

    def lesion(self, x: torch.Tensor) -> torch.Tensor:
        sc, post = self._shortcut(), self._post()
        s = x if sc is None else sc(x)
        if post is None:
            return s
        return post(s.clone() if s is x else s)  # an in-place post must not overwrite the caller's x

    def increment(self, x: torch.Tensor) -> torch.Tensor:
        """The branch's output before `post`, as pre - s (equal to the branch's own to float rounding)."""
        s, pre, _ = self.parts(x)
        return pre - s

    def add_to_graph(self, g: nx.DiGraph, name: str, src: str) -> str:
        return ResidualBlock.add_to_graph(self, g, name, src)  # same topology: shortcut + branch


class WrappedNet(Net):
    """A user's model as a `Net` (see `wrap`). `paths` maps each block name (`stages.0.blocks.0`) to the user's
    module path (`layer1.0`)."""

    def __init__(self, *args, paths: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.paths = dict(paths)


def _resolve_blocks(model: nn.Module, blocks: Sequence[str | nn.Module]) -> list[tuple[str, nn.Module]]:
    if isinstance(blocks, (str, nn.Module)) or not isinstance(blocks, Sequence) or not blocks:
        raise ConfigError("wrap: blocks must be a non-empty list of module paths (e.g. 'layer1.0') or modules")
    names = {id(m): n for n, m in model.named_modules() if n}
    paths = [n for n, _ in model.named_modules() if n]
    out: list[tuple[str, nn.Module]] = []
    for b in blocks:
        if isinstance(b, str):
            try:
                m = model.get_submodule(b)
            except AttributeError:
                raise ConfigError(f"wrap: the model has no module {b!r}{suggest(b, paths)}") from None
            if not b:
                raise ConfigError("wrap: a block cannot be the whole model")
            out.append((b, m))
        elif isinstance(b, nn.Module):
            if id(b) not in names:
                raise ConfigError(f"wrap: a {type(b).__name__} in blocks is not a submodule of the model")
            out.append((names[id(b)], b))
        else:
            raise ConfigError(f"wrap: blocks holds a {type(b).__name__}; give module paths or modules")
    seen: dict[int, str] = {}
    for path, m in out:
        if id(m) in seen:
            raise ConfigError(f"wrap: block {path!r} is listed twice")
        seen[id(m)] = path
    for path, m in out:
        inner = [seen[id(d)] for d in m.modules() if d is not m and id(d) in seen]
        if inner:
            raise ConfigError(f"wrap: block {inner[0]!r} lies inside block {path!r}; name blocks that do not nest")
    return out


def _units(model: nn.Module, block_ids: set[int]) -> Iterator[tuple[bool, str, nn.Module]]:
    """(is_block, path, module) in registration order: blocks, and the largest modules that hold no block (a
    container holding blocks is descended into, its own forward assumed to run its children in order)."""

    def visit(m: nn.Module, prefix: str) -> Iterator[tuple[bool, str, nn.Module]]:
        for name, child in m.named_children():
            path = prefix + name
            if id(child) in block_ids:
                yield True, path, child
            elif any(id(d) in block_ids for d in child.modules()):
                yield from visit(child, path + ".")
            else:
                yield False, path, child

    return visit(model, "")


def _part(model: nn.Module, given: nn.Module | Sequence[str] | None, inferred: list[nn.Module],
          what: str) -> nn.Module:
    if given is None:
        return Chain(inferred) if inferred else nn.Identity()
    if isinstance(given, nn.Module):
        return given
    if isinstance(given, str) or not isinstance(given, Sequence):
        raise ConfigError(f"wrap: {what} must be a module or a list of module paths, got {type(given).__name__}")
    mods = []
    for p in given:
        try:
            mods.append(model.get_submodule(p))
        except AttributeError:
            raise ConfigError(f"wrap: {what}: the model has no module {p!r}") from None
    return Chain(mods)


def _check_parts(blocks: list[WrappedBlock], kind: str, shortcut: str | None, post: str | None) -> None:
    if kind not in KINDS:
        raise ConfigError(f"wrap: kind must be one of {', '.join(KINDS)} (a block wrap can split into branch and "
                          f"shortcut), got {kind!r}")
    if kind == "additive" and post is not None:
        raise ConfigError("wrap: an additive block applies nothing after its sum; post must be None")
    for b in blocks:
        if post is not None:
            try:
                b.module.get_submodule(post)
            except AttributeError:
                children = ", ".join(n for n, _ in b.module.named_children())
                raise ConfigError(f"wrap: block {b.path!r} has no module {post!r} to apply after the sum (its "
                                  f"children: {children}); name it with post=") from None
        if shortcut is not None:
            sc = _attr(b.module, shortcut)
            if sc is not None and not isinstance(sc, nn.Module):
                raise ConfigError(f"wrap: block {b.path!r}'s {shortcut!r} is a {type(sc).__name__}, not a module")
    if shortcut is not None and all(not hasattr(b.module, shortcut.split(".")[0]) for b in blocks):
        raise ConfigError(f"wrap: no block has a {shortcut!r} attribute; name the shortcut module with "
                          f"shortcut=, or shortcut=None where every shortcut is the identity")


def _check_example(model: nn.Module, net: WrappedNet, x: torch.Tensor) -> torch.Tensor:
    """The model's own output on x, after checking that the wrapped net reproduces it and every block's output is
    post(its captured sum). Both run in eval mode (no batch-norm update, no dropout); modes are restored."""
    modes = [(m, m.training) for m in list(model.modules()) + list(net.modules())]
    model.eval()
    net.eval()
    try:
        with torch.no_grad():
            want = model(net.normalize(x))
            h = net.stem(net.normalize(x))
            for _, block in net.blocks():
                s, pre, out = block.parts(h)
                post = block._post()
                rebuilt = pre if post is None else post(pre.clone())
                if not torch.equal(rebuilt, out):
                    raise ConfigError(f"wrap: block {block.path!r}'s output is not {block.post_name!r} of the sum "
                                      "it received last; name the module the block applies last with post=")
                h = out
            got = net.head(h)
    finally:
        for m, t in modes:
            m.training = t
    if not isinstance(want, torch.Tensor) or got.shape != want.shape:
        shape = tuple(want.shape) if isinstance(want, torch.Tensor) else type(want).__name__
        raise ConfigError(f"wrap: the wrapped net gives shape {tuple(got.shape)} on example, the model {shape}; "
                          "pass stem= and head= explicitly")
    diff = float((got - want).abs().max()) if got.numel() else 0.0
    if diff > 1e-5 * max(1.0, float(want.abs().max())):
        raise ConfigError(f"wrap: the wrapped net's output differs from the model's own forward on example (max "
                          f"|diff| {diff:.3g}): its forward does more than stem -> blocks -> head in registration "
                          "order; pass stem= and head= explicitly")
    return want


def wrap(model: nn.Module, blocks: Sequence[str | nn.Module], *, kind: str = "additive-post",
         shortcut: str | None = "downsample", post: str | None = None,
         stem: nn.Module | Sequence[str] | None = None, head: nn.Module | Sequence[str] | None = None,
         mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
         example: torch.Tensor | None = None, name: str = "") -> WrappedNet:
    """`model` as a `Net` whose blocks are `blocks` (module paths or modules, in forward order; consecutive blocks
    with the same parent, e.g. "layer2.0" and "layer2.1", form a stage).

    kind: "additive-post" (post(branch + shortcut), the default) or "additive" (branch + shortcut, nothing after).
    shortcut: the attribute of each block holding its shortcut module; where it is None or absent the shortcut is the
    identity; None: identities everywhere. post: the module of each block applied last, to the sum (default "relu"
    for additive-post; none for additive).
    stem / head: a module, or a list of module paths run in order; by default the modules registered before the
    first block / after the last. mean, std: per-channel input normalization put in front (identity if not given;
    the model then sees (x - mean) / std, as the zoo's nets do). example: an input batch the wrapped net is checked
    on (see the module docstring); it also fills `config.in_channels`, `input_size` and `num_classes`.
    Bad input raises `ConfigError` with one line. Example:

        net = wrap(resnet, blocks=[f"layer{i}.{j}" for i in (1, 2, 3) for j in (0, 1)], example=x)
        net.forward_features(x, skip={"stages.1.blocks.0"})   # layer2.0 deleted: relu(downsample(h))
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"wrap needs a torch.nn.Module, got {type(model).__name__}")
    if kind == "additive-post" and post is None:
        post = "relu"  # torchvision's name; timm's blocks call it act2
    named = _resolve_blocks(model, blocks)
    order = [p for p, _ in named]
    units = list(_units(model, {id(m) for _, m in named}))
    found = [p for is_block, p, _ in units if is_block]
    if found != order:
        raise ConfigError(f"wrap: list the blocks in forward (registration) order: {', '.join(found)}")
    at = [i for i, (is_block, _, _) in enumerate(units) if is_block]
    between = [p for is_block, p, _ in units[at[0]:at[-1]] if not is_block]
    if between:
        raise ConfigError(f"wrap: module {between[0]!r} sits between the blocks; a Net runs only blocks between "
                          "stem and head, so name it as a block or wrap a model without it")
    wrapped = [WrappedBlock(m, p, kind, shortcut, post) for p, m in named]
    _check_parts(wrapped, kind, shortcut, post)
    stages: list[list[WrappedBlock]] = []
    for b in wrapped:
        parent = b.path.rpartition(".")[0]
        if stages and stages[-1][-1].path.rpartition(".")[0] == parent:
            stages[-1].append(b)
        else:
            stages.append([b])
    if (mean is None) != (std is None):
        raise ConfigError("wrap: give both mean and std for input normalization, or neither")
    if mean is not None and std is not None:
        if len(mean) != len(std) or min(std) <= 0:
            raise ConfigError(f"wrap: mean and std need one entry per channel and std > 0, got {mean} and {std}")
        dims = example.dim() - 2 if isinstance(example, torch.Tensor) else 2
        normalize: nn.Module = Normalize(mean, std, len(mean), dims)
    else:
        normalize = nn.Identity()
    stem_m = _part(model, stem, [m for is_block, _, m in units[:at[0]] if not is_block], "stem")
    head_m = _part(model, head, [m for is_block, _, m in units[at[-1] + 1:] if not is_block], "head")
    config = WrapConfig(tuple(order), kind, shortcut, post, None if mean is None else tuple(mean),
                        None if std is None else tuple(std))
    paths = {f"stages.{i}.blocks.{j}": b.path for i, s in enumerate(stages) for j, b in enumerate(s)}
    net = WrappedNet(config, normalize, stem_m, stages, head_m, name or type(model).__name__, paths=paths)
    # the wrapper's own modules start in the model's mode (nn.Module starts in train mode), so probes that record
    # and restore net.training read the mode the user's layers are in; the user's modules are left as they are
    own = {id(m) for m in model.modules()}
    for m in net.modules():
        if id(m) not in own:
            m.training = model.training
    if example is not None:
        if not isinstance(example, torch.Tensor) or example.dim() < 2:
            raise ConfigError("wrap: example must be an input batch, shape (N, C, *spatial) or (N, F)")
        out = _check_example(model, net, example)
        net.config = WrapConfig(config.blocks, kind, shortcut, post, config.input_mean, config.input_std,
                                int(example.shape[1]), tuple(example.shape[2:]),
                                int(out.shape[1]) if out.dim() == 2 else None)
    return net
