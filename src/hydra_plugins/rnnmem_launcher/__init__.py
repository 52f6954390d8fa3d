"""The sweeper and the launchers of rnnmem's sweeps, where Hydra looks for plugins (the
`hydra_plugins` namespace); what they do is `rnnmem.sweeps.launcher`'s. The submitit launchers are
Hydra's, with the config's schema and resolvers registered in each job's process before the job
runs (`rnnmem.config.register_config`)."""

from collections.abc import Sequence
from typing import Any

# Directly from Hydra, not through rnnmem.framework: Hydra's plugin scan executes its core
# plugin modules again, and a subclass must derive from the class that scan made (one imported
# earlier is another class object, and BasicSweeper's own super() call then fails).
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher import submitit_launcher

from rnnmem.config import register_config
from rnnmem.sweeps.launcher import JobsLauncher, composes


class LocalLauncher(JobsLauncher):
    """Hydra's joblib launcher whose jobs stop together (`rnnmem.sweeps.launcher`)."""


class JobsSweeper(BasicSweeper):
    """Hydra's basic sweeper, less the jobs whose values do not compose: each fails alone
    (`rnnmem.sweeps.monitor` records it), and the others run."""

    def get_job_batch(self) -> Sequence[Sequence[str]]:
        assert self.config is not None and self.hydra_context is not None
        loader = self.hydra_context.config_loader
        return [job for job in super().get_job_batch() if composes(loader, self.config, job)]

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Every job of the batch composed in `get_job_batch`."""


class SubmititLocalLauncher(submitit_launcher.LocalLauncher):
    """`hydra/launcher=slurm_local`: submitit's local executor."""

    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        register_config()
        return super().__call__(*args, **kwargs)


class SubmititSlurmLauncher(submitit_launcher.SlurmLauncher):
    """`hydra/launcher=slurm`: one SLURM array per sweep, requeued on preemption."""

    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        register_config()
        return super().__call__(*args, **kwargs)
