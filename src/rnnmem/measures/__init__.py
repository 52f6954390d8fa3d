"""What a network remembers, measured exactly: the gradient probe (`probe`: input sensitivity
s_t and per-state gradient norms g_t, in float64), item memory per lag (`item_memory`) and the
held-out forgetting curve (`forgetting`). Numpy and torch only: neither Lightning nor W&B."""
