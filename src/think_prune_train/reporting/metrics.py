"""Pass@k with the unbiased estimator (Chen et al., 2021) and per-round summaries."""

from __future__ import annotations

from math import comb

import pandas as pd


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct."""
    if not 0 <= c <= n or not 0 < k <= n:
        raise ValueError(f"need 0 <= c <= n and 0 < k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def summarize(rows: pd.DataFrame, ks: list[int]) -> dict:
    """Round metrics from graded evaluation rows (sample -1 is greedy, the rest are sampled).

    With a `difficulty` column, `by_difficulty` repeats the headline numbers for each level.
    """
    metrics = _headline(rows, ks)
    if "difficulty" in rows.columns:
        metrics["by_difficulty"] = {
            str(level): _headline(group, [k for k in ks if k <= metrics["samples_per_question"]])
            for level, group in rows.groupby("difficulty", sort=True)
        }
    return metrics


def _headline(rows: pd.DataFrame, ks: list[int]) -> dict[str, float | int]:
    sampled = rows[rows["sample"] >= 0]
    greedy = rows[rows["sample"] < 0]
    per_question = sampled.groupby("question_id")["correct"].agg(["size", "sum"])
    metrics: dict[str, float | int] = {
        "pass@1": float(sampled["correct"].mean()),
        "pass@1_flexible": float(sampled["correct_flexible"].mean()),
        "greedy_accuracy": float(greedy["correct"].mean()) if len(greedy) else float("nan"),
        "greedy_accuracy_flexible": float(greedy["correct_flexible"].mean()) if len(greedy) else float("nan"),
        "questions": int(len(per_question)),
        "samples_per_question": int(per_question["size"].min()) if len(per_question) else 0,
        "mean_completion_chars": float(sampled["completion"].str.len().mean()),
    }
    for k in ks:
        metrics[f"pass@{k}_unbiased"] = float(
            sum(pass_at_k(int(n), int(c), k) for n, c in per_question.itertuples(index=False)) / len(per_question)
        )
    return {key: round(value, 6) if isinstance(value, float) else value for key, value in metrics.items()}
