"""Results: metrics of an evaluation, the per-round tables and plot, the ranking of teacher trials, export cards.

- `metrics`: pass@k and the accuracy summary of one evaluation;
- `tables`: the results table through a round, its markdown, plot and overview;
- `teachers`: the ranking of candidate teachers' trials;
- `cards`: the Hugging Face model and data set cards of an exported round.
"""
