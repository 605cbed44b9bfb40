"""A training run as data: `RunConfig` (model + data + train + seed) resolved from defaults, a YAML/JSON file,
flags and dotted `--set` overrides; `locate_run()`, its hashed run folder; and `run_training()`, which trains it in
a folder: a finished run is reused, an unfinished one refused, resumed or restarted as the caller says."""

from __future__ import annotations

import json
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import torch

from .. import config as C
from .._atomic import write_json
from ..data import Dataset, load_dataset
from ..errors import ConfigError
from ..models import Net, build_preset, model_config
from . import distributed as D
from .callbacks import Callback, History
from .checkpoint import STATE, read_state
from .config import TrainConfig
from .lock import clear_run_folder, first_missing, only_lock_left, remove_new_folder, run_lock
from .loop import check_sync_bn, fit, resolve_device
from .run_identity import CONFIG, check_same_run
from .runs import RESULT, read_result, run_dir as hashed_run_dir


@dataclass(frozen=True)
class DataConfig:
    name: str = C.option("digits", "dataset name (`skiplab list datasets`) or imagefolder:<path>")
    root: str | None = C.option(None, "folder holding the dataset's files (default: the cache dir)")
    download: bool = C.option(False, "fetch the official archive into root if it is missing")
    val_fraction: float = C.option(0.1, "imagefolder with a single tree: fraction held out as the test split")
    split_seed: int = C.option(0, "seed of that hold-out (fixed apart from the run's seed, so seeds share a split)")
    cache_dir: str | None = C.option(None, "where decoded/generated arrays are cached ($SKIPLAB_CACHE)")


@dataclass(frozen=True)
class ModelConfig:
    """The run's model: a registered preset and overrides of its config's fields, e.g.
    `ModelConfig("resnet20", {"depth": 14})`. Checked on construction: an unknown model, or an unknown or
    ill-typed override, is a ConfigError. Config files and config.json write it as its section,
    `{name: resnet56, h: 0.5}` (or just `resnet56`)."""

    name: str = C.option("resnet20", "registered model name (`skiplab list models`)")
    overrides: Mapping[str, Any] = field(default_factory=dict,
                                         metadata={"help": "overrides of the model's config, e.g. {h: 0.5}"})

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ConfigError(f"model.name must be a model name, got {self.name!r}")
        if not isinstance(self.overrides, Mapping):
            raise ConfigError(f"model: overrides must be a mapping of config fields, got {self.overrides!r}")
        object.__setattr__(self, "overrides", dict(self.overrides))  # a copy: the caller's dict may change
        model_config(self.name, **self.overrides)

    def resolve(self, derived: Mapping[str, Any] | None = None, data: str = "") -> Any:
        """The family's typed config (ResNetConfig, ...): the preset, sized by the fields that come from the data
        (`derived`: Dataset.model_kwargs(), classes, channels, input size and normalization), with the overrides
        applied. Without `derived`, the preset's own sizes (enough for depth or widths). An override of a derived
        field is refused (`data` names the data in the message)."""
        derived = dict(derived or {})
        clash = sorted(set(self.overrides) & set(derived))
        if clash:
            raise ConfigError(f"model.{clash[0]} comes from the data ({data}); do not set it")
        return model_config(self.name, **derived, **self.overrides)

    def section(self) -> dict[str, Any]:
        """As config files and config.json write it: {"name": ..., <config field>: value, ...}."""
        return {"name": self.name, **self.overrides}

    @classmethod
    def from_section(cls, section: Any, where: str = "model") -> ModelConfig:
        """From a config file's model section: a model name, or {name: ..., <config field>: value, ...} (no name:
        the default model)."""
        if section is None:
            return cls()
        if isinstance(section, str):
            return cls(section)
        if not isinstance(section, Mapping):
            raise ConfigError(f"{where}: expected a model name or a mapping, got {section!r}")
        overrides = dict(section)
        return cls(overrides.pop("name", cls.name), overrides)


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = C.option(ModelConfig(), "the model: a registered name and overrides of its config")
    data: DataConfig = C.option(DataConfig(), "the dataset")
    train: TrainConfig = C.option(TrainConfig(), "the training recipe")
    seed: int = C.option(0, "seed of the model's init and the data order")

    def __post_init__(self) -> None:
        check_seed(self.seed)


SEED_MAX = 2**63 - 1  # torch.manual_seed takes at most 64 bits; the non-negative half is what every seed user accepts


