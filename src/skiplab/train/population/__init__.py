"""Population training: N seeds of one run (one architecture, one recipe) trained together on one device, each
model with its own inputs, batch-norm statistics, optimizer state, callbacks and run folder.

Two ways to step the population (`strategy`):
  - "vmap" (stacked.py, PopulationStep): one stacked net through `torch.func` (`stack_module_state` +
    `functional_call` under `torch.vmap`), for GPUs, where one launch per layer for N models is what makes it pay
    (the issue's goal: >= 3x on an H100, to be measured with benchmarks/population.py --device cuda).
  - "loop" (looped.py, LoopStep): each model's own TrainStep in turn within each step, bit-identical to separate
    runs: the CPU's default ("auto"), since on the CPU each model's convolutions already keep the cores busy and
    vmap's grouped convolutions measured about half as fast as N separate models
    (benchmarks/results/cpu-2026-12-05/population.txt; compiled vmap no better).

Why vmap equals N separate fit() runs: the N models' parameters are disjoint, the loss is the sum of each model's
own mean loss, so each model's gradient is exactly its own; SGD and AdamW (momentum, weight decay, Adam moments)
are elementwise, so one optimizer over the stacked leaves makes each slice the step its own optimizer would make;
the schedule is a function of the step alone; every model reads the batches its own `Loaders.build(seed)` yields
(data order and augmentation as in its separate run); batch norm under vmap normalizes each model over its own
batch and updates its own slice of the stacked running statistics. What differs is float rounding: vmap runs the
N models' convolutions as one grouped convolution (and their reductions in another order), so the weights agree
with separate runs to float32 rounding (tests/train/test_population.py states the tolerance), not bit for bit.

`fit_population` (fit.py) is fit()'s contract for each model: N ordinary run folders (metrics.jsonl,
checkpoint.safetensors + state.json with that model's own optimizer state and RNG, result.json), written through
fit()'s own RunFolder, so load_checkpoint, read_weights, read_result, claims and probes cannot tell them from
separate runs, and a folder resumes with fit() alone as well as in a population. Callbacks (hooks.py): each model
its own list, called where fit() calls them on its own TrainState (the real model, its own optimizer), synced out
of the stack and back in around them under vmap, in the model's own stream of the global RNG (rng.py); a model
whose callback sets `state.stop` stops alone. So probe recorders (gradient signal, alignment), weight snapshots
and checkpoint-rewind saves record in a population what they record in separate runs (bit for bit under "loop";
to rounding of the weights under "vmap"). `run_population` (runs.py) is run_training for N configs that differ
only in seed.

Not supported (ConfigError): torchrun (one process, one device); models that draw random numbers in their forward
pass (dropout, stochastic depth: separate runs draw them from the global RNG one after another, which vmap cannot
reproduce); models of different architectures or pruned in different layers; under vmap, callbacks on a model
that counts its own forward passes (ODE blocks' NFE: the training forward runs through a stateless copy the
callbacks cannot see; "loop" records them). Under vmap a callback may read but not change `state.optimizer` (its
slice is copied out, not back in).
"""

from .fit import STRATEGIES, fit_population
from .looped import LoopStep
from .rng import RANDOM, RngStreams, rng_state
from .runs import run_population
from .stacked import PopulationStep

__all__ = ["LoopStep", "PopulationStep", "RANDOM", "RngStreams", "STRATEGIES", "fit_population", "rng_state",
           "run_population"]
