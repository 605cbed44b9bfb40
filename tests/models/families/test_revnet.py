"""RevNet: inversion, gradients of the reconstructing backward vs ordinary backprop, batch-norm statistics updated
once per step, bf16 autocast, torch.compile, saved bytes flat in depth, per-block gradients for probes."""

import copy

import pytest
import torch

from skiplab.claims.memory.reversible_memory.revnet import saved_bytes
from skiplab.models import create_model
from skiplab.models.parts.reversible import CouplingBlock, reconstruction_error


def tiny(n, dtype=torch.float32, **kw):
    torch.manual_seed(0)
    return create_model("revnet-tiny", depth=12 * n + 2, input_size=(8, 8), **kw).to(dtype).train()


def inversion_error(n, dtype, stream="float64"):
    """Relative error ||x_rec - x|| / ||x|| of the first stage's run of n invertible blocks, train mode."""
    torch.manual_seed(0)
    net = create_model("revnet-tiny", depth=12 * n + 2, input_size=(4, 4), stream=stream).to(dtype).train()
    run = net._runs[0]
    assert len(run) == n and all(isinstance(b, CouplingBlock) and b.invertible for b in run)
    x = torch.rand(4, 3, 4, 4, dtype=dtype)
    with torch.no_grad():
        h = net.stem(net.normalize(x))
    return reconstruction_error(run, h)


def test_inversion_after_100_blocks():
    # float64 throughout: exact up to rounding, so the algebra (x2 = y2 - G(y1), x1 = y1 - F(x2)) is right
    assert inversion_error(102, torch.float64) < 1e-10
    # float32 weights, float64 stream (the default): F and G see bit-identical float32 inputs on the way back, so
    # only float64 rounding of the additions remains (measured: 0.0)
    assert inversion_error(102, torch.float32) < 1e-12
    # a float32 stream: eps * |y| of rounding per block, amplified by the inverses' Lipschitz constants (measured
    # 4.6e-5): why the stream is float64
    assert 1e-7 < inversion_error(102, torch.float32, stream="float32") < 1e-3


def rel_err(got, want, floor=1e-6):
    """Worst relative error over tensors; a gradient that is 0 in exact arithmetic (the stem norm's bias, which
    the next norm cancels) is compared against `floor` times the whole gradient's norm instead of itself."""
    total = sum(float(w.norm()) ** 2 for w in want.values()) ** 0.5
    return max(float((got[k] - want[k]).norm()) / max(float(want[k].norm()), floor * total) for k in want)


def grads(net, x, forward=None):
    x = x.clone().requires_grad_(True)
    (net if forward is None else forward)(x).logsumexp(1).sum().backward()
    return {"input": x.grad, **{n: p.grad for n, p in net.named_parameters()}}


