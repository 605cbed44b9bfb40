"""`skiplab bench` on the CPU with tiny settings: the numbers are consistent with each other (known answers), and
bad input is one line and exit status 2. No timing is asserted."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from skiplab import flops
from skiplab.bench.accuracy import mean_std, timeline
from skiplab.bench.baseline import BaselineResNet
from skiplab.bench.throughput import build, defaults, label, profile_step, summarize
from skiplab.cli import app
from skiplab.models import create_model

runner = CliRunner()


def test_plain_twin_has_skiplabs_flops():
    # the plain net is the same ResNet-20, so a per-FLOP comparison is a per-image one
    a = flops(BaselineResNet(20), (3, 32, 32))["forward_backward"]
    b = flops(create_model("resnet20"), (3, 32, 32))["forward_backward"]
    assert a == pytest.approx(b, rel=0.01)


def test_summary_known_answers():
    s = summarize(batch=100, steps=10, flops_per_image=2 * 10**9, warm_s=3.0, warmup=2, times=[2.0, 1.0, 4.0])
    assert s["img_per_s"] == 500  # 1000 images per repeat: median of 500, 1000, 250 img/s
    assert (s["img_per_s_min"], s["img_per_s_max"]) == (250, 1000)
    assert s["tflops"] == pytest.approx(1.0)  # 2e9 FLOP/img x 500 img/s
    assert s["compile_s"] == pytest.approx(3.0 - 0.4)  # 2 warm-up steps of 100 at 500 img/s take 0.4 s


def test_profile_counts_each_convolution_once_per_step():
    # ResNet-8 has 7 convolutions (stem + 3 stages x 1 block x 2), so a step runs 7 convolution backwards; the
    # shares are parts of one whole, largest first
    bench = build("skiplab", "resnet8", 8, batch=4, device=torch.device("cpu"), compile=False)
    bench.step()
    top = profile_step(bench, steps=2, device=torch.device("cpu"), top=100)
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in create_model("resnet8").modules())
    assert convs == 7
    assert next(e for e in top if e["name"] == "aten::convolution_backward")["calls_per_step"] == convs
    shares = [e["share"] for e in top]
    assert shares == sorted(shares, reverse=True) and 0.99 < sum(shares) <= 1 + 1e-9


def test_timeline_takes_compile_out_of_the_first_epoch():
    epochs = [{"epoch": 1, "train_time": 5.0, "test_err": 0.3}, {"epoch": 2, "train_time": 1.0, "test_err": 0.2},
              {"epoch": 3, "train_time": 1.0, "test_err": 0.1}]
    t = timeline(epochs, target=0.8)
    assert t["compile_s"] == pytest.approx(4.0) and t["train_s"] == pytest.approx(3.0)
    assert t["reached"] == {"epoch": 2, "train_s": pytest.approx(2.0)}
    assert timeline(epochs, target=0.95)["reached"] is None


def test_mean_std():
    assert mean_std([1.0, 2.0, 3.0]) == {"mean": 2.0, "std": 1.0, "n": 3}
    assert math.isnan(mean_std([1.0, float("nan")])["mean"])


def test_throughput_cli_smoke(tmp_path):
    out = tmp_path / "b.json"
    r = runner.invoke(app, ["bench", "--models", "resnet20", "--batch", "4", "--steps", "1", "--repeats", "2",
                            "--warmup", "1", "--no-compile", "--device", "cpu", "--profile", "--out", str(out)])
    assert r.exit_code == 0, r.output
    row = json.loads(out.read_text())["throughput"]["resnet20"]
    # nothing was compiled, so no row may say so: the bf16 reference ran eager and is named for it
    assert set(row) == {"skiplab", "eager-fp32", "eager-bf16", "ratio_vs_eager-bf16"}
    assert "compiled" not in r.output.replace("not compiled", "")
    for s, asked in (("skiplab", "skiplab"), ("eager-fp32", "eager-fp32"), ("eager-bf16", "compiled-bf16")):
        assert row[s]["setting"] == asked and row[s]["compiled"] is False
        assert row[s]["tflops"] == pytest.approx(row[s]["flops_per_image"] * row[s]["img_per_s"] / 1e12)
        assert row[s]["img_per_s_min"] <= row[s]["img_per_s"] <= row[s]["img_per_s_max"]
        assert row[s]["profile"] and {"name", "ms_per_step", "calls_per_step", "share"} <= set(row[s]["profile"][0])
    ratios = row["ratio_vs_eager-bf16"]
    assert ratios["eager-bf16"] == 1.0
    assert ratios["skiplab"] == pytest.approx(row["skiplab"]["img_per_s"] / row["eager-bf16"]["img_per_s"])


def test_labels_say_what_ran():
    assert label("compiled-bf16", compiled=True) == "compiled-bf16"
    assert label("compiled-bf16", compiled=False) == "eager-bf16"
    assert [label(s, compiled=False) for s in ("skiplab", "eager-fp32")] == ["skiplab", "eager-fp32"]
    assert build("compiled-bf16", "resnet8", 8, batch=2, device=torch.device("cpu"), compile=False).compiled is False
    assert build("eager-fp32", "resnet8", 8, batch=2, device=torch.device("cpu"), compile=True).compiled is False


def test_cpu_defaults_are_cpu_sized():
    cpu, gpu = defaults(torch.device("cpu")), defaults(torch.device("cuda", 0))
    assert gpu["batch"] == 2048 and gpu["compile"] and gpu["models"] == "resnet20,resnet56,resnet110"
    assert cpu["models"] == "resnet20" and not cpu["compile"]
    # images each setting steps through: ResNet-20 at a few hundred img/s on one core makes that seconds
    assert cpu["batch"] * (cpu["warmup"] + cpu["steps"] * cpu["repeats"]) <= 500


def test_cpu_defaults_run_in_seconds_with_progress_and_truthful_labels(tmp_path):
    # `skiplab bench` with no sizes on a CPU: one small net, eager, a line of progress per setting and per repeat
    out = tmp_path / "d.json"
    r = runner.invoke(app, ["bench", "--device", "cpu", "--out", str(out)])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("throughput on cpu: resnet20; settings skiplab, eager-fp32, eager-bf16; batch 32")
    assert "not compiled (CPU defaults of --models --settings --batch --steps --repeats --warmup --no-compile)" \
        in lines[0]
    assert [line for line in lines if "warming up" in line] == [
        f"resnet20 {s}: warming up (1 step at batch 32)" for s in ("skiplab", "eager-fp32", "eager-bf16")]
    repeats = [line.split(" (")[0] for line in lines if " repeat " in line]
    assert repeats == [f"resnet20 repeat {i}/3" for i in (1, 2, 3)]
    result = json.loads(out.read_text())["throughput"]
    assert list(result) == ["resnet20"]
    row = result["resnet20"]
    assert set(row) == {"skiplab", "eager-fp32", "eager-bf16", "ratio_vs_eager-bf16"}
    for s in ("skiplab", "eager-fp32", "eager-bf16"):
        assert (row[s]["batch"], row[s]["steps"], row[s]["repeats"], row[s]["compiled"]) == (32, 4, 3, False)


def test_time_to_accuracy_cli_smoke(tmp_path):
    out = tmp_path / "t.json"
    r = runner.invoke(app, ["bench", "--time-to-accuracy", "-d", "digits", "-m", "resmlp", "--epochs", "2",
                            "--batch", "64", "--no-compile", "--device", "cpu", "--target", "0.01",
                            "--set", "model.depth=2", "--set", "model.width=16", "--out", str(out)])
    assert r.exit_code == 0, r.output
    t = json.loads(out.read_text())["time_to_accuracy"]
    assert [e["epoch"] for e in t["epochs"]] == [1, 2] and t["reached"]["epoch"] == 1
    assert t["recipe"]["label_smoothing"] == 0.1 and t["recipe"]["nesterov"] and t["recipe"]["batch_size"] == 64


def test_large_batch_cli_smoke(tmp_path):
    out = tmp_path / "l.json"
    r = runner.invoke(app, ["bench", "--large-batch", "-d", "digits", "-m", "resmlp", "--epochs", "1", "--batch",
                            "64", "--big-batch", "128", "--seeds", "2", "--lr", "0.05", "--device", "cpu",
                            "--set", "model.depth=2", "--set", "model.width=16",
                            "--set", "train.max_eval_examples=100", "--out", str(out)])
    assert r.exit_code == 0, r.output
    lb = json.loads(out.read_text())["large_batch"]
    assert lb["batches"]["128"]["lr"] == pytest.approx(0.1)  # linear scaling: twice the batch, twice the lr
    assert lb["batches"]["64"]["n"] == 2
    assert lb["difference"] == pytest.approx(lb["batches"]["128"]["mean"] - lb["batches"]["64"]["mean"])


@pytest.mark.parametrize("args, needle", [
    (["--models", "resnet21"], "resnet21"),
    (["--settings", "skiplab,fast"], "fast"),
    (["--compile-mode", "turbo"], "turbo"),
    (["--settings", "skiplab-cudagraphs"], "needs a CUDA device"),
    (["--steps", "0"], "--steps"),
    (["--time-to-accuracy", "--large-batch"], "pick one"),
    (["--time-to-accuracy", "--target", "86"], "--target"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    r = runner.invoke(app, ["bench", "--device", "cpu", *args])
    assert r.exit_code == 2, r.output
    assert needle in r.output and len(r.output.strip().splitlines()) == 1
