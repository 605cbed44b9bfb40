"""`python kill_at.py <skiplab args>`: the `skiplab` command, SIGKILLed at one chosen point, as a crash would end it.

KILL_AT=<point>:<n> in the environment chooses the point:
- `step:<n>`     after the n-th optimizer step this process takes (a point inside an epoch);
- `temp:<e>`     epoch e's new tensors written to their temporary file, nothing renamed yet;
- `renamed:<e>`  the tensors state.json names moved aside to checkpoint.prev.safetensors, the new ones not in place;
- `tensors:<e>`  the new tensors in place, state.json not yet written: between the two checkpoint files;
- `state:<e>`    state.json written, the kept previous tensors not yet removed.
SIGKILL cannot be caught, so nothing of skiplab's cleanup runs: what is left on disk is what a crash leaves.
Under torchrun every rank runs this; only rank 0 writes checkpoints, so only it dies at a checkpoint point.
"""

import os
import signal
import sys

point, _, at = os.environ["KILL_AT"].partition(":")
at = int(at)


def die():
    os.kill(os.getpid(), signal.SIGKILL)


import skiplab.train.checkpoint as ck  # noqa: E402
import skiplab.train.step as st  # noqa: E402

epoch = {"now": -1}
steps = {"taken": 0}
save_checkpoint, write_tensors, write_json, replace = ck.save_checkpoint, ck.write_tensors, ck.write_json, os.replace
train_step = st.TrainStep.__call__


def saving(run_dir, model, opt, sched, state):
    epoch["now"] = state["epoch"]
    return save_checkpoint(run_dir, model, opt, sched, state)


def tensors_written(tensors, tmp, dest, metadata):
    write_tensors(tensors, tmp, dest, metadata)
    if point == "temp" and epoch["now"] == at:
        die()


def replaced(src, dst, *args, **kwargs):
    replace(src, dst, *args, **kwargs)
    name = os.path.basename(dst)
    if epoch["now"] == at and ((point == "renamed" and name == ck.PREV) or (point == "tensors" and name == ck.CKPT)):
        die()


def json_written(path, obj):
    write_json(path, obj)
    if point == "state" and epoch["now"] == at and os.path.basename(path) == ck.STATE:
        die()


def stepping(self, *args, **kwargs):
    train_step(self, *args, **kwargs)
    steps["taken"] += 1
    if point == "step" and steps["taken"] == at:
        die()


ck.save_checkpoint, ck.write_tensors, ck.write_json, os.replace = saving, tensors_written, json_written, replaced
st.TrainStep.__call__ = stepping
import skiplab.train.loop as loop  # noqa: E402  (it bound save_checkpoint by name at import)

loop.save_checkpoint = saving

from skiplab.cli import run  # noqa: E402

sys.exit(run(sys.argv[1:]))
