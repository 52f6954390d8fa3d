"""Many runs at once: the sweep's Hydra callback (`monitor`), the local launcher whose jobs fail
alone and stop together (`launcher`), the learning-rate search (`lr_search`), and the GPU
placement of a local sweep's workers (`placement`) with its lock-file ledger (`ledger`)."""
