"""DDP awareness: two CPU ranks (gloo) splitting each global batch train the same model as one process would,
and only rank 0 writes files."""

import sys
import weakref
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).parent))
from _train_data import augmented_images, blobs  # noqa: E402

from skiplab.models import create_model  # noqa: E402
from skiplab.train import TrainConfig, fit  # noqa: E402
from skiplab.train import distributed as D  # noqa: E402

CFG = TrainConfig(epochs=2, batch_size=32, lr=0.05, device="cpu", channels_last=False)


def make_model(kind: str = "vector"):
    torch.manual_seed(0)
    if kind == "images":  # a conv ResNet without batch norm, on data with crops and flips
        return create_model("resnet8", width_mult=0.25, norm="none", num_classes=3, in_channels=1, input_size=(8, 8))
    return create_model("resmlp", depth=2, width=16, num_classes=3)  # no batch norm: per-rank stats would differ


DATA = {"vector": blobs, "images": augmented_images}


def worker(rank: int, world: int, init_file: str, out: str, kind: str = "vector") -> None:
    with D.process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world):
        group = weakref.ref(dist.group.WORLD)
        torch.set_num_threads(1)
        model = make_model(kind)
        sizes = []
        model.register_forward_pre_hook(lambda m, args: sizes.append(args[0].shape[0]) if m.training else None)
        fit(model, DATA[kind](), CFG, run_dir=Path(out) / f"rank{rank}", verbose=False)
        (Path(out) / f"sizes{rank}.txt").write_text(" ".join(map(str, sorted(set(sizes)))))
        if rank == 0:
            from safetensors.torch import save_file
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(Path(out) / "ddp.safetensors"))
    # whether leaving freed the group (and so stopped its gloo threads) while the interpreter is still running
    (Path(out) / f"freed{rank}.txt").write_text(str(group() is None))


def assert_ddp_equals_one_process(tmp_path, kind: str) -> dict:
    """Train `kind` with 2 gloo ranks and in one process at the same global batch; the weights must agree."""
    mp.spawn(worker, args=(2, str(tmp_path / "init"), str(tmp_path), kind), nprocs=2, join=True)
    single = make_model(kind)
    fit(single, DATA[kind](), CFG, verbose=False)
    from safetensors.torch import load_file
    ddp = load_file(str(tmp_path / "ddp.safetensors"))
    for k, v in single.state_dict().items():
        assert torch.allclose(ddp[k], v, atol=1e-5), k
    return ddp


def test_two_ranks_match_one_process(tmp_path):
    assert_ddp_equals_one_process(tmp_path, "vector")
    # each rank saw half of every global batch, so matching params means the gradients were averaged
    assert (tmp_path / "sizes0.txt").read_text() == (tmp_path / "sizes1.txt").read_text() == "16"
    assert (tmp_path / "rank0" / "result.json").exists()
    assert not (tmp_path / "rank1").exists()
    # DDP's first use imports a torch module that would keep the group alive past destroy_process_group; its gloo
    # threads would then be torn down during interpreter shutdown, where a rank could die with SIGABRT (issue 19)
    assert (tmp_path / "freed0.txt").read_text() == (tmp_path / "freed1.txt").read_text() == "True"


def test_two_ranks_match_one_process_with_augmentation(tmp_path):
    # each rank crops and flips its half of the global batch exactly as one process would (the loader draws the
    # augmentation for the whole global batch), so augmented DDP training is the single process's training too
    ddp = assert_ddp_equals_one_process(tmp_path, "images")
    assert any(not torch.equal(ddp[k], v) for k, v in make_model("images").state_dict().items())  # it trained