def check_seed(seed: Any, where: str = "seed") -> None:
    """A seed is a whole number in [0, 2**63 - 1]; anything else is one ConfigError (not torch's traceback)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"{where} must be a whole number in [0, {SEED_MAX}], got {seed!r}")


SECTIONS = ("model", "data", "train", "seed")


def resolve_run_config(file_data: Mapping[str, Any] | None = None, flags: Mapping[str, Any] | None = None,
                       assignments: Sequence[str] = ()) -> RunConfig:
    """Defaults <- config file <- explicit flags (dotted keys) <- `--set key=value` (dotted keys).

    The `model` section is `{name: resnet56, <config field>: value, ...}` (or just a name), checked now, before any
    data is read.
    """
    merged: dict[str, Any] = json.loads(json.dumps(dict(file_data or {})))
    if isinstance(merged.get("model"), str):
        merged["model"] = {"name": merged["model"]}
    for key, value in (flags or {}).items():
        if value is not None:
            C.set_dotted(merged, key, value)
    merged = C.apply_overrides(merged, assignments)
    unknown = [k for k in merged if k not in SECTIONS]
    if unknown:
        raise ConfigError(f"unknown config section {unknown[0]!r}{C.suggest(unknown[0], SECTIONS)}; "
                          f"valid sections: {', '.join(SECTIONS)}")
    return RunConfig(model=ModelConfig.from_section(merged.get("model")),  # None: the default
                     data=C.from_dict(DataConfig, merged.get("data"), "data"),
                     train=C.from_dict(TrainConfig, merged.get("train"), "train"),
                     seed=C.coerce(merged.get("seed", 0), int, "seed"))


def load_data(data: DataConfig) -> Dataset:
    return load_dataset(data.name, root=data.root, download=data.download, cache_dir=data.cache_dir,
                        val_fraction=data.val_fraction, seed=data.split_seed)


def build_model(cfg: RunConfig, dataset: Dataset) -> Net:
    """The run's model at initialization: seeded by the run's seed, sized by the data."""
    model_cfg = cfg.model.resolve(dataset.model_kwargs(), cfg.data.name)
    torch.manual_seed(cfg.seed)
    return build_preset(cfg.model.name, model_cfg)


def hashed_config(cfg: RunConfig, dataset: Dataset, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a run's results depend on: the resolved model config, the dataset's identity and the recipe (plus
    `extra`, e.g. which probes a claim records). Paths, download flags and the device are left out: they do not
    change what is trained."""
    model_cfg = cfg.model.resolve(dataset.model_kwargs(), cfg.data.name)
    out = {"model": {"name": cfg.model.name, **C.to_dict(model_cfg)},
           "data": {"name": cfg.data.name, "val_fraction": cfg.data.val_fraction, "split_seed": cfg.data.split_seed,
                    "train": len(dataset.train_y), "test": len(dataset.test_y),
                    # a generator's version, so a changed generator is not served the old runs; only where set, so
                    # the hashes of file-based and older datasets stay as they were
                    **({"version": dataset.info.version} if dataset.info.version else {})},
           "train": {k: v for k, v in C.to_dict(cfg.train).items() if k != "device"}}
    if extra:
        out["extra"] = C.to_dict(dict(extra))
    return out


def locate_run(cfg: RunConfig, dataset: Dataset, out: str | Path, kind: str = "train",
               extra: Mapping[str, Any] | None = None) -> Path:
    """runs/<kind>/<model>-<data>-<hash>/seed-<n>/ for this config."""
    safe_data = cfg.data.name.replace(":", "-").replace("/", "_").strip("_-")[-40:]
    return hashed_run_dir(out, kind, f"{cfg.model.name}-{safe_data}", hashed_config(cfg, dataset, extra), cfg.seed)


@dataclass
class RunOutcome:
    run_dir: Path
    result: dict[str, Any]
    reused: bool
    seconds: float


def _no_callbacks(folder: Path) -> Sequence[Callback]:
    return ()


@dataclass(frozen=True)
class RunHooks:
    """What a caller adds to a run, given its folder: `callbacks(folder)` (recorders that persist what they record
    there), and `prepare(model, folder)`, which changes the freshly built model before training starts or resumes
    (a lottery ticket's masks and rewound weights, skiplab.pruning); a resumed run then loads its checkpoint over
    it."""

    callbacks: Callable[[Path], Sequence[Callback]] = _no_callbacks
    prepare: Callable[[Net, Path], None] | None = None


Existing = Literal["refuse", "resume", "restart"]
"""What run_training does with an unfinished run in its folder: refuse to touch it (the default), resume it from its
last checkpoint, or restart: clear the folder (also of a finished run) and train from scratch."""


def training_device(train: TrainConfig) -> torch.device:
    """The device `train` runs on here; a device or sync_bn setting this machine cannot honour is a ConfigError,
    raised before any data is read or anything written."""
    device = resolve_device(train.device)
    check_sync_bn(train, device)
    return device


