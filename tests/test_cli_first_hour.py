"""A new user's first hour (issue 14): the documented commands work as written, through the installed
console scripts with piped output, as CI runs them."""

from __future__ import annotations

import itertools
import os
import re
import socket
import subprocess
import sys

import pytest
import yaml

from tests.cli_run import BIN, ROOT, run_cli
from tests.conftest import find_conformance

# ---------------------------------------------------------------- 1. learning-rate overrides


def test_docs_recipe_example_with_exponent_lr_resolves():
    for flag in ("lr=2e-6", "optim.lr=2e-6"):
        res = run_cli("raif-train", "recipe", "--recipe", str(ROOT / "pipelines" / "train_qwen2.5_7b.yaml"), "--set", flag)
        assert res.returncode == 0, res.stderr
        optim = yaml.safe_load(res.stdout)["optim"]
        assert optim["lr"] == 2e-6
        assert optim["min_lr"] <= optim["lr"]


def test_lr_alone_scales_min_lr_and_explicit_min_lr_wins():
    res = run_cli("raif-train", "recipe", "--model", "tiny", "--set", "lr=1e-3")
    assert res.returncode == 0, res.stderr
    tiny = yaml.safe_load(res.stdout)["optim"]
    assert tiny["lr"] == 1e-3 and tiny["min_lr"] == 1e-4  # the preset's 1e-2 -> 1e-3, scaled
    res = run_cli("raif-train", "recipe", "--model", "tiny", "--set", "lr=1e-3", "--set", "min_lr=0")
    assert yaml.safe_load(res.stdout)["optim"]["min_lr"] == 0.0


def test_grpo_tiny_with_a_small_lr_is_not_refused_for_min_lr(tmp_path):
    # the recipe is resolved before any data is read: a missing data directory is the error to reach
    res = run_cli(
        "raif-train", "grpo", "--model", "tiny", "--lr", "2e-6", "--data", str(tmp_path / "none"),
        "--output-dir", str(tmp_path / "out"), "--max-steps", "1", "--quiet",
    )
    assert res.returncode == 1 and "no such file" in res.stderr and "min_lr" not in res.stderr, res.stderr


# ---------------------------------------------------------------- 2-3. conformance data and the tour


def test_conformance_dir_comes_from_the_variable_else_beside_the_checkout(tmp_path):
    assert find_conformance({"RAIF_CONFORMANCE_DIR": str(tmp_path)}, ROOT) == tmp_path
    assert find_conformance({}, ROOT) == ROOT.parent / "shared" / "conformance"


def test_missing_conformance_data_names_the_variable(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_ifeval_checkers.py::test_upper_word_count_equals_word_tokenize_on_conformance_texts"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "RAIF_CONFORMANCE_DIR": str(tmp_path / "absent")},
    )
    assert res.returncode == 1
    assert "RAIF_CONFORMANCE_DIR" in res.stdout and str(tmp_path / "absent") in res.stdout


def _tour() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Five-minute tour")
    block = text[text.index("```bash", start) + len("```bash") :]
    return block[: block.index("```")]


def test_tour_ifeval_step_runs_as_written(conformance_dir, tmp_path):
    lines = _tour().replace("\\\n", " ").splitlines()
    step = [ln for ln in lines if ln.startswith(("export RAIF_CONFORMANCE_DIR", "raif-rewards ifeval"))]
    assert len(step) == 2, step
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env["RAIF_CONFORMANCE_DIR"] = str(conformance_dir)
    res = subprocess.run(["bash", "-euc", "\n".join(step)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "runs" / "demo" / "ifeval" / "eval_results_strict.jsonl").is_file()
    assert "417/540" in res.stdout, res.stdout  # the strict prompt-level figure the README quotes


# ---------------------------------------------------------------- 6-7. missing optional packages


def _without(tmp_path, *modules: str) -> dict[str, str]:
    """An environment in which importing each of ``modules`` fails as if it were not installed."""
    blocker = tmp_path / "not_installed"
    blocker.mkdir()
    # a finder ahead of all others, as if the packages were absent: `import` and find_spec both fail
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Absent:\n"
        f"    names = {set(modules)!r}\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in self.names:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Absent())\n",
        encoding="utf-8",
    )
    return {"PYTHONPATH": f"{blocker}{os.pathsep}{ROOT}"}


