"""Pruning without labels: a question's majority answer as its pseudo-label, and a length filter.

Lee et al. (2025, "Self-Improving Transformers Overcome Easy-to-Hard and Length Generalization
Challenges") replace the gold answer with majority voting over a question's samples plus a length
filter. Here (prune.filter):
- `majority`: a trace is judged right when its answer is its question's most common one and that
  answer's share of the question's samples reaches `majority_share`; a tie for the most common
  answer gives no pseudo-label (nothing of that question is kept);
- `majority+length`: and its length is within `length_tolerance` x the median length of the majority
  traces of its difficulty level (the typical length of a right solution at that level).

Nothing here reads a gold answer: `pseudo_verdicts` takes the completions, their lengths and levels.
The gold answer enters only `label_report`, which says how often the pseudo-labels were right.
"""

from __future__ import annotations

import pandas as pd

from think_prune_train.params import PruneParams, VerifierParams
from think_prune_train.verify.numeric import MARKER, extract_answer, format_answer

# The verifiers whose answers are numbers that a vote can compare exactly.
VOTING_VERIFIERS = ("numeric",)


def voted_answers(completions: pd.Series, grading: str) -> pd.Series:
    """Each completion's final answer as canonical text (`18.0` and `18` vote together), None without one."""
    def canonical(text: str) -> str | None:
        value = extract_answer(text, grading)
        return format_answer(value) if value is not None else None

    return pd.Series([canonical(text) for text in completions], index=completions.index, dtype=object)


def majority_labels(question_ids: pd.Series, answers: pd.Series, min_share: float) -> pd.Series:
    """Per question (sorted), its most common answer when that answer's share of all its samples reaches
    `min_share` and no other answer is as common; None otherwise. Samples without an answer count in the
    share's denominator but never win."""
    frame = pd.DataFrame({"question_id": question_ids, "answer": answers})
    labels = {}
    for question, group in frame.groupby("question_id", sort=True):
        counts = group["answer"].dropna().value_counts()
        label = None
        if len(counts) and (len(counts) == 1 or counts.iloc[0] > counts.iloc[1]):
            if counts.iloc[0] / len(group) >= min_share:
                label = counts.index[0]
        labels[question] = label
    return pd.Series(labels, dtype=object).rename_axis("question_id")


def typical_length_outliers(lengths: pd.Series, levels: pd.Series, among: pd.Series, tolerance: float) -> pd.Series:
    """True for traces in `among` whose length differs from the median length of the `among` traces of
    their level by more than `tolerance` x that median (all aligned on one index)."""
    outliers = pd.Series(False, index=lengths.index)
    chosen = lengths[among]
    for _, group in chosen.groupby(levels[among], sort=True):
        typical = float(group.median())
        outliers.loc[group.index] = (group - typical).abs() > tolerance * typical
    return outliers


def pseudo_verdicts(traces: pd.DataFrame, params: PruneParams, lengths: pd.Series,
                    levels: pd.Series) -> tuple[pd.Series, pd.Series, dict]:
    """(verdict per trace, pseudo-label per question, counts) by prune.filter, from the completions alone.

    `lengths` (tokens) and `levels` (difficulty) are aligned on `traces`' index. The traces' `answer`
    column (the gold answer) is never read.
    """
    answers = voted_answers(traces["completion"], params.grading)
    labels = majority_labels(traces["question_id"], answers, params.majority_share)
    agree = pd.Series([answer is not None and answer == labels[question]
                       for question, answer in zip(traces["question_id"], answers)], index=traces.index, dtype=bool)
    counts = {"questions_labelled": int(labels.notna().sum()), "agreeing": int(agree.sum())}
    verdict = agree
    if params.filter == "majority+length":
        outliers = typical_length_outliers(lengths, levels, agree, params.length_tolerance)
        verdict = agree & ~outliers
        counts["dropped_length"] = int(outliers.sum())
    return verdict, labels, counts


def label_report(traces: pd.DataFrame, labels: pd.Series, verifier: VerifierParams) -> pd.Series:
    """Per labelled question (sorted), whether its pseudo-label equals the gold answer, by the verifier
    that judges every answer: what the gold answer is for when pruning without labels."""
    labelled = labels.dropna()
    gold = traces.drop_duplicates("question_id").set_index("question_id")["answer"]
    if labelled.empty:
        return pd.Series([], dtype=bool)
    from think_prune_train.verify.grading import grade

    graded = grade([f"{MARKER} {label}" for label in labelled], gold.loc[labelled.index].tolist(), verifier)
    return pd.Series(graded["correct"].to_numpy(), index=labelled.index, dtype=bool)


def level_stats(traces: pd.DataFrame, levels: pd.Series, verdict: pd.Series, gold: pd.Series, kept: pd.DataFrame,
                labels: pd.Series | None = None, label_right: pd.Series | None = None) -> dict[str, dict]:
    """Per difficulty level: traces, the pass rate by prune's filter (what the curriculum's threshold rule
    reads), the gold accuracy, traces kept, and without labels the pseudo-labels and their precision."""
    question_level = pd.Series(levels.to_numpy(), index=traces["question_id"].to_numpy())
    question_level = question_level[~question_level.index.duplicated()]
    kept_levels = question_level.reindex(kept["question_id"]).to_numpy()
    stats = {}
    for level, rows in traces.groupby(levels, sort=True):
        values = {
            "traces": int(len(rows)),
            "questions": int(rows["question_id"].nunique()),
            "pass_rate": round(float(verdict.loc[rows.index].mean()), 6),
            "gold_accuracy": round(float(gold.loc[rows.index].mean()), 6),
            "kept": int((kept_levels == level).sum()),
        }
        if labels is not None and label_right is not None:
            questions = sorted(rows["question_id"].unique())
            labelled = labels.reindex(questions).dropna().index
            values["questions_labelled"] = int(len(labelled))
            right = label_right.reindex(labelled)
            values["pseudo_label_precision"] = round(float(right.mean()), 6) if len(labelled) else None
        stats[str(int(level))] = values
    return stats


def label_free_stats(traces: pd.DataFrame, gold: pd.Series, kept: pd.DataFrame, label_right: pd.Series,
                     counts: dict) -> dict:
    """What the prune stats say about a round pruned without labels, measured against the gold answers
    afterwards: `correct`, `accuracy`, `questions_with_correct` and `coverage` keep their meaning (by the
    gold answer), next to the pseudo-labels' counts and precision and how many kept traces were right."""
    questions = traces["question_id"].nunique()
    solved = traces.loc[gold[gold].index, "question_id"].nunique()
    right = pd.Series(gold.to_numpy(), index=pd.MultiIndex.from_frame(traces[["question_id", "sample"]]))
    kept_right = right.reindex(pd.MultiIndex.from_frame(kept[["question_id", "sample"]])) if len(kept) else right.iloc[:0]
    return {
        "correct": int(gold.sum()),
        "questions_with_correct": int(solved),
        "coverage": round(solved / questions, 6) if questions else 0.0,
        "accuracy": round(float(gold.mean()), 6) if len(traces) else 0.0,
        **counts,
        "pseudo_label_precision": round(float(label_right.mean()), 6) if len(label_right) else None,
        "kept_correct": int(kept_right.sum()),
        "kept_precision": round(float(kept_right.mean()), 6) if len(kept_right) else None,
    }
