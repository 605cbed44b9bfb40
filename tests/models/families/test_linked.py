"""A plain chain with sparse long-range identity links: zero links is the plain twin, links change the function
and appear in the graph."""

import networkx as nx
import pytest
import torch

from skiplab.errors import ConfigError
from skiplab.models import create_model


def build(name, **kw):
    torch.manual_seed(0)
    return create_model(name, **kw).eval()


def test_zero_links_equal_the_plain_twin_exactly():
    linked, plain = build("plain56-links", count=0), build("plain56")
    assert linked.config.all_links() == ()
    assert linked.num_parameters() == plain.num_parameters()
    sa, sb = linked.state_dict(), plain.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(linked(x), plain(x))
        assert all(torch.equal(a, b) for a, b in zip(linked.block_outputs(x).values(),
                                                     plain.block_outputs(x).values()))


def test_preset_links_and_parameters():
    assert build("plain56-links").config.all_links() == ((-1, 6), (6, 13), (13, 20), (20, 27))
    assert build("plain20-links").config.all_links() == ((-1, 3), (5, 9))
    assert build("plain56-links").num_parameters() == build("plain56").num_parameters()  # option A: no params


def test_a_link_changes_the_output_and_appears_in_the_graph():
    x = torch.rand(2, 3, 8, 8)
    plain, linked = build("plain20-links", count=0), build("plain20-links", count=0, links=[[1, 4]])
    with torch.no_grad():
        assert not torch.allclose(plain(x), linked(x))
        inter = linked.block_outputs(x)
        b = dict(linked.blocks())
        # the tensor after block 1 lands on the input of block 4, i.e. after block 3
        h3 = b["stages.1.blocks.0"](inter["stages.0.blocks.2"])
        mapped = torch.nn.functional.pad(inter["stages.0.blocks.1"][:, :, ::2, ::2], (0, 0, 0, 0, 0, 16))
        assert torch.equal(inter["stages.1.blocks.0"], h3 + mapped)  # cross-stage: option A
    g = linked.graph()
    assert g.edges["stages.0.blocks.1", "stages.1.blocks.0.link-add"]["path"] == "link"
    assert nx.shortest_path_length(g, "stem", "output") < nx.shortest_path_length(plain.graph(), "stem", "output")


def test_links_shorten_the_shortest_path():
    g = build("plain56-links").graph()
    # input, stem, link-add 5, block 6, link-add 12, block 13, link-add 19, block 20, link-add 26, head, output
    assert nx.shortest_path_length(g, "input", "output") == 10
    assert nx.shortest_path_length(build("plain56").graph(), "input", "output") == 30
    assert g.has_edge("stem", "stages.0.blocks.5.link-add")
    assert g.has_edge("stages.2.blocks.2", "stages.2.blocks.8.link-add")  # block 20 -> head


def test_lesions_and_gates_through_a_linked_net():
    net = build("plain20-links")
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        feats = net.forward_features(x)
        assert net.forward_features(x, skip={"stages.0.blocks.1"}).shape == feats.shape
        assert not torch.equal(net.forward_features(x, skip={"stages.0.blocks.1"}), feats)
        assert torch.equal(net.forward_features(x, gate={"stages.0.blocks.1": "branch"}), feats)
    with pytest.raises(KeyError):
        net.forward_features(x, skip={"stages.0.block.1"})


@pytest.mark.parametrize("kw,match", [({"links": [[3, 4]]}, "i \\+ 2"), ({"links": [[0, 10]]}, "<= 9"),
                                      ({"count": 9, "span": 3}, "repeats"), ({"span": 0}, "span")])
def test_bad_links_are_refused(kw, match):
    with pytest.raises(ConfigError, match=match):
        create_model("plain20-links", **kw)


def test_residual_base_with_links():
    net = build("plain20-links", skip="identity")
    assert {b.kind for _, b in net.blocks()} == {"additive-post"}
    assert net(torch.rand(1, 3, 8, 8)).shape == (1, 10)