def test_train_without_torch_is_one_line_naming_the_train_extra(tmp_path):
    res = run_cli(
        "raif-train", "grpo", "--model", "tiny", "--data", str(tmp_path), "--output-dir", str(tmp_path / "o"),
        env=_without(tmp_path, "torch"),
    )
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: raif-train needs the [train] extra (missing module 'torch'): pip install 'raif[train]'"
    ]


def test_rs_backend_not_installed_is_one_line_with_the_whole_install_hint(tmp_path, conformance_dir):
    env = {**_without(tmp_path, "langdetect_rs"), "RAIF_LANGDETECT": "rs"}
    spec = '[{"id": "language:response_language", "kwargs": {"language": "en"}}]'
    ifeval = conformance_dir / "ifeval"
    runs = [
        run_cli("raif-rewards", "check", spec, "--response", "hello there my friend", env=env),
        run_cli(  # the variable is honoured by ifeval too (its flag's default used to override it)
            "raif-rewards", "ifeval", "--input-data", str(ifeval / "input_data.jsonl"),
            "--input-response-data", str(ifeval / "input_response_data_gpt4_20231107_145030.jsonl"),
            "--output-dir", str(tmp_path / "out"), env=env,
        ),
    ]
    for res in runs:
        assert res.returncode == 2, res.stdout
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
        assert "pip install 'raif[fastlang]'" in lines[0]


def test_eval_errors_print_brackets_as_written(tmp_path):
    res = run_cli(
        "raif-eval", "run", "--model-url", "http://127.0.0.1:9/v1", "--model-id", "m", "--benchmarks", "ifeval",
        "--data", "[bold]x", "--output-dir", str(tmp_path),
    )
    assert res.returncode == 2 and "--data '[bold]x'" in res.stderr, res.stderr


# ---------------------------------------------------------------- 8. the cause of endpoint failures


def test_eval_run_against_a_dead_endpoint_names_the_cause(tmp_path, conformance_dir):
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    res = run_cli(
        "raif-eval", "run", "--model-url", f"http://127.0.0.1:{port}/v1", "--model-id", "m",
        "--benchmarks", "ifeval", "--data", f"ifeval={conformance_dir / 'ifeval' / 'input_data.jsonl'}",
        "--output-dir", str(tmp_path / "run"), "--limit", "2", "--max-retries", "0",
    )
    assert res.returncode == 1
    error = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(error) == 1 and "rollouts failed after retries" in error[0], res.stderr
    assert "Connection refused" in error[0] and f"127.0.0.1:{port}" in error[0]


# ---------------------------------------------------------------- 11. unknown filter values


def test_rewards_list_rejects_an_unknown_source_or_group_listing_the_allowed_ones():
    from raif_rewards import registry

    for flag, allowed in (
        ("--source", {c.source for c in registry.all_checkers()}),
        ("--group", {c.group for c in registry.all_checkers()}),
    ):
        for extra in ([], ["--json"]):
            res = run_cli("raif-rewards", "list", flag, "bogus", *extra)
            assert res.returncode == 2 and res.stdout == "", res.stdout
            assert len(res.stderr.strip().splitlines()) == 1 and "'bogus'" in res.stderr
            assert all(name in res.stderr for name in allowed), res.stderr
    ok = run_cli("raif-rewards", "list", "--source", "ifbench", "--json")
    assert ok.returncode == 0 and ok.stdout.count('"id"') == len(registry.ids("ifbench"))


# ---------------------------------------------------------------- 4-5. reruns and a failed first stage


