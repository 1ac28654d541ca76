"""Which correct traces to train on: the choices beyond "is it correct".

Pruning to correct traces leaves several candidates per question; this module decides which of
them to keep (by sample index, by length, covering the length range, or by textual diversity),
bounds the share of very long traces, drops traces that are too long or lack the answer format,
and drops questions the model already solves almost always (pairs: think_prune_train.selection.pairs).

Conventions shared by every function here:
- Frames returned by the selection and filtering functions keep the caller's index labels, so a
  `lengths` Series aligned on that index still lines up with the result; rows come back sorted by
  question_id then sample.
- `lengths` is a Series aligned on the frame's index giving each trace's length in tokens; a row
  without a length is an error rather than a silent NaN.
- Nothing is random: every tie is broken by (question_id, sample).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from fractions import Fraction

import pandas as pd
from rapidfuzz.distance import Levenshtein

from think_prune_train.params import SELECTION_METHODS
from think_prune_train.verify.numeric import extract_answer

ORDER = ["question_id", "sample"]


# --- edit distance -------------------------------------------------------------------------------


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance (insert, delete, substitute, each cost 1) between two sequences.

    Works on strings or on lists or tuples of token ids (any hashable items). rapidfuzz computes
    it in C with a bit-parallel algorithm, far faster than a Python dynamic programme on long traces.
    """
    return Levenshtein.distance(a, b)


def normalized_edit_distance(a: Sequence, b: Sequence) -> float:
    """Edit distance divided by the longer length: 0.0 identical, 1.0 nothing in common.

    Normalising lets a 50-character difference between two long traces count for less than the
    same difference between two short ones. Two empty sequences are identical (0.0).
    """
    longer = max(len(a), len(b))
    return edit_distance(a, b) / longer if longer else 0.0


# --- helpers ------------------------------------------------------------------------------------


def _aligned_lengths(frame: pd.DataFrame, lengths: pd.Series) -> pd.Series:
    """`lengths` restricted to `frame`'s rows; a missing length would silently rank as NaN, so it raises."""
    if not frame.index.is_unique:
        raise ValueError("the frame's index has repeated labels; lengths cannot be aligned to it")
    aligned = lengths.reindex(frame.index)
    if aligned.isna().any():
        missing = aligned.index[aligned.isna()].tolist()[:5]
        raise ValueError(f"lengths has no value for rows {missing}; it must be aligned on the frame's index")
    return aligned


