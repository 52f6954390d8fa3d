"""The sweeper and the local launcher of rnnmem's sweeps, where Hydra looks for plugins (the
`hydra_plugins` namespace); what they do is `rnnmem.launcher`'s."""

from collections.abc import Sequence

# Directly from Hydra, not through rnnmem.framework: Hydra's plugin scan executes its core
# plugin modules again, and a subclass must derive from the class that scan made (one imported
# earlier is another class object, and BasicSweeper's own super() call then fails).
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

from rnnmem.launcher import JobsLauncher, composes


class LocalLauncher(JobsLauncher):
    """Hydra's joblib launcher whose jobs stop together (`rnnmem.launcher`)."""


class JobsSweeper(BasicSweeper):
    """Hydra's basic sweeper, less the jobs whose values do not compose: each fails alone
    (`rnnmem.sweep` records it), and the others run."""

    def get_job_batch(self) -> Sequence[Sequence[str]]:
        assert self.config is not None and self.hydra_context is not None
        loader = self.hydra_context.config_loader
        return [job for job in super().get_job_batch() if composes(loader, self.config, job)]

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Every job of the batch composed in `get_job_batch`."""
