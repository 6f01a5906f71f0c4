"""Checker modules, one per group; each registers its checkers on import (see ``registry``)."""
