"""Cutting a task's questions into the test, warm-up and training splits, with one difficulty mix.

Splits are disjoint by question text, and they share one difficulty mix: the test set, the warm-up
set and the training pool never share a question, and each holds (to within one question per
level) the same share of every difficulty level. Held-out accuracy then measures the distribution
the model trains on, not an artefact of which questions happened to be left over for a split.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from think_prune_train.errors import TaskError

SPLITS = ("test", "warmup", "train")


def water_fill(natural: dict[int, float], capacity: dict[int, float]) -> dict[int, float]:
    """The difficulty mix closest to `natural` that no level's `capacity` (a share) limits.

    Levels whose natural share fits are scaled up together; a level with too few distinct
    questions gets all it has. Raises TaskError when the levels together cannot fill the splits.
    """
    mix: dict[int, float] = {}
    free, remaining = {level for level, share in natural.items() if share > 0}, 1.0
    while free:
        scale = remaining / sum(natural[level] for level in free)
        capped = {level for level in free if natural[level] * scale > capacity[level]}
        if not capped:
            mix.update({level: natural[level] * scale for level in free})
            return dict(sorted(mix.items()))
        for level in capped:
            mix[level] = capacity[level]
            remaining -= capacity[level]
        free -= capped
    raise TaskError("not enough distinct questions")  # the caller words it for the user


def allocate(mix: dict[int, float], size: int) -> dict[int, int]:
    """Whole question counts per level that sum to `size` (largest remainder; ties to the lower level)."""
    exact = {level: share * size for level, share in mix.items()}
    counts = {level: int(np.floor(value)) for level, value in exact.items()}
    by_remainder = sorted(exact, key=lambda level: (-(exact[level] - counts[level]), level))
    for level in by_remainder[: size - sum(counts.values())]:
        counts[level] += 1
    return counts


def stratified_splits(
    sources: dict[str, pd.DataFrame], wanted: dict[str, int], natural: dict[int, float], seed: int, task: str
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Cut each split from its source with one shared difficulty mix.

    `sources` maps a split to the distinct questions it may draw from; splits given the same
    frame draw disjoint questions from it. The mix is `natural` (the task's own) as far as every
    source has distinct questions for it (`water_fill`); where no common mix exists the splits
    follow the natural one as far as they can and the record says `one_mix: false`. Returns the
    splits, each in a seeded random order, and the record for `data/problems/mix.json`.
    """
    groups: dict[int, list[str]] = {}
    for name in SPLITS:
        groups.setdefault(id(sources[name]), []).append(name)
    capacity = {level: 1.0 for level in natural}
    for names in groups.values():
        frame, demand = sources[names[0]], sum(wanted[name] for name in names)
        available = frame["difficulty"].value_counts()
        for level in capacity:
            if demand:
                capacity[level] = min(capacity[level], float(available.get(level, 0)) / demand)
    try:
        mix, one_mix = water_fill(natural, capacity), True
    except TaskError:
        # Too few questions of some level in some source (a small hand-made file, say): draw the
        # natural mix as far as each source allows and record that the splits' mixes differ.
        mix, one_mix = dict(sorted(natural.items())), False
    splits: dict[str, pd.DataFrame] = {}
    for names in groups.values():
        frame = sources[names[0]]
        order = np.random.default_rng(seed).permutation(len(frame))
        shuffled = frame.iloc[order].reset_index(drop=True)
        queues = {level: list(rows) for level, rows in shuffled.groupby("difficulty").groups.items()}
        for name in names:
            taken: list[int] = []
            for level, count in allocate(mix, wanted[name]).items():
                queue = queues.get(level, [])
                taken += queue[:count]
                queues[level] = queue[count:]
            # Rounding can ask a nearly exhausted level for one question too many: top up from the
            # levels with the most questions left.
            while len(taken) < wanted[name]:
                level = max(queues, key=lambda key: (len(queues[key]), -key))
                if not queues[level]:
                    raise TaskError(f"{task}: ran out of distinct questions for the {name} split.")
                taken.append(queues[level].pop(0))
            splits[name] = shuffled.loc[sorted(taken)].reset_index(drop=True)
    record = {
        "one_mix": one_mix,
        "natural": {str(level): round(share, 6) for level, share in sorted(natural.items())},
        "mix": {str(level): round(share, 6) for level, share in mix.items()},
        "splits": {
            name: {str(level): int(count) for level, count in sorted(Counter(splits[name]["difficulty"]).items())}
            for name in SPLITS
        },
    }
    return splits, record


def draw_splits(
    task: str,
    parts: dict[str, pd.DataFrame],
    train_questions: int,
    test_questions: int,
    warmup_questions: int,
    seed: int,
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Test, warm-up and training splits with one difficulty mix (`tasks.stratified_splits`).

    `parts` is {"pool": frame} (every split drawn, disjoint, from it) or {"test": ..., "pool": ...}
    (the test split from "test", the others from "pool" less any question that is also a test
    question). Refuses, saying how many there are, when a part has too few questions.
    """
    wanted = {"test": test_questions, "warmup": warmup_questions, "train": train_questions}
    for name, count in wanted.items():
        if count < 0:
            raise TaskError(f"{task}: {name}_questions must be 0 or more, not {count}.")
    pool = parts["pool"]
    if "test" in parts:
        test = parts["test"]
        pool = pool[~pool["question"].isin(set(test["question"]))].reset_index(drop=True)
        demands = (("test", test, test_questions), ("warm-up + train", pool, warmup_questions + train_questions))
        sources = {"test": test, "warmup": pool, "train": pool}
    else:
        demands = (("test + warm-up + train", pool, sum(wanted.values())),)
        sources = {name: pool for name in SPLITS}
    for label, frame, demand in demands:
        if demand > len(frame):
            raise TaskError(
                f"{task} has {len(frame)} distinct questions for the {label} split(s); {demand} were asked for. "
                f"Lower train_questions/test_questions/warmup_questions (asked: {train_questions}/{test_questions}/"
                f"{warmup_questions})."
            )
    # The pool's own mix (the training distribution), as gsm8k_splits does.
    natural = _shares(pool) or _shares(sources["test"])  # an empty pool (nothing asked of it): the test part's
    return stratified_splits(sources, wanted, natural or {0: 1.0}, seed, task)


def _shares(frame: pd.DataFrame) -> dict[int, float]:
    return {int(level): float(share) for level, share in frame["difficulty"].value_counts(normalize=True).items()}
