"""A cluster run that works the first time, on CPU with a local Ray: the forwarded environment reaches Ray
workers through veRL's own `run_ppo`, and the per-node preflight passes on a sound node and refuses, in one
line, a node with other versions or without the configured attention kernel. Needs veRL (ci_verl.sh).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from raif_train.verl import cluster
from tests.verl_fixtures import write_shards

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "pipelines" / "verl_qwen2.5_1.5b_4gpu.yaml"

# Runs in its own process: veRL's run_ppo starts Ray there with the runtime environment it composes.
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import ray
    from verl.trainer.main_ppo import run_ppo
    from raif_train.recipe import load_recipe
    from raif_train.verl import cluster, main as entry
    from raif_train.verl.launch import compose
    from raif_train.verl.overrides import build_plan

    recipe, data, out = sys.argv[1:4]
    rec = load_recipe(recipe, data=data, output_dir=out)
    config = compose(build_plan(rec, ["ray_kwargs.ray_init.num_cpus=2", "+ray_kwargs.ray_init.include_dashboard=false"]))
    # The judge settings exist only in this mapping, not in the environment Ray starts from: only the
    # runtime environment can carry them to a worker.
    judge = {"RAIF_JUDGE_BASE_URL": "http://judge.invalid/v1", "RAIF_JUDGE_MODEL": "judge", "RAIF_JUDGE_API_KEY": "k"}
    assert not any(k in os.environ for k in judge)
    entry.forward_env(config, judge)

    @ray.remote(num_cpus=0)
    class Probe:  # stands in for RaifTaskRunner: records what a worker of the job sees
        def run(self, config):
            names = [*judge, "TENSORBOARD_DIR"]
            with open(os.path.join(out, "worker_env.json"), "w") as f:
                json.dump({k: os.environ.get(k) for k in names}, f)

    entry._RUNNER = Probe
    versions = cluster.local_versions()
    run_ppo(config, task_runner_class=entry.PreflightLauncher(versions, "sdpa"))
    refusals = {}
    for name, expected, attention in [
        ("version", {**versions, "raif": "0.0.0"}, "sdpa"),
        ("source", {**versions, "raif_source": "0" * 12}, "sdpa"),
        ("attention", versions, "flash_attention_2"),
    ]:
        try:
            entry.PreflightLauncher(expected, attention).remote()
            refusals[name] = None
        except cluster.PreflightError as e:
            refusals[name] = str(e)
    reports = cluster.check_nodes(versions, "sdpa")
    with open(os.path.join(out, "preflight.json"), "w") as f:
        json.dump({"refusals": refusals, "reports": reports}, f)
    """
)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cluster")
    data = write_shards(tmp / "data", ["write in lowercase", "give a title"])
    out = tmp / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(RECIPE), str(data), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_forwarded_environment_reaches_ray_workers_through_verls_run_ppo(run):
    env = json.loads((run / "worker_env.json").read_text())
    assert env["RAIF_JUDGE_BASE_URL"] == "http://judge.invalid/v1" and env["RAIF_JUDGE_API_KEY"] == "k"
    assert env["TENSORBOARD_DIR"] == str(run.resolve() / "tensorboard")


def test_preflight_passes_a_sound_node_with_the_plugin_registered_in_a_fresh_worker(run):
    reports = json.loads((run / "preflight.json").read_text())["reports"]
    assert len(reports) == 1
    (report,) = reports
    assert report["plugin"] is True and report["attention"] is None
    assert report["versions"] == cluster.local_versions()


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("version", ["raif 0.1.0 where the driver has 0.0.0"]),
        ("source", ["raif_source", "where the driver has 000000000000"]),
        ("attention", ["flash_attention_2 needs flash_attn", cluster.ATTENTION_OVERRIDE]),
    ],
)
def test_preflight_refuses_a_node_that_differs_in_one_line(run, case, words):
    message = json.loads((run / "preflight.json").read_text())["refusals"][case]
    assert message is not None and "\n" not in message and message.startswith("preflight refused")
    for w in words:
        assert w in message
