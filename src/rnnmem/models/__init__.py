"""Recurrent models, registered by name: CELLS maps a cell name to its class (models/cells.py:
the matrix cells; models/minrnn.py, lru.py, s6.py: the linear diagonal cells of
models/scan.py, added to the registry here, after the matrix cells); MERGES and INITS name how a
bidirectional net's directions meet and how W_hh starts (models/recurrent.py); ROLES what each
trained tensor does (per-role optimiser settings: models/param_groups.py)."""

from rnnmem.models.cells import CELLS, ROLES
from rnnmem.models.lru import LRU
from rnnmem.models.minrnn import MinGRU, MinLSTM
from rnnmem.models.recurrent import INITS, MERGES, RecurrentNet, UnrolledOutput
from rnnmem.models.s6 import S6

CELLS.update({cell.name: cell for cell in (MinGRU, MinLSTM, LRU, S6)})

__all__ = ["CELLS", "INITS", "MERGES", "ROLES", "RecurrentNet", "UnrolledOutput"]
