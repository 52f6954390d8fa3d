"""Recurrent models, registered by name: CELLS maps a cell name to its class (models/cells.py)."""

from rnnmem.models.cells import CELLS
from rnnmem.models.recurrent import RecurrentNet, UnrolledOutput

__all__ = ["CELLS", "RecurrentNet", "UnrolledOutput"]
