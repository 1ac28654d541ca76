"""Thinking: turning prompts into completions, and what makes hours of it reproducible and resumable.

- `backends`: one interface over transformers, vLLM and Ray workers; a request carries its seed;
- `resume`: generation chunk by chunk, each saved at once, so a rerun resumes;
- `sampling`: whole solutions per question (generate) and the graded test pass (evaluate);
- `mcts`: solutions grown step by step by Monte Carlo tree search.
Generation grades what it samples (think_prune_train.verify) but knows nothing of pruning or training.
"""
