"""Hydra's plugins must live in the `hydra_plugins` namespace: the learning-rate search sweeper
(`rnnmem.lr_search`) registered there."""