def test_evolve_rerun_says_already_complete_and_writes_nothing(tmp_path):
    out = tmp_path / "data"
    args = ("evolve", "--output-dir", str(out), "--num-prompts", "32", "--seed", "0")
    first = run_cli("raif-data", *args)
    assert first.returncode == 0 and first.stdout.startswith("wrote "), first.stderr
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = run_cli("raif-data", *args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("already complete: ") and "wrote" not in again.stdout
    assert f"delete {out}" in again.stdout  # how to redo
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == mtimes


def test_failed_seeds_stage_does_not_block_its_fix(tmp_path):
    lines = (ROOT / "data" / "seeds_demo.jsonl").read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*lines[:40], "{not json", *lines[40:80]]) + "\n", encoding="utf-8")
    args = ("evolve", "--output-dir", str(tmp_path / "data"), "--seeds", str(bad), "--num-prompts", "32")
    failed = run_cli("raif-data", *args)
    assert failed.returncode == 1 and f"{bad}:41:" in failed.stderr
    fixed = run_cli("raif-data", *args, "--skip-bad")  # what the docs suggest
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.startswith("wrote ") and "skipped bad record" in fixed.stderr
    # a finished stage still guards its recipe
    other = run_cli("raif-data", "evolve", "--output-dir", str(tmp_path / "data"), "--seeds", str(bad), "--num-prompts", "32", "--seed", "7", "--skip-bad")
    assert other.returncode == 1 and "--overwrite" in other.stderr


def _help_flags(*command: str) -> set[str]:
    res = run_cli(*command, "--help")
    assert res.returncode == 0, res.stderr
    return {f for f in re.findall(r"(?<![\w-])--[a-z][a-z-]*", res.stdout) if f != "--help" and not f.startswith("--no-")}