# float32 with the float64 stream recomputes F and G on bit-identical inputs: the gradients equal ordinary
# backprop's to 1e-5 even against the smallest gradients (measured: 0.0)
@pytest.mark.parametrize("dtype,tol,floor", [(torch.float64, 1e-10, 1e-6), (torch.float32, 1e-5, 1e-6)])
def test_gradients_match_ordinary_backprop(dtype, tol, floor):
    net = tiny(4, dtype)
    ref = copy.deepcopy(net)
    ref.reversible = False
    x = torch.rand(6, 3, 8, 8, dtype=dtype)
    got, want = grads(net, x), grads(ref, x)
    assert set(got) == set(want)
    assert all(want[k] is not None and got[k] is not None for k in want)
    assert rel_err(got, want, floor) < tol
    # the batch-norm statistics moved exactly once per step, as in the ordinary forward pass
    for (k, a), (_, b) in zip(net.named_buffers(), ref.named_buffers()):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), k
    assert all(int(m.num_batches_tracked) == 1 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_bf16_autocast():
    net = tiny(3)
    ref = copy.deepcopy(net)
    ref.reversible = False
    x = torch.rand(6, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = grads(net, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = grads(ref, x)
    assert all(torch.isfinite(g).all() for g in got.values())
    assert rel_err(got, want, 1e-2) < 0.1  # bf16 F and G: agreement to bf16's ~3 digits, not float rounding


def test_saved_bytes_flat_in_depth():
    x = torch.rand(4, 3, 8, 8)
    rev = [saved_bytes(tiny(n), x) for n in (2, 4, 8)]
    ordinary = [saved_bytes(tiny(n, reversible=False), x) for n in (2, 4, 8)]
    assert rev[0] == rev[1] == rev[2]  # the downsampling blocks, stem and head only
    assert ordinary[0] < ordinary[1] < ordinary[2] and ordinary[2] > 3 * rev[2]


def test_probes_get_per_block_gradients():
    from skiplab.probes.gradients import gradient_signal
    net = tiny(2)
    out = gradient_signal(net, torch.rand(4, 3, 8, 8), torch.randint(0, 10, (4,)))
    assert out["names"][1:] == net.block_names()
    assert all(g > 0 for g in out["grad_norm"])
    # functorch transforms (Jacobian probes) take the ordinary path: the custom Function has no setup_context
    jac = torch.func.jacrev(lambda z: net.eval()(z))(torch.rand(1, 3, 8, 8))
    assert jac.shape == (1, 10, 1, 3, 8, 8) and torch.isfinite(jac).all()


@pytest.mark.slow
def test_torch_compile():
    # the reversible runs are left to eager (torch.compiler.disable); stem, transitions and head compile
    net = tiny(1)
    ref = copy.deepcopy(net)
    x = torch.rand(4, 3, 8, 8)
    # aot_eager: dynamo tracing and AOT autograd with the same graph breaks as the default backend, without
    # inductor's C++ codegen (minutes on a loaded 2-core CPU)
    got = grads(net, x, torch.compile(net, backend="aot_eager"))
    want = grads(ref, x)
    for k in want:
        assert torch.allclose(got[k], want[k], rtol=1e-4, atol=1e-5), k


def test_gradients_match_after_100_blocks():
    # 3 stages of 34 coupling blocks (two runs of 33 invertible blocks after the downsampling ones), float32
    net = tiny(34)
    ref = copy.deepcopy(net)
    ref.reversible = False
    x = torch.rand(4, 3, 8, 8)
    assert rel_err(grads(net, x), grads(ref, x)) < 1e-5


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_match_the_authors_code():
    # counted from the authors' code (renmengye/revnet-public, CIFAR-10): 464,890 / 1,729,194 / 1,748,778, Gomez et
    # al.'s Table 1 rounds them to 0.46M / 1.73M / 1.75M. Ours have 32 more each: the first block's F keeps its
    # pre-activation norm (16 channels), where the authors' stem ends in norm-ReLU instead
    for name, theirs in (("revnet38", 464_890), ("revnet110", 1_729_194), ("revnet164", 1_748_778)):
        assert n_params(create_model(name)) == theirs + 32, name
    # RevNet-164's downsampling blocks project each half with its own 1x1 conv: 2 x (16x64 + 64x128 + 128x256)
    # weights; zero-padding instead (the preset before issue 21) leaves it 4.8% short of the paper
    assert n_params(create_model("revnet164", downsample="pad")) == 1_748_810 - 2 * (16 * 64 + 64 * 128 + 128 * 256)


def test_projection_shortcuts_keep_the_float64_stream_and_the_gradients():
    torch.manual_seed(0)
    net = create_model("revnet164", depth=38, widths=(16, 32, 64), input_size=(8, 8)).train()
    first = net.stages[1].blocks[0]
    assert not first.invertible and first.shortcut is not first.shortcut2
    assert first.shortcut.weight.shape == first.shortcut2.weight.shape == (16, 8, 1, 1)
    with torch.no_grad():
        assert first(torch.rand(2, 16, 8, 8, dtype=torch.float64)).dtype == torch.float64
    ref = copy.deepcopy(net)
    ref.reversible = False
    x = torch.rand(4, 3, 8, 8)
    assert rel_err(grads(net, x), grads(ref, x)) < 1e-5
