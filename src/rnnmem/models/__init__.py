"""Recurrent models, registered by name: CELLS maps a cell name to its class (models/cells.py);
MERGES and INITS name how a bidirectional net's directions meet and how W_hh starts
(models/recurrent.py)."""

from rnnmem.models.cells import CELLS
from rnnmem.models.recurrent import INITS, MERGES, RecurrentNet, UnrolledOutput

__all__ = ["CELLS", "INITS", "MERGES", "RecurrentNet", "UnrolledOutput"]