def test_data_docs_list_each_stage_commands_own_options():
    text = (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
    block = text[text.index("## CLI") :]
    block = block[block.index("```") + 3 :]
    block = block[: block.index("```")]
    documented: dict[str, str] = {}
    name = ""
    for line in block.splitlines():
        if line.startswith("raif-data "):
            name = line.split()[1]
            documented[name] = line
        elif name:
            documented[name] += line
    evolve = set(re.findall(r"--[a-z][a-z-]*", documented["evolve"]))
    for stage in ("seeds", "instruct", "shards"):
        doc = documented[stage]
        flags = set(re.findall(r"--[a-z][a-z-]*", re.sub(r"\(.*?\)", "", doc.split("#")[0])))
        if "(the options of evolve" in doc:
            flags |= evolve - ({"--overwrite"} if "but --overwrite" in doc else set())
        assert flags == _help_flags("raif-data", stage), stage
    assert "instruct | respond" in documented["instruct"]
    assert _help_flags("raif-data", "respond") == _help_flags("raif-data", "instruct") == _help_flags("raif-data", "evolve")


# ---------------------------------------------------------------- 4, 9. training output in a log, and its rerun


@pytest.mark.slow
def test_grpo_logs_each_step_when_piped_and_a_rerun_is_already_complete(tmp_path):
    data = tmp_path / "data"
    assert run_cli("raif-data", "evolve", "--output-dir", str(data), "--num-prompts", "64", "--seed", "0").returncode == 0
    args = ("grpo", "--model", "tiny", "--data", str(data), "--output-dir", str(tmp_path / "train"),
            "--max-steps", "2", "--seed", "0", "--set", "tensorboard=false")
    res = run_cli("raif-train", *args, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stderr.splitlines()
    assert lines[0].startswith("loading ") and "'tiny'" in lines[0]  # said before the silent load
    assert lines[1].startswith("loaded in ") and "2 steps" in lines[1]
    assert [ln.split()[1] for ln in lines if ln.startswith("step ")] == ["1/2", "2/2"]
    assert all("reward " in ln for ln in lines if ln.startswith("step "))
    assert "Writing model shards" not in res.stderr + res.stdout
    assert "reward curve (reasoning samples, 2 steps" in res.stdout
    again = run_cli("raif-train", *args, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.startswith("already complete: ") and "reward curve" not in again.stdout
    assert "--no-resume" in again.stdout and again.stderr == ""


# ---------------------------------------------------------------- 10. help and tables in a pipe

COMMANDS = {
    "raif-data": ["evolve", "seeds", "instruct", "respond", "shards", "stats"],
    "raif-train": ["grpo", "recipe"],
    "raif-rewards": ["list", "describe", "check", "ifeval", "ifbench"],
    "raif-eval": ["run", "rescore", "report", "list"],
}


@pytest.mark.parametrize("exe", sorted(COMMANDS))
def test_help_is_whole_when_piped(exe):
    for sub in [None, *COMMANDS[exe]]:
        res = run_cli(exe, *([sub] if sub else []), "--help")
        assert res.returncode == 0, res.stderr
        where = f"{exe} {sub or ''} --help"
        assert "…" not in res.stdout, f"{where} cuts text:\n{res.stdout}"
        assert "<bool>" not in res.stdout and "<list[" not in res.stdout, f"{where}:\n{res.stdout}"
        usage = next(ln for ln in res.stdout.splitlines() if "Usage:" in ln)
        assert "{" not in usage, f"{where}: {usage}"


def test_list_tables_are_whole_when_piped():
    from raif_eval.benchmarks import BENCHMARKS
    from raif_rewards import registry

    paths = run_cli("raif-eval", "list")
    assert paths.returncode == 0 and "…" not in paths.stdout
    assert all(cls.default_path in paths.stdout for cls in BENCHMARKS.values()), paths.stdout
    ids = run_cli("raif-rewards", "list")
    assert ids.returncode == 0 and "…" not in ids.stdout
    cells = {cell.strip() for ln in ids.stdout.splitlines() for cell in ln.split("│")}
    assert set(registry.ids()) <= cells  # each id whole in its cell, never split over lines


def test_rewards_list_keeps_ids_whole_in_a_120_column_terminal():
    from raif_rewards import registry

    res = run_cli("raif-rewards", "list", env={"TTY_COMPATIBLE": "1", "COLUMNS": "120", "NO_COLOR": "1"})
    assert res.returncode == 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout)  # NO_COLOR keeps bold
    assert max(len(ln) for ln in text.splitlines()) <= 120  # it did render as a 120-column terminal
    cells = {cell.strip() for ln in text.splitlines() for cell in ln.split("│")}
    assert set(registry.ids()) <= cells


# ---------------------------------------------------------------- 12. raif-data stats


def test_stats_orders_constraints_per_prompt_by_number_and_writes_what_the_docs_say(tmp_path):
    data = tmp_path / "data"
    assert run_cli("raif-data", "evolve", "--output-dir", str(data), "--num-prompts", "64", "--seed", "0").returncode == 0
    res = run_cli("raif-data", "stats", str(data))
    assert res.returncode == 0, res.stderr
    rows = [[c.strip() for c in ln.split("│")[1:-1]] for ln in res.stdout.splitlines() if ln.startswith("│")]
    start = next(i for i, r in enumerate(rows) if r[0] == "num_constraints")
    block = [rows[start]] + list(itertools.takewhile(lambda r: r[0] == "", rows[start + 1 :]))
    numbers = [r[1] for r in block]
    assert len(numbers) >= 2 and [int(n) for n in numbers] == sorted(int(n) for n in numbers), numbers
    written = sorted(p.name for p in (data / "stats").glob("*.png"))
    docs = (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
    documented = re.findall(r"`(\w+\.png)`", docs[docs.index("`raif-data stats` prints") :][:900])
    # offline: every documented plot but the pass-rate histogram, which the docs say needs stage 3
    assert written == sorted(set(documented) - {"pass_rate.png"})
    assert "only where stage 3 verified responses" in docs
    assert res.stdout.splitlines()[-1] == "plots: " + ", ".join(str(data / "stats" / n) for n in [
        "constraint_ids.png", "compositions.png", "sources.png", "languages.png", "num_constraints.png",
        "prompt_chars.png"])


def test_every_stats_plot_labels_both_axes():
    import matplotlib.pyplot as plt

    from raif_data import stats

    figures = [stats.bar_figure({"2": 3, "1": 5}, "constraints per prompt", "constraints per prompt"),
               stats.histogram_figure([0.1, 0.5, 0.5], "pass rate", "pass rate", 11)]
    for fig in figures:
        (ax,) = fig.axes
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        plt.close(fig)
    # and plot() draws with these, for every key it knows
    assert {key for key, _, _ in stats._BARS} | {k.removesuffix("_values") for k, *_ in stats._HISTOGRAMS} == {
        "constraint_ids", "compositions", "sources", "languages", "num_constraints", "prompt_chars", "pass_rate"}