def check_batch_fits(train: TrainConfig, data: Dataset) -> None:
    """Every training step takes a full batch (the loader drops the last partial one), so a batch larger than
    the training set is refused here, as a ConfigError before anything is written, not as the loader's
    ValueError once training starts."""
    n = len(data.train_y)
    if train.batch_size > n:
        raise ConfigError(f"train.batch_size {train.batch_size} is larger than the {n} training examples of "
                          f"{data.info.name}; choose a batch_size of at most {n}")


def run_training(cfg: RunConfig, folder: Path, data: Dataset, *, extra: Mapping[str, Any] | None = None,
                 existing: Existing = "refuse", hooks: RunHooks = RunHooks(), verbose: bool = True) -> RunOutcome:
    """Train `cfg` on `data` in `folder` (locate_run's, or one the caller chose): a finished run is returned as
    is; an unfinished one is handled as `existing` says. The model is built before anything is written.
    `extra` is what the folder's hash covers besides `cfg` (see hashed_config); config.json records it."""
    if existing not in ("refuse", "resume", "restart"):
        raise ValueError(f"existing must be refuse, resume or restart, got {existing!r}")
    training_device(cfg.train)  # bad input: refuse it before anything is written
    check_batch_fits(cfg.train, data)
    model = build_model(cfg, data)
    folder = Path(folder)
    # Under torchrun every rank looks at the folder, and only rank 0 changes it: the barriers make all ranks see
    # it in the same state (before any rank creates it, and after rank 0 has cleared it).
    D.barrier()
    clear = existing == "restart" and folder.exists()
    if clear and not only_lock_left(folder) and not any((folder / f).exists()
                                                         for f in ("config.json", STATE, RESULT)):
        raise ConfigError(f"{folder}: --force would delete a folder that holds no skiplab run; "
                          "refusing (remove it yourself or choose another --run-dir)")
    resolved = hashed_config(cfg, data, extra)
    done = read_result(folder)
    if done is not None and existing != "restart":
        check_same_run(folder, resolved, "reuse")  # another config's result must not be reported as this one's
        return RunOutcome(folder, done, reused=True, seconds=0.0)
    # One writer per folder: the lock (rank 0's) is taken before the folder is cleared, judged or written, and held
    # until training ends, so a second `train` or `reproduce` here is refused while this one lives.
    created, locked = first_missing(folder), False
    try:
        with run_lock(folder):
            locked = True
            try:
                return _train_locked(cfg, folder, data, model, resolved, existing, hooks, verbose, clear)
            except BaseException:
                if created is not None and D.is_main() and not (folder / STATE).exists():
                    clear_run_folder(folder)  # failed before its first checkpoint: nothing to resume, so no trace
                raise
    except BaseException:
        if locked and created is not None and D.is_main() and only_lock_left(folder):
            remove_new_folder(folder, created)
        raise


def _train_locked(cfg: RunConfig, folder: Path, data: Dataset, model: Net, resolved: dict[str, Any],
                  existing: Existing, hooks: RunHooks, verbose: bool, clear: bool) -> RunOutcome:
    D.barrier()
    if clear and D.is_main():
        clear_run_folder(folder)
    D.barrier()
    if not clear:  # every rank judges the same files, so all refuse alike (none is left waiting at a barrier)
        check_same_run(folder, resolved, "resume" if existing == "resume" else "train in")
    if (folder / STATE).exists() and existing == "refuse":
        state = read_state(folder)
        raise ConfigError(f"{folder}: an unfinished run is there (epoch {state.get('epoch')} of "
                          f"{cfg.train.epochs}); pass --resume to continue it or --force to start over")
    folder.mkdir(parents=True, exist_ok=True)
    # under torchrun every rank trains (fit writes on rank 0 only) and resumes from rank 0's files. A config.json
    # already there is this config's (checked above): it stays as written.
    if D.is_main() and not (folder / CONFIG).exists():
        write_json(folder / CONFIG, {"run": C.to_dict(cfg), "resolved": resolved})
    t0 = time.perf_counter()
    if hooks.prepare is not None:
        hooks.prepare(model, folder)
    history: History = fit(model, data, cfg.train, seed=cfg.seed, run_dir=folder, resume=existing == "resume",
                           callbacks=hooks.callbacks(folder), verbose=verbose,
                           extra_result={"dataset": data.summary(), "params": model.num_parameters()})
    D.barrier()  # rank 0 has written result.json before any rank reads it, here or in a claim's measure
    result = read_result(folder) or {"status": history.status, "final": history.final}
    return RunOutcome(folder, result, reused=False, seconds=time.perf_counter() - t0)
