"""raif-eval end to end against loopback OpenAI-compatible stubs (model and judge): all seven
benchmarks on small files in their own formats, crash-resume, re-scoring, reports, CLI errors."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from raif_eval.cli import app
from tests.openai_stub import OpenAIStub
from tests.test_eval_data import EXPECTED, judge_responder, model_responder, write_benchmarks

runner = CliRunner()


@pytest.fixture()
def stubs():
    with (
        OpenAIStub(model_responder, model="tiny-model") as model,
        OpenAIStub(judge_responder, model="tiny-judge") as judge,
    ):
        yield model, judge


def run_args(model, judge, data, out, benchmarks, *extra):
    args = [
        "run",
        "--model-url",
        model.base_url,
        "--model-id",
        "tiny-model",
        "--judge-url",
        judge.base_url,
        "--judge-id",
        "tiny-judge",
        "--benchmarks",
        ",".join(benchmarks),
        "--output-dir",
        str(out),
        "--max-retries",
        "1",
        "--timeout",
        "10",
    ]
    for b in benchmarks:
        args += ["--data", f"{b}={data[b]}"]
    return args + list(extra)


def test_all_benchmarks_end_to_end(stubs, tmp_path):
    model, judge = stubs
    data = write_benchmarks(tmp_path / "data")
    out = tmp_path / "run"
    result = runner.invoke(app, run_args(model, judge, data, out, list(EXPECTED)))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["benchmarks"]) == [
        "ifeval",
        "cello",
        "cfbench",
        "complexbench",
        "fbbench",
        "followbench",
        "infobench",
        "ifbench",
    ]
    for bench, expected in EXPECTED.items():
        entry = summary["benchmarks"][bench]
        assert entry["complete"], bench
        for metric, value in expected.items():
            assert entry["metrics"][metric] == pytest.approx(value), (bench, metric)
    assert summary["benchmarks"]["followbench"]["metrics"]["csl"] is None  # no example with all five levels

    # the report table has a column per benchmark, IFBench the eighth
    report = runner.invoke(app, ["report", str(out), "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    header = (tmp_path / "report" / "report.md").read_text().splitlines()[0]
    assert header == (
        "| Model | Mode | IFEval | CELLO | CFBench | ComplexBench | FB-Bench | FollowBench | InfoBench"
        " | IFBench | Avg. |"
    )

    # reasoning is kept apart from the scored answer; tokens are counted
    rollouts = [json.loads(x) for x in (out / "ifeval" / "rollouts.jsonl").read_text().splitlines()]
    first = next(r for r in rollouts if r["id"] == "1")
    assert first["answer"] == "hello world" and "commas" in first["reasoning"]
    assert all(r["completion_tokens"] >= 1 and r["calls"] == 1 for r in rollouts)
    assert summary["benchmarks"]["ifeval"]["usage"]["completion_tokens"] == sum(
        r["completion_tokens"] for r in rollouts
    )

    # generation is greedy by default; InFoBench's judge continues one conversation per instruction
    assert all(r["temperature"] == 0.0 for r in model.requests)
    third = [r for r in judge.requests if r.get("logprobs") and "Q5 [no]" in r["messages"][-1]["content"]][0]
    assert [m["content"] for m in third["messages"][1::2]] == [
        "YES",
        "YES",
    ]  # judge said YES to Q3 and Q4 before Q5

    # a second identical run calls nothing: rollouts are reused and judge replies come from the cache
    n_model, n_judge = model.request_count, judge.request_count
    again = runner.invoke(app, run_args(model, judge, data, out, list(EXPECTED)))
    assert again.exit_code == 0, again.output
    assert (model.request_count, judge.request_count) == (n_model, n_judge)


def test_resume_after_failed_and_interrupted_rollouts(stubs, tmp_path):
    model, judge = stubs
    data = write_benchmarks(tmp_path / "data")
    out = tmp_path / "run"
    # the endpoint keeps failing for one prompt: that rollout fails after its retries
    model.set_faults(lambda i, req: "500" if req["messages"][-1]["content"].startswith("IF2") else None)
    first = runner.invoke(app, run_args(model, judge, data, out, ["ifeval", "cfbench"]))
    assert first.exit_code == 1
    assert "rerun the same command" in first.output.lower()
    saved = [json.loads(x) for x in (out / "ifeval" / "rollouts.jsonl").read_text().splitlines()]
    assert {r["id"]: bool(r.get("error")) for r in saved} == {"1": False, "2": True}
    assert not (out / "ifeval" / "scores.json").exists()  # an incomplete benchmark is not scored
    assert (out / "cfbench" / "scores.json").exists()

    # simulate a crash mid-write and lose the HTTP cache: the rollouts file alone drives the resume
    path = out / "cfbench" / "rollouts.jsonl"
    kept = [
        x for x in path.read_text().splitlines() if json.loads(x)["id"] != "1"
    ]  # CFBench idx 1 (CF2) lost...
    path.write_text(
        "".join(x + "\n" for x in kept) + '{"id": "1", "answer": "half-writ'
    )  # ...while being written
    for f in (out / "cache").glob("model.sqlite*"):
        f.unlink()

    model.set_faults([])
    model.reset()
    second = runner.invoke(app, run_args(model, judge, data, out, ["ifeval", "cfbench"]))
    assert second.exit_code == 0, second.output
    asked = sorted(r["messages"][-1]["content"][:3] for r in model.requests)
    assert asked == ["CF2", "IF2"]  # only the failed and the lost rollout were generated again
    summary = json.loads((out / "summary.json").read_text())
    assert summary["benchmarks"]["ifeval"]["metrics"]["prompt_strict"] == 0.5
    assert summary["benchmarks"]["cfbench"]["metrics"]["psr"] == pytest.approx(0.5)


def test_rescore_never_calls_the_model(stubs, tmp_path):
    model, judge = stubs
    data = write_benchmarks(tmp_path / "data")
    out = tmp_path / "run"
    assert runner.invoke(app, run_args(model, judge, data, out, ["ifeval", "infobench"])).exit_code == 0
    before = json.loads((out / "summary.json").read_text())
    n_model = model.request_count
    # a saved answer edited by hand is re-scored; the model is not asked again
    rows = [json.loads(x) for x in (out / "ifeval" / "rollouts.jsonl").read_text().splitlines()]
    rows = [dict(r, answer="hello world") if r["id"] == "2" else r for r in rows]
    (out / "ifeval" / "rollouts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = runner.invoke(app, ["rescore", str(out)])
    assert result.exit_code == 0, result.output
    after = json.loads((out / "summary.json").read_text())
    assert model.request_count == n_model
    assert after["benchmarks"]["ifeval"]["metrics"]["prompt_strict"] == 1.0
    assert after["benchmarks"]["infobench"]["metrics"] == before["benchmarks"]["infobench"]["metrics"]


def test_modes_run_and_are_named_in_the_report(stubs, tmp_path):
    model, judge = stubs
    data = write_benchmarks(tmp_path / "data")
    base, trained = tmp_path / "base", tmp_path / "sdc"
    assert (
        runner.invoke(
            app, run_args(model, judge, data, base, ["ifeval", "cello"], "--run-name", "base")
        ).exit_code
        == 0
    )
    # SDC: decomposition call, then the answer call; the stub answers by prompt prefix, so the
    # decomposition prompt (which starts differently) gets "unexpected prompt" and the answer call "IF..."
    res = runner.invoke(
        app, run_args(model, judge, data, trained, ["ifeval", "cello"], "--mode", "sdc", "--run-name", "sdc")
    )
    assert res.exit_code == 0, res.output
    sdc_rows = [json.loads(x) for x in (trained / "ifeval" / "rollouts.jsonl").read_text().splitlines()]
    assert all(r["calls"] == 2 and r["mode"] == "sdc" for r in sdc_rows)

    report_dir = tmp_path / "report"
    result = runner.invoke(app, ["report", str(trained), "--baseline", str(base), "--out", str(report_dir)])
    assert result.exit_code == 0, result.output
    with (report_dir / "report.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [r["model"] for r in table] == ["base", "sdc", "Δ sdc vs base"]
    assert [r["mode"] for r in table] == ["I/O", "SDC", "SDC"]
    b, s, d = table
    for col in ("IFEval", "CELLO", "Avg"):
        assert float(d[col]) == pytest.approx(float(s[col]) - float(b[col]), abs=1e-3)
    assert float(b["IFEval"]) == pytest.approx(50.0)
    assert float(b["Avg"]) == pytest.approx((50.0 + 87.5) / 2)
    md = (report_dir / "report.md").read_text()
    assert md.startswith("| Model | Mode | IFEval | CELLO | Avg. |") and "Δ sdc vs base" in md
    assert (report_dir / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_reports_bad_data_in_one_line(stubs, tmp_path):
    model, judge = stubs
    bad = tmp_path / "InfoBench.json"
    bad.write_text(
        '{"id": "a", "instruction": "x", "decomposed_questions": ["q"]}\n{"id": "b", "instruction": "y"}\n'
    )
    result = runner.invoke(
        app,
        [
            "run",
            "--model-url",
            model.base_url,
            "--model-id",
            "m",
            "--judge-url",
            judge.base_url,
            "--judge-id",
            "j",
            "--benchmarks",
            "infobench",
            "--data",
            f"infobench={bad}",
            "--output-dir",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2
    assert f"{bad}:2: field 'decomposed_questions': missing" in " ".join(result.output.split())
    assert model.request_count == 0  # data is checked before any model call


def test_cli_requires_a_judge_for_judged_benchmarks(stubs, tmp_path):
    model, _ = stubs
    data = write_benchmarks(tmp_path / "data")
    result = runner.invoke(
        app,
        [
            "run",
            "--model-url",
            model.base_url,
            "--model-id",
            "m",
            "--benchmarks",
            "cfbench",
            "--data",
            f"cfbench={data['cfbench']}",
            "--output-dir",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2 and "need a judge" in result.output
    assert model.request_count == 0


def test_run_dir_refuses_other_settings(stubs, tmp_path):
    model, judge = stubs
    data = write_benchmarks(tmp_path / "data")
    out = tmp_path / "run"
    assert runner.invoke(app, run_args(model, judge, data, out, ["ifeval"])).exit_code == 0
    result = runner.invoke(app, run_args(model, judge, data, out, ["ifeval"], "--mode", "cot"))
    assert result.exit_code == 2 and "other settings" in result.output


def test_yaml_recipe_drives_a_run_and_flags_override_it(stubs, tmp_path):
    model, judge = stubs
    data = write_benchmarks(tmp_path / "data")
    recipe = tmp_path / "eval.yaml"
    recipe.write_text(
        f"output_dir: {tmp_path / 'from-recipe'}\nbenchmarks: [ifeval]\nmode: cot\nmax_retries: 1\n"
        f"data:\n  ifeval: {data['ifeval']}\nmodel_url: {model.base_url}\nmodel_id: tiny-model\n"
    )
    out = tmp_path / "from-flag"
    result = runner.invoke(
        app, ["run", "--config", str(recipe), "--output-dir", str(out), "--run-name", "recipe-run"]
    )
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "from-recipe").exists()
    settings = json.loads((out / "run.json").read_text())["config"]
    assert (settings["mode"], settings["run_name"]) == ("cot", "recipe-run")
    assert all(
        r["messages"][-1]["content"].endswith("write only the final response.") for r in model.requests
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("output_dir: x\nbenchmarks: [ifeval]\ntemprature: 0.2\n")
    result = runner.invoke(app, ["run", "--config", str(bad)])
    assert result.exit_code == 2 and "temprature: unknown key; did you mean temperature?" in " ".join(
        result.output.split()
    )
