"""raif_data: the staged data pipeline (seeds -> constraint instructions -> responses -> Parquet shards).

Entry point: ``raif-data evolve``; see docs/data.md. Imports no torch.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("raif")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
