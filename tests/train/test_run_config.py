"""The run config's model section (ModelConfig): it checks itself, resolves the family's typed config in one place,
and is written as the section config files use; config files and --set read as documented; and a run folder saved
before the model section was a ModelConfig (config.json with "model": name, "model_args": {...}) still loads."""

import json

import pytest
from typer.testing import CliRunner

from skiplab import config as C
from skiplab.cli import app
from skiplab.data import load_dataset
from skiplab.errors import CheckpointError, ConfigError
from skiplab.models import ResNetConfig
from skiplab.pruning import load_pruned
from skiplab.train.experiment import ModelConfig, RunConfig, resolve_run_config
from skiplab.train.load import load_run, read_run_config

runner = CliRunner()


def test_the_model_section_checks_itself():
    with pytest.raises(ConfigError, match="unknown model 'resnet21'"):
        ModelConfig("resnet21")
    with pytest.raises(ConfigError, match="did you mean 'width_mult'"):
        ModelConfig("resnet20", {"width_mul": 0.5})
    with pytest.raises(ConfigError, match="expected a number"):
        ModelConfig("resnet20", {"h": "big"})
    with pytest.raises(ConfigError, match="model.name must be a model name"):
        ModelConfig(3)  # type: ignore[arg-type]


def test_resolve_gives_the_family_config_sized_by_the_data():
    digits = load_dataset("digits")
    cfg = ModelConfig("resnet20", {"depth": 14}).resolve(digits.model_kwargs(), "digits")
    assert isinstance(cfg, ResNetConfig) and cfg.depth == 14 and cfg.num_classes == 10 and cfg.in_channels == 1
    assert ModelConfig("resnet20").resolve().depth == 20  # without the data: the preset's own sizes
    with pytest.raises(ConfigError, match=r"model.num_classes comes from the data \(digits\); do not set it"):
        ModelConfig("resnet20", {"num_classes": 3}).resolve(digits.model_kwargs(), "digits")


def test_config_files_and_set_read_as_documented():
    by_set = resolve_run_config({"model": "resnet56"}, assignments=["model.h=0.5"])
    by_file = resolve_run_config({"model": {"name": "resnet56", "h": 0.5}})
    by_flag = resolve_run_config({"model": {"h": 0.5}}, {"model.name": "resnet56"})
    assert by_set.model == by_file.model == by_flag.model == ModelConfig("resnet56", {"h": 0.5})
    assert resolve_run_config().model == ModelConfig() == ModelConfig("resnet20")
    with pytest.raises(ConfigError, match="did you mean 'h'"):
        resolve_run_config({"model": "resnet56"}, assignments=["model.hh=0.5"])
    # a run config is written with the config file's model section, and reads back from it
    saved = C.to_dict(by_file)
    assert saved["model"] == {"name": "resnet56", "h": 0.5}
    assert C.from_dict(RunConfig, saved, "run") == by_file


def to_old_format(run_dir):
    """Rewrite the run's config.json as skiplab wrote it before ModelConfig: "model": name, "model_args": {...}."""
    path = run_dir / "config.json"
    saved = json.loads(path.read_text())
    model = saved["run"].pop("model")
    saved["run"].update(model=model.pop("name"), model_args=model)
    path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    return saved["run"]


def test_a_run_folder_saved_before_model_config_still_loads(tmp_path):
    args = ["train", "--model", "resmlp", "--data", "digits", "--epochs", "1", "--out", str(tmp_path / "runs"),
            "--set", "model.depth=2", "--set", "train.device=cpu"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    (run_dir,) = (tmp_path / "runs" / "train").glob("resmlp-digits-*/seed-0")
    old = to_old_format(run_dir)
    assert old["model"] == "resmlp" and old["model_args"] == {"depth": 2}

    cfg = read_run_config(run_dir)
    assert cfg.model == ModelConfig("resmlp", {"depth": 2}) and cfg.train.epochs == 1
    assert load_run(run_dir)[2] == cfg
    assert load_pruned(run_dir)[2] == cfg
    probe = runner.invoke(app, ["probe", "gradients", "--run", str(run_dir), "--examples", "32"])
    assert probe.exit_code == 0, probe.output

    again = runner.invoke(app, args)  # the same settings find it by its (unchanged) hash
    assert again.exit_code == 0 and "already finished" in again.output and str(run_dir) in again.output
    (run_dir / "result.json").unlink()  # as if interrupted after its last checkpoint
    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0 and "finished after 1 epochs" in resumed.output, resumed.output
    # resuming never rewrites a run's config.json: the old form stays as it was written, and still reads
    assert json.loads((run_dir / "config.json").read_text())["run"] == old
    assert read_run_config(run_dir) == cfg


def test_an_old_config_json_with_a_bad_model_is_one_clear_error(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"run": {"model": "resnet21", "model_args": {}}}))
    with pytest.raises(CheckpointError, match="unknown model 'resnet21'"):
        read_run_config(run_dir)
