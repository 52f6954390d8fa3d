"""Weights & Biases: the W&B run of a training run (`wandb_run`), its pictures (`images`) and the
runs read back from W&B's own logs (`readback`). Named `tracking`, not `wandb`: a package of that
name would shadow W&B's."""
