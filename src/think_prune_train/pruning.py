"""Prune: keep the traces whose final answer matches the ground truth, with per-question limits."""

from __future__ import annotations

import pandas as pd

from think_prune_train.grading import is_correct
from think_prune_train.params import PruneParams


def grade_traces(traces: pd.DataFrame, mode: str) -> pd.Series:
    return pd.Series(
        [is_correct(completion, answer, mode) for completion, answer in zip(traces["completion"], traces["answer"])],
        index=traces.index,
        dtype=bool,
    )


def prune(traces: pd.DataFrame, params: PruneParams, seed: int) -> tuple[pd.DataFrame, dict]:
    """Return (kept traces, stats). Order is deterministic: by question, then sample index."""
    correct_mask = grade_traces(traces, params.grading)
    correct = traces[correct_mask].sort_values(["question_id", "sample"])
    candidates = correct if params.require_correct else traces.sort_values(["question_id", "sample"])
    kept = candidates.assign(completion=candidates["completion"].str.strip())
    kept = kept[kept["completion"].str.len() > 0]
    if params.deduplicate:
        kept = kept.drop_duplicates(["question_id", "completion"], keep="first")
    if params.max_per_question > 0:
        kept = kept.groupby("question_id", sort=False).head(params.max_per_question)
    if params.max_examples and len(kept) > params.max_examples:
        kept = kept.sample(n=params.max_examples, random_state=seed % 2**32).sort_values(["question_id", "sample"])
    questions = traces["question_id"].nunique()
    solved = correct["question_id"].nunique()
    stats = {
        "traces": int(len(traces)),
        "correct": int(correct_mask.sum()),
        "kept": int(len(kept)),
        "questions": int(questions),
        "questions_with_correct": int(solved),
        "coverage": round(solved / questions, 6) if questions else 0.0,
        "accuracy": round(float(correct_mask.mean()), 6) if len(traces) else 0.0,
    }
    return kept[["round", "question_id", "sample", "prompt", "completion"]].reset_index(drop=True), stats
