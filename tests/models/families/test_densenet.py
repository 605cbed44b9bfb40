"""DenseNet / DenseNet-BC (Huang et al. 2017): paper parameter counts, concat lesions and gates, dense graph."""

import networkx as nx
import pytest
import torch

from skiplab.errors import ConfigError
from skiplab.models import NotLesionable, create_model
from skiplab.models.families.densenet import ConcatBlock


def test_densenet_bc100_k12_has_the_papers_0_8m_parameters():
    count = create_model("densenet-bc100").num_parameters()
    assert count == 769_162  # Huang et al. Table 2 rounds this to 0.8M
    assert abs(count - 800_000) / 800_000 < 0.05


def test_densenet40_k12_has_the_papers_1_0m_parameters():
    count = create_model("densenet40").num_parameters()
    assert count == 1_019_722  # Huang et al. Table 2: 1.0M
    assert abs(count - 1_000_000) / 1_000_000 < 0.05


def test_layout_and_widths():
    net = create_model("densenet-bc40")  # (40 - 4) / 6 = 6 bottleneck layers per dense block
    kinds = [b.kind for _, b in net.blocks()]
    assert kinds == ["concat"] * 6 + ["plain"] + ["concat"] * 6 + ["plain"] + ["concat"] * 6
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        inter = net.eval().block_outputs(x)
    # stem 2k = 24 -> +6*12 = 96 -> transition 48 -> 120 -> 60 -> 132
    assert inter["stages.0.blocks.5"].shape == (2, 96, 8, 8)
    assert inter["stages.1.blocks.0"].shape == (2, 48, 4, 4)
    assert inter["stages.2.blocks.6"].shape == (2, 132, 2, 2)
    with pytest.raises(ConfigError, match="6n\\+4"):
        create_model("densenet-bc40", depth=41)


def test_concat_lesion_keeps_shapes_and_zeroes_the_new_features():
    torch.manual_seed(0)
    net = create_model("densenet-bc40").eval()
    x = torch.rand(2, 3, 8, 8)
    name, block = list(net.blocks())[2]
    with torch.no_grad():
        h = net.block_outputs(x)[list(net.blocks())[1][0]]
        les = block.lesion(h)
        assert les.shape == block(h).shape == (2, h.shape[1] + 12, 8, 8)
        assert torch.equal(les[:, :h.shape[1]], h) and not les[:, h.shape[1]:].any()
        assert net.forward_features(x, skip={name}).shape == net.forward_features(x).shape
    with pytest.raises(NotLesionable):
        net.forward_features(x, skip={"stages.1.blocks.0"})
    with pytest.raises(TypeError):
        block.increment(h)


def test_gates_route_gradients_only():
    torch.manual_seed(0)
    block = ConcatBlock(torch.nn.Conv2d(4, 3, 3, padding=1), 3)
    x = torch.rand(1, 4, 5, 5, requires_grad=True)
    for g in ("skip", "branch"):
        assert torch.equal(block(x, g), block(x))
    block(x, "skip").sum().backward()
    assert block.branch.weight.grad is None and torch.equal(x.grad, torch.ones_like(x))
    x.grad = None
    block(x, "branch")[:, :4].sum().backward()  # the carried part is detached
    assert not x.grad.any()


def test_graph_reaches_the_dense_block_output_in_one_hop():
    net = create_model("densenet-bc40")
    g = net.graph()
    last = "stages.0.blocks.5.concat"
    for j in range(6):  # every layer's new features and the block input feed the block output directly
        assert nx.shortest_path_length(g, f"stages.0.blocks.{j}.branch", last) == 1
    assert nx.shortest_path_length(g, "stem", last) == 1
    assert nx.shortest_path_length(g, "stages.0.blocks.0.branch", "stages.0.blocks.3.branch") == 2
    # across a transition: block 1's input is the transition's output
    assert nx.shortest_path_length(g, "stages.0.blocks.0.branch", "stages.1.blocks.6.concat") == 3
    # as many input-output paths as the chained view cat(x, F(x)) has: 2 per dense layer
    dag_paths = sum(1 for _ in nx.all_simple_paths(g, "stem", last))
    assert dag_paths == 2 ** 6
