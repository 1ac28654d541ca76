"""Teacher selection: the same small distillation trial for every candidate teacher.

A teacher's own benchmark score says little about how much a student learns from its traces
(a stronger model may write solutions a small student cannot imitate). So each candidate
generates for the same training questions, its traces are pruned as the pipeline prunes, the
base model is fine-tuned once on them, and the *student* is scored on held-out questions. The
teacher's own score on those questions is recorded beside it for comparison.

The trial itself (stages/select_teacher.py) is the pipeline's round 1 run through the same
library functions and seeds as the stages; this module ranks the trials.
"""

from __future__ import annotations


def ranking(trials: list[dict]) -> str:
    """A markdown table of trial results, best student first."""
    ordered = sorted(trials, key=lambda trial: (-trial["student"]["pass@1"], trial["candidate"]))
    lines = [
        "| teacher | source | student Pass@1 | student greedy | teacher Pass@1 | traces kept |",
        "|---|---|---|---|---|---|",
    ]
    for trial in ordered:
        lines.append(
            f"| {trial['candidate']} | {trial['source']} | {100 * trial['student']['pass@1']:.1f} % | "
            f"{100 * trial['student']['greedy_accuracy']:.1f} % | {100 * trial['teacher']['pass@1']:.1f} % | "
            f"{trial['prune']['kept']} |"
        )
    return "\n".join(lines) + "\n"
