"""The benchmark adapters, one module each, looked up by name."""

from __future__ import annotations

from raif_eval.benchmarks.base import Benchmark, BenchScore, Item
from raif_eval.benchmarks.cello import CELLO
from raif_eval.benchmarks.cfbench import CFBench
from raif_eval.benchmarks.complexbench import ComplexBench
from raif_eval.benchmarks.fbbench import FBBench
from raif_eval.benchmarks.followbench import FollowBench
from raif_eval.benchmarks.ifbench import IFBench
from raif_eval.benchmarks.ifeval import IFEval
from raif_eval.benchmarks.infobench import InfoBench

# Table-1 order of the RAIF paper, then IFBench (not in the paper's table; scored by the same checkers
# as raif-rewards ifbench)
BENCHMARKS: dict[str, type[Benchmark]] = {
    "ifeval": IFEval,
    "cello": CELLO,
    "cfbench": CFBench,
    "complexbench": ComplexBench,
    "fbbench": FBBench,
    "followbench": FollowBench,
    "infobench": InfoBench,
    "ifbench": IFBench,
}
DISPLAY = {
    "ifeval": "IFEval",
    "cello": "CELLO",
    "cfbench": "CFBench",
    "complexbench": "ComplexBench",
    "fbbench": "FB-Bench",
    "followbench": "FollowBench",
    "infobench": "InfoBench",
    "ifbench": "IFBench",
}

__all__ = ["BENCHMARKS", "DISPLAY", "Benchmark", "BenchScore", "Item"]
