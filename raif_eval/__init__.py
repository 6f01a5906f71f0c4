"""raif_eval: score a served model on the seven instruction-following benchmarks of the RAIF paper
and on IFBench.

Adapters read each benchmark's own released files; `raif-eval run|rescore|report` is the CLI.
"""

__all__ = ["BENCHMARKS"]

from raif_eval.benchmarks import BENCHMARKS
