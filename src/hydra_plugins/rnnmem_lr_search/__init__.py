"""Hydra's plugins must live in the `hydra_plugins` namespace: the learning-rate search sweeper
(`rnnmem.sweeps.lr_search`) registered there."""
