"""raif_rewards: verifiable constraint checkers and the rewards built on them.

>>> from raif_rewards import check, check_all, registry
>>> check("punctuation:no_comma", "no commas here")
True
"""

from raif_rewards import registry
from raif_rewards.checking import check, check_all
from raif_rewards.errors import ConstraintKwargsError, InputFileError, RaifError, UnknownConstraintError

__all__ = [
    "registry",
    "check",
    "check_all",
    "RaifError",
    "ConstraintKwargsError",
    "UnknownConstraintError",
    "InputFileError",
]
