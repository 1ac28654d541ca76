"""Pruning: which graded traces become training data, and which pairs DPO prefers.

- `strategies`: which correct traces of a question to keep, filters and caps;
- `pairs`: (chosen, rejected) pairs, from whole solutions or from sibling steps of a tree search;
- `prune`: the prune step, in order, on top of both.
"""
