"""Shared by the command-line tests: a terminal 80 columns wide, and tiny trained runs to probe."""

import pytest
import torch

from skiplab.cli.common import err_console, out_console
from skiplab.train import TrainConfig
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig, load_data, run_training


@pytest.fixture
def columns(monkeypatch):
    """columns(n): both consoles n columns wide, as a terminal or a pipe (80) makes them. rich reads COLUMNS each
    time it measures, unless a width was fixed when the console was made (from COLUMNS at import): cleared here."""
    def set_to(n):
        monkeypatch.setenv("COLUMNS", str(n))
        for console in (out_console, err_console):
            monkeypatch.setattr(console, "_width", None)
            assert console.width == n
    return set_to


def tiny_run(root, model, **overrides):
    """A run of `model` on digits, three steps of training: enough weights to probe, in a second or two."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: a second OpenMP thread only contends for the shared cores
    try:
        cfg = RunConfig(model=ModelConfig(model, overrides), data=DataConfig(name="digits"),
                        train=TrainConfig(epochs=1, lr=0.05, device="cpu", max_steps=3, max_eval_examples=64))
        return run_training(cfg, root, load_data(cfg.data), verbose=False).run_dir
    finally:
        torch.set_num_threads(n)


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory):
    """Original (post-activation) ResNet-8 blocks, as resnet20 has: alignment skips all of them; two change shape."""
    deep = tmp_path_factory.mktemp("runs") / "a-folder-name-long-enough" / "that-an-80-column-table-would-cut-it"
    return tiny_run(deep, "resnet8", widths=(4, 4, 4))


@pytest.fixture(scope="module")
def densenet_run(tmp_path_factory):
    """Every block changes its input's shape (dense layers append channels, transitions pool): concat and plain."""
    return tiny_run(tmp_path_factory.mktemp("dense"), "densenet40", depth=10, growth=4)


@pytest.fixture(scope="module")
def effnet_run(tmp_path_factory):
    """Additive MBConv blocks and plain (downsampling) ones: alignment probes some and skips the others."""
    return tiny_run(tmp_path_factory.mktemp("eff"), "effnet", widths=(4, 8, 8))
