"""Hostile checkpoints and dying parents for raif-train (issue 15, points 5 and 11)."""

from __future__ import annotations

import pickle

import pytest
import torch

from raif_train.local.trainer import GRPOTrainer, TrainError
from tests.test_train_local import _recipe, fraction_score, write_prompt_shard


class _Evil:
    """Unpickling this calls ``open(marker, "w")``: code execution, made visible by the file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _checkpointed_run(tmp_path):
    data = write_prompt_shard(tmp_path / "data", n=6)
    out = tmp_path / "run"

    def crash_at_3(row):
        if row["step"] == 3:  # after the step-2 checkpoint
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        GRPOTrainer(_recipe(data, out), score_fn=fraction_score, on_step=crash_at_3).train()
    ckpt = out / "checkpoints" / "step_000002"
    assert (ckpt / "state.json").is_file()
    return data, out, ckpt


@pytest.mark.parametrize("name", ["optim.pt", "rng.pt", "model.pt"])
def test_a_crafted_checkpoint_runs_no_code_on_resume(tmp_path, name):
    data, out, ckpt = _checkpointed_run(tmp_path)
    marker = tmp_path / "code-ran"
    torch.save({"cpu": _Evil(str(marker)), "optim": _Evil(str(marker))}, ckpt / name, pickle_module=pickle)
    with pytest.raises(TrainError, match=f"{name}: not a checkpoint this trainer wrote") as info:
        GRPOTrainer(_recipe(data, out), score_fn=fraction_score).train()
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_rng_and_optimizer_states_are_plain_tensors_and_data(tmp_path):
    _data, _out, ckpt = _checkpointed_run(tmp_path)
    for name in ("optim.pt", "rng.pt", "model.pt"):
        torch.load(ckpt / name, weights_only=True)  # raises for anything but tensors and plain data
    assert isinstance(torch.load(ckpt / "rng.pt", weights_only=True)["cpu"], torch.Tensor)


@pytest.mark.parametrize("key,value,blamed", [
    ("bc_coef", float("nan"), "algo.bc_coef"),
    ("kl_coef", float("inf"), "algo.kl_coef"),
    ("lr", float("nan"), "optim.lr"),
    ("keep_checkpoints", 0, "train.keep_checkpoints"),
    ("bc_coef", -1.0, "algo.bc_coef"),
])
def test_recipe_values_that_would_train_on_nan_or_keep_everything_are_refused(key, value, blamed):
    from raif_train.recipe import RecipeError, load_recipe

    with pytest.raises(RecipeError, match=f"'{blamed}'"):
        load_recipe(None, model="tiny", **{key: value})


_ORPHAN_SCRIPT = r"""
import json, sys, time
from multiprocessing import resource_tracker
from raif_train.local.scoring import Scorer, ScoreRequest, library_score

if __name__ == "__main__":
    scorer = Scorer(library_score, workers=1)
    gt = json.dumps({"style": "rule", "tree": {"op": "check", "id": "punctuation:no_comma"}})
    scorer.submit([ScoreRequest("raif/instruct", "<think>r</think><answer>a b</answer>", gt)]).result()
    pids = [p.pid for p in scorer._pool._processes.values()]
    tracker = resource_tracker._resource_tracker._pid
    print(json.dumps({"workers": pids, "tracker": tracker}), flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    import os

    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def test_reward_workers_and_resource_tracker_exit_when_the_trainer_is_killed(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        info = json.loads(line)
        children = [*info["workers"], info["tracker"]]
        assert children and all(_alive(pid) for pid in children)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    left = [pid for pid in children if _alive(pid)]
    for pid in left:  # clean up before failing: these are this test's own processes
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running after the trainer was killed: {left}"
