"""`hydra/sweeper=lr_search` (conf/hydra/sweeper/lr_search.yaml): see `rnnmem.sweeps.lr_search`."""

from hydra.plugins.sweeper import Sweeper

from rnnmem.sweeps.lr_search import LrSearch


class LrSearchSweeper(LrSearch, Sweeper):
    """Optuna TPE learning-rate search, one SQLite study per question."""
