"""One conformance test over every registered model: the dissection interface of DESIGN.md holds for each."""

import networkx as nx
import pytest
import torch

from skiplab.models import NotLesionable, create_model, list_models

BIG = {"resnet1202", "plain1202", "preresnet1001"}  # built once; lesions sampled instead of exhaustive


def build_small(name):
    """The preset at 8x8 for image models (fast), its own input size otherwise."""
    net = create_model(name)
    if len(net.config.input_size) == 2:
        net = create_model(name, input_size=(8, 8))
    return net


def small_input(net):
    return torch.rand(3, net.config.in_channels, *net.config.input_size)


def sample_blocks(net):
    names = net.block_names()
    if net.name not in BIG:
        return names
    firsts = [n for n in names if n.endswith("blocks.0")]
    return sorted(set(firsts + [names[1], names[-1]]))


# Integrator blocks are a config field, not presets: conform them on a few nets.
INTEGRATOR_VARIANTS = [("preresnet20", {"integrator": i}) for i in ("heun", "midpoint", "rk4", "leapfrog")] + [
    ("resmlp", {"integrator": "implicit-euler", "depth": 3, "h": 0.1}),
    ("resmlp", {"integrator": "implicit-euler", "depth": 2, "h": 0.1, "solver": "newton-krylov"}),
    ("resmlp", {"integrator": "rk4", "share_weights": True, "depth": 4})]


@pytest.mark.parametrize("name", list_models())
def test_model_conforms(name):
    torch.manual_seed(0)
    check_conforms(name, build_small(name))


@pytest.mark.parametrize("name,overrides", INTEGRATOR_VARIANTS, ids=lambda v: str(v))
def test_integrator_variant_conforms(name, overrides):
    torch.manual_seed(0)
    net = create_model(name, **overrides)
    if len(net.config.input_size) == 2:
        net = create_model(name, input_size=(8, 8), **overrides)
    assert any(b.kind == "continuous" for _, b in net.blocks())
    check_conforms(name, net)


def check_conforms(name, net):
    if name == "plain1202":
        # Gradients of a 1202-layer plain net with batch norm explode (~1e88 at init): float32 overflows to
        # NaN, which is the degradation story itself, not a defect. float64 holds them.
        net = net.double()
    x = small_input(net).to(next(net.parameters()).dtype)

    # forward/backward: every trainable parameter gets a finite gradient
    net.train()
    net(x).logsumexp(1).sum().backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    net.zero_grad(set_to_none=True)

    net.eval()
    with torch.no_grad():
        feats = net.forward_features(x)
        inter = net.block_outputs(x)
        assert list(inter)[1:] == net.block_names()
        assert torch.equal(inter[net.block_names()[-1]], feats)
        assert torch.equal(net.forward_head(feats), net(x))
        # a gate routes gradients, never values
        gated = net.forward_features(x, gate={n: "branch" for n in net.block_names()})
        assert torch.equal(gated, feats)
        for n in sample_blocks(net):
            block = dict(net.blocks())[n]
            if block.lesionable:
                assert net.forward_features(x, skip={n}).shape == feats.shape
            else:
                with pytest.raises(NotLesionable):
                    net.forward_features(x, skip={n})

    g = net.graph()
    assert nx.is_directed_acyclic_graph(g)
    assert nx.has_path(g, "input", "output")
    blocks_in_graph = {d["block"] for _, d in g.nodes(data=True) if "block" in d}
    assert blocks_in_graph == set(net.block_names())


def test_unknown_block_names_are_refused():
    net = create_model("resnet8")
    with pytest.raises(KeyError, match="stages.0.blocks.0"):
        net.forward_features(torch.rand(1, 3, 8, 8), skip={"stages.0.block.0"})
