"""From records to the paper: records read into tables (`records`), the analysis of a sweep
(`analysis`: the expected grid, selections, seed bands, curves, gap notes), the figures
(`figures`, in the plot style of `style`) and the tables (`tables`). Numpy, pandas and
matplotlib: neither Lightning, W&B nor `datasets`."""
