"""From records to the paper, one job per module:

- `records`: run records read into tables (`load_run`, `load_sweep`, the probe's long tables);
- `expected`: a sweep's rows, its records and the grid points that left none (`sweep_runs`);
- `selection`: which rows a figure or table shows (`select`, `finished`, variants, lengths);
- `seeds`: the conventions over seeds (bands, solved by majority);
- `labels`: how cells, tasks, metrics and variants read;
- `curves`: a run's probe arrays and record as long tables (distance, sensitivity, gates,
  losses, forgetting, item memory);
- `outcomes`: what each configuration achieved (figures 2 and 4's data);
- `gaps`: the runs not shown, and the notes that name them;
- `tables`: Markdown and LaTeX through pandas' writers;
- `figures/`: the drawing (figures draw; the modules above compute), in the plot style of
  `style`.

Numpy, pandas and matplotlib: neither Lightning, W&B nor `datasets`."""
