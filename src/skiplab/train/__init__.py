"""Training: `fit()` with callbacks, checkpoints (safetensors + JSON), metrics (JSONL) and DDP awareness."""

from .callbacks import Callback, History, SaveWeightsAt, TrainState
from .config import TrainConfig
from .loop import fit, model_signature, resolve_device
from .population import fit_population, run_population
from .runs import PROTOCOL, read_result, run_dir
from .step import TrainStep, evaluate

__all__ = ["Callback", "History", "PROTOCOL", "SaveWeightsAt", "TrainConfig", "TrainState", "TrainStep", "evaluate",
           "fit", "fit_population", "model_signature", "read_result", "resolve_device", "run_dir",
           "run_population"]