def _in_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by question then sample, index labels kept: the one output order of this module."""
    return frame.sort_values(ORDER, kind="stable")


def _ordered_labels(group: pd.DataFrame, keys: list[pd.Series]) -> list[Hashable]:
    """Index labels of `group` sorted by the given Series (aligned on its index; earlier keys first)."""
    sortable = pd.DataFrame({f"key{i}": key.reindex(group.index) for i, key in enumerate(keys)}, index=group.index)
    return sortable.sort_values(list(sortable.columns), kind="stable").index.tolist()


# --- per-question strategies ---------------------------------------------------------------------
# Each takes one question's candidates, their lengths and the limit (> 0), and returns the index
# labels to keep.


def _take_first(group: pd.DataFrame, group_lengths: pd.Series, limit: int) -> list[Hashable]:
    """Lowest sample indices: what pruning did before there was a choice."""
    return _ordered_labels(group, [group["sample"]])[:limit]


def _take_shortest(group: pd.DataFrame, group_lengths: pd.Series, limit: int) -> list[Hashable]:
    """Shortest traces first: short correct reasoning is cheaper to train on and to generate."""
    return _ordered_labels(group, [group_lengths, group["sample"]])[:limit]


def _take_longest(group: pd.DataFrame, group_lengths: pd.Series, limit: int) -> list[Hashable]:
    """Longest traces first: the control for "does more reasoning text help"."""
    return _ordered_labels(group, [-group_lengths, group["sample"]])[:limit]


def _length_bin(length: float, shortest: float, longest: float, bins: int) -> int:
    """Which of `bins` equal-width bins over [shortest, longest] holds `length` (the maximum goes in the last)."""
    if longest <= shortest:
        return 0
    return min(bins - 1, math.floor((length - shortest) * bins / (longest - shortest)))


def _take_spread(group: pd.DataFrame, group_lengths: pd.Series, limit: int, length_bins: int) -> list[Hashable]:
    """One trace per length bin in turn, shortest bin first: keeps short and long reasoning alike.

    Keeping only short (or only long) traces narrows what the student sees; taking round-robin
    over equal-width length bins balances the lengths ("Towards Widening the Distillation
    Bottleneck"). Within a bin the lowest sample goes first.
    """
    shortest, longest = group_lengths.min(), group_lengths.max()
    queues: list[list[Hashable]] = [[] for _ in range(length_bins)]
    for label in _ordered_labels(group, [group["sample"]]):
        queues[_length_bin(group_lengths.loc[label], shortest, longest, length_bins)].append(label)
    queues = [queue for queue in queues if queue]
    chosen: list[Hashable] = []
    depth = 0
    while len(chosen) < limit and any(depth < len(queue) for queue in queues):
        for queue in queues:
            if depth < len(queue) and len(chosen) < limit:
                chosen.append(queue[depth])
        depth += 1
    return chosen


def _take_diverse(group: pd.DataFrame, group_lengths: pd.Series, limit: int) -> list[Hashable]:
    """Farthest-point selection by normalized edit distance: the most mutually different traces.

    Near-duplicate traces teach the same thing twice; DED ("Beyond Scaling Law", 2025) keeps
    diverse ones instead. Starts from the lowest sample, then repeatedly adds the candidate whose
    nearest already-chosen trace is farthest away (ties: lowest sample). Costs one distance per
    (chosen, remaining) pair, each quadratic in the text length.
    """
    labels = _ordered_labels(group, [group["sample"]])
    if limit >= len(labels):
        return labels
    # The prune stage passes token ids in `tokens`: for sub-word tokenizers several times shorter
    # than the text, and the distance is quadratic in length.
    texts = group["tokens"] if "tokens" in group.columns else group["completion"]
    chosen = [labels[0]]
    remaining = labels[1:]
    nearest_chosen = {label: math.inf for label in remaining}
    while len(chosen) < limit:
        newest = texts.loc[chosen[-1]]
        for label in remaining:
            nearest_chosen[label] = min(nearest_chosen[label], normalized_edit_distance(newest, texts.loc[label]))
        # `remaining` is in sample order and max() keeps the first maximum: ties go to the lowest sample.
        farthest = max(remaining, key=lambda label: nearest_chosen[label])
        chosen.append(farthest)
        remaining.remove(farthest)
    return chosen


def select_per_question(
    candidates: pd.DataFrame, how: str, limit: int, lengths: pd.Series, length_bins: int = 3
) -> pd.DataFrame:
    """Keep at most `limit` traces per question (limit <= 0: all), chosen by `how`.

    `how` is one of SELECTION_METHODS: "first" (lowest samples), "shortest" / "longest" (by
    `lengths`, ties by sample), "spread" (round-robin over `length_bins` equal-width length bins,
    shortest bin first) or "diverse" (farthest-point by normalized edit distance of the
    completions, or of a `tokens` column of token ids when there is one, starting from the lowest
    sample). `candidates` needs question_id, sample and
    completion, and `lengths` must be aligned on its index. The result keeps `candidates`' index
    labels (so `lengths` still aligns) and is sorted by question_id then sample.
    """
    if how not in SELECTION_METHODS:
        raise ValueError(f"unknown selection {how!r}; choose one of {', '.join(SELECTION_METHODS)}")
    if length_bins < 1:
        raise ValueError(f"length_bins must be at least 1, not {length_bins}")
    aligned = _aligned_lengths(candidates, lengths)
    if limit <= 0 or candidates.empty:
        return _in_order(candidates)
    strategies: dict[str, Callable[[pd.DataFrame, pd.Series, int], list[Hashable]]] = {
        "first": _take_first,
        "shortest": _take_shortest,
        "longest": _take_longest,
        "spread": lambda group, group_lengths, n: _take_spread(group, group_lengths, n, length_bins),
        "diverse": _take_diverse,
    }
    strategy = strategies[how]
    kept: list[Hashable] = []
    for _, group in candidates.groupby("question_id", sort=True):
        kept.extend(strategy(group, aligned.loc[group.index], limit))
    return _in_order(candidates.loc[kept])


# --- length and format limits --------------------------------------------------------------------


def long_rows_to_drop(long_count: int, total: int, max_long_share: float) -> int:
    """How many long rows must go so that long ones are at most `max_long_share` of what remains.

    Dropping d long rows leaves (long - d) / (total - d), so d = ceil((long - share*total) / (1 - share)),
    computed on exact fractions: 0.29 * 100 in floats is 28.999..., which would drop one row too many.
    """
    share = Fraction(str(max(0.0, max_long_share)))  # str(): the decimal the user wrote, not its binary neighbour
    if share >= 1:
        return 0
    excess = Fraction(long_count) - share * total
    return min(long_count, max(0, math.ceil(excess / (1 - share))))


def cap_long_share(
    kept: pd.DataFrame, lengths: pd.Series, long_tokens: int, max_long_share: float
) -> tuple[pd.DataFrame, int]:
    """Drop the longest traces until those over `long_tokens` make up at most `max_long_share` of the rest.

    A few very long traces can dominate the training tokens; this bounds their share without
    removing long reasoning altogether. Longest go first, ties by (question_id, sample).
    long_tokens <= 0 or max_long_share >= 1 turns it off. Returns (rows kept, sorted by
    question_id then sample with index labels kept; number dropped).
    """
    if long_tokens <= 0 or max_long_share >= 1 or kept.empty:
        return _in_order(kept), 0
    aligned = _aligned_lengths(kept, lengths)
    long_mask = aligned > long_tokens
    drop_count = long_rows_to_drop(int(long_mask.sum()), len(kept), max_long_share)
    if drop_count == 0:
        return _in_order(kept), 0
    long_rows = kept[long_mask]
    longest_first = _ordered_labels(long_rows, [-aligned[long_mask], long_rows["question_id"], long_rows["sample"]])
    return _in_order(kept.drop(index=longest_first[:drop_count])), drop_count


def filter_traces(
    candidates: pd.DataFrame, lengths: pd.Series, max_tokens: int, require_format: bool
) -> tuple[pd.DataFrame, dict]:
    """Drop traces longer than `max_tokens` (<= 0: no limit) and, if asked, those without `#### <number>`.

    A correct answer found only by the flexible reading still teaches the model to skip the
    format the prompt asks for; `require_format` removes those. A trace that is both too long and
    badly formatted counts once, under "too_long". Returns (rows kept, sorted by question_id then
    sample with index labels kept; {"too_long": n, "bad_format": m}).
    """
    aligned = _aligned_lengths(candidates, lengths)
    too_long = aligned > max_tokens if max_tokens > 0 else pd.Series(False, index=candidates.index)
    bad_format = pd.Series(False, index=candidates.index)
    if require_format:
        checked = candidates.loc[~too_long, "completion"]
        bad_format.loc[checked.index] = [extract_answer(text, "strict") is None for text in checked]
    kept = candidates[~(too_long | bad_format)]
    return _in_order(kept), {"too_long": int(too_long.sum()), "bad_format": int(bad_format.sum())}


# --- question compression ------------------------------------------------------------------------


def solve_rates(traces: pd.DataFrame, correct: pd.Series) -> pd.Series:
    """Share of each question's samples that are correct, indexed by question_id (sorted)."""
    aligned = correct.reindex(traces.index)
    if aligned.isna().any():
        raise ValueError("correct must have a value for every row of traces (aligned on its index)")
    rates = aligned.astype(float).groupby(traces["question_id"], sort=True).mean()
    return rates.rename("solve_rate").rename_axis("question_id")


def compress_questions(candidates: pd.DataFrame, rates: pd.Series, above: float) -> tuple[pd.DataFrame, list[str]]:
    """Drop every row of questions solved more often than `above` (above >= 1.0: off).

    A question the model nearly always gets right adds training tokens but little signal; its
    budget is better spent on harder ones. Only questions present in `candidates` are reported.
    Returns (rows kept, sorted by question_id then sample with index labels kept; sorted list of
    dropped question ids). A candidate question without a rate is an error.
    """
    if above >= 1.0 or candidates.empty:
        return _in_order(candidates), []
    questions = pd.Series(candidates["question_id"].unique())
    missing = questions[~questions.isin(rates.index)].tolist()
    if missing:
        raise ValueError(f"no solve rate for questions {sorted(missing)[:5]}")
    dropped = sorted(question for question in questions if rates[question] > above)
    kept = candidates[~candidates["question_id"].isin(dropped)]
    return _in_order(kept), dropped
