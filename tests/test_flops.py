import pytest

from skiplab import flops
from skiplab.models import create_model


@pytest.mark.parametrize("name,fwd_bwd", [("resnet20", 242e6), ("resnet56", 752e6), ("resnet110", 1516e6)])
def test_flops_match_the_anchors(name, fwd_bwd):
    """anchors.md: forward + backward FLOPs per 32x32 image (FLOPs = 2 x MACs)."""
    f = flops(create_model(name), (3, 32, 32))
    assert abs(f["forward_backward"] - fwd_bwd) / fwd_bwd < 0.005
    # the forward of ResNet-20 is 40.55M multiply-adds
    if name == "resnet20":
        assert f["forward"] == 81_102_080
    assert "2 x multiply-adds" in f["note"]
