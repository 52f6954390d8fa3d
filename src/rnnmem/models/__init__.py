"""Recurrent models, registered by name: CELLS maps a cell name to its fused PyTorch module."""

from rnnmem.models.cells import CELLS
from rnnmem.models.recurrent import RecurrentNet, UnrolledOutput

__all__ = ["CELLS", "RecurrentNet", "UnrolledOutput"]
