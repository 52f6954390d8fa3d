"""One run's training: its lifecycle (`lifecycle`), the objects it builds from the config's
sections (`build`), the Lightning module (`module`), its callbacks (`callbacks`), stop signals
and checkpoints (`preemption`), the optimiser steps per batch (`schedule`) and the device,
precision and determinism it trains with (`precision`)."""
