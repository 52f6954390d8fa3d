"""The paper figures of experiments/, drawn from the tables that the analysis modules of
`rnnmem.reporting` compute: figures draw, they do not compute.

- `drawing`: the figure with its notes strip, saving with fixed metadata, cell colours, the
  seed band, axes, and every figure's ending (legend below, title);
- `gradients`: g_t by distance from the loss and the input sensitivity (figure 1), g_t over
  training (figure 3);
- `capacity`: the held-out metric against T (figure 2), the depth and direction grids (figure 4);
- `dynamics`: the gate that keeps the state (figure 5), the learning curves (figure 6);
- `per_lag`: the forgetting curves (figure 7), item memory in both views (figure 8);
- `lr_window`: a learning-rate search's validation metric against lr, every trial
  (`rnnmem.sweeps.lr_search` writes it beside `lr_search.yaml`).

Every figure is a pure function of its tables: same records in, same bytes out. `drawing.save`
fixes what would otherwise vary between runs (PDF creation dates, SVG hash salt, PNG software
tag) and writes each file atomically (a temporary, then a rename), and every grouping is
sorted, so the drawing order is fixed too. Only finished runs are
drawn; the others are marked where a point or panel has no data and listed under the plot
(`rnnmem.reporting.gaps`), so a gap is never silent."""
