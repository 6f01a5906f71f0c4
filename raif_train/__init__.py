"""raif_train: RAIF's GRPO trainer (algorithm functions, typed recipes, local and veRL backends).

Importing the package is cheap: torch loads with `raif_train.algo`, veRL/Ray only inside `raif_train.verl`.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
