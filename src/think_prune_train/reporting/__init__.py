"""Results: metrics of an evaluation, the per-round tables and plot, and the ranking of teacher trials.

- `metrics`: pass@k and the accuracy summary of one evaluation;
- `tables`: the results table through a round, its markdown, plot and overview;
- `teachers`: the ranking of candidate teachers' trials.
"""
