"""The cifar scale: CIFAR-10 at He et al.'s depths with a short recipe, for the claims that read only the depth
ladder; every other claim refuses it with one line, before anything trains."""

import pytest
from typer.testing import CliRunner

from skiplab.claims import CLAIMS, Context, get_claim
from skiplab.claims.core.reproduce import validate
from skiplab.claims.core.scale import resolve_scale, scales_of
from skiplab.claims.depth import ladder
from skiplab.cli import app
from skiplab.errors import ConfigError

LADDER_CLAIMS = {"degradation", "degradation-cause", "vanishing-gradients", "jacobian-near-identity", "boosting",
                 "unrolled-ensemble", "path-lengths", "residual-aligns-with-error", "euler-discretization"}


def test_exactly_the_ladder_claims_have_the_cifar_scale():
    assert {cid for cid, m in CLAIMS.items() if "cifar" in scales_of(m)} == LADDER_CLAIMS
    assert all(scales_of(m)[0] == "quick" and scales_of(m)[-1] == "full" for m in CLAIMS.values())


def test_cifar_ladder_is_he_et_als_depths_on_cifar10_with_a_short_recipe():
    s = ladder.scale_config(Context(scale="cifar"))
    assert (s.data, s.depths, s.jacobian_depth) == ("cifar10", (20, 56, 110), 56)
    t = s.train
    assert (t.epochs, t.batch_size, t.lr, t.precision, t.eval_train) == (8, 512, 0.4, "bf16", True)
    assert Context(scale="cifar").seeds >= 5
    # quick and full are what they were
    assert ladder.scale_config(Context(scale="quick")) == ladder.QUICK
    assert ladder.scale_config(Context(scale="full")) == ladder.FULL


def test_other_claims_refuse_the_cifar_scale_before_anything_trains(tmp_path):
    with pytest.raises(ConfigError, match=r"scale cifar: robustness has no cifar setting; of those named, "
                                          r"degradation do"):
        validate([get_claim("degradation"), get_claim("robustness")], Context(scale="cifar"))
    with pytest.raises(ConfigError, match="has no cifar setting"):
        resolve_scale(Context(scale="cifar"), ladder.QUICK, ladder.FULL)
    result = CliRunner().invoke(app, ["reproduce", "robustness", "--scale", "cifar", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "robustness has no cifar setting" in result.output
    assert "Traceback" not in result.output and not any(tmp_path.iterdir())
